"""Provenance: whether a promotion request's head is exactly the edit the daemon builds.

Anyone who can push `promote/*` can put any commit at a request's head. The daemon merges a
head only when it is its own edit: one commit whose parent is on the base branch's
first-parent chain, whose tree is that parent's plus the pin edit of one overlay (nothing
else; an app of several images with parts in files of their own: of each of those files),
pinning the request's digest and saying so in its trailers. The same check runs when
observing and again right before merging; the forge then merges that very commit.

A head built on an older base commit is still current when its one-file edit, merged into
the base's version of the file three ways (as a forge merges), gives exactly what the
daemon would write on the base today: promotions into a shared overlay then merge one after
another instead of being rebuilt after each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler import keptfile, partfiles, promotions
from reconciler.actions import PinEdit
from reconciler.errors import ReconcilerError
from reconciler.forge.port import Request
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.port import ConfigRepo, UnknownCommit
from reconciler.model import short
from reconciler.overlays import pins
from reconciler.policy import Policy
from reconciler.snapshot import Key, OverlayState, RequestState

Edit = Callable[[bytes], bytes]  # the pin edit of one overlay's bytes
FILE = "heads.json"  # proven heads kept for the next process (HeadChecker)


# One promotion edits the same bytes the same way up to three times (building the head,
# judging it next cycle, proving it before the merge); a 5,000-image overlay takes seconds.
_EDITS: BlobCache[bytes] = BlobCache(max_entries=128)


def pin_edit(edit: PinEdit) -> Edit:
    """The bytes-to-bytes function that makes ``edit`` (errors: ReconcilerError)."""
    spec = f"{edit.format}:{edit.path}:{edit.app.read_as}:{edit.app.helm!r}:{edit.pin!r}"

    def run(data: bytes) -> bytes:
        key = f"{hashlib.sha256(data).hexdigest()}:{spec}"
        return _EDITS.get_or_parse(
            key, lambda: pins.write_pin(edit.format, data, edit.path, edit.app, edit.pin)
        )

    return run


@dataclass(frozen=True)
class HeadCheck:
    """What the check found: ``problem`` is None for the daemon's own edit."""

    problem: str | None  # why the head is not the daemon's edit, said for the request
    current: bool = False  # the edit, rebased onto the base tip, is still exactly ours


class BaseChain:
    """The base branch's first-parent chain, walked only as far as questions need.

    Kept across cycles: a new tip is walked down to the commits already known, so a cycle
    with many requests costs the commits since the last one, not requests x history.
    """

    def __init__(self, repo: ConfigRepo) -> None:
        self.repo = repo
        self._tip: str | None = None
        self._known: set[str] = set()
        self._bottom: str | None = None  # the next commit to walk down to, None at the root
        self.generation = 0  # bumped when the branch was rewritten: answers may differ

    def move_to(self, tip: str) -> None:
        """Follow the branch to ``tip``; a rewritten branch starts the walk again."""
        if tip == self._tip:
            return
        walked: list[str] = []
        commit: str | None = tip
        # A fast-forward reaches the old tip within the new commits; anything else (a
        # rewrite, a rewind) starts afresh, walking down lazily from the new tip.
        while commit is not None and commit != self._tip and len(walked) <= 10_000:
            walked.append(commit)
            commit = self._parent(commit)
        if commit is not None and commit == self._tip:
            self._known.update(walked)
        else:
            self._known = set(walked)
            self._bottom = commit
            self.generation += 1
        self._tip = tip

    def holds(self, commit: str) -> bool:
        """Whether ``commit`` is on the chain (walking further down when needed)."""
        while commit not in self._known and self._bottom is not None:
            self._known.add(self._bottom)
            self._bottom = self._parent(self._bottom)
        return commit in self._known

    def _parent(self, commit: str) -> str | None:
        parents = self.repo.commit_info(commit).parents
        return parents[0] if parents else None


