"""The local forge's ledger over the in-memory config repo: what a read and a write cost.

A ledger carries its book (every record, indexed) from one tip of ``reconciler/requests``
to the next by reading only the records that changed; a write of its own costs the records
it writes. A daemon's cycle opens or merges hundreds of requests, so a write that read
every record ever made would make the cycle grow with the square of its requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

import pytest

from reconciler.errors import PermanentError
from reconciler.forge import records
from reconciler.forge.ledger import BRANCH, Book, Ledger
from reconciler.forge.local import LocalForge
from reconciler.forge.records import RequestRecord
from reconciler.gitrepo.port import ReadView, Signature
from reconciler.model import EntryKind
from tests.contract.forgeworld import BASE, HEAD_TRAILERS
from tests.contract.gitworld import FakeWorld
from tests.fakes.forge import START, stepping_clock
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote

T = TypeVar("T")
WHO = Signature("Person", "person@example.com", START)
OLD = RequestRecord(
    1, "promote/prod/old", "main", "old", "", "@reconciler", (), "closed", START, START
)


class CountedView:
    """A ReadView that counts what is read of request records."""

    def __init__(self, inner: ReadView, count: Callable[[str], None]) -> None:
        self._inner = inner
        self._count = count

    @property
    def commit(self) -> str:
        return self._inner.commit

    def kind(self, path: str) -> EntryKind:
        return self._inner.kind(path)

    def read(self, path: str) -> bytes | None:
        self._count(path)
        return self._inner.read(path)

    def blob_id(self, path: str) -> str | None:
        self._count(path)
        return self._inner.blob_id(path)

    def names(self, path: str) -> tuple[str, ...]:
        self._count(path + "/")
        return self._inner.names(path)

    def real_path(self, path: str) -> str | None:
        return self._inner.real_path(path)


class CountingRepo(FakeConfigRepo):
    """The in-memory config repo, counting reads under ``.reconciler/requests/``."""

    def __init__(self, remote: FakeRemote) -> None:
        self.record_reads = 0
        super().__init__(remote)

    def tree(self, commit: str) -> ReadView:
        return CountedView(super().tree(commit), self._count)

    def _count(self, path: str) -> None:
        if path.startswith(records.REQUESTS_DIR + "/"):
            self.record_reads += 1


def seeded(world: FakeWorld, count: int) -> str:
    """The base, and ``count`` closed requests on the requests branch."""
    base = world.seed(BASE)
    old = {records.path_of(n): records.encode(replace(OLD, number=n)) for n in range(1, count + 1)}
    world.seed(old, branch=BRANCH, parent=base)
    return base


def head(repo: FakeConfigRepo, branch: str, base: str, path: str) -> str:
    outcome = repo.replace_branch(
        branch,
        lambda _view: {path: b"digest: sha256:new\n"},
        base=base,
        expected_old=repo.tip(branch),
        message="promote",
        author=WHO,
        committer=WHO,
        trailers=HEAD_TRAILERS,
    )
    assert outcome.commit is not None
    return outcome.commit


def test_opening_and_merging_read_only_the_records_they_touch() -> None:
    world = FakeWorld()
    base = seeded(world, 300)
    repo = CountingRepo(world.remote)
    forge = LocalForge(repo, "main", clock=stepping_clock())
    assert forge.requests() == ()  # the first read of the ledger reads it whole
    counts = []

    for n in range(5):  # what a cycle does per promotion: open, then later merge
        repo.record_reads = 0
        branch = f"promote/staging/app{n}"
        commit = head(repo, branch, base, f"overlays/staging/app{n}/kustomization.yaml")
        number = forge.open(branch, "main", f"staging: app{n}", "", ()).number
        forge.merge(number, commit, f"merge #{number}")
        counts.append(repo.record_reads)

    assert counts == [0] * 5
    assert [r.number for r in forge.records()][-5:] == [301, 302, 303, 304, 305]
    assert repo.fetches == 1  # the clone's first: merges judge heads on the remote


def test_what_other_writers_change_is_read_alone() -> None:
    world = FakeWorld()
    seeded(world, 300)
    repo = CountingRepo(world.remote)
    forge = LocalForge(repo, "main", clock=stepping_clock())
    forge.records()
    person = LocalForge(world.client(), "main", handle="@asha", clock=stepping_clock())
    person.label(7, "promotion-hold", present=True)
    person.label(9, "promotion-hold", present=True)
    repo.fetch()
    repo.record_reads = 0

    labelled = [r.number for r in forge.records() if r.labels]

    assert labelled == [7, 9]
    assert repo.record_reads == 4  # each changed record: its blob id, then its bytes


def full_read(world: FakeWorld) -> Book:
    return Ledger(world.client(), "main", lambda: WHO).book()


def summary(book: Book) -> tuple[object, ...]:
    return (
        book.commit,
        dict(sorted(book.records.items())),
        dict(sorted(book.damaged.items())),
        dict(sorted(book.opened.items())),
        book.top,
    )


def rec(number: int, app: str, state: str = "open") -> bytes:
    """Request ``number``'s record for ``promote/prod/<app>``, in ``state``."""
    record = replace(OLD, number=number, head_branch=f"promote/prod/{app}", state="open")
    if state == "closed":
        record = replace(record, state="closed")
    if state == "merged":
        record = record.merged("c" * 40, START, "d" * 40)
    return records.encode(record)


