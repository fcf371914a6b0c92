"""Daemon settings from command-line options, each also readable from RECONCILER_* variables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import ReconcilerError
from reconciler.shards import ALL, Shard, parse_shard

DEFAULT_LISTEN = "127.0.0.1:9464"
DEFAULT_GITHUB_URL = "https://api.github.com"
# Where --forge github finds its token when no file is named, as the GitHub CLI does (`gh
# help environment`): GH_TOKEN, then GITHUB_TOKEN, for github.com and GHE.com (*.ghe.com);
# GH_ENTERPRISE_TOKEN, then GITHUB_ENTERPRISE_TOKEN, for a GitHub Enterprise Server, so a
# github.com token is never sent to another host.
GITHUB_TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN")
ENTERPRISE_TOKEN_VARIABLES = ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")


def default_cache_dir() -> Path:
    """Where clones live between runs: $XDG_CACHE_HOME/reconciler or ~/.cache/reconciler."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler"


@dataclass(frozen=True)
class Settings:
    """What the daemon needs to reach a config repo and a forge."""

    repo: str
    forge: str = "local"
    cache_dir: Path = Path(".")
    base_branch: str = "main"
    listen: str = DEFAULT_LISTEN
    log_format: str = "text"
    git_token_file: Path | None = None
    git_token_env: str | None = None
    ssh_key: Path | None = None
    ssh_passphrase_file: Path | None = None
    signing_key: str | None = None  # an SSH key file, or an OpenPGP key id
    signing_format: str = "ssh"
    commit_name: str = "reconciler"  # who the daemon's commits name, author and committer
    commit_email: str = "reconciler@localhost"
    github_repo: str | None = None
    github_url: str = DEFAULT_GITHUB_URL
    github_token_file: Path | None = None
    github_token_env: str | None = None  # the variable holding the token, when no file
    github_app_id: int | None = None
    github_app_key_file: Path | None = None
    github_installation_id: int | None = None
    github_timeout: int = 30
    shard: Shard = ALL


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"RECONCILER_{name}", default)


def add_repo_options(parser: argparse.ArgumentParser, *, listen: bool = False) -> None:
    """The options shared by the verbs that read a config repo (README, Configuration)."""
    parser.add_argument(
        "--repo",
        default=_env("REPO"),
        help="config repo: a local path or URL (RECONCILER_REPO)",
    )
    parser.add_argument(
        "--forge",
        choices=("local", "github"),
        default=_env("FORGE", "local"),
        help="where promotion requests live (RECONCILER_FORGE; default local)",
    )
    add_git_options(parser)
    _add_daemon_options(parser, listen=listen)


