"""How the local forge merges a request: who must approve, what lands on the base, and how.

Merging needs, for every changed file that CODEOWNERS on the base branch gives owners
(GitHub's semantics), an approval on the current head from one of them, never from the
request's author. The merge is one commit on the base branch holding the head's change to
each file, with the head's trailers plus ``Promotion-Request`` and one ``Reviewed-by`` per
approver counted.

A base branch that moved since the head was built does not stop a merge, as it does not on
GitHub: when the base changed one of the head's files too, the head's change is merged into
the base's version of that file three ways (git's merge of one file, from the head's
parent). Only a real conflict refuses it: both sides changed the same lines, or lines next
to each other, which git cannot order either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from reconciler import codeowners
from reconciler.forge import records
from reconciler.forge.port import MergeRefused, Request
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY
from reconciler.gitrepo.port import ConfigRepo, Edit, FileChange, ReadView
from reconciler.gitrepo.trailers import Trailer

_CACHE_LIMIT = 64


class Owners:
    """CODEOWNERS of base commits, parsed once per version of the file."""

    def __init__(self, repo: ConfigRepo) -> None:
        self._repo = repo
        self._parsed: dict[tuple[str, str] | None, codeowners.CodeOwners] = {}

    def at(self, commit: str) -> codeowners.CodeOwners:
        """The CODEOWNERS GitHub would use on ``commit`` (every merge moves the base, but
        rarely this file, so it is not parsed again per merge)."""
        view = self._repo.tree(commit)
        key = next(
            ((path, blob) for path in codeowners.LOCATIONS if (blob := view.blob_id(path))),
            None,
        )
        if key not in self._parsed:
            if len(self._parsed) > _CACHE_LIMIT:
                self._parsed.clear()
            self._parsed[key] = codeowners.find(view.read)
        return self._parsed[key]


class Teams:
    """The team lists of base commits, parsed once per version of the file.

    The members of ``@org/team`` owners are listed on the base branch in
    ``.reconciler/teams.toml``::

        [teams]
        "@org/release" = ["@alice", "@bob"]

    A team that file does not list (or no file) has unknown members: only named users count.
    """

    def __init__(self, repo: ConfigRepo, base_branch: str) -> None:
        self._repo = repo
        self._base_branch = base_branch
        self._parsed: dict[str, dict[str, frozenset[str]]] = {}  # blob id -> teams

    def at(self, commit: str) -> Mapping[str, frozenset[str]]:
        """Each listed team's handles as the file on ``commit`` has them; {} without one."""
        blob = self._repo.blob_id(commit, records.TEAMS_PATH)
        if blob is None:
            return {}
        if blob not in self._parsed:
            data = self._repo.read(commit, records.TEAMS_PATH) or b""
            source = f"{records.TEAMS_PATH} on {self._base_branch}"
            self._parsed[blob] = records.parse_teams(data, source)
        return self._parsed[blob]


def approvers(
    request: Request,
    changes: Sequence[FileChange],
    owners_file: codeowners.CodeOwners,
    teams: Callable[[], Mapping[str, frozenset[str]]],
) -> tuple[str, ...]:
    """The approvers counted for the merge; MergeRefused when a file lacks its owner's.

    The team list is read only when a changed file has owners: a damaged one stops only the
    merges that need it.
    """
    approvals = request.approvals()
    counted: set[str] = set()
    owned = False
    for change in changes:
        owners = owners_file.owners_of(change.path)
        if not owners:
            continue
        owned = True
        listed = teams()
        qualifying = {who for who in approvals if codeowners.is_owner(who, owners, listed)}
        if not qualifying:
            others = f"; approvals on it so far: {', '.join(sorted(approvals))}"
            raise MergeRefused(
                f"request #{request.number} needs an approval on its head "
                f"{short(request.head_commit)} from a code owner of {change.path} "
                f"({' '.join(owners)}){others if approvals else ''}"
            )
        counted |= qualifying
    return tuple(sorted(counted if owned else approvals))


def trailers(
    head_trailers: Sequence[Trailer], number: int, counted: Sequence[str]
) -> list[Trailer]:
    """The merge commit's trailers: the head's, then which request and who approved it."""
    kept = [
        t for t in head_trailers
        if t.key.lower() not in (PROMOTION_REQUEST.lower(), REVIEWED_BY.lower())
    ]  # fmt: skip
    return [
        *kept,
        Trailer(PROMOTION_REQUEST, str(number)),
        *(Trailer(REVIEWED_BY, who) for who in counted),
    ]


def base_edit(
    repo: ConfigRepo, number: int, head: str, parent: str | None, changes: Sequence[FileChange]
) -> Edit:
    """The edit that lands ``head``'s ``changes`` (made on ``parent``) on the base's tip."""

    def edit(view: ReadView) -> dict[str, bytes | None] | None:
        writes: dict[str, bytes | None] = {}
        for change in changes:
            now_id = view.blob_id(change.path)
            if now_id == change.new_id:
                continue  # the base already has the head's version
            if now_id == change.old_id:
                writes[change.path] = (
                    repo.read(head, change.path) if change.new_id is not None else None
                )
                continue
            writes[change.path] = _merged(
                repo, number, head, parent=parent, base=view.commit, change=change, now_id=now_id
            )
        return writes or None

    return edit


def _merged(
    repo: ConfigRepo,
    number: int,
    head: str,
    *,
    parent: str | None,
    base: str,
    change: FileChange,
    now_id: str | None,
) -> bytes:
    """``change`` merged three ways into the base's version of its file; MergeRefused on a
    conflict (both changed the same or adjacent lines, or one deleted what the other edited)."""
    if now_id is None:
        clash = "deleting it, and the request changes it"
    elif change.new_id is None:
        clash = "and the request deletes it"
    elif change.old_id is None or parent is None:
        clash = "and the request adds it anew"
    else:
        merged = repo.merged_file(parent, base, head, change.path)
        if merged is not None:
            return merged
        clash = "on lines the request changes or next to them (a three-way merge conflicts)"
    raise MergeRefused(
        f"conflict: the base branch changed {change.path} since request #{number} was "
        f"built on {short(parent)}, {clash}; the request will be rebuilt on the current base"
    )


def short(commit: str | None) -> str:
    """A commit id as people read it; "nothing" for none."""
    return commit[:12] if commit else "nothing"
