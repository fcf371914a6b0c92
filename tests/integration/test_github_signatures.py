"""Required signatures on the GitHub simulator, and the daemon signing against it.

The simulator keeps GitHub's rule (protection's "Require signed commits", a ruleset's
``required_signatures`` rule): a merge or a push bringing a commit that is not verified
(unsigned, or signed by a key the committer's account did not register) is refused with
GitHub's words; the endpoints read and turn the protection on and off, held to GitHub's
OpenAPI description. Then the daemon with ``--signing-key`` promotes through such a branch,
and every commit it wrote passes ``git verify-commit``; without a key its merge is refused.
``doctor`` says whether the branch requires signatures and whether the daemon can sign.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import github
import pytest
from github import Auth

from reconciler.gitrepo.port import CommitSigner, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.fakes.forge import START
from tests.integration.test_cli_github import seeded
from tests.servers.git_http import serve_git
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim.enforcement import UNVERIFIED
from tests.signing import EMAIL, TestKey, openpgp_key, ssh_key, stop_agent

PROD = "overlays/prod/app/kustomization.yaml"
BOT = Signature("reconciler", EMAIL, START)
BOT_EMAIL = "reconciler-bot@users.example.com"


@pytest.fixture(params=["ssh", "openpgp"])
def key(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestKey]:
    made = ssh_key(tmp_path / "keys") if request.param == "ssh" else openpgp_key(tmp_path / "keys")
    yield made
    stop_agent(made)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with serve_github(tmp_path / "config.git") as running:
        yield running


def register(sim: GitHubSim, login: str, key: TestKey) -> None:
    """Register ``key`` on ``login``'s account, as a user does in GitHub's settings."""
    if key.gnupghome is None:
        sim.add_signing_key(login, ssh=key.public)
        return
    armored = subprocess.run(
        ["gpg", "--batch", "--export", "--armor", key.public],
        capture_output=True, check=True, env=key.git_env(),
    ).stdout  # fmt: skip
    sim.add_signing_key(login, openpgp=(key.public, armored))


def gh(sim: GitHubSim, token: str) -> github.Github:
    return github.Github(
        base_url=sim.url, auth=Auth.Token(token), seconds_between_requests=0,
        seconds_between_writes=0,
    )  # fmt: skip


def head(sim: GitHubSim, tmp_path: Path, signer: CommitSigner | None, branch: str) -> str:
    """A promotion head on ``branch``, written by the daemon's adapter (signed or not)."""
    repo = Pygit2ConfigRepo.open(str(sim.git_path), tmp_path / f"cache-{branch}", signer=signer)
    base = repo.tip("main")
    assert base is not None
    written = repo.replace_branch(
        branch, lambda _v: {PROD: b"digest: sha256:cc\n"}, base=base, expected_old=None,
        message="prod: promote app\n", author=BOT, committer=BOT,
    ).commit  # fmt: skip
    assert written is not None
    return written


def test_required_signatures_endpoints(sim: GitHubSim) -> None:
    root = sim.add_user("root", permission="admin")
    sim.commit("main", {PROD: b"digest: sha256:aa\n"})
    sim.protect("main", reviews=False)
    branch = gh(sim, root).get_repo("acme/config").get_branch("main")

    assert branch.get_required_signatures() is False
    branch.add_required_signatures()
    assert branch.get_required_signatures() is True
    branch.remove_required_signatures()
    assert branch.get_required_signatures() is False