def add_git_options(parser: argparse.ArgumentParser) -> None:
    """How the config repo's remote is reached (all but ``--repo``): its clone's cache
    folder, the base branch and the git credentials; `pin --push` takes these alone."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(_env("CACHE_DIR") or default_cache_dir()),
        help="where the clone is kept between runs (RECONCILER_CACHE_DIR)",
    )
    parser.add_argument(
        "--base-branch",
        default=_env("BASE_BRANCH", "main"),
        help="branch to read promotions.toml from first (RECONCILER_BASE_BRANCH; default "
        "main; settings.base_branch in the policy wins)",
    )
    parser.add_argument(
        "--git-token-file",
        type=Path,
        default=_env("GIT_TOKEN_FILE"),
        help="HTTPS remotes: a file holding the token (RECONCILER_GIT_TOKEN_FILE)",
    )
    parser.add_argument(
        "--git-token-env",
        default=_env("GIT_TOKEN_ENV"),
        help="HTTPS remotes: the variable holding the token, such as GITHUB_TOKEN "
        "(RECONCILER_GIT_TOKEN_ENV)",
    )
    parser.add_argument(
        "--ssh-key",
        type=Path,
        default=_env("SSH_KEY"),
        help="SSH remotes: the private key file (RECONCILER_SSH_KEY; default: ssh-agent)",
    )
    parser.add_argument(
        "--ssh-passphrase-file",
        type=Path,
        default=_env("SSH_PASSPHRASE_FILE"),
        help="the SSH key's passphrase, if it has one (RECONCILER_SSH_PASSPHRASE_FILE)",
    )
    parser.add_argument(
        "--signing-key",
        default=_env("SIGNING_KEY"),
        help="sign every commit the daemon makes with this key, and write none unsigned: "
        "with --signing-format ssh a private key file without a passphrase (or a .pub whose "
        "key ssh-agent holds), with openpgp a key id or fingerprint in the GnuPG keyring "
        "(RECONCILER_SIGNING_KEY; default: commits are not signed)",
    )
    parser.add_argument(
        "--signing-format",
        choices=("ssh", "openpgp"),
        default=_env("SIGNING_FORMAT", "ssh"),
        help="how --signing-key signs: ssh (ssh-keygen -Y sign, as git's gpg.format=ssh) or "
        "openpgp (gpg --detach-sign) (RECONCILER_SIGNING_FORMAT; default ssh)",
    )


def _add_daemon_options(parser: argparse.ArgumentParser, *, listen: bool) -> None:
    parser.add_argument(
        "--commit-name",
        default=_env("COMMIT_NAME", "reconciler"),
        help="the name on the daemon's commits (RECONCILER_COMMIT_NAME; default reconciler)",
    )
    parser.add_argument(
        "--commit-email",
        default=_env("COMMIT_EMAIL", "reconciler@localhost"),
        help="the email on the daemon's commits; GitHub shows a signed commit verified only "
        "when this is a verified email of the account holding the signing key "
        "(RECONCILER_COMMIT_EMAIL; default reconciler@localhost)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=_env("LOG_FORMAT", "text"),
        help="log lines as text or one JSON object each (RECONCILER_LOG_FORMAT)",
    )
    parser.add_argument(
        "--github-repo",
        default=_env("GITHUB_REPO"),
        help="with --forge github: OWNER/NAME (RECONCILER_GITHUB_REPO)",
    )
    parser.add_argument(
        "--github-url",
        default=_env("GITHUB_URL", DEFAULT_GITHUB_URL),
        help="GitHub API root: https://api.github.com, https://HOST/api/v3 for GitHub "
        "Enterprise Server, or https://api.SUBDOMAIN.ghe.com for GitHub Enterprise Cloud "
        "with data residency (RECONCILER_GITHUB_URL)",
    )
    parser.add_argument(
        "--github-token-file",
        type=Path,
        default=_env("GITHUB_TOKEN_FILE"),
        help="a file holding the GitHub token, used for the API and for git over HTTPS "
        "(RECONCILER_GITHUB_TOKEN_FILE); without it, and without an App, the token is read "
        "from GH_TOKEN, else GITHUB_TOKEN (GitHub Enterprise Server: GH_ENTERPRISE_TOKEN, "
        "else GITHUB_ENTERPRISE_TOKEN)",
    )
    parser.add_argument(
        "--github-app-id",
        type=int,
        default=_env("GITHUB_APP_ID"),
        help="with --forge github: act as this GitHub App instead of a token; needs "
        "--github-app-key-file and --github-installation-id (RECONCILER_GITHUB_APP_ID)",
    )
    parser.add_argument(
        "--github-app-key-file",
        type=Path,
        default=_env("GITHUB_APP_KEY_FILE"),
        help="the App's private key, PEM (RECONCILER_GITHUB_APP_KEY_FILE)",
    )
    parser.add_argument(
        "--github-installation-id",
        type=int,
        default=_env("GITHUB_INSTALLATION_ID"),
        help="the App's installation on the repository's owner (RECONCILER_GITHUB_INSTALLATION_ID)",
    )
    parser.add_argument(
        "--github-timeout",
        type=_seconds,
        default=_env("GITHUB_TIMEOUT", "30"),
        help="with --forge github: seconds to wait for one API answer before giving up "
        "(RECONCILER_GITHUB_TIMEOUT; default 30)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        default=_env("SHARD", "0/1"),
        help="INDEX/COUNT: reconcile only the apps whose stable hash falls in this "
        "replica's share, as replica INDEX (from 0) of COUNT (RECONCILER_SHARD; default 0/1, "
        "all apps)",
    )
    if listen:
        parser.add_argument(
            "--webhook-secret-file",
            type=Path,
            default=_env("WEBHOOK_SECRET_FILE"),
            help="serve POST /webhook for GitHub deliveries signed with this secret "
            "(RECONCILER_WEBHOOK_SECRET_FILE)",
        )
        parser.add_argument(
            "--peers",
            default=_env("PEERS", ""),
            help="the other replicas' base URLs, comma-separated, to forward each accepted "
            "webhook delivery to, signed with the webhook secret; {index} stands for every "
            "other INDEX of --shard, e.g. http://reconciler-{index}.reconciler-shards:9464 "
            "(RECONCILER_PEERS)",
        )
        parser.add_argument(
            "--listen",
            default=_env("LISTEN", DEFAULT_LISTEN),
            help=f"HOST:PORT for /metrics, /healthz, /readyz (RECONCILER_LISTEN; {DEFAULT_LISTEN})",
        )


def _seconds(raw: str) -> int:
    try:
        seconds = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{raw} is not within 1 to 3600 seconds")
    return seconds


def _shard(raw: str) -> Shard:
    try:
        return parse_shard(raw)
    except ReconcilerError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def has_repo(args: argparse.Namespace) -> bool:
    """True when a config repo is named: ``--repo``, or ``--forge github --github-repo``."""
    return bool(args.repo) or (args.forge == "github" and bool(args.github_repo))


def env_repo() -> str | None:
    """``RECONCILER_REPO``: the config repo when ``--repo`` is not given."""
    return _env("REPO")


def git_settings(args: argparse.Namespace, repo: str) -> Settings:
    """Settings from ``add_git_options``'s options, for the config repo at ``repo``."""
    return Settings(
        repo=repo,
        cache_dir=args.cache_dir,
        base_branch=args.base_branch,
        git_token_file=args.git_token_file,
        git_token_env=args.git_token_env,
        ssh_key=args.ssh_key,
        ssh_passphrase_file=args.ssh_passphrase_file,
        signing_key=args.signing_key or None,
        signing_format=args.signing_format,
    )


