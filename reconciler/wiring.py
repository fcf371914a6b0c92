"""The composition root: the one place that builds real adapters from settings.

What reaches outside the process (the config repo's clone, the GitHub API, the HTTP client)
is made by the ``Factories`` passed in, so a test hands in its own instead of patching here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler import heap, pinstore, provenance
from reconciler.applying import Applier, Identity
from reconciler.clock import utc_now
from reconciler.cycle import CycleRunner
from reconciler.errors import PolicyError
from reconciler.forge import landing
from reconciler.forge.local import LocalForge
from reconciler.forge.port import Forge
from reconciler.gitrepo.credentials import (
    Credentials,
    HttpsToken,
    HttpsTokenSource,
    SshAgent,
    SshKey,
    read_token,
)
from reconciler.gitrepo.port import ConfigRepo, Signature, check_writable
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.gitrepo.signing import checked_signer, open_signer
from reconciler.httpclient.client import HttpClient
from reconciler.live.argocd import ArgoCDLiveReader
from reconciler.live.http import HttpLiveReader
from reconciler.live.port import LiveReader
from reconciler.live.registry_tag import RegistryTagLiveReader
from reconciler.metrics import Metrics
from reconciler.notify.notifier import Notifier, NotifyTiming
from reconciler.notify.store import OutboxStore
from reconciler.observing import Observer
from reconciler.phases import Stopwatch
from reconciler.policy import Policy
from reconciler.policy.model import ArgoCDLive, HttpLive, LiveSource, Registry, RegistryTagLive
from reconciler.probes import HttpProber
from reconciler.progress import for_stderr
from reconciler.registry import ImageRegistry, open_registry
from reconciler.settings import Settings

if TYPE_CHECKING:
    from reconciler.forge.github.app import InstallationTokens


@dataclass
class Wired:
    """The built parts, for the verbs that need more than a cycle."""

    repo: ConfigRepo
    forge: Forge
    runner: CycleRunner
    metrics: Metrics
    closing: ExitStack = field(default_factory=ExitStack)  # what close() closes, last first

    def close(self) -> None:
        """Stop the live sources' watches (Kubernetes, Argo CD), then close the HTTP client
        the probes, live sources and registries share; no cycle may run after it."""
        self.closing.close()


class PolicyInForce:
    """The policy the cycles run on, for adapters built before the first cycle reads it."""

    def __init__(self) -> None:
        self.read: Callable[[], Policy | None] = lambda: None  # connect points it at the observer

    def is_production(self, env: str) -> bool:
        """Whether the policy in force says ``env`` is production; False before one is read."""
        policy = self.read()
        return policy is not None and policy.is_production(env)


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` checks and builds without touching the network or the cache."""

    settings: Settings
    clock: Callable[[], datetime]
    metrics: Metrics
    app: InstallationTokens | None
    github: Forge | None  # the GitHub forge; None: the local forge, built on the clone
    factories: Factories
    in_force: PolicyInForce  # the GitHub forge asks it which environments are production


def repo_url(settings: Settings) -> str:
    """``--repo``, or with ``--forge github`` the repository's HTTPS clone URL."""
    if settings.repo:
        return settings.repo
    if settings.forge == "github" and settings.github_repo:
        return clone_url(settings.github_url, settings.github_repo)
    raise PolicyError("--repo is required (a config repo path or URL, or RECONCILER_REPO)")


def clone_url(api_root: str, repository: str) -> str:
    """The HTTPS clone URL of ``repository`` (OWNER/NAME) on the GitHub whose API root is
    ``api_root``: its scheme, host and port, without the API's path."""
    api = urlsplit(api_root)
    host = api.netloc.rpartition("@")[2]  # never credentials written into the URL
    name = (api.hostname or "").lower()
    # github.com and GHE.com (data residency) serve the API on the host's api. subdomain and
    # git on the host itself; GitHub Enterprise Server serves both on one host (/api/v3).
    if name == "api.github.com" or (name.startswith("api.") and name.endswith(".ghe.com")):
        host = host[len("api.") :]
    return f"{api.scheme}://{host}/{repository}.git"


def open_repo(settings: Settings, app: InstallationTokens | None = None) -> Pygit2ConfigRepo:
    """The config repo's clone in the cache folder, fetched; clones and fetches report
    their progress on stderr (reconciler.progress)."""
    return Pygit2ConfigRepo.open(
        repo_url(settings),
        settings.cache_dir,
        credentials=credentials(settings, app),
        watch=for_stderr(),
        signer=open_signer(settings.signing_key, settings.signing_format),
    )


def identity(settings: Settings) -> Identity:
    """Who the daemon's commits name (``--commit-name``, ``--commit-email``); PolicyError
    unless git can write it."""
    who = Identity(settings.commit_name, settings.commit_email)
    try:
        check_writable(Signature(who.name, who.email, utc_now()))
    except ValueError as error:
        raise PolicyError(f"--commit-name or --commit-email: {error}") from None
    return who


