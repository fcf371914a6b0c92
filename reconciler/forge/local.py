"""The local forge, the embedded default: promotion requests kept in the config repo itself.

A request is its head branch (``promote/<env>/<app>``) plus a JSON record on the branch
``reconciler/requests`` (``.reconciler/requests/<number>.json``, format in records.py).
Every change to a record is a commit on that branch whose message says what happened, so
its history is part of the audit trail; two writers never lose each other's updates or
share a number (ledger.py, opening.py).

Reviews are bound to the head commit they were given on; a newer head makes earlier
approvals count for nothing. Merging needs a code owner's approval of every owned file and
is a real commit on the base branch (merging.py); a merge commit the record does not say
yet (the process died between the two) is found by its trailer (landing.py).

The local forge has no user directory: teams are listed on the base branch
(``.reconciler/teams.toml``, merging.Teams).

Reads use the clone as of its last fetch: the daemon fetches once at the start of a cycle,
and a cycle that merges many requests must not fetch again per merge (a fetch costs every
branch of the repo, so a cycle would grow with the square of its requests). ``merge`` reads
the one thing that must be current, the head branch, from the remote itself, and refuses
when it moved; the base is written under a lease, so a base that moved is read again then.
Reviews are judged as of the cycle's fetch, as its plan was. ``review`` (a person's command)
fetches first. A damaged record fails only what needs it (ledger.py); ``damaged()`` lists
them, so that the plan can block their promotions with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import get_args

from reconciler import codeowners
from reconciler.clock import utc_now
from reconciler.errors import PermanentError, PolicyError
from reconciler.forge import ledger, merging, records
from reconciler.forge.landing import Landings
from reconciler.forge.ledger import Ledger, require_tip
from reconciler.forge.merging import short
from reconciler.forge.opening import Opener
from reconciler.forge.port import (
    CommitCheck,
    CommitChecks,
    DamagedRequest,
    Enforcement,
    MergeRefused,
    Request,
    Review,
    ReviewState,
    Sighting,
    latest_sightings,
)
from reconciler.forge.records import Comment, RequestRecord
from reconciler.forge.statuses import Statuses
from reconciler.gitrepo.port import ConfigRepo, Signature
from reconciler.promotions import BRANCH_PREFIX, branch, parse_marker

REQUESTS_BRANCH = ledger.BRANCH
__all__ = ["REQUESTS_BRANCH", "LocalForge"]


class LocalForge:
    """The Forge port over a ConfigRepo; ``handle`` is who acts (the daemon or a reviewer)."""

    asks_code_owners = False  # reviewers are asked by the daemon, as its records say

    def __init__(
        self,
        repo: ConfigRepo,
        base_branch: str,
        *,
        handle: str = "@reconciler",
        name: str = "reconciler",
        email: str = "reconciler@localhost",
        clock: Callable[[], datetime] = utc_now,
        landing_file: Path | None = None,
    ) -> None:
        """``landing_file`` keeps the open requests' heads' changes for the next process
        (reconciler.forge.landing)."""
        if not records.is_user(handle):
            raise PolicyError(f"{handle!r} is not a user handle like @alice")
        self._repo = repo
        self.base_branch = base_branch
        self.handle = handle
        self._name = name
        self._email = email
        self._clock = clock
        self._ledger = Ledger(repo, base_branch, self._signature)
        self._owners = merging.Owners(repo)
        self._teams = merging.Teams(repo, base_branch)
        self._landings = Landings(repo, landing_file)
        self._opener = Opener(repo, self._ledger, self._landings, handle, clock)
        self._statuses = Statuses(repo, self._ledger, clock)

    # -- reads ---------------------------------------------------------------------------

    def requests(self) -> tuple[Request, ...]:
        """Open requests whose head branch starts with ``promote/``, by number.

        Requests with a damaged record are not among them: ``damaged()`` lists those.
        """
        book = self._ledger.book()
        found = []
        for head_branch, numbers in book.opened.items():
            if head_branch.startswith(BRANCH_PREFIX):
                tip = self._repo.tip(head_branch)
                for number in numbers:
                    record = self._landings.landed(book.records[number], tip)
                    if record.state == "open":
                        found.append(record.to_request(tip))
        self._landings.keep()
        return tuple(sorted(found, key=lambda request: request.number))

    def damaged(self) -> tuple[DamagedRequest, ...]:
        """Requests whose record cannot be read, by number; each names its file and what
        it blocks (its head branch's promotions, when the record still names it)."""
        damaged = self._ledger.book().damaged
        return tuple(damaged[n] for n in sorted(damaged))

    def request(self, number: int) -> Request:
        """One request, whatever its state."""
        record = self._ledger.get(number)
        tip = self._repo.tip(record.head_branch)
        return self._landings.landed(record, tip).to_request(tip)

    def records(self) -> tuple[RequestRecord, ...]:
        """Every readable request record, by number, with its conversation and ``live_at``."""
        return tuple(self._landings.current(r) for r in self._ledger.book().sorted())

    def awaiting_live(self) -> tuple[Request, ...]:
        """Merged requests with no ``live_at`` yet, by number."""
        return tuple(
            r.to_request(None) for r in self.records() if r.state == "merged" and r.live_at is None
        )

    def members(self, team: str) -> frozenset[str] | None:
        """The handles ``.reconciler/teams.toml`` on the base branch lists for ``team``."""
        base = self._repo.tip(self.base_branch)
        return codeowners.team_members(self._teams.at(base), team) if base else None

    def codeowner_enforcement(self, base_branch: str) -> Enforcement:
        """Always enforced: the daemon itself checks code owners before it merges."""
        return Enforcement(
            enforced=True,
            reason="the local forge requires an approval from a code owner of every changed file",
        )

    def commit_checks(
        self, sha: str, *, required_on: str | None = None, repository: str | None = None
    ) -> CommitChecks:
        """The statuses set on ``sha`` (``reconciler review set-status``), of the config repo
        or of a source repository; no branch protection names required checks here, so
        ``required`` is None."""
        return self._statuses.of(sha, repository)

    # -- writes --------------------------------------------------------------------------

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
        """Set commit status ``name`` of ``sha`` (success, pending, failure, error), as CI
        would on GitHub; of the source repository ``repository`` (a URL) when given;
        LocalForge only."""
        return self._statuses.set(
            sha,
            name=name,
            state=state,
            url=url,
            description=description,
            by=self.handle,
            repository=repository,
        )

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        """Open a request for ``head_branch``, or return the open one it already has."""
        return self._opener.open(head_branch, base_branch, title, body, labels)

    def update(self, number: int, title: str, body: str, comment: str | None) -> Request:
        """Rewrite title and body, and add ``comment`` to the conversation when given."""
        now = self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            new = replace(record, title=title, body=body)
            if comment:
                new = replace(new, comments=(*record.comments, Comment(self.handle, now, comment)))
            return replace(new, updated_at=now) if new != record else record

        record = self._ledger.change(number, change, f"update #{number}")
        tip = self._repo.tip(record.head_branch)
        return self._landings.landed(record, tip).to_request(tip)

    def request_reviews(self, number: int, reviewers: tuple[str, ...]) -> None:
        """Ask ``reviewers`` to review (recorded; ``reconciler review list`` shows it)."""

        def change(record: RequestRecord) -> RequestRecord:
            wanted = tuple(dict.fromkeys((*record.requested_reviewers, *reviewers)))
            return replace(record, requested_reviewers=wanted)

        self._ledger.change(
            number, change, f"request reviews on #{number} from {' '.join(reviewers)}"
        )

    def review(self, number: int, reviewer: str, state: ReviewState, comment: str = "") -> Request:
        """Record ``reviewer``'s review of request ``number``, bound to its current head."""
        if not records.is_user(reviewer):
            raise PolicyError(f"{reviewer!r} is not a reviewer handle like @alice")
        if state not in get_args(ReviewState):
            raise PolicyError(f"{state!r} is not a review; use approved or changes_requested")
        self._repo.fetch()
        request = self.request(number)
        if request.state != "open":
            raise PolicyError(f"request #{number} is {request.state}; only open ones take reviews")
        if not request.head_commit:
            raise PermanentError(
                f"request #{number}'s head branch {request.head_branch} no longer exists; "
                "there is nothing to review"
            )
        if state != "commented" and reviewer.casefold() == request.author.casefold():
            raise PolicyError(
                f"{reviewer} opened request #{number} and cannot review it themselves; "
                "ask a code owner of the changed files"
            )
        now = self._clock()
        given = Review(
            reviewer=reviewer, state=state, commit=request.head_commit, at=now, comment=comment
        )

        def change(record: RequestRecord) -> RequestRecord:
            if record.state != "open":
                raise PolicyError(f"request #{number} was {record.state} meanwhile; not reviewed")
            return replace(record, reviews=(*record.reviews, given), updated_at=now)

        verb = state.replace("_", " ")
        record = self._ledger.change(
            number, change, f"review #{number} {verb} by {reviewer} on {short(given.commit)}"
        )
        return record.to_request(request.head_commit)

    def record_live(self, number: int, at: datetime, *, inferred: bool = False) -> None:
        """Remember when the promoted digest was first seen running (``inferred``: the
        merge's time, for want of a live source); later calls keep it."""
        at = ledger.aware(at)

        def change(record: RequestRecord) -> RequestRecord:
            if record.live_at is not None:
                return record
            return replace(record, live_at=at, live_inferred=inferred)

        note = " (inferred from the merge)" if inferred else ""
        self._ledger.change(number, change, f"live #{number} since {at.isoformat()}{note}")

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        """Note on the merged request of ``digest`` that a person rolled it back."""
        head = branch(env, app)
        merged = [
            r
            for r in self.records()
            if r.head_branch == head
            and r.state == "merged"
            and (m := parse_marker(r.body)) is not None
            and m.digest == digest
        ]
        if not merged:
            return False
        number = merged[-1].number
        note = f"rolled back by hand in {commit[:12]}"
        if any(c.text == note for c in merged[-1].comments):
            return False
        now = self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            if any(c.text == note for c in record.comments):
                return record
            return replace(record, comments=(*record.comments, Comment(self.handle, now, note)))

        self._ledger.change(number, change, f"rollback #{number} by {commit[:12]}")
        return True

    def close(self, number: int, comment: str) -> None:
        """Close without merging, leaving ``comment``; a request already done is left as is."""
        if self.request(number).state != "open":
            return
        now = self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            if record.state != "open":
                return record
            return replace(
                record,
                state="closed",
                closed_at=now,
                updated_at=now,
                head_commit=self._repo.tip(record.head_branch),
                comments=(*record.comments, Comment(self.handle, now, comment)),
            )

        self._ledger.change(number, change, f"close #{number}")

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Put ``labels`` on the request (one ledger commit; nothing when all are there)."""
        now = self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            missing = tuple(x for x in dict.fromkeys(labels) if x not in record.labels)
            if not missing:
                return record
            note = f"added label{'s' if len(missing) > 1 else ''} {' '.join(missing)}"
            return replace(
                record,
                labels=(*record.labels, *missing),
                updated_at=now,
                comments=(*record.comments, Comment(self.handle, now, note)),
            )

        self._ledger.change(number, change, f"label #{number} {' '.join(labels)}")

    def label(self, number: int, label: str, *, present: bool) -> Request:
        """Add (``present``) or remove a label, such as the hold label; LocalForge only."""
        now = self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            labels = tuple(x for x in record.labels if x != label)
            labels = (*labels, label) if present else labels
            if labels == record.labels:
                return record
            note = f"{'added' if present else 'removed'} label {label}"
            return replace(
                record,
                labels=labels,
                updated_at=now,
                comments=(*record.comments, Comment(self.handle, now, note)),
            )

        verb = "label" if present else "unlabel"
        self._ledger.change(number, change, f"{verb} #{number} {label} by {self.handle}")
        return self.request(number)

    def merge(self, number: int, expected_head: str, message: str) -> str:
        """Merge if the head is still ``expected_head`` and code owners approved it.

        The head is read from the remote now (no fetch: see the module's docstring).
        """
        record = self._ledger.get(number)
        if record.state == "merged" and record.merged_commit:
            return record.merged_commit
        if record.state != "open":
            raise MergeRefused(f"request #{number} is {record.state}; it cannot be merged")
        head = self._repo.remote_tip(record.head_branch)
        if head != expected_head:
            raise MergeRefused(
                f"request #{number}'s head is {short(head)}, not {short(expected_head)}: "
                "it changed since it was planned"
            )
        parent, changes = self._landings.head(head)
        if not changes:
            raise MergeRefused(f"request #{number}'s head {short(head)} changes no file")
        base = require_tip(self._repo, record.base_branch)
        landed = self._landings.landed(record, head)
        if landed.state == "merged" and landed.merged_commit:
            return self._record_merge(number, landed.merged_commit, landed.merged_at, head)
        request = record.to_request(head)
        counted = merging.approvers(
            request, changes, self._owners.at(base), lambda: self._teams.at(base)
        )
        info = self._repo.commit_info(head)
        who = self._signature()
        outcome = self._repo.update_branch(
            record.base_branch,
            merging.base_edit(self._repo, number, head, parent, changes),
            message=message,
            author=who,
            committer=who,
            trailers=merging.trailers(info.trailers, number, counted),
        )
        if outcome.changed and outcome.commit:
            return self._record_merge(number, outcome.commit, who.time, head)
        found = self._landings.merge_commit(
            record, [c.path for c in changes], outcome.commit or base
        )
        if found is None:
            raise MergeRefused(
                f"the base branch already holds request #{number}'s change, made by another "
                "commit; there is nothing to merge"
            )
        return self._record_merge(number, found.id, found.time, head)

    def seen_live(self, env: str, wanted: Mapping[str, str]) -> dict[str, datetime]:
        """When the latest merge of each wanted digest into ``env`` was seen running, from
        the request records' ``live_at``."""
        return latest_sightings(_sightings(self.records()), env, wanted)

    # -- internals -----------------------------------------------------------------------

    def _record_merge(self, number: int, commit: str, at: datetime | None, head: str) -> str:
        when = at or self._clock()

        def change(record: RequestRecord) -> RequestRecord:
            return record if record.state == "merged" else record.merged(commit, when, head)

        record = self._ledger.change(number, change, f"merge #{number} as {short(commit)}")
        return record.merged_commit or commit

    def _signature(self) -> Signature:
        return Signature(self._name, self._email, self._clock())


def _sightings(found: Iterable[RequestRecord]) -> Iterator[Sighting]:
    """The merged requests whose digest was recorded seen running."""
    for record in found:
        marker = parse_marker(record.body)
        if marker and record.merged_at and record.live_at and not record.live_inferred:
            yield Sighting(marker.app, marker.env, marker.digest, record.merged_at, record.live_at)
