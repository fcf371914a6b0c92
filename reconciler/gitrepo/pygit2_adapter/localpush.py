"""Pushes to a remote on this machine (a path or ``file://`` URL), written by the adapter itself.

libgit2's local transport overwrites the remote ref without comparing it to the value it
advertised, so local remotes are written here. A push killed at any instant leaves the
remote as git expects it:

- objects reach the remote children first (blobs, then the trees holding them, then the
  commit), so whatever the remote has, it has with everything below it; a dead push leaves
  only complete, unreferenced objects, which ``git gc`` removes;
- nothing the remote already has is trusted blindly: the copy descends every tree that
  differs from the parents' (a tree another writer left without its subtrees gets them);
- the ref moves only after a connectivity check on the remote's own object store: every
  object reachable from the new commit and from none of the remote's refs is read back;
- the ref moves under git's lock file, claimed through ``reflock`` so that a lock a dead
  daemon left is cleared and anyone else's is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, SortMode

from reconciler.errors import PermanentError, TransientError
from reconciler.gitrepo import updating
from reconciler.gitrepo.pygit2_adapter import reflock

_TRIES = 5  # another writer holds the ref for milliseconds; give it a few chances
_SHORT_WALK = 16  # new commits followed by hand before libgit2's walk takes over


class _Missing(Exception):
    """An object the new commit needs is not in the repository read."""

    def __init__(self, what: str) -> None:
        super().__init__(what)


def push(
    source: pygit2.Repository,
    remote_path: Path,
    ref: str,
    *,
    commit: str,
    expected: str | None,
    complete: set[pygit2.Oid] | None = None,
    stale_after: float = reflock.STALE_AFTER,
) -> None:
    """Set ``ref`` of the repository at ``remote_path`` to ``commit`` if it is at ``expected``.

    ``complete``, kept by the caller from push to push, holds commits the remote has whole:
    when empty it is filled from both repositories' refs (the remote's tips, and what the
    last fetch saw there), and each commit pushed is added. A commit once whole stays whole
    (git removes only unreachable objects, and only after weeks), so a stale entry only
    stops a walk where it could have stopped anyway. Raises BranchMoved when the ref is not
    at ``expected``, TransientError when the remote cannot be written now.
    """
    known = set() if complete is None else complete
    where = str(remote_path)
    try:
        target = pygit2.Repository(where)
    except (pygit2.GitError, KeyError) as error:
        raise TransientError(f"pushing to {where} failed: {error}; check the path") from None
    head = target.references.get("HEAD")
    if not target.is_bare and head is not None and head.target == ref:
        raise PermanentError(
            f"the config repo {where} has {ref} checked out; point the daemon at a bare "
            "repository (git clone --bare) to write that branch"
        )
    new = pygit2.Oid(hex=commit)
    try:
        if not known:
            known.update(_tips(target) | _tips(source, prefix="refs/remotes/"))
        whole = frozenset(known)
        copy_objects(source, target, new, whole)
        check_connected(target, new, whole)
    except _Missing as missing:
        raise TransientError(
            f"pushing to {where} failed: the remote still lacks {missing} after the copy, so "
            f"{ref} was not moved; check the repository with `git fsck` (it will be "
            "retried next cycle)"
        ) from None
    except pygit2.GitError as error:
        raise TransientError(f"pushing to {where} failed: {error}") from None
    _set_ref(target, where, ref, commit=commit, expected=expected, stale_after=stale_after)
    known.add(new)


def copy_objects(
    source: pygit2.Repository,
    target: pygit2.Repository,
    new: pygit2.Oid,
    known: frozenset[pygit2.Oid],
) -> int:
    """Write into ``target`` what ``new`` needs and it lacks, children first; how many.

    The walk stops at ``known``: commits the remote holds whole."""
    written = 0

    def copy(oid: pygit2.Oid) -> None:
        nonlocal written
        if not target.odb.exists(oid):
            kind, data = source.odb.read(oid)
            target.odb.write(kind, data)
            written += 1

    for commit in _new_commits(source, new, known):
        _changed_objects(source, commit, copy)
        copy(commit.id)  # after its tree, and after its parents (the walk is oldest first)
    return written


def check_connected(
    target: pygit2.Repository, new: pygit2.Oid, known: frozenset[pygit2.Oid]
) -> None:
    """Raise _Missing unless every object reachable from ``new`` is in ``target``.

    The walk stops at ``known`` commits, which refs reach or reached: git keeps those
    complete (every writer, this one included, checks before it moves a ref), so the cost
    is that of the new commits' changed folders, not of the whole history.
    """
    if not target.odb.exists(new):
        raise _Missing(f"the commit {new}")

    def present(oid: pygit2.Oid) -> None:
        if not target.odb.exists(oid):
            raise _Missing(f"the object {oid}")

    for commit in _new_commits(target, new, known):
        _changed_objects(target, commit, present)


def _tips(repo: pygit2.Repository, prefix: str = "refs/") -> frozenset[pygit2.Oid]:
    """The objects ``repo``'s refs under ``prefix`` point at."""
    found = set()
    for ref in repo.references.iterator():
        target = ref.target
        if ref.name.startswith(prefix) and isinstance(target, pygit2.Oid):
            found.add(target)
    return frozenset(found)