def github_app(settings: Settings, clock: Callable[[], datetime]) -> InstallationTokens | None:
    """The GitHub App's installation tokens when the settings name an App; else None."""
    app_id, key, installation = (
        settings.github_app_id,
        settings.github_app_key_file,
        settings.github_installation_id,
    )
    if app_id is None and key is None and installation is None:
        return None
    if app_id is None or key is None or installation is None:
        raise PolicyError(
            "a GitHub App needs --github-app-id, --github-app-key-file and "
            "--github-installation-id together"
        )
    if settings.github_token_file is not None:
        raise PolicyError(
            "give --github-token-file or a GitHub App (--github-app-id ...), not both"
        )
    # PyGithub and PyJWT load only for the GitHub forge: a local `status` starts faster.
    from reconciler.forge.github.app import AppCredentials, InstallationTokens  # noqa: PLC0415
    from reconciler.forge.github.client import AppTokenEndpoint  # noqa: PLC0415

    return InstallationTokens(
        AppCredentials(app_id, key, installation),
        AppTokenEndpoint(settings.github_url),
        clock=clock,
    )


def credentials(settings: Settings, app: InstallationTokens | None = None) -> Credentials | None:
    """The git credentials the settings name; None for local paths and anonymous remotes."""
    if settings.git_token_file is not None or settings.git_token_env is not None:
        if settings.git_token_file is not None and settings.git_token_env is not None:
            raise PolicyError("give --git-token-file or --git-token-env, not both")
        return HttpsToken(file=settings.git_token_file, env=settings.git_token_env)
    if settings.ssh_key is not None:
        return SshKey(settings.ssh_key, passphrase_file=settings.ssh_passphrase_file)
    if settings.forge == "github" and app is not None:
        return HttpsTokenSource(app.installation_token)  # the App pushes as itself too
    token = github_token(settings) if settings.forge == "github" else None
    if token is not None:
        return token  # the API's identity, for pushes too
    if repo_url(settings).startswith(("ssh://", "git@")):
        return SshAgent()
    return None


def github_token(settings: Settings) -> HttpsToken | None:
    """The GitHub token's source: --github-token-file, else the variable settings chose
    (GH_TOKEN ...); only its name is ever shown, never its value."""
    if settings.github_token_file is not None:
        return HttpsToken(file=settings.github_token_file)
    if settings.github_token_env is not None:
        return HttpsToken(env=settings.github_token_env)
    return None


def github_forge(
    settings: Settings,
    clock: Callable[[], datetime],
    metrics: Metrics,
    app: InstallationTokens | None = None,
    make: Callable[..., Forge] | None = None,
    *,
    production: Callable[[str], bool] = lambda env: False,
) -> Forge:
    """The GitHub forge ``make`` builds, counting its requests and budget into ``metrics``;
    ``production(env)`` says which environments' Deployments are production."""
    if not settings.github_repo or "/" not in settings.github_repo:
        raise PolicyError("--forge github needs --github-repo OWNER/NAME")
    token = github_token(settings)
    if token is None and app is None:
        raise PolicyError(
            "--forge github needs --github-token-file (or GH_TOKEN, GITHUB_TOKEN; "
            "GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN for GitHub Enterprise Server), or a "
            "GitHub App (--github-app-id, --github-app-key-file, --github-installation-id)"
        )

    def read() -> str:
        if app is not None:
            return app.installation_token()
        assert token is not None
        return read_token(token, os.environ).reveal()

    def counted(method: str, status: int) -> None:
        metrics.forge_requests.labels(method=method, status=str(status)).inc()

    return (make or _github_forge)(
        settings.github_repo,
        token=read,
        base_url=settings.github_url,
        clock=clock,
        on_request=counted,
        on_rate_limit=metrics.set_forge_budget,
        timeout=settings.github_timeout,
        production=production,
    )


def _github_forge(*args: Any, **kwargs: Any) -> Forge:
    """GitHubForge, imported when first used (PyGithub is slow to import)."""
    from reconciler.forge.github.forge import GitHubForge  # noqa: PLC0415

    return GitHubForge(*args, **kwargs)


@dataclass(frozen=True)
class Factories:
    """How the parts that reach outside the process are made; tests pass their own."""

    open_repo: Callable[[Settings, InstallationTokens | None], ConfigRepo] = open_repo
    github_forge: Callable[..., Forge] | None = None  # called as GitHubForge is (None: it)
    http_client: Callable[[], HttpClient] = HttpClient
    notify_timing: NotifyTiming = field(default_factory=NotifyTiming)  # tests shorten it


REAL = Factories()


def build(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    stopping: Callable[[], bool] = lambda: False,
    factories: Factories = REAL,
) -> Wired:
    """Open the config repo (clone or fetch) and build every adapter around it."""
    return connect(prepare(settings, clock, factories), stopping)


