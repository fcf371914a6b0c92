"""What a promotion request changes, observed: the two images' labels (through the
registry port) and the source commits between their revisions (through the forge, when it
can compare; GitHub can).

Read only for the candidates with a request to open or update, at most ``MAX_READS`` new
reads a cycle; labels are kept by digest (image config is immutable) and comparisons by
their two revisions, so an edge waiting on its gates costs nothing after its first cycle.
Nothing here blocks a promotion: what cannot be read is said in the request instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from reconciler import changes, promotions
from reconciler.changes import Comparison, ImageChange
from reconciler.errors import ReconcilerError
from reconciler.model import short
from reconciler.policy import Policy
from reconciler.registry.port import ImageLabels, ImageRegistry
from reconciler.snapshot import Key, OverlayState, RequestState

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
MAX_READS = 20  # registry and forge reads a cycle, beyond what is kept
_KEPT = 2_000


class Comparer(Protocol):
    """A forge that lists the commits between two revisions of a source repository."""

    def __call__(self, source: str, base: str, head: str) -> Comparison | None:
        """The comparison; None when ``source`` is not a repository on this forge."""
        ...


class ChangeReader:
    """Reads and keeps labels and comparisons for the requests a cycle opens or updates."""

    def __init__(self, compare: Comparer | None) -> None:
        """``compare``: the forge's comparison (None: the forge cannot compare)."""
        self._compare = compare
        self._labels: dict[tuple[str, str], ImageLabels] = {}
        self._comparisons: dict[tuple[str, str, str], Comparison | None] = {}
        self._budget = 0

    def read(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        candidates: Mapping[Key, str],
        requests: Mapping[Key, RequestState],
        registry: ImageRegistry | None,
    ) -> dict[Key, ImageChange]:
        """(app, target env) -> what its request would change, for each candidate whose
        request is to be opened or updated."""
        self._budget = MAX_READS
        found: dict[Key, ImageChange] = {}
        for key, digest in sorted(candidates.items()):
            app, target = policy.apps.get(key[0]), policy.environments.get(key[1])
            if app is None or target is None or target.mode != "pull-request":
                continue
            if not _to_write(requests.get(key), digest):
                continue
            tgt = overlays.get(key)
            before = tgt.pin.digest if tgt is not None and tgt.pin is not None else None
            # An image unit's versions are its first part's (App.lead).
            image, after = app.lead(digest)
            before = app.lead(before)[1] if before else None
            found[key] = self._change(image, before or None, after, registry)
        return found

    def _change(
        self, image: str, before: str | None, after: str, registry: ImageRegistry | None
    ) -> ImageChange:
        if registry is None:
            return ImageChange(
                unknown=("versions unknown: promotions.toml has no [registry] to read labels from",)
            )
        unknown: list[str] = []
        new = self._labels_of(registry, image, after, unknown)
        old = self._labels_of(registry, image, before, unknown) if before else None
        if new is not None and not new.known:
            unknown.append(f"the candidate {short(after)} has no org.opencontainers.image.* labels")
        comparison = self._comparison(old, new, unknown)
        return ImageChange(old, new, comparison, tuple(unknown))

    def _labels_of(
        self, registry: ImageRegistry, image: str, digest: str, unknown: list[str]
    ) -> ImageLabels | None:
        kept = self._labels.get((image, digest))
        if kept is not None:
            return kept
        return self._read(
            lambda: registry.labels(image, digest),
            lambda labels: _keep(self._labels, (image, digest), labels),
            f"the labels of {short(digest)}",
            unknown,
        )

    def _comparison(
        self, old: ImageLabels | None, new: ImageLabels | None, unknown: list[str]
    ) -> Comparison | None:
        source = changes.source_url(new)
        base, head = changes.revision(old), changes.revision(new)
        if old is None or source is None or base is None or head is None or base == head:
            return None
        if changes.source_url(old) not in (None, source):
            unknown.append("the two images name different source repositories: no commits")
            return None
        if self._compare is None:
            return None  # the forge cannot list commits: the compare link stands alone
        key = (source, base, head)
        if key not in self._comparisons:
            compare = self._compare
            self._read(
                lambda: compare(source, base, head),
                lambda answer: _keep(self._comparisons, key, answer),
                f"the commits of {source}",
                unknown,
            )
            if key not in self._comparisons:
                return None  # not read: ``unknown`` says why
        found = self._comparisons[key]
        if found is None:
            unknown.append(f"{source} is not a repository on this forge: no commits listed")
        return found

    def _read(
        self,
        read: Callable[[], T],
        keep: Callable[[T], None],
        what: str,
        unknown: list[str],
    ) -> T | None:
        if self._budget <= 0:
            unknown.append(f"{what} were not read: this cycle's {MAX_READS} reads were spent")
            return None
        self._budget -= 1
        try:
            answer = read()
        except ReconcilerError as failed:
            unknown.append(f"{what} could not be read: {failed}")
            return None
        keep(answer)
        return answer


def _to_write(held: RequestState | None, digest: str) -> bool:
    """Whether planning may open or rewrite the request for ``digest``: none is open, it
    proposes another digest, or its head must be rebuilt."""
    if held is None or held.outdated or held.head_problem:
        return True
    found = promotions.parse_marker(held.request.body)
    return found is None or found.digest != digest


def _keep(kept: dict[K, V], key: K, value: V) -> None:
    if len(kept) >= _KEPT:
        kept.clear()
    kept[key] = value