def _new_commits(
    repo: pygit2.Repository, new: pygit2.Oid, known: frozenset[pygit2.Oid]
) -> list[pygit2.Commit]:
    """Commits reachable from ``new`` and from none of ``known``, parents before children.

    A push usually adds one commit on a known tip, so parents are followed by hand first;
    a longer way down (the base branch moved on since the fetch) is left to libgit2's walk,
    which knows when a commit is an ancestor of a known one.
    """
    found: dict[pygit2.Oid, pygit2.Commit] = {}
    todo = [new]
    while todo:
        oid = todo.pop()
        if oid in known or oid in found:
            continue
        if len(found) == _SHORT_WALK:
            return _walk(repo, new, known)
        found[oid] = _read_commit(repo, oid)
        todo.extend(found[oid].parent_ids)
    ordered: list[pygit2.Commit] = []
    placed: set[pygit2.Oid] = set()

    def place(oid: pygit2.Oid) -> None:
        if oid in placed or oid not in found:
            return
        placed.add(oid)
        for parent in found[oid].parent_ids:
            place(parent)
        ordered.append(found[oid])

    place(new)
    return ordered


def _walk(
    repo: pygit2.Repository, new: pygit2.Oid, known: frozenset[pygit2.Oid]
) -> list[pygit2.Commit]:
    walker = repo.walk(new, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    for oid in known:
        try:
            walker.hide(oid)
        except (pygit2.GitError, KeyError, ValueError):
            continue  # a ref to something this repository lacks (or no commit) hides nothing
    try:
        return list(walker)
    except (pygit2.GitError, KeyError) as error:
        raise _Missing(f"a commit below {new} ({error})") from None


def _read_commit(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Commit:
    found = _read(repo, oid)
    if not isinstance(found, pygit2.Commit):
        raise _Missing(f"the commit {oid}")
    return found


def _read(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Object | None:
    try:
        return repo.get(oid)
    except pygit2.GitError:
        return None  # a damaged pack reads as a missing object


def _changed_objects(
    repo: pygit2.Repository, commit: pygit2.Commit, visit: Callable[[pygit2.Oid], None]
) -> None:
    """Visit the commit's tree objects that none of its parents has at the same path,
    children before the trees holding them."""
    try:
        parents = [repo[oid].peel(pygit2.Commit).tree_id for oid in commit.parent_ids]
    except (KeyError, pygit2.GitError):
        raise _Missing(f"a parent of the commit {commit.id}") from None
    # A walk that skips folders a parent holds at the same path: libgit2's diff_to_tree
    # descends into those too (6 ms a push at 1,000 apps, 150 ms at 10,000, against 2 ms).
    _tree(repo, commit.tree_id, parents, visit)


def _tree(
    repo: pygit2.Repository,
    oid: pygit2.Oid,
    olds: list[pygit2.Oid],
    visit: Callable[[pygit2.Oid], None],
) -> None:
    tree = _read_tree(repo, oid)
    before = [{str(entry.name): entry for entry in _read_tree(repo, old)} for old in olds]
    for entry in tree:
        if entry.filemode == FileMode.COMMIT:
            continue  # a submodule's commit lives in another repository
        name = str(entry.name)
        same_path = [old[name] for old in before if name in old]
        if any(found.id == entry.id for found in same_path):
            continue  # a parent has it there: complete already (or checked on its own)
        if entry.filemode == FileMode.TREE:
            folders = [found.id for found in same_path if found.filemode == FileMode.TREE]
            _tree(repo, entry.id, folders, visit)
        else:
            visit(entry.id)
    visit(oid)


def _read_tree(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Tree:
    found = _read(repo, oid)
    if not isinstance(found, pygit2.Tree):
        raise _Missing(f"the tree {oid}")
    return found


def _set_ref(
    target: pygit2.Repository,
    where: str,
    ref: str,
    *,
    commit: str,
    expected: str | None,
    stale_after: float,
) -> None:
    git_dir = Path(target.path)
    lock_file = git_dir / f"{ref}.lock"
    for attempt in range(1, _TRIES + 1):
        try:
            with reflock.claim(git_dir, ref) as claim:
                reason = claim.clear_leftover(lock_file, stale_after)
                if reason is None:
                    claim.taking()
                    with target.transaction() as txn:
                        txn.lock_ref(ref)
                        claim.locked(lock_file)
                        current = target.references.get(ref)
                        actual = str(current.target) if current is not None else None
                        if actual != expected:
                            raise updating.BranchMoved(actual)
                        txn.set_target(ref, commit, message="reconciler: update")
                    return
                held = f"pushing to {where} failed: {ref} is locked: {reason}"
        except reflock.Busy as busy:
            who = busy.owner.describe() if busy.owner else "another reconciler process"
            held = f"pushing to {where} failed: {who} is updating {ref} right now"
        except pygit2.GitError as error:
            if "lock" not in str(error):
                raise TransientError(f"pushing to {where} failed: {error}") from None
            held = f"pushing to {where} failed: {error}"  # taken between our look and ours
        except OSError as error:
            raise TransientError(
                f"pushing to {where} failed: cannot write {reflock.OWNERS} in that repository "
                f"({error.strerror}); check its permissions"
            ) from None
        if attempt == _TRIES:
            raise TransientError(f"{held}; it will be retried next cycle")
        time.sleep(0.02 * attempt)  # another writer holds the ref for milliseconds
