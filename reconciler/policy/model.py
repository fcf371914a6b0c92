"""The typed `promotions.toml` (reference: docs/policy.md): frozen dataclasses.

Every field carries its documentation, default and example in its metadata. The loader,
the JSON Schema and the reference in docs/policy.md are all derived from these classes, so
a key is added in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from reconciler.policy import values
from reconciler.policy.values import FreezeRange, WeeklyWindow

POLICY_FILE = "promotions.toml"
SUPPORTED_VERSIONS = (1,)
NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"

_REQUIRED: Any = dataclasses.MISSING


def spec(
    default: Any = _REQUIRED,
    *,
    doc: str,
    example: Any = None,
    parse: Callable[[Any], Any] | None = None,
    schema: dict[str, Any] | None = None,
    from_key: bool = False,
) -> Any:
    """A policy key: its documentation, default, example and (for encoded values) parser.

    ``parse`` turns the raw TOML value into the field's value, raising ValueError with a
    message for the user; ``schema`` is then the JSON Schema of the raw value.
    ``from_key`` marks the field filled from the table's own name rather than a key.
    """
    metadata = {
        "doc": doc,
        "example": example,
        "parse": parse,
        "schema": schema,
        "from_key": from_key,
    }
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, Mapping):
        frozen = MappingProxyType(dict(default))
        return dataclasses.field(default_factory=lambda: frozen, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$",
    "minLength": 2,
}
_URL_SCHEMA = {"type": "string", "pattern": "^https?://"}
_STRING_TABLE_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}}
_EMPTY: Mapping[str, str] = MappingProxyType({})


def _duration_at_least(minimum: timedelta) -> Callable[[Any], timedelta]:
    def parse(raw: Any) -> timedelta:
        value = values.parse_duration(raw)
        if value < minimum:
            raise ValueError(
                f'"{raw}" is too short; the minimum is {values.format_duration(minimum)}'
            )
        return value

    return parse


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError(f"expected a whole number of at least 1, got {values.describe(raw)}")
    return raw


def _string_table(raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a table of strings, got {values.describe(raw)}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ValueError(f'"{key}": expected a string, got {values.describe(value)}')
    return MappingProxyType(dict(raw))


def _string_list(parse_item: Callable[[str], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def parse(raw: Any) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise ValueError(f"expected an array of strings, got {values.describe(raw)}")
        out = []
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                raise values.ItemValueError(
                    index, f"expected strings in this array, got {values.describe(item)}"
                )
            try:
                out.append(parse_item(item))
            except ValueError as exc:
                raise values.ItemValueError(index, str(exc)) from None
        return tuple(out)

    return parse


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
        parse=_duration_at_least(timedelta(seconds=1)),
        schema=_DURATION_SCHEMA,
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
        schema=_URL_SCHEMA,
    )
    plain_http: bool = spec(
        False, doc="OCI only: talk plain HTTP (a registry on loopback or a private network)."
    )
    timeout: timedelta = spec(
        timedelta(seconds=30),
        doc="Give up on one registry request after this long (then: retried next cycle).",
        example="30s",
        parse=_duration_at_least(timedelta(milliseconds=10)),
        schema=_DURATION_SCHEMA,
    )


# -- apps ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HelmKeys:
    """Where the image lives in a Helm values file (dotted key paths)."""

    repository: str = spec("image.repository", doc="Key holding the image repository.")
    tag: str = spec("image.tag", doc="Key holding the tag.")
    digest: str = spec("image.digest", doc="Key holding the digest.")
    image: str | None = spec(
        None,
        doc="Single-key form: one key holding `repo:tag@digest`. Replaces the three above.",
        example="image",
    )


@dataclasses.dataclass(frozen=True)
class App:
    """One service whose image is promoted."""

    name: str = spec(doc="The app's name (the table's key).", from_key=True)
    image: str = spec(
        doc="The image repository, without tag or digest.",
        example="418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway",
    )
    kustomize_image: str | None = spec(
        None,
        doc="The `images[].name` to match in kustomization files; defaults to the app name.",
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

    @property
    def image_name(self) -> str:
        """The kustomize `images[].name` this app's overlays use."""
        return self.kustomize_image or self.name


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
        parse=_duration_at_least(timedelta(0)),
        schema=_DURATION_SCHEMA,
    )
    registry_tag: str | None = spec(
        None,
        doc="Move this registry tag to the digest once the environment runs it.",
        example="production",
    )
    hold: bool = spec(False, doc="Stop all automation into this environment.")


# -- gates ----------------------------------------------------------------------------------


# The longest an http gate's probe may take: a probe holds one of the daemon's probing slots
# for its whole timeout, and a cycle's probing is bounded (twice this, reconciler.probes).
MAX_GATE_TIMEOUT = timedelta(seconds=30)


