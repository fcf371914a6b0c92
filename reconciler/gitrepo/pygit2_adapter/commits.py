"""Commits: read as the port's CommitInfo, signatures converted both ways, and a new
repository holding files in one commit (for demos and fixtures)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2

from reconciler.gitrepo import paths
from reconciler.gitrepo.port import CommitInfo, Signature
from reconciler.gitrepo.pygit2_adapter.refs import branch_name
from reconciler.gitrepo.pygit2_adapter.trees import write_tree
from reconciler.gitrepo.trailers import parse_trailers


def info(commit: pygit2.Commit) -> CommitInfo:
    """``commit``'s id, parents, signatures, message and trailers."""
    return CommitInfo(
        id=str(commit.id),
        parents=tuple(str(parent) for parent in commit.parent_ids),
        author=_signature(commit.author),
        committer=_signature(commit.committer),
        message=commit.message,
        trailers=parse_trailers(commit.message),
    )


def _signature(sig: pygit2.Signature) -> Signature:
    zone = timezone(timedelta(minutes=sig.offset))
    return Signature(sig.name, sig.email, datetime.fromtimestamp(sig.time, zone))


def pysig(sig: Signature) -> pygit2.Signature:
    """``sig`` as pygit2 writes it into a commit."""
    return pygit2.Signature(sig.name, sig.email, int(sig.time.timestamp()), sig.offset_minutes)


def create_repository(
    path: Path, files: Mapping[str, bytes], *, branch: str, message: str, author: Signature
) -> str:
    """A new bare repository at ``path`` whose ``branch`` holds ``files`` in one commit.

    For demos and fixtures: a config repo to point the daemon at. Returns the commit id.
    """
    repo = pygit2.init_repository(str(path), bare=True, initial_head=branch)
    tree = write_tree(repo, None, paths.nest({p: files[p] for p in files}), "")
    assert tree is not None
    signature = pysig(author)
    commit = repo.create_commit(
        f"refs/heads/{branch_name(branch)}", signature, signature, message, tree, []
    )
    return str(commit)
