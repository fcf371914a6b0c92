"""An in-memory forge with the local forge's rules, for planner and applier tests.

Head branches are not git here: a test says what each head branch points to and which
files its head commit changes (``set_head``). Merging follows LocalForge: the head must be
the expected one, and every changed file that ``codeowners`` gives owners needs an approval
on the current head from one of them (a user, or a member of a team in ``teams``).
tests/contract/test_forge_contract.py runs the same cases against this and LocalForge.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconciler.codeowners import NONE, CodeOwners, is_owner, team_members
from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.port import (
    STATUS_STATES,
    CommitCheck,
    CommitChecks,
    Enforcement,
    Forge,
    MergeRefused,
    Request,
    Review,
    ReviewState,
    Sighting,
    latest_sightings,
)
from reconciler.promotions import parse_marker

START = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)


def stepping_clock(
    start: datetime = START, step: timedelta = timedelta(minutes=1)
) -> Callable[[], datetime]:
    """A clock that moves ``step`` forward at every reading, so events are strictly ordered."""
    ticks = itertools.count()
    return lambda: start + step * next(ticks)


class FakeForge:
    """Requests, reviews and merges in memory; ``writes`` lists what was done, in order."""

    asks_code_owners = False

    def __init__(
        self,
        *,
        handle: str = "@reconciler",
        codeowners: CodeOwners = NONE,
        teams: Mapping[str, frozenset[str]] | None = None,
        enforcement: Enforcement | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.handle = handle
        self.codeowners = codeowners
        self.teams = dict(teams or {})
        self.enforcement = enforcement or Enforcement(
            enforced=True, reason="the fake forge enforces code owners"
        )
        self.clock = clock or stepping_clock()
        self.heads: dict[str, str] = {}  # head branch -> commit
        self.changed: dict[str, tuple[str, ...]] = {}  # head commit -> paths it changes
        self.stored: dict[int, Request] = {}
        self.comments: dict[int, list[str]] = {}
        self.writes: list[str] = []
        self.merge_refusal: str | None = None  # set to make the next merges refuse
        self.live: dict[int, datetime] = {}
        self.live_inferred: set[int] = set()  # live times that are the merge's, not seen
        self.rollbacks: dict[tuple[str, str, str], str] = {}
        # (source repository URL, or "" for the config repo; sha) -> every check set, in order
        self.checks: dict[tuple[str, str], list[CommitCheck]] = {}
        self.required: dict[str, tuple[str, ...]] = {}  # branch -> the checks it requires
        self.checks_error: Exception | None = None  # set to make commit_checks raise it
        self.checks_read: list[str] = []  # the commits asked about, in order

    def set_head(self, branch: str, commit: str, paths: tuple[str, ...] = ()) -> None:
        """Point ``branch`` at ``commit``, a commit that changes ``paths``."""
        self.heads[branch] = commit
        self.changed[commit] = paths

    def set_status(
        self,
        sha: str,
        name: str,
        state: str,
        *,
        url: str = "",
        description: str = "",
        repository: str | None = None,
    ) -> CommitCheck:
        """Set a commit status, with LocalForge's states and rules."""
        if state not in STATUS_STATES:
            raise PolicyError(f"{state!r} is not a status; use {', '.join(STATUS_STATES)}")
        check = CommitCheck(
            name=name, state=STATUS_STATES[state], conclusion=state, url=url, at=self.clock()
        )
        self.checks.setdefault((repository or "", sha), []).append(check)
        return check

    # -- the Forge port ------------------------------------------------------------------

    def commit_checks(
        self, sha: str, *, required_on: str | None = None, repository: str | None = None
    ) -> CommitChecks:
        self.checks_read.append(sha)
        if self.checks_error is not None:
            raise self.checks_error
        required = self.required.get(required_on) if required_on else None
        found = tuple(self.checks.get((repository or "", sha), ()))
        return CommitChecks(sha=sha, checks=found, required=required)

    def requests(self) -> tuple[Request, ...]:
        return tuple(
            self._view(r)
            for _, r in sorted(self.stored.items())
            if r.state == "open" and r.head_branch.startswith("promote/")
        )

    def request(self, number: int) -> Request:
        return self._view(self._get(number))

    def awaiting_live(self) -> tuple[Request, ...]:
        return tuple(
            self._view(r)
            for n, r in sorted(self.stored.items())
            if r.state == "merged" and n not in self.live
        )

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        key = (env, app, digest)
        if key in self.rollbacks:
            return False
        self.rollbacks[key] = commit
        self.writes.append(f"rollback {env}/{app} {digest[:15]}")
        return True

    def record_live(self, number: int, at: datetime, *, inferred: bool = False) -> None:
        self._get(number)
        if number not in self.live:
            self.live[number] = at
            if inferred:
                self.live_inferred.add(number)
            self.writes.append(f"live #{number}")

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        if head_branch not in self.heads:
            raise PermanentError(f"branch {head_branch!r} does not exist")
        for request in self.stored.values():
            if request.state == "open" and request.head_branch == head_branch:
                return self._view(request)
        number = max(self.stored, default=0) + 1
        now = self.clock()
        self.stored[number] = Request(
            number=number,
            head_branch=head_branch,
            head_commit="",
            base_branch=base_branch,
            title=title,
            body=body,
            author=self.handle,
            labels=tuple(labels),
            state="open",
            created_at=now,
            updated_at=now,
        )
        self.comments[number] = []
        self.writes.append(f"open #{number}")
        return self.request(number)

    def update(self, number: int, title: str, body: str, comment: str | None) -> Request:
        request = self._get(number)
        changed = replace(request, title=title, body=body)
        if changed != request or comment:
            self.stored[number] = replace(changed, updated_at=self.clock())
        if comment:
            self.comments[number].append(comment)
        self.writes.append(f"update #{number}")
        return self.request(number)

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Add the labels the request lacks, in order."""
        request = self._get(number)
        missing = tuple(x for x in dict.fromkeys(labels) if x not in request.labels)
        if missing:
            labelled = (*request.labels, *missing)
            self.stored[number] = replace(request, labels=labelled, updated_at=self.clock())
        self.writes.append(f"label #{number}")

    def request_reviews(self, number: int, reviewers: tuple[str, ...]) -> None:
        request = self._get(number)
        wanted = tuple(dict.fromkeys((*request.requested_reviewers, *reviewers)))
        self.stored[number] = replace(request, requested_reviewers=wanted)
        self.writes.append(f"request reviews #{number}")

    def merge(self, number: int, expected_head: str, message: str) -> str:
        request = self.request(number)
        if request.state == "merged" and request.merged_commit:
            return request.merged_commit
        if request.state != "open":
            raise MergeRefused(f"request #{number} is {request.state}")
        if request.head_commit != expected_head:
            raise MergeRefused(
                f"request #{number}'s head is not {expected_head[:12]}: it changed since it was "
                "planned"
            )
        if self.merge_refusal:
            raise MergeRefused(self.merge_refusal)
        approvals = request.approvals()
        for path in self.changed.get(request.head_commit, ()):
            owners = self.codeowners.owners_of(path)
            if owners and not any(is_owner(who, owners, self.teams) for who in approvals):
                raise MergeRefused(f"request #{number} needs a code owner of {path}")
        text = f"{number} {request.head_commit} {message}"
        commit = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        self.stored[number] = replace(
            request, state="merged", merged_commit=commit, merged_at=self.clock()
        )
        self.writes.append(f"merge #{number}")
        return commit

    def close(self, number: int, comment: str) -> None:
        request = self.request(number)
        if request.state != "open":
            return
        self.stored[number] = replace(request, state="closed", updated_at=self.clock())
        self.comments[number].append(comment)
        self.writes.append(f"close #{number}")

    def codeowner_enforcement(self, base_branch: str) -> Enforcement:
        return self.enforcement

    def members(self, team: str) -> frozenset[str] | None:
        return team_members(self.teams, team)

    # -- what `reconciler review` does on the local forge --------------------------------

    def review(self, number: int, reviewer: str, state: ReviewState, comment: str = "") -> Request:
        """Record a review bound to the current head; the rules LocalForge.review keeps."""
        request = self.request(number)
        if not reviewer.startswith("@") or "/" in reviewer:
            raise PolicyError(f"{reviewer!r} is not a reviewer handle like @alice")
        if request.state != "open":
            raise PolicyError(f"request #{number} is {request.state}")
        if state != "commented" and reviewer.casefold() == request.author.casefold():
            raise PolicyError(f"{reviewer} cannot review their own request")
        now = self.clock()
        given = Review(
            reviewer=reviewer, state=state, commit=request.head_commit, at=now, comment=comment
        )
        self.stored[number] = replace(
            self.stored[number], reviews=(*request.reviews, given), updated_at=now
        )
        self.writes.append(f"review #{number}")
        return self.request(number)

    def seen_live(self, env: str, wanted: Mapping[str, str]) -> dict[str, datetime]:
        found = []
        for number, at in self.live.items():
            if number in self.live_inferred:
                continue
            request = self.stored[number]
            marker = parse_marker(request.body)
            if marker is not None and request.merged_at is not None:
                found.append(Sighting(marker.app, marker.env, marker.digest, request.merged_at, at))
        return latest_sightings(found, env, wanted)

    def _get(self, number: int) -> Request:
        if number not in self.stored:
            raise PermanentError(f"there is no promotion request #{number}")
        return self.stored[number]

    def _view(self, request: Request) -> Request:
        if request.state != "open":
            return request
        return replace(request, head_commit=self.heads.get(request.head_branch, ""))


_: Forge = FakeForge()