@dataclasses.dataclass(frozen=True)
class HttpGate:
    """Probe an endpoint of the source environment; samples count only on the candidate."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["http"] = spec(doc='"http"')
    url: str = spec(
        doc='The URL to probe; "{app}" and "{env}" are replaced.',
        example="https://staging.{app}.example.internal/healthz",
        parse=values.parse_url,
        schema=_URL_SCHEMA,
    )
    method: Literal["GET", "HEAD", "POST"] = spec("GET", doc="HTTP method.")
    headers: Mapping[str, str] = spec(
        _EMPTY,
        doc="Request headers with literal values (not for secrets).",
        example={"Accept": "application/json"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    headers_from_env: Mapping[str, str] = spec(
        _EMPTY,
        doc="Request headers whose values are read from environment variables (secrets).",
        example={"Authorization": "STAGING_PROBE_TOKEN"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    headers_from_file: Mapping[str, str] = spec(
        _EMPTY,
        doc="Request headers whose values are read from files (mounted secrets).",
        example={"Authorization": "/var/run/secrets/probe-token"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    expect_status: tuple[int, ...] = spec(
        (200,),
        doc="Accepted status code, or a list of them.",
        example=200,
        parse=values.parse_status_list,
        schema={
            "oneOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                },
            ]
        },
    )
    expect_json: Mapping[str, Any] | None = spec(
        None,
        doc="JSON fields the body must have, by dotted path; nested tables are paths too.",
        example={"status": "ok"},
        parse=values.parse_json_expectations,
        schema={"type": "object"},
    )
    expect_body: str | None = spec(
        None,
        doc="A regular expression the body must match.",
        example="^OK",
        parse=values.parse_regex,
        schema={"type": "string"},
    )
    successes: int = spec(
        1,
        doc="Consecutive successful samples on the candidate digest needed to pass.",
        example=3,
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )
    failures_to_block: int = spec(
        1,
        doc="Consecutive failures that reset the success streak (raise for noisy endpoints).",
        example=1,
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )
    interval: timedelta = spec(
        timedelta(seconds=10),
        doc="Time between samples.",
        example="10s",
        parse=_duration_at_least(timedelta(milliseconds=100)),
        schema=_DURATION_SCHEMA,
    )
    timeout: timedelta = spec(
        timedelta(seconds=2),
        doc="Give up on one sample after this long (counts as a failure); at most 30s.",
        example="2s",
        parse=_duration_at_least(timedelta(milliseconds=10)),
        schema=_DURATION_SCHEMA,
    )
    follow_redirects: Literal["none", "same-host", "any"] = spec(
        "same-host", doc="Which redirects to follow."
    )
    max_body_bytes: int = spec(
        1_048_576,
        doc="Read at most this much of the body; more fails the sample.",
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )


@dataclasses.dataclass(frozen=True)
class SoakGate:
    """The candidate must have been live in the source environment this long."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["soak"] = spec(doc='"soak"')
    duration: timedelta = spec(
        doc="Minimum time live in the source environment.",
        example="30m",
        parse=_duration_at_least(timedelta(0)),
        schema=_DURATION_SCHEMA,
    )


_WINDOWS_SCHEMA = {"type": "array", "items": {"type": "string"}}