# What happens on the requests branch, step by step: file name -> bytes (None: deleted).
STEPS: list[Mapping[str, bytes | None]] = [
    {"1.json": rec(1, "a"), "2.json": rec(2, "b")},
    {"1.json": rec(1, "a", "closed")},
    {"2.json": b'{"head_branch": "promote/prod/b",'},  # damaged
    {"3.json": rec(3, "b")},  # a second open request for one branch
    {"2.json": rec(2, "b")},  # repaired
    {"README.md": b"hi", "0.json": rec(1, "z"), "07.json": rec(7, "z")},  # not records
    {"4.json/x": rec(4, "c")},  # a folder named like a record
    {"3.json": None},  # the highest goes
    {"1.json": None, "2.json": None, "4.json/x": None},
    {"9.json": rec(9, "d", "merged")},
]


def always(value: T) -> Callable[[object], T]:
    """An edit that asks for ``value`` whatever it is given."""
    return lambda _given: value


def as_records(files: Mapping[str, bytes | None]) -> dict[int, RequestRecord] | None:
    """``files`` as the records a ledger write would make, if they are just that."""
    found = {}
    for name, data in files.items():
        number = records.number_of(name)
        if number is None or data is None:
            return None
        try:
            found[number] = records.decode(data, name, number)
        except PermanentError:
            return None
    return found


@pytest.mark.parametrize("writer", ["others", "itself"])
def test_a_book_carried_from_tip_to_tip_is_what_a_full_read_finds(writer: str) -> None:
    world = FakeWorld()
    world.seed({}, branch=BRANCH, parent=world.seed(BASE))
    repo = world.client()
    ledger = Ledger(repo, "main", lambda: WHO)
    carried, fresh = [], []

    for files in STEPS:
        wanted = as_records(files) if writer == "itself" else None
        if wanted is not None:
            ledger.write(always(wanted), "by the ledger")
        else:
            changes = {f"{records.REQUESTS_DIR}/{n}": data for n, data in files.items()}
            repo.update_branch(
                BRANCH, always(changes), message="by hand", author=WHO, committer=WHO
            )
        carried.append(ledger.book())
        fresh.append(full_read(world))

    assert [summary(book) for book in carried] == [summary(book) for book in fresh]
    assert [book.top for book in carried] == [2, 2, 2, 3, 3, 3, 3, 2, 0, 9]
    assert [sorted(book.damaged) for book in carried] == [[], [], [2], [2], [], [], [], [], [], []]
    assert carried[3].opened == {"promote/prod/b": (3,)}  # the damaged #2 is not counted open
