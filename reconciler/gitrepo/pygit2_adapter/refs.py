"""Refs: branch names checked, the tracking refs the last fetch left, a local remote's ref.

Names handed to pygit2 go through ``held``, which keeps pygit2 from leaking them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pygit2

from reconciler.errors import PolicyError, TransientError

TRACKING = "refs/remotes/origin/"


def branch_name(branch: str) -> str:
    """``branch``, if git accepts it as a branch name; PolicyError if not."""
    if not branch or not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
        raise PolicyError(f"{branch!r} is not a valid git branch name")
    return branch


def held(name: str) -> str:
    """``name`` as the one string object of its value.

    pygit2 1.21 keeps a reference to the name given to ``References.get`` and to
    ``Tree[...]`` and never drops it, so each call with a new string object leaks that
    string (about 80 bytes; a daemon makes thousands of such calls a cycle). Interned, every
    call with the same value passes the same object, and the leak stops at one per name.
    """
    return sys.intern(name)


def tracked(repo: pygit2.Repository, branch: str) -> str | None:
    """The commit ``branch`` pointed to at the last fetch, or None."""
    ref = repo.references.get(held(TRACKING + branch_name(branch)))
    return str(ref.target) if ref is not None else None


def tracked_branches(repo: pygit2.Repository, prefix: str) -> dict[str, str]:
    """Remote branches starting with ``prefix`` at the last fetch, with their commits."""
    found = {}
    # References themselves, not names looked up again: pygit2 1.21 leaks the
    # name strings of that lookup (see held).
    for ref in repo.references.iterator():
        name, target = ref.name, ref.target
        wanted = name.startswith(TRACKING + prefix) and name != TRACKING + "HEAD"
        if wanted and isinstance(target, pygit2.Oid):
            found[name.removeprefix(TRACKING)] = str(target)
    return dict(sorted(found.items()))


def local_ref(path: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the repository at ``path`` (a remote on this machine)."""
    try:
        found = pygit2.Repository(str(path)).references.get(ref)
    except (pygit2.GitError, KeyError) as error:
        raise TransientError(f"reading {ref} of {path} failed: {error}; check the path") from None
    target = found.resolve().target if found is not None else None
    return str(target) if isinstance(target, pygit2.Oid) else None
