"""The typed `promotions.toml` (reference: docs/policy.md): frozen dataclasses.

Every field carries its documentation, default and example in its metadata (keys.spec). The
loader, the JSON Schema and the reference in docs/policy.md are all derived from these
classes, so a key is added in one place. The policy, its settings, registry, apps and
environments are here; the gate and live-source tables are in policy.gates and policy.live,
and callers import all of them from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from reconciler import units
from reconciler.policy import values
from reconciler.policy.gates import (
    GATE_KINDS,
    MAX_GATE_TIMEOUT,
    ArgoCDGate,
    ChecksGate,
    Gate,
    HttpGate,
    SoakGate,
    WindowGate,
)
from reconciler.policy.images import NO_PARTS, HelmKeys, ImagePart
from reconciler.policy.keys import DURATION_SCHEMA, EMPTY, URL_SCHEMA, duration_at_least, spec
from reconciler.policy.live import (
    LIVE_KINDS,
    ArgoCDLive,
    HttpLive,
    KubernetesLive,
    LiveSource,
    RegistryTagLive,
)
from reconciler.policy.notify import NOTIFY_KINDS, NotifySink, SlackSink, TeamsSink, WebhookSink

__all__ = [
    "GATE_KINDS",
    "LIVE_KINDS",
    "MAX_GATE_TIMEOUT",
    "NAME_PATTERN",
    "NOTIFY_KINDS",
    "POLICY_FILE",
    "SUPPORTED_VERSIONS",
    "App",
    "ArgoCDGate",
    "ArgoCDLive",
    "ChecksGate",
    "Environment",
    "Gate",
    "HelmKeys",
    "HttpGate",
    "HttpLive",
    "ImagePart",
    "KubernetesLive",
    "LiveSource",
    "NotifySink",
    "Policy",
    "Registry",
    "RegistryTagLive",
    "Settings",
    "SlackSink",
    "SoakGate",
    "TeamsSink",
    "WebhookSink",
    "WindowGate",
]

POLICY_FILE = "promotions.toml"
SUPPORTED_VERSIONS = (1,)
NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"


# -- settings and registry --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the daemon works on this config repo."""

    base_branch: str = spec(
        "main", doc="The protected branch that holds the overlays and this policy.", example="main"
    )
    poll_interval: timedelta = spec(
        timedelta(seconds=30),
        doc="How often a cycle runs when no webhook or file change triggers one.",
        example="30s",
        parse=duration_at_least(timedelta(seconds=1)),
        schema=DURATION_SCHEMA,
    )
    labels: tuple[str, ...] = spec(
        ("promotion",), doc="Labels put on every promotion pull request.", example=["promotion"]
    )
    hold_label: str = spec(
        "promotion-hold",
        doc="A pull request carrying this label is left alone: no update, no merge.",
        example="promotion-hold",
    )
    pin: Literal["digest", "tag-and-digest"] = spec(
        "digest",
        doc='How a promotion pins the image: "digest" (newDigest only) or "tag-and-digest" '
        "(keeps the source's tag alongside for readability).",
        example="digest",
    )
    rollback_release: Literal["newer-digest", "manual"] = spec(
        "newer-digest",
        doc="What ends the hold a rollback leaves (`reconciler rollback`, or a person pinning "
        'an older digest by hand): "newer-digest" (a digest the source did not pin before '
        'the rollback is promoted as usual; the rolled-back one never again) or "manual" '
        "(the next promotion request opens with the hold label, and waits until a person "
        "removes it: `reconciler review release --app APP --env ENV` or on the forge).",
        example="manual",
    )
    private_redirects: Literal["allow", "deny"] = spec(
        "allow",
        doc="Whether an HTTP gate may follow a redirect that leaves its own host for a "
        "non-public address (loopback, link-local such as 169.254.169.254, private, shared, "
        'multicast). "deny" refuses it: the sample fails and says why. The gate\'s own URL '
        'is never refused. "allow" by default, so loopback and in-cluster setups keep '
        'working; "deny" is recommended where tenants share a cluster (docs/security.md).',
        example="deny",
    )


@dataclasses.dataclass(frozen=True)
class Registry:
    """Where the images live; used to resolve tags, prove digests exist and move env tags."""

    kind: Literal["ecr", "oci"] = spec(doc='"ecr" (Amazon ECR) or "oci" (any OCI registry).')
    region: str | None = spec(
        None,
        doc="ECR region; by default taken from the image host (…ecr.REGION.amazonaws.com).",
        example="ap-south-1",
    )
    endpoint_url: str | None = spec(
        None,
        doc="Override the registry API endpoint (an ECR-compatible endpoint, a mirror).",
        example="https://ecr.internal.example",
        parse=lambda raw: values.parse_url(raw, ()),
        schema=URL_SCHEMA,
    )
    plain_http: bool = spec(
        False, doc="OCI only: talk plain HTTP (a registry on loopback or a private network)."
    )
    timeout: timedelta = spec(
        timedelta(seconds=30),
        doc="Give up on one registry request after this long (then: retried next cycle).",
        example="30s",
        parse=duration_at_least(timedelta(milliseconds=10)),
        schema=DURATION_SCHEMA,
    )


