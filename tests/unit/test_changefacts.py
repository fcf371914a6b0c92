"""Observing what a request changes (changefacts.py): read only for requests to open or
rewrite, kept by digest and by revisions, bounded per cycle, and never a failure."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler import promotions
from reconciler.changefacts import MAX_READS, ChangeReader
from reconciler.changes import Comparison, SourceCommit
from reconciler.errors import PermanentError, TransientError
from reconciler.forge.port import Request
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy, load_policy
from reconciler.snapshot import OverlayState, RequestState
from tests.fakes.registry import FakeRegistry

REPO = "registry.example.com/shop/app"
SRC = "https://github.com/acme/app"
A, B = "a" * 40, "b" * 40
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _policy(apps: int = 1, *, registry: bool = True, mode: str = "pull-request") -> Policy:
    text = ['version = 1\n[environments.staging]\noverlay = "s"\n']
    text.append(f'[environments.prod]\nfollows = "staging"\noverlay = "p"\nmode = "{mode}"\n')
    if registry:
        text.append('[registry]\nkind = "oci"\n')
    text += [f'[apps.app{n}]\nimage = "{REPO}"\n' for n in range(apps)]
    result = load_policy("".join(text).encode())
    assert result.policy is not None, result
    return result.policy


def _labels(version: str, revision: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": SRC,
    }


class Comparer:
    """A forge's comparison: what it answers, and what it was asked."""

    def __init__(self, answer: Comparison | Exception | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, source: str, base: str, head: str) -> Comparison | None:
        self.asked.append((source, base, head))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _world(apps: int = 1) -> tuple[FakeRegistry, str, str, dict[tuple[str, str], OverlayState]]:
    registry = FakeRegistry()
    old = registry.push_image(REPO, "1", "old", _labels("1.0", A))
    new = registry.push_image(REPO, "2", "new", _labels("2.0", B))
    overlays = {
        (f"app{n}", "prod"): OverlayState(path="p", pin=ImagePin(REPO, "", old))
        for n in range(apps)
    }
    return registry, old, new, overlays


def _open(digest: str) -> RequestState:
    marker = promotions.Marker("app0", "prod", "staging", digest, "")
    request = Request(
        number=1,
        head_branch="promote/prod/app0",
        head_commit="c" * 40,
        base_branch="main",
        title="t",
        body=promotions.body(marker, "p", "r", "", ()),
        author="@bot",
        labels=(),
        state="open",
        created_at=NOW,
        updated_at=NOW,
    )
    return RequestState(request)


COMPARISON = Comparison((SourceCommit(B, "Fix (#3)", "alice", 3),), 1, f"{SRC}/compare/x")


def test_labels_and_commits_of_a_request_to_open_are_read_once() -> None:
    registry, _, new, overlays = _world()
    compare = Comparer(COMPARISON)
    reader = ChangeReader(compare)

    found = reader.read(_policy(), overlays, {("app0", "prod"): new}, {}, registry)

    change = found[("app0", "prod")]
    assert change.before is not None
    assert change.before.version == "1.0"
    assert change.after is not None
    assert change.after.version == "2.0"
    assert change.comparison == COMPARISON
    assert change.unknown == ()
    assert compare.asked == [(SRC, A, B)]
    registry.calls.clear()
    again = reader.read(_policy(), overlays, {("app0", "prod"): new}, {}, registry)
    assert again == found
    assert registry.calls == []  # image config does not change: kept by digest
    assert compare.asked == [(SRC, A, B)]  # nor do two revisions' commits


def test_nothing_is_read_for_a_request_already_proposing_the_candidate() -> None:
    registry, _, new, overlays = _world()
    reader = ChangeReader(Comparer(COMPARISON))
    candidates = {("app0", "prod"): new}
    held = {("app0", "prod"): _open(new)}
    assert reader.read(_policy(), overlays, candidates, held, registry) == {}
    assert registry.calls == []
    stale = {("app0", "prod"): _open("sha256:" + "9" * 64)}
    assert reader.read(_policy(), overlays, candidates, stale, registry).keys() == {
        ("app0", "prod")
    }
    direct = _policy(mode="commit")  # no request at all
    assert reader.read(direct, overlays, candidates, {}, registry) == {}


def test_what_cannot_be_read_is_said() -> None:
    registry, _, new, overlays = _world()
    candidates = {("app0", "prod"): new}
    none = ChangeReader(None).read(_policy(registry=False), overlays, candidates, {}, None)
    assert none[("app0", "prod")].unknown == (
        "versions unknown: promotions.toml has no [registry] to read labels from",
    )

    registry.unreachable = True
    down = ChangeReader(None).read(_policy(), overlays, candidates, {}, registry)
    (said, *_) = down[("app0", "prod")].unknown
    assert said.startswith("the labels of sha256:")
    assert "unreachable" in said
    registry.unreachable = False

    refused = Comparer(PermanentError("GitHub answered 404 (Not Found)"))
    change = ChangeReader(refused).read(_policy(), overlays, candidates, {}, registry)
    assert change[("app0", "prod")].unknown == (
        f"the commits of {SRC} could not be read: GitHub answered 404 (Not Found)",
    )
    elsewhere = ChangeReader(Comparer(None)).read(_policy(), overlays, candidates, {}, registry)
    assert elsewhere[("app0", "prod")].unknown == (
        f"{SRC} is not a repository on this forge: no commits listed",
    )


def test_a_failed_read_is_tried_again_next_cycle() -> None:
    registry, _, new, overlays = _world()
    compare = Comparer(TransientError("GitHub answered 502"))
    reader = ChangeReader(compare)
    candidates = {("app0", "prod"): new}
    first = reader.read(_policy(), overlays, candidates, {}, registry)
    assert first[("app0", "prod")].comparison is None
    compare.answer = COMPARISON
    second = reader.read(_policy(), overlays, candidates, {}, registry)
    assert second[("app0", "prod")].comparison == COMPARISON
    assert len(compare.asked) == 2


def test_reads_are_bounded_per_cycle() -> None:
    apps = MAX_READS  # two label reads each (before and after): half get theirs
    registry, _, _, overlays = _world(apps)
    digests = {
        (f"app{n}", "prod"): registry.push_image(REPO, None, f"n{n}", _labels("2", B))
        for n in range(apps)
    }
    reader = ChangeReader(None)
    found = reader.read(_policy(apps), overlays, digests, {}, registry)
    labels_calls = [c for c in registry.calls if c[0] == "labels"]
    assert len(labels_calls) == MAX_READS
    waiting = [c for c in found.values() if any("reads were spent" in u for u in c.unknown)]
    assert waiting
    registry.calls.clear()
    again = reader.read(_policy(apps), overlays, digests, {}, registry)
    assert not [c for c in again.values() if any("reads were spent" in u for u in c.unknown)]