@dataclasses.dataclass(frozen=True)
class WindowGate:
    """Promote only inside allowed hours and outside denied hours and freezes."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["window"] = spec(doc='"window"')
    allow: tuple[WeeklyWindow, ...] = spec(
        (),
        doc="Recurring windows that allow promotion (DAYS HH:MM-HH:MM ZONE). Empty: always.",
        example=["Mon-Fri 09:00-17:00 Asia/Kolkata"],
        parse=_string_list(values.parse_weekly_window),
        schema=_WINDOWS_SCHEMA,
    )
    deny: tuple[WeeklyWindow, ...] = spec(
        (),
        doc="Recurring windows that forbid promotion; a deny wins over an allow.",
        example=["Fri 16:00-24:00 Europe/Berlin"],
        parse=_string_list(values.parse_weekly_window),
        schema=_WINDOWS_SCHEMA,
    )
    freeze: tuple[FreezeRange, ...] = spec(
        (),
        doc="Absolute ranges START/END (ISO 8601 with offsets) that forbid promotion.",
        example=["2026-12-20T00:00+05:30/2027-01-03T00:00+05:30"],
        parse=_string_list(values.parse_freeze_range),
        schema=_WINDOWS_SCHEMA,
    )


@dataclasses.dataclass(frozen=True)
class ArgoCDGate:
    """The source environment's Argo CD Application is Synced and Healthy on the candidate
    (the seed's `argocd app wait --sync --health`); read through its [live] argocd source."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["argocd"] = spec(doc='"argocd"')


Gate = HttpGate | SoakGate | WindowGate | ArgoCDGate
GATE_KINDS: dict[str, type[Any]] = {
    "http": HttpGate,
    "soak": SoakGate,
    "window": WindowGate,
    "argocd": ArgoCDGate,
}


# -- live sources ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KubernetesLive:
    """Read the running digest from a workload and its pods."""

    env: str = spec(doc="The environment (the table's key).", from_key=True)
    kind: Literal["kubernetes"] = spec(doc='"kubernetes"')
    namespace: str = spec(doc="Namespace of the workload.", example="staging")
    workload: str = spec(
        "deployment/{app}",
        doc='KIND/NAME of the workload (deployment, statefulset or daemonset); "{app}" is '
        "replaced.",
        example="deployment/{app}",
        parse=values.parse_workload,
        schema={"type": "string", "pattern": "^(deployment|statefulset|daemonset)/.+"},
    )
    container: str | None = spec(
        None, doc="Container to read; default: the one whose image matches the app."
    )
    context: str | None = spec(None, doc="kubeconfig context; default: in-cluster or current.")


@dataclasses.dataclass(frozen=True)
class HttpLive:
    """Read the running digest from a version endpoint's JSON."""

    env: str = spec(doc="The environment (the table's key).", from_key=True)
    kind: Literal["http"] = spec(doc='"http"')
    url: str = spec(
        doc='Version endpoint; "{app}" and "{env}" are replaced.',
        example="https://staging.{app}.example.internal/version",
        parse=values.parse_url,
        schema=_URL_SCHEMA,
    )
    field: str = spec("digest", doc="Dotted path of the digest in the JSON body.")
    since_field: str | None = spec(
        None,
        doc="Dotted path of when the running version started (ISO 8601), if the endpoint "
        "reports it; without it, soak counts from when the daemon first saw the digest.",
        example="started_at",
    )
    timeout: timedelta = spec(
        timedelta(seconds=2),
        doc="Request timeout.",
        example="2s",
        parse=_duration_at_least(timedelta(milliseconds=10)),
        schema=_DURATION_SCHEMA,
    )


@dataclasses.dataclass(frozen=True)
class RegistryTagLive:
    """Take the digest a registry tag points to as the running one."""

    env: str = spec(doc="The environment (the table's key).", from_key=True)
    kind: Literal["registry-tag"] = spec(doc='"registry-tag"')
    tag: str = spec(doc="The tag that tracks this environment.", example="staging")


@dataclasses.dataclass(frozen=True)
class ArgoCDLive:
    """Read the running digest from an Argo CD Application's status."""

    env: str = spec(doc="The environment (the table's key).", from_key=True)
    kind: Literal["argocd"] = spec(doc='"argocd"')
    server: str = spec(
        doc="Argo CD's URL (the API is under /api/v1).",
        example="https://argocd.example.com",
        parse=lambda raw: values.parse_url(raw, ()),
        schema=_URL_SCHEMA,
    )
    application: str = spec(
        "{app}-{env}",
        doc='Application name; "{app}" and "{env}" are replaced.',
        example="{app}-{env}",
    )
    app_namespace: str | None = spec(
        None,
        doc="Namespace of the Application when it is not Argo CD's own (apps in any namespace).",
        example="team-shop",
    )
    token_file: str | None = spec(
        None,
        doc="File holding an Argo CD API token (a mounted secret).",
        example="/var/run/secrets/argocd-token",
    )
    token_env: str | None = spec(
        None, doc="Environment variable holding the API token.", example="ARGOCD_TOKEN"
    )
    timeout: timedelta = spec(
        timedelta(seconds=5),
        doc="Request timeout.",
        example="5s",
        parse=_duration_at_least(timedelta(milliseconds=10)),
        schema=_DURATION_SCHEMA,
    )


LiveSource = KubernetesLive | HttpLive | RegistryTagLive | ArgoCDLive
LIVE_KINDS: dict[str, type[Any]] = {
    "kubernetes": KubernetesLive,
    "http": HttpLive,
    "registry-tag": RegistryTagLive,
    "argocd": ArgoCDLive,
}


# -- the policy -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Policy:
    """A whole, valid `promotions.toml`."""

    version: int = spec(doc="Format version; 1.", example=1)
    settings: Settings = spec(Settings(), doc="Daemon settings.", example=None)
    registry: Registry | None = spec(None, doc="The image registry.", example=None)
    apps: Mapping[str, App] = spec(_EMPTY, doc="Apps by name.", example=None)
    environments: Mapping[str, Environment] = spec(
        _EMPTY, doc="Environments by name.", example=None
    )
    gates: Mapping[str, Gate] = spec(_EMPTY, doc="Gates by name.", example=None)
    live: Mapping[str, LiveSource] = spec(
        _EMPTY, doc="Live sources by environment name.", example=None
    )

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