@pytest.mark.parametrize("source", ["protection", "ruleset"])
def test_a_merge_bringing_an_unverified_commit_is_refused(
    source: str, sim: GitHubSim, tmp_path: Path
) -> None:
    made = ssh_key(tmp_path / "keys")
    other = ssh_key(tmp_path / "other")  # a key nobody registered
    token = sim.add_user("bot", permission="write", email=EMAIL)
    register(sim, "bot", made)
    sim.commit("main", {PROD: b"digest: sha256:aa\n"})
    if source == "protection":
        sim.protect("main", reviews=False, required_signatures=True)
    else:
        sim.add_ruleset("signed", pull_request_rule=False, required_signatures=True)
    repo = gh(sim, token).get_repo("acme/config")
    words = (
        UNVERIFIED
        if source == "protection"
        else f"Repository rule violations found\n\n{UNVERIFIED}\n\n"
    )

    for name, signer in (("unsigned", None), ("unregistered", other.signer)):
        branch = f"promote/{name}"
        sha = head(sim, tmp_path, signer, branch)
        assert not sim.verified(sha)
        pull = repo.create_pull(base="main", head=branch, title=name, body="")
        with pytest.raises(github.GithubException) as refused:
            pull.merge(sha=sha)
        assert (refused.value.status, refused.value.data["message"]) == (405, words)

    sha = head(sim, tmp_path, made.signer, "promote/signed")
    assert sim.verified(sha)
    pull = repo.create_pull(base="main", head="promote/signed", title="signed", body="")
    assert pull.merge(sha=sha).merged
    assert sim.verified(str(sim.tip("main")))  # GitHub's own merge commit


def test_a_push_of_an_unverified_commit_is_refused(sim: GitHubSim, tmp_path: Path) -> None:
    made = ssh_key(tmp_path / "keys")
    sim.add_user("bot", permission="write", email=EMAIL)
    register(sim, "bot", made)
    sim.commit("main", {PROD: b"digest: sha256:aa\n"})
    sim.protect("main", reviews=False, required_signatures=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(sim.git_path), str(work)], check=True)
    git = ["git", "-C", str(work), "-c", f"user.email={EMAIL}", "-c", "user.name=reconciler"]
    (work / "a.txt").write_text("a\n")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "unsigned"], check=True)

    pushed = subprocess.run(
        [*git, "push", "origin", "HEAD:main"], capture_output=True, text=True, check=False
    )

    assert pushed.returncode != 0
    assert "GH006: Protected branch update failed for refs/heads/main." in pushed.stderr
    assert UNVERIFIED in pushed.stderr
    signing = [*git, "-c", "gpg.format=ssh", "-c", f"user.signingkey={made.options()[1]}"]
    subprocess.run([*signing, "commit", "-q", "--amend", "-S", "-m", "signed"], check=True)
    pushed = subprocess.run(
        [*git, "push", "origin", "HEAD:main"], capture_output=True, text=True, check=False
    )
    assert pushed.returncode == 0, pushed.stderr


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``reconciler`` command (with ``env``: the key's GNUPGHOME)."""
    exe = Path(sys.executable).with_name("reconciler")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, check=False, timeout=60, env=env
    )