def github_token_variable(github_url: str, environ: Mapping[str, str]) -> str | None:
    """The first variable of ``GITHUB_TOKEN_VARIABLES`` (``ENTERPRISE_TOKEN_VARIABLES`` for
    a GitHub Enterprise Server API) that holds a token; None when none does."""
    host = (urlsplit(github_url).hostname or "").lower()
    enterprise = host not in ("api.github.com", "github.com", "localhost") and not host.endswith(
        ".ghe.com"
    )
    names = ENTERPRISE_TOKEN_VARIABLES if enterprise else GITHUB_TOKEN_VARIABLES
    return next((name for name in names if environ.get(name, "").strip()), None)


def _github_token_env(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """With --forge github, no token file and no App: the variable to read the token from."""
    app = (args.github_app_id, args.github_app_key_file, args.github_installation_id)
    if args.forge != "github" or args.github_token_file is not None or app != (None,) * 3:
        return None
    return github_token_variable(args.github_url, environ)


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from parsed options (and ``environ``, default the process's, for the token
    variables); ``repo`` must have been checked by the caller."""
    return Settings(
        repo=args.repo or "",
        forge=args.forge,
        cache_dir=args.cache_dir,
        base_branch=args.base_branch,
        listen=getattr(args, "listen", DEFAULT_LISTEN),
        log_format=args.log_format,
        git_token_file=args.git_token_file,
        git_token_env=args.git_token_env,
        ssh_key=args.ssh_key,
        ssh_passphrase_file=args.ssh_passphrase_file,
        signing_key=args.signing_key or None,
        signing_format=args.signing_format,
        commit_name=args.commit_name,
        commit_email=args.commit_email,
        github_repo=args.github_repo,
        github_url=args.github_url,
        github_token_file=args.github_token_file,
        github_token_env=_github_token_env(args, os.environ if environ is None else environ),
        github_app_id=args.github_app_id,
        github_app_key_file=args.github_app_key_file,
        github_installation_id=args.github_installation_id,
        github_timeout=args.github_timeout,
        shard=args.shard,
    )