# -- apps ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class App:
    """One service whose image is promoted (or whose images are, as one unit)."""

    name: str = spec(doc="The app's name (the table's key).", from_key=True)
    image: str = spec(
        "",
        doc="The image repository, without tag or digest. Give `image` or `images`.",
        example="418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway",
    )
    images: Mapping[str, ImagePart] = spec(
        EMPTY,
        doc="Several images promoted as one unit, by part name (instead of `image`): "
        "`[apps.NAME.images.PART]` tables. A candidate is the set the source pins; it "
        "moves only whole (docs/policy.md#apps-of-several-images).",
        example=None,
    )
    kustomize_image: str | None = spec(
        None,
        doc="The `images[].name` to match in kustomization files; default: the app name, "
        "else the `image` repository (an entry `kustomize edit set image` wrote).",
        example="order-gateway",
    )
    helm: HelmKeys = spec(
        HelmKeys(), doc="Key paths of the image in Helm values overlays.", example=None
    )
    environments: tuple[str, ...] | None = spec(
        None,
        doc="Promote this app only through these environments; default: all of them.",
        example=["dev", "staging", "prod"],
    )
    hold: bool = spec(False, doc="Stop all automation for this app.")

    def __hash__(self) -> int:
        # Hashable as before `images`, a mapping, was added (a frozen dataclass hashes its
        # fields, and a mapping proxy does not hash).
        fields = (self.name, self.image, self.kustomize_image, self.helm, self.environments)
        return hash((*fields, self.hold, tuple(sorted(self.images.items()))))

    def __reduce__(self) -> tuple[object, tuple[dict[str, object]]]:
        # Pickled for the overlay worker (reconciler.pinworkers): a mapping proxy does not
        # pickle, so the parts travel as a dict.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["images"] = dict(self.images)
        return (_unpickled_app, (fields,))

    @property
    def image_name(self) -> str:
        """The kustomize `images[].name` a new entry for this app gets."""
        return self.kustomize_image or self.name

    @property
    def image_names(self) -> tuple[str, ...]:
        """The kustomize `images[].name`s that select this app's entry, the first found
        winning: ``kustomize_image`` when set, else the app name, then the `image`
        repository (what `kustomize edit set image REPO@DIGEST` names the entry)."""
        if self.kustomize_image or not self.image or self.image == self.name:
            return (self.image_name,)
        return (self.name, self.image)

    @property
    def read_as(self) -> str:
        """What reading this app's pin depends on besides the file and format, for cache
        keys: its kustomize image name, or for an image unit each part's name and keys."""
        if not self.images:
            return "|".join(self.image_names)
        made = ";".join(f"{n}={p.image_name}:{p.helm!r}" for n, p in self.parts())
        return made + "".join(f";{n}@{p.overlay}" for n, p in self.images.items() if p.overlay)

    def lead(self, digest: str) -> tuple[str, str]:
        """The image and digest whose labels speak for the candidate ``digest`` (its source
        revision, its version): the app's own, or an image unit's first part's by name."""
        if not self.images:
            return self.image, digest
        name, part = self.parts()[0]
        return part.image, (units.parts(digest) or {}).get(name, "")

    @property
    def has_part_files(self) -> bool:
        """Whether some part of an app of several images is pinned in a file of its own
        (`[apps.NAME.images.PART] overlay`), not in the environment's overlay file."""
        return any(part.overlay for part in self.images.values())

    @property
    def is_unit(self) -> bool:
        """Whether the app promotes several images as one unit (`images`)."""
        return bool(self.images)

    def parts(self) -> tuple[tuple[str, App], ...]:
        """Each image as a single-image app of the same name, by part name sorted; a
        single-image app is its one part, named ""."""
        cached: tuple[tuple[str, App], ...] | None = self.__dict__.get("_parts_cache")
        if cached is None:
            if not self.images:
                cached = (("", self),)
            else:
                cached = tuple(
                    (
                        name,
                        dataclasses.replace(
                            self,
                            image=part.image,
                            images=NO_PARTS,
                            kustomize_image=part.kustomize_image or part.image.rsplit("/", 1)[-1],
                            helm=part.helm,
                        ),
                    )
                    for name, part in sorted(self.images.items())
                )
            object.__setattr__(self, "_parts_cache", cached)
        return cached


def _unpickled_app(fields: dict[str, Any]) -> App:
    images = fields.pop("images")
    return App(**fields, images=MappingProxyType(images) if images else NO_PARTS)