def unit_edits(edit: PinEdit, names: partfiles.Names) -> dict[str, Edit]:
    """Each file's edit of ``edit``: its own file's, or for an app of several images with
    parts in files of their own (reconciler.partfiles), each of those files' share of it."""
    found = partfiles.groups(edit.format, edit.path, edit.app, names)
    if len(found) == 1 and found[0][0] == edit.path:
        return {edit.path: pin_edit(edit)}
    return {
        path: pin_edit(
            PinEdit(app=sub, format=edit.format, path=path, pin=partfiles.share(edit.pin, sub))
        )
        for path, sub in found
    }


def check_head(
    repo: ConfigRepo,
    chain: BaseChain,
    head: str,
    *,
    base_tip: str,
    digest: str,
    edits: Mapping[str, Edit],
) -> HeadCheck:
    """Whether ``head`` is the daemon's pin of ``digest`` (``edits``: each file's edit, one
    file but for a unit's part files) on a base commit."""
    info = repo.commit_info(head)
    if len(info.parents) != 1:
        return HeadCheck(
            f"its head {short(head)} has {len(info.parents)} parents; a promotion head is "
            "one commit on the base branch"
        )
    parent = info.parents[0]
    if not chain.holds(parent):
        return HeadCheck(
            f"its head {short(head)} is not built on the base branch (its parent "
            f"{short(parent)} is not on it)"
        )
    changed = sorted(c.path for c in repo.changed_paths(parent, head))
    files = " and ".join(edits)
    if not changed or any(p not in edits for p in changed):
        others = [p for p in changed if p not in edits] or ["nothing"]
        return HeadCheck(
            f"its head {short(head)} changes {', '.join(others[:5])}"
            f"{' and more' if len(others) > 5 else ''}; a promotion changes {files} only"
        )
    if info.trailer(promotions.IMAGE_DIGEST) != digest:
        return HeadCheck(f"its head {short(head)} does not name {short(digest)} in its message")
    olds: dict[str, bytes] = {}
    for path, edit in edits.items():
        old = repo.read(parent, path)
        new = repo.read(head, path)
        try:
            expected = edit(old) if old is not None else None
        except ReconcilerError as exc:
            return HeadCheck(f"the pin edit cannot be made on its parent {short(parent)}: {exc}")
        if old is None or new != expected:
            return HeadCheck(
                f"its head {short(head)} changes {path} other than by pinning {short(digest)}"
            )
        olds[path] = old
    current = all(
        _current(repo, parent, base_tip, head=head, path=path, old=olds[path], edit=edit)
        for path, edit in edits.items()
    )
    return HeadCheck(None, current)


def _current(
    repo: ConfigRepo, parent: str, tip: str, *, head: str, path: str, old: bytes, edit: Edit
) -> bool:
    """Whether merging the head now gives exactly the daemon's edit of the base's file."""
    if parent == tip:
        return True
    now = repo.read(tip, path)
    if now is None:
        return False
    if now == old:
        return True  # the base changed other files only: the merge takes the edit as is
    try:
        ours = edit(now)
    except ReconcilerError:
        return False
    return repo.merged_file(parent, tip, head, path) == ours