def options(sim: GitHubSim, tmp_path: Path, token: str) -> list[str]:
    (tmp_path / "token").write_text(token + "\n")
    return [
        "--forge", "github", "--github-repo", "acme/config", "--github-url", sim.url,
        "--github-token-file", str(tmp_path / "token"), "--repo", str(sim.git_path),
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip


def test_the_daemon_signs_and_its_commits_are_accepted(
    key: TestKey, sim: GitHubSim, tmp_path: Path
) -> None:
    token = sim.add_user("reconciler-bot", permission="admin", email=BOT_EMAIL)
    register(sim, "reconciler-bot", key)
    seed = sim.commit("main", seeded(), "config repo\n")
    sim.protect("main", reviews=False, required_signatures=True, enforce_admins=True)
    sim.add_ruleset("signed", pull_request_rule=False, required_signatures=True)
    daemon = [*options(sim, tmp_path, token), *key.options(), "--commit-email", BOT_EMAIL]

    opened = run("once", *daemon, env=key.git_env())
    merged = run("once", *daemon, env=key.git_env())

    assert opened.returncode == 0, opened.stderr
    assert merged.returncode == 0, merged.stderr
    assert "merged #1" in merged.stdout
    pull = sim.pull(1)
    assert pull.merged
    tip = sim.tip("main")
    assert tip is not None
    written = [c for c in sim.world.git.new_commits(tip, seed) if c != tip]  # tip: GitHub's
    assert written == [pull.head_sha]
    for commit in written:
        verified = key.verify(sim.git_path, commit)
        assert verified.returncode == 0, verified.stderr
        assert sim.verified(commit)
    shown = opened.stdout + opened.stderr + merged.stdout + merged.stderr + (pull.body or "")
    for secret in key.secrets():
        assert secret not in shown


def test_a_signed_commit_under_another_email_is_unverified(sim: GitHubSim, tmp_path: Path) -> None:
    """GitHub verifies against the committer email's account: the default
    reconciler@localhost is nobody's, so --commit-email must be the bot's."""
    made = ssh_key(tmp_path / "keys")
    token = sim.add_user("reconciler-bot", permission="admin", email=BOT_EMAIL)
    register(sim, "reconciler-bot", made)
    sim.commit("main", seeded(), "config repo\n")
    sim.protect("main", reviews=False, required_signatures=True, enforce_admins=True)

    run("once", *options(sim, tmp_path, token), *made.options())
    refused = run("once", *options(sim, tmp_path, token), *made.options())

    pull = sim.pull(1)
    assert made.verify(sim.git_path, pull.head_sha).returncode == 0  # signed, and good
    assert not sim.verified(pull.head_sha)  # but not by the committer's account
    assert UNVERIFIED in refused.stdout + refused.stderr
    assert not pull.merged


def test_without_a_key_the_merge_is_refused(sim: GitHubSim, tmp_path: Path) -> None:
    token = sim.add_user("reconciler-bot", permission="admin", email=EMAIL)
    sim.commit("main", seeded(), "config repo\n")
    sim.protect("main", reviews=False, required_signatures=True, enforce_admins=True)

    run("once", *options(sim, tmp_path, token))
    refused = run("once", *options(sim, tmp_path, token))

    assert UNVERIFIED in refused.stdout + refused.stderr
    assert not sim.pull(1).merged


def test_doctor_tells_whether_signatures_are_required_and_can_be_given(
    sim: GitHubSim, tmp_path: Path
) -> None:
    made = ssh_key(tmp_path / "keys")
    token = sim.add_user("reconciler-bot", permission="admin", email=EMAIL)
    sim.commit("main", seeded(), "config repo\n")
    sim.protect("main", reviews=False, required_signatures=True)

    unsigned = run("doctor", *options(sim, tmp_path, token))
    signed = run("doctor", *options(sim, tmp_path, token), *made.options())
    key_file = made.options()[1]
    Path(key_file).chmod(0o644)
    broken = run("doctor", *options(sim, tmp_path, token), *made.options())

    assert "main requires signed commits: yes: the branch protection of main requires" in (
        unsigned.stdout
    )
    assert "no --signing-key" in unsigned.stdout
    assert unsigned.returncode == 1
    assert f"the SSH signing key {key_file}: a test signature works" in signed.stdout
    assert "chmod 600" in broken.stdout
    assert broken.returncode == 1
    assert "OPENSSH PRIVATE KEY" not in unsigned.stdout + signed.stdout + broken.stdout


def test_the_daemons_direct_commits_pushed_over_https(sim: GitHubSim, tmp_path: Path) -> None:
    """A `mode = "commit"` promotion pushed to a branch requiring signatures, over smart
    HTTP (the push goes through git's receive-pack, so the simulator's pre-receive hook
    judges it): refused unsigned, accepted signed, and the pushed commit verifies."""
    made = ssh_key(tmp_path / "keys")
    token = sim.add_user("reconciler-bot", permission="admin", email=BOT_EMAIL)
    register(sim, "reconciler-bot", made)
    files = seeded()
    files["promotions.toml"] = files["promotions.toml"].replace(
        b"auto_merge = true", b'mode = "commit"'
    )
    seed = sim.commit("main", files, "config repo\n")
    sim.protect("main", reviews=False, required_signatures=True, enforce_admins=True)
    with serve_git(sim.git_path.parent) as server:
        daemon = options(sim, tmp_path, token)
        daemon[daemon.index("--repo") + 1] = server.url(sim.git_path.name)

        refused = run("once", *daemon, "--commit-email", BOT_EMAIL)
        assert sim.tip("main") == seed
        accepted = run("once", *daemon, *made.options(), "--commit-email", BOT_EMAIL)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused the update of branch 'main': pre-receive hook declined" in refused.stdout
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    tip = sim.tip("main")
    assert tip is not None
    assert sim.world.git.new_commits(tip, seed) == [tip]
    assert made.verify(sim.git_path, tip).returncode == 0
    assert sim.verified(tip)
