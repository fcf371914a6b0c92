"""What a workload and its pods say runs: the pod template, selector and rollout progress of
a workload object, the digest in each pod's ``imageID``, and the verdict on both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.client import V1DaemonSet, V1Deployment, V1LabelSelector, V1StatefulSet

from reconciler.errors import PolicyError
from reconciler.imagerefs import is_digest, parse_image
from reconciler.snapshot import LiveState

NO_DIGEST_YET = "no running pod reports an image digest yet"
# kubectl's names for the kinds this source reads.
_KINDS = {
    alias: kind
    for kind, aliases in {
        "deployment": ("deployment", "deployments", "deploy"),
        "statefulset": ("statefulset", "statefulsets", "sts"),
        "daemonset": ("daemonset", "daemonsets", "ds"),
    }.items()
    for alias in aliases
}
# Label selector operators (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/).
_OPERATORS: dict[str, Callable[[str, Sequence[str], Mapping[str, str]], bool]] = {
    "In": lambda key, values, labels: key in labels and labels[key] in values,
    "NotIn": lambda key, values, labels: key not in labels or labels[key] not in values,
    "Exists": lambda key, _, labels: key in labels,
    "DoesNotExist": lambda key, _, labels: key not in labels,
}
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Failure(Exception):
    """One (app, env) cannot be read; the message is for the user and holds no secret."""


@dataclass(frozen=True)
class Workload:
    """What the reader needs of a Deployment, StatefulSet or DaemonSet."""

    kind: str  # "deployment", "statefulset" or "daemonset"
    name: str
    containers: tuple[tuple[str, str], ...]  # (name, image) from the pod template
    selector: V1LabelSelector  # which pods are its own
    settled: bool  # the controller has rolled the current spec out to every replica


@dataclass(frozen=True)
class Running:
    """One pod's container: the digest it runs (None before its image is pulled) and since."""

    digest: str | None
    started_at: datetime | None


def judge(workload: Workload, container: str, pods: Sequence[Running]) -> LiveState:
    """What the workload runs, from its spec and its pods' container ``container``.

    One digest on every pod and a settled spec: steady. Two digests, a spec pinned to
    another digest, or a rollout the controller has not finished: rolling, with the
    spec's digest when it pins one, else the digest most pods run.
    """
    counts = Counter(p.digest for p in pods if p.digest is not None)
    if not counts:
        return LiveState(None, error=NO_DIGEST_YET)
    pinned = _pinned(dict(workload.containers)[container])
    rolling = (
        len(counts) > 1 or not workload.settled or (pinned is not None and pinned not in counts)
    )
    if rolling and pinned is not None:
        digest = pinned
    else:
        digest = max(counts, key=lambda d: (counts[d], _latest_start(pods, d)))
    starts = [p.started_at for p in pods if p.digest == digest and p.started_at is not None]
    return LiveState(digest, min(starts, default=None), rolling=rolling)


def image_digest(image_id: str | None) -> str | None:
    """The registry digest in a pod's ``imageID``; None when it names none (yet).

    Only a repository digest (``repo@sha256:...``, with or without ``docker-pullable://``)
    names what a registry holds; ``docker://sha256:...`` is a local image ID, another hash.
    """
    before, at, digest = (image_id or "").rpartition("@")
    return digest if at and before and is_digest(digest) else None


def _pinned(image: str) -> str | None:
    """The digest the pod template's image pins; None for a tag, or an image the grammar
    refuses (then what the pods report decides)."""
    try:
        return parse_image(image).digest
    except PolicyError:
        return None


def _latest_start(pods: Sequence[Running], digest: str) -> datetime:
    # Breaks a tie between digests in favour of the newer pods: the rollout's target.
    return max(
        (p.started_at for p in pods if p.digest == digest and p.started_at), default=_EARLIEST
    )


def parse_workload(text: str) -> tuple[str, str]:
    kind, slash, name = text.partition("/")
    if not slash or not name or kind.lower() not in _KINDS:
        raise Failure(
            f"workload {text!r} is not KIND/NAME with KIND deployment, statefulset or daemonset"
        )
    return _KINDS[kind.lower()], name


def _checked(selector: V1LabelSelector, where: str) -> V1LabelSelector:
    if not selector.match_labels and not selector.match_expressions:
        raise Failure(f"{where} has an empty pod selector")
    for expression in selector.match_expressions or ():
        if expression.operator not in _OPERATORS:
            raise Failure(f"{where}: unknown selector operator {expression.operator!r}")
    return selector


def selects(selector: V1LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether a pod with ``labels`` is one of the workload's, as the API server would match
    ``selector`` (matchLabels and matchExpressions, all of them)."""
    if any(labels.get(key) != value for key, value in (selector.match_labels or {}).items()):
        return False
    for expression in selector.match_expressions or ():
        if not _OPERATORS[expression.operator](expression.key, expression.values or (), labels):
            return False
    return True


def workload_of(obj: V1Deployment | V1StatefulSet | V1DaemonSet) -> Workload:
    """The pod template, selector and rollout progress of a workload object."""
    generation = obj.metadata.generation if obj.metadata is not None else None
    observed = obj.status.observed_generation if obj.status is not None else None
    settled = generation is None or (observed is not None and observed >= generation)
    # As `kubectl rollout status` judges it: every replica runs the current template.
    if isinstance(obj, V1Deployment):
        kind, status, desired = "deployment", obj.status, obj.spec.replicas
        settled = settled and (
            status is not None
            and (status.updated_replicas or 0) >= (1 if desired is None else desired)
            and (status.replicas or 0) <= (status.updated_replicas or 0)
        )
    elif isinstance(obj, V1StatefulSet):
        kind, sts, desired = "statefulset", obj.status, obj.spec.replicas
        settled = settled and (
            sts is not None
            and (sts.updated_replicas or 0) >= (1 if desired is None else desired)
            and sts.current_revision == sts.update_revision
        )
    else:
        kind, ds = "daemonset", obj.status
        settled = settled and (
            ds is not None and (ds.updated_number_scheduled or 0) >= ds.desired_number_scheduled
        )
    name = (obj.metadata.name if obj.metadata is not None else None) or ""
    spec = obj.spec.template.spec
    containers = tuple((c.name, c.image or "") for c in (spec.containers if spec else ()))
    return Workload(kind, name, containers, _checked(obj.spec.selector, f"{kind}/{name}"), settled)
