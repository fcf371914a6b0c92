"""The `[live.ENV]` tables: where an environment's running digest is read (kubernetes, http,
registry-tag, argocd)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Literal

from reconciler.policy import values
from reconciler.policy.keys import DURATION_SCHEMA, URL_SCHEMA, duration_at_least, spec


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
        schema=URL_SCHEMA,
    )
    field: str = spec(
        "digest",
        doc="Dotted path of the digest in the JSON body; for an app of several images, of an "
        'object holding each part\'s digest by part name (`{"app": "sha256:…", "migrate": '
        '"sha256:…"}`): the app runs its unit only when every part runs its digest.',
    )
    since_field: str | None = spec(
        None,
        doc="Dotted path of when the running version started (ISO 8601), if the endpoint "
        "reports it; without it, soak counts from when a daemon first saw the digest "
        "running, as recorded in the merged request (kept across restarts and by `once`).",
        example="started_at",
    )
    timeout: timedelta = spec(
        timedelta(seconds=2),
        doc="Request timeout.",
        example="2s",
        parse=duration_at_least(timedelta(milliseconds=10)),
        schema=DURATION_SCHEMA,
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
        schema=URL_SCHEMA,
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
        parse=duration_at_least(timedelta(milliseconds=10)),
        schema=DURATION_SCHEMA,
    )


LiveSource = KubernetesLive | HttpLive | RegistryTagLive | ArgoCDLive
LIVE_KINDS: dict[str, type[Any]] = {
    "kubernetes": KubernetesLive,
    "http": HttpLive,
    "registry-tag": RegistryTagLive,
    "argocd": ArgoCDLive,
}
