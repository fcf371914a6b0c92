"""Kill points inside a push to a remote on this machine: the process SIGKILLs itself there.

Run as ``python -m tests.e2e.killpoints SPEC REMOTE COMMAND ...``. Before the command runs,
pygit2 is wrapped in this process only (nothing in the daemon's code knows): the object
database of the repository at REMOTE counts its writes, and its ref transactions watch
their steps. SPEC says where the process dies, exactly as a SIGKILL from outside would
find it (no handler, no cleanup):

- ``none``: nowhere; on exit, print how many objects were written to REMOTE;
- ``object:K``: just before the K-th object write to REMOTE (the first K-1 are on disk);
- ``lock:STEP:N``: in the N-th ref update of REMOTE, at STEP: ``claimed`` (before git's lock
  is taken, the owner record written), ``taken`` (right after ``<ref>.lock`` is created),
  ``set`` (the new value queued, not written), ``committed`` (the ref moved, before the
  daemon says it is done).

COMMAND is ``reconciler ARGS...`` (the daemon, as the fault suite runs it) or ``push CACHE
PLAN`` (the pushes in the JSON file PLAN, through the adapter, as the crash test runs them).
With ``RECONCILER_KILLPOINT_MARKER`` set, the process writes SPEC to that file as it dies.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
from pygit2 import transaction

LOCK_STEPS = ("claimed", "taken", "set", "committed")
MARKER = "RECONCILER_KILLPOINT_MARKER"  # a file the process writes its SPEC to, as it dies
Changes = dict[str, bytes | None]
WRITES = [0]


def _die(spec: str) -> None:
    marker = os.environ.get(MARKER)
    if marker:  # tell the harness where this process died (it saw only a SIGKILL)
        Path(marker).write_text(spec)
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str, remote: Path) -> None:
    """Wrap pygit2 so that this process dies at ``spec`` while writing ``remote``."""
    where = remote.resolve()
    kind, _, rest = spec.partition(":")
    at_write = int(rest) if kind == "object" else 0
    step, _, nth = rest.partition(":")
    at_update = int(nth or 1) if kind == "lock" else 0
    updates = [0]

    def ours(repo: Any) -> bool:
        return bool(Path(repo.path).resolve() == where)

    class CountingOdb:
        def __init__(self, inner: pygit2.Odb) -> None:
            self._inner = inner

        def write(self, kind: int, data: bytes) -> pygit2.Oid:
            WRITES[0] += 1
            if WRITES[0] == at_write:
                _die(spec)
            return self._inner.write(kind, data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    base_odb: Any = pygit2.Repository.odb  # libgit2's attribute descriptor

    def odb(self: pygit2.Repository) -> Any:
        inner = base_odb.__get__(self)
        return CountingOdb(inner) if ours(self) else inner

    # A subclass whose odb counts, for the repositories the daemon opens by path.
    setattr(pygit2, "Repository", type("Repository", (pygit2.Repository,), {"odb": property(odb)}))  # noqa: B010

    real = transaction.ReferenceTransaction
    lock_ref, set_target, commit = real.lock_ref, real.set_target, real.commit

    def at(this: Any, name: str) -> None:
        if kind == "lock" and step == name and updates[0] == at_update and ours(this._repository):
            _die(spec)

    def locking(this: Any, refname: str) -> None:
        if ours(this._repository):
            updates[0] += 1
        at(this, "claimed")
        lock_ref(this, refname)
        at(this, "taken")

    def setting(this: Any, *args: Any, **kwargs: Any) -> None:
        set_target(this, *args, **kwargs)
        at(this, "set")

    def committing(this: Any) -> None:
        commit(this)
        at(this, "committed")

    for name, wrapped in (("lock_ref", locking), ("set_target", setting), ("commit", committing)):
        setattr(real, name, wrapped)


def push(remote: str, cache: Path, plan_file: Path) -> None:
    """The pushes of the plan, in order; deterministic commits (fixed signatures), so a run
    after a kill builds the very objects the killed run had started to write."""
    from reconciler.gitrepo.port import ReadView, Signature  # after install
    from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo

    plan = json.loads(plan_file.read_text())
    who = Signature("Reconciler", "bot@example.com", datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
    repo = Pygit2ConfigRepo.open(remote, cache, depth=0)
    for step in plan:
        files: dict[str, bytes | None] = {p: text.encode() for p, text in step["files"].items()}

        def edit(
            _view: ReadView, files: dict[str, bytes | None] = files
        ) -> dict[str, bytes | None]:
            return files

        if step["op"] == "update":
            repo.update_branch(
                step["branch"], edit, message=step["message"], author=who, committer=who
            )
        else:
            base = repo.tip(step["base"])
            assert base is not None
            repo.replace_branch(
                step["branch"], edit, base=base, expected_old=repo.tip(step["branch"]),
                message=step["message"], author=who, committer=who,
            )  # fmt: skip


def main(argv: list[str]) -> int:
    spec, remote, command, *rest = argv
    install(spec, Path(remote))
    if command == "push":
        push(remote, Path(rest[0]), Path(rest[1]))
        print(json.dumps({"writes": WRITES[0]}))
        return 0
    from reconciler.cli import main as reconciler

    return reconciler(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
