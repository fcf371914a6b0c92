"""Commits: written (``write_commit``, the one place the adapter makes a commit object, signed
when a signer is given), read as the port's CommitInfo, signatures converted both ways, and
a new repository holding files in one commit (for demos and fixtures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2

from reconciler.gitrepo import paths
from reconciler.gitrepo.port import CommitInfo, CommitSigner, Signature
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


def write_commit(
    repo: pygit2.Repository,
    tree: pygit2.Oid,
    parents: Sequence[pygit2.Oid],
    *,
    message: str,
    author: Signature,
    committer: Signature,
    signer: CommitSigner | None,
) -> pygit2.Oid:
    """A new commit object (no ref moves). With ``signer``, the object's bytes are signed
    and the signature kept in its ``gpgsig`` header, as ``git commit -S`` does; a signer
    that fails raises SigningError and nothing is written."""
    who, by = pysig(author), pysig(committer)
    if signer is None:
        return repo.create_commit(None, who, by, message, tree, list(parents))
    # pygit2's stubs say Oid; it returns the object's text (str)
    content = str(repo.create_commit_string(who, by, message, tree, list(parents)))
    signature = signer.sign(content.encode("utf-8"))
    return repo.create_commit_with_signature(content, signature)


def create_repository(
    path: Path,
    files: Mapping[str, bytes],
    *,
    branch: str,
    message: str,
    author: Signature,
    signer: CommitSigner | None = None,
) -> str:
    """A new bare repository at ``path`` whose ``branch`` holds ``files`` in one commit
    (signed with ``signer``, if given).

    For demos and fixtures: a config repo to point the daemon at. Returns the commit id.
    """
    repo = pygit2.init_repository(str(path), bare=True, initial_head=branch)
    tree = write_tree(repo, None, paths.nest({p: files[p] for p in files}), "")
    assert tree is not None
    commit = write_commit(
        repo, tree, [], message=message, author=author, committer=author, signer=signer
    )
    repo.references.create(f"refs/heads/{branch_name(branch)}", commit)
    return str(commit)