def prepare(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    factories: Factories = REAL,
) -> Prepared:
    """Check the settings (PolicyError) and build what needs no network."""
    app = github_app(settings, clock) if settings.forge == "github" else None
    metrics = Metrics((settings.shard.index, settings.shard.count))
    in_force = PolicyInForce()
    github = (
        github_forge(
            settings, clock, metrics, app, factories.github_forge, production=in_force.is_production
        )
        if settings.forge == "github"
        else None
    )
    credentials(settings, app)  # checked now: a mistake here is no reason to retry
    checked_signer(settings.signing_key, settings.signing_format)  # one test signature
    identity(settings)
    return Prepared(settings, clock, metrics, app, github, factories, in_force)


def connect(prepared: Prepared, stopping: Callable[[], bool] = lambda: False) -> Wired:
    """Open the config repo (clone or fetch: a TransientError when it cannot be reached)
    and build every adapter around it; ``stopping()`` true cuts a probe round short."""
    settings, clock, metrics = prepared.settings, prepared.clock, prepared.metrics
    phases = Stopwatch()
    repo = prepared.factories.open_repo(settings, prepared.app)
    phases.lap("open")  # a clone, or the cache's clone fetched: the first cycle's first phase
    # The adapter counts its own repairs, those made while opening included; a test's
    # wrapper of it may not count any.
    metrics.count_cache_repairs(lambda: int(getattr(repo, "cache_repairs", 0)))
    who = identity(settings)
    forge = prepared.github or LocalForge(
        repo,
        settings.base_branch,
        name=who.name,
        email=who.email,
        clock=clock,
        landing_file=settings.cache_dir / landing.FILE,
    )
    client = prepared.factories.http_client()
    closing = ExitStack()
    closing.callback(client.close)
    readers: dict[LiveSource, LiveReader] = {}

    def live_reader(policy: Policy, env: str) -> LiveReader | None:
        source = policy.live[env]
        # One reader per source for the life of the process: it remembers first sightings.
        if source in readers:
            return readers[source]
        if isinstance(source, HttpLive):
            readers[source] = HttpLiveReader(source, client, clock)
        else:
            images = {app.name: app.image for app in policy.apps.values() if not app.is_unit}
            units = {
                app.name: {name: part.image for name, part in app.parts()}
                for app in policy.apps.values()
                if app.is_unit
            }
            if isinstance(source, RegistryTagLive):
                registry = registry_for(policy)
                if registry is None:
                    return None
                readers[source] = RegistryTagLiveReader(source, registry, images, clock, units)
            elif isinstance(source, ArgoCDLive):
                argocd = ArgoCDLiveReader(source, images, client, clock, units=units)
                closing.callback(argocd.close)  # its stream's thread outlives any cycle
                readers[source] = argocd
            else:
                # The kubernetes client is large: loaded only by policies that use it.
                from reconciler.live.kubernetes import KubernetesLiveReader  # noqa: PLC0415

                kubernetes = KubernetesLiveReader(source, images, units=units)
                closing.callback(kubernetes.close)  # its watch threads outlive any cycle
                readers[source] = kubernetes
        return readers[source]

    registries: dict[Registry, ImageRegistry] = {}

    def registry_for(policy: Policy) -> ImageRegistry | None:
        if policy.registry is None:
            return None
        # One adapter per registry setting: it keeps tokens and its request budget.
        if policy.registry not in registries:
            registries[policy.registry] = open_registry(policy.registry, http=client)
        return registries[policy.registry]

    def current_registry() -> ImageRegistry | None:
        policy = observer.last_good
        return registry_for(policy) if policy is not None else None

    observer = Observer(
        repo,
        forge,
        prober=HttpProber(client, clock=clock, stopping=stopping),
        live_reader=live_reader,
        clock=clock,
        base_branch=settings.base_branch,
        registry_for=registry_for,
        shard=settings.shard,
        phases=phases,
        pin_file=settings.cache_dir / pinstore.FILE,
        head_file=settings.cache_dir / provenance.FILE,
    )
    prepared.in_force.read = lambda: observer.last_good
    applier = Applier(
        repo, forge, clock, identity=who, registry=current_registry, stopping=stopping
    )
    runner = CycleRunner(observer, applier, metrics, clock, phases=phases)
    notifier = Notifier(
        OutboxStore(repo, settings.base_branch, lambda: Signature(who.name, who.email, clock())),
        client,
        clock,
        count=metrics.count_notification,
        timing=prepared.factories.notify_timing,
    )
    runner.after.append(notifier.after_cycle)
    runner.after.append(heap.release)  # last: what the hooks freed is given back too
    closing.callback(notifier.close)  # before the client closes: it confirms what was sent
    return Wired(repo, forge, runner, metrics, closing)