class HeadChecker:
    """Judges open requests' heads cycle after cycle (observing's side of the check).

    Heads found to be the daemon's own edit are kept in ``verdict_file`` for the next
    process: each check makes the pin edit again (ruamel, 1-2 ms), so a restart, `status`
    or `plan` beside 1,000 open requests would otherwise spend seconds proving what an
    earlier process proved. Only what content decides is kept (the head commit names its
    parent and tree; the key names the edit and the base's files); whether the parent is
    still on the base branch is asked again each time.
    """

    def __init__(self, repo: ConfigRepo, verdict_file: Path | None = None) -> None:
        self.repo = repo
        self.chain = BaseChain(repo)
        # Each key's verdict, with the key's digest as the file keeps it.
        self._checked: dict[tuple[str, ...], tuple[HeadCheck, str]] = {}
        self._file = verdict_file
        loaded = keptfile.load(verdict_file, "heads") if verdict_file is not None else {}
        self._proven = {k: v for k, v in loaded.items() if isinstance(v, bool)}
        # The heads this cycle found to be the daemon's own edits: the next file's entries
        # (None until a cycle has read the requests: nothing to replace the file with).
        self._seen: dict[str, bool] | None = None

    def move_to(self, tip: str) -> None:
        """This cycle's base branch tip."""
        self.chain.move_to(tip)
        self._seen = {}

    def keep(self) -> None:
        """Save this cycle's proven heads for the next process, when they changed."""
        if self._file is None or self._seen is None or self._seen == self._proven:
            return
        keptfile.save(self._file, "heads", self._seen)
        self._proven = dict(self._seen)

    def state(
        self,
        policy: Policy,
        app: str,
        env: str,
        *,
        request: Request,
        overlays: Mapping[Key, OverlayState],
        tip: str,
    ) -> RequestState:
        """What planning needs to know of ``request``'s head."""
        if not request.head_commit:  # its head branch is gone: rebuild it
            return RequestState(request, outdated=True)
        try:
            checked = self._check(policy, app, env, request=request, overlays=overlays, tip=tip)
        except UnknownCommit as missing:
            if missing.commit != request.head_commit:
                raise
            # Pushed after this cycle's fetch (another replica, a person): judged next
            # cycle, neither merged nor rebuilt now.
            return RequestState(request, unfetched=True)
        return RequestState(request, not checked.current, checked.problem)

    def _check(
        self,
        policy: Policy,
        app: str,
        env: str,
        *,
        request: Request,
        overlays: Mapping[Key, OverlayState],
        tip: str,
    ) -> HeadCheck:
        target = policy.environments.get(env)
        spec = policy.apps.get(app)
        if target is None or spec is None or target.follows is None:
            return HeadCheck(f"{app} is not promoted into {env} by the policy")
        overlay = overlays.get((app, env))
        source = overlays.get((app, target.follows))
        marker = promotions.parse_marker(request.body)
        if overlay is None or overlay.error or source is None:
            return HeadCheck(f"the overlays of {app} cannot be read to check it")
        if marker is None:
            return HeadCheck("its body has no reconciler marker")
        keep_tag = promotions.keeps_tag(policy, spec, target)
        # A rollback pins the target's own repository; a promotion the source's.
        pin = promotions.request_pin(marker, source.pin, overlay.pin, keep_tag=keep_tag)
        if pin is None:
            return HeadCheck(f"the overlays of {app} cannot be read to check it")
        # Idle cycles ask the same question of the same heads: the answer depends only on
        # the head, the edit, the base's version of the file and the chain being the same.
        key = (
            request.head_commit,
            *overlay.files,
            target.format,
            spec.read_as,
            repr(spec.helm),
            repr(pin),
            *(self.repo.blob_id(tip, path) or "" for path in overlay.files),
            str(self.chain.generation),
        )
        found, kept = self._checked.get(key) or (None, "")
        if found is None:
            # The key without the chain's generation: what the next process may reuse.
            kept = hashlib.sha256("\0".join(key[:-1]).encode()).hexdigest()
            found = self._kept(kept, request.head_commit)
            if found is None:
                edit = PinEdit(app=spec, format=target.format, path=overlay.path, pin=pin)
                found = check_head(
                    self.repo,
                    self.chain,
                    request.head_commit,
                    base_tip=tip,
                    digest=marker.digest,
                    edits=unit_edits(edit, lambda folder: self.repo.tree(tip).names(folder)),
                )
            if len(self._checked) >= 10_000:
                self._checked.clear()  # bounded; a miss costs one check
            self._checked[key] = (found, kept)
        if found.problem is None and self._seen is not None:
            self._seen[kept] = found.current
        return found

    def _kept(self, kept: str, head: str) -> HeadCheck | None:
        """An earlier process's verdict that ``head`` is the daemon's own edit, if its
        parent is still on the base branch; None to check it here."""
        if kept not in self._proven:
            return None
        parents = self.repo.commit_info(head).parents
        if len(parents) != 1 or not self.chain.holds(parents[0]):
            return None
        return HeadCheck(None, self._proven[kept])