# -- environments ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Environment:
    """One stage of the chain; `follows` names the environment it is promoted from."""

    name: str = spec(doc="The environment's name (the table's key).", from_key=True)
    overlay: str = spec(
        doc='Folder with kustomization.yaml (format "kustomize") or the values file '
        '(format "helm"), relative to the repo root; "{app}" is replaced by the app name.',
        example="overlays/prod",
        parse=values.parse_repo_path,
        schema={"type": "string", "minLength": 1},
    )
    format: Literal["kustomize", "helm"] = spec("kustomize", doc="How the overlay pins the image.")
    follows: str | None = spec(
        None,
        doc="The environment this one is promoted from. Absent: written by CI (a root).",
        example="staging",
    )
    mode: Literal["pull-request", "commit"] = spec(
        "pull-request",
        doc='"pull-request" opens a PR per promotion; "commit" pushes straight to the base branch.',
    )
    auto_merge: bool = spec(False, doc="Merge the promotion PR once its gates pass.")
    require_codeowners: bool = spec(
        False,
        doc="Promote only if the forge enforces a CODEOWNERS review of this overlay.",
    )
    merge_when_approved: bool = spec(
        False,
        doc="With require_codeowners: the daemon merges once a code owner approved the "
        "current head and merge_delay passed. Off: a person merges the approved request.",
    )
    gates: tuple[str, ...] = spec(
        (),
        doc="Names of gates (from [gates]) that must pass, evaluated on the source env.",
        example=["staging-health", "soak"],
    )
    merge_delay: timedelta = spec(
        timedelta(0),
        doc="An approved PR still waits this long before it is merged (a wait timer).",
        example="5m",
        parse=duration_at_least(timedelta(0)),
        schema=DURATION_SCHEMA,
    )
    registry_tag: str | None = spec(
        None,
        doc="Move this registry tag to the digest once the environment runs it.",
        example="production",
    )
    hold: bool = spec(False, doc="Stop all automation into this environment.")
    production: bool | None = spec(
        None,
        doc="Whether end users are served from here; the GitHub forge sets its Deployments' "
        "production_environment to it. Absent: true when no environment follows this one.",
        example=True,
    )


# -- the policy -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Policy:
    """A whole, valid `promotions.toml`."""

    version: int = spec(doc="Format version; 1.", example=1)
    settings: Settings = spec(Settings(), doc="Daemon settings.", example=None)
    registry: Registry | None = spec(None, doc="The image registry.", example=None)
    apps: Mapping[str, App] = spec(EMPTY, doc="Apps by name.", example=None)
    environments: Mapping[str, Environment] = spec(EMPTY, doc="Environments by name.", example=None)
    gates: Mapping[str, Gate] = spec(EMPTY, doc="Gates by name.", example=None)
    live: Mapping[str, LiveSource] = spec(
        EMPTY, doc="Live sources by environment name.", example=None
    )
    notify: Mapping[str, NotifySink] = spec(EMPTY, doc="Notification sinks by name.", example=None)

    def edges(self) -> list[tuple[str, str]]:
        """(source, target) pairs, roots first."""
        return [(env.follows, env.name) for env in self.ordered() if env.follows]

    def ordered(self) -> list[Environment]:
        """Environments with every source before its followers (the policy is acyclic)."""
        done: list[Environment] = []
        seen: set[str] = set()
        pending = list(self.environments.values())
        while pending:
            ready = [e for e in pending if e.follows is None or e.follows in seen]
            for env in ready:
                done.append(env)
                seen.add(env.name)
            pending = [e for e in pending if e.name not in seen]
            if not ready:
                break
        return done

    def is_production(self, env: str) -> bool:
        """Whether ``env`` serves end users: its ``production`` key, else whether it ends
        the chain (no environment follows it); False for an environment not in the policy."""
        environment = self.environments.get(env)
        if environment is None:
            return False
        if environment.production is not None:
            return environment.production
        return not any(other.follows == env for other in self.environments.values())

    def apps_in(self, env: str) -> list[App]:
        """The apps promoted through ``env``."""
        return list(self._by_env().get(env, ((), frozenset()))[0])

    def has_app_in(self, app: str, env: str) -> bool:
        """Whether ``app`` is promoted through ``env``."""
        return app in self._by_env().get(env, ((), frozenset()))[1]

    def _by_env(self) -> Mapping[str, tuple[tuple[App, ...], frozenset[str]]]:
        # Planning asks this for every edge each cycle; a policy never changes, so the
        # answer is computed once per policy object (a 1,000-app policy made it quadratic).
        cached: Mapping[str, tuple[tuple[App, ...], frozenset[str]]] | None = self.__dict__.get(
            "_by_env_cache"
        )
        if cached is None:
            cached = {}
            for env in self.environments:
                apps = tuple(
                    app
                    for app in self.apps.values()
                    if app.environments is None or env in app.environments
                )
                cached[env] = (apps, frozenset(app.name for app in apps))
            object.__setattr__(self, "_by_env_cache", cached)
        return cached
