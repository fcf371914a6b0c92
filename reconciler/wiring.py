"""The one place that builds real adapters from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.applying import Applier
from reconciler.cycle import Reconciler
from reconciler.errors import PolicyError
from reconciler.forge.local import LocalForge
from reconciler.gitrepo.credentials import Credentials, HttpsToken, SshAgent, SshKey
from reconciler.gitrepo.pygit2_repo import Pygit2ConfigRepo
from reconciler.httpclient import HttpClient
from reconciler.live.argocd import ArgoCDLiveReader
from reconciler.live.http import HttpLiveReader
from reconciler.live.port import LiveReader
from reconciler.live.registry_tag import RegistryTagLiveReader
from reconciler.metrics import Metrics
from reconciler.observing import Observer
from reconciler.policy import Policy
from reconciler.policy.model import ArgoCDLive, HttpLive, LiveSource, Registry, RegistryTagLive
from reconciler.probes import HttpProber
from reconciler.registry import ImageRegistry, open_registry
from reconciler.settings import Settings


def utc_now() -> datetime:
    """The wall clock, in UTC: the only clock the daemon reads."""
    return datetime.now(UTC)


@dataclass
class Wired:
    """The built parts, for the verbs that need more than a cycle."""

    repo: Pygit2ConfigRepo
    forge: LocalForge
    reconciler: Reconciler
    metrics: Metrics


def open_repo(settings: Settings) -> Pygit2ConfigRepo:
    """The config repo's clone in the cache folder, fetched."""
    if settings.forge != "local":
        raise PolicyError(
            f"--forge {settings.forge} is not available in this version; use --forge local"
        )
    return Pygit2ConfigRepo.open(
        settings.repo, settings.cache_dir, credentials=credentials(settings)
    )


def credentials(settings: Settings) -> Credentials | None:
    """The git credentials the settings name; None for local paths and anonymous remotes."""
    if settings.git_token_file is not None or settings.git_token_env is not None:
        if settings.git_token_file is not None and settings.git_token_env is not None:
            raise PolicyError("give --git-token-file or --git-token-env, not both")
        return HttpsToken(file=settings.git_token_file, env=settings.git_token_env)
    if settings.ssh_key is not None:
        return SshKey(settings.ssh_key, passphrase_file=settings.ssh_passphrase_file)
    if settings.repo.startswith(("ssh://", "git@")):
        return SshAgent()
    return None


def build(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Wired:
    """Open the config repo (clone or fetch) and build every adapter around it."""
    repo = open_repo(settings)
    forge = LocalForge(repo, settings.base_branch, clock=clock)
    client = HttpClient()
    readers: dict[LiveSource, LiveReader] = {}

    def live_reader(policy: Policy, env: str) -> LiveReader | None:
        source = policy.live[env]
        # One reader per source for the life of the process: it remembers first sightings.
        if source in readers:
            return readers[source]
        if isinstance(source, HttpLive):
            readers[source] = HttpLiveReader(source, client, clock)
        else:
            images = {app.name: app.image for app in policy.apps.values()}
            if isinstance(source, RegistryTagLive):
                registry = registry_for(policy)
                if registry is None:
                    return None
                readers[source] = RegistryTagLiveReader(source, registry, images, clock)
            elif isinstance(source, ArgoCDLive):
                readers[source] = ArgoCDLiveReader(source, images, client, clock)
            else:
                # The kubernetes client is large: loaded only by policies that use it.
                from reconciler.live.kubernetes import KubernetesLiveReader  # noqa: PLC0415

                readers[source] = KubernetesLiveReader(source, images)
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
        HttpProber(client, clock=clock),
        live_reader,
        clock,
        settings.base_branch,
        registry_for=registry_for,
    )
    metrics = Metrics()
    applier = Applier(repo, forge, clock, registry=current_registry)
    reconciler = Reconciler(observer, applier, metrics, clock)
    return Wired(repo, forge, reconciler, metrics)
