"""The forge port: promotion requests (pull requests), their reviews, merging, protection.

Two adapters implement it: ``forge.local`` (the embedded default: requests kept in the
config repo itself) and ``forge.github`` (pull requests on GitHub or GitHub Enterprise).
Planning sees only these value types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from reconciler.errors import PermanentError, TransientError

RequestStatus = Literal["open", "merged", "closed"]
ReviewState = Literal["approved", "changes_requested", "commented"]
# A check's verdict for a gate: passed, not finished yet, or failed.
CheckState = Literal["passed", "pending", "failed"]
CheckKind = Literal["check-run", "status"]


@dataclass(frozen=True, kw_only=True)
class Review:
    """One review, bound to the head commit it was given on."""

    reviewer: str  # "@alice"
    state: ReviewState
    commit: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class Request:
    """A promotion request (a pull request from ``promote/<env>/<app>``)."""

    number: int
    head_branch: str
    head_commit: str
    base_branch: str
    title: str
    body: str
    author: str
    labels: tuple[str, ...]
    state: RequestStatus
    created_at: datetime
    updated_at: datetime
    reviews: tuple[Review, ...] = ()
    requested_reviewers: tuple[str, ...] = ()
    merged_commit: str | None = None
    merged_at: datetime | None = None

    def approvals(self) -> dict[str, datetime]:
        """Reviewers whose latest review approves the current head, with when they did.

        A review on an older head counts for nothing; a later "changes requested" from the
        same reviewer withdraws their approval; the author cannot approve their own request.
        """
        latest: dict[str, Review] = {}
        for review in sorted(self.reviews, key=lambda r: r.at):
            if review.state != "commented":
                latest[review.reviewer] = review
        return {
            reviewer: review.at
            for reviewer, review in latest.items()
            if review.state == "approved"
            and review.commit == self.head_commit
            and reviewer.lower() != self.author.lower()  # handles are case-insensitive
        }


@dataclass(frozen=True)
class Enforcement:
    """Whether the forge itself would refuse to merge without a code owner's approval."""

    enforced: bool
    reason: str  # why (not), said so a person can fix it
    note: str = ""  # what could not be read and was decided without (`doctor` shows it)


@dataclass(frozen=True)
class DamagedRequest:
    """A request whose stored record cannot be read (the local forge's ``damaged()``).

    It blocks only what needs it: the promotion of ``head_branch``, when the damaged record
    still names one (None: not even that is readable). ``problem`` names the file, what is
    wrong and how to repair it.
    """

    number: int
    head_branch: str | None
    problem: str


@dataclass(frozen=True, kw_only=True)
class CommitCheck:
    """One check on a commit: a check run (by its name) or a commit status (by its context).

    ``state`` is the verdict; ``conclusion`` the forge's own word for it (``success``,
    ``timed_out``, ``in_progress``, ``error``...), shown to people. ``url`` is where to read
    more (a check run's ``details_url``, a status's ``target_url``); ``at`` when it last
    changed, so that of several of one kind and name the latest counts. A check run and a
    status of the same name are two checks, both of which must pass (GitHub's
    "Troubleshooting required status checks").
    """

    name: str
    state: CheckState
    conclusion: str
    url: str = ""
    at: datetime | None = None
    kind: CheckKind = "status"


@dataclass(frozen=True, kw_only=True)
class CommitChecks:
    """The checks a forge reports on commit ``sha``.

    ``required``: the check names the branch asked about requires before a merge (branch
    protection and rulesets); None when not asked, or when the forge has no such rules.
    """

    sha: str
    checks: tuple[CommitCheck, ...] = ()
    required: tuple[str, ...] | None = None


# GitHub's commit status states ("Commit statuses", REST docs), which the local forge keeps too.
STATUS_STATES: Mapping[str, CheckState] = {
    "success": "passed",
    "pending": "pending",
    "failure": "failed",
    "error": "failed",
}


class TeamUnreadable(PermanentError):
    """The forge will not list a team's members to the daemon (a permission it lacks): who
    is in the team cannot be told, which is never the same as "not in it"."""


class MergeRefused(TransientError):
    """The forge would not merge now (head moved, conflict, review missing): re-plan."""


class Forge(Protocol):
    """Promotion requests on a forge."""

    # The forge asks a new request's code owners for review itself (GitHub does, at times
    # only after answering the create): asking them as well would cost a write for nothing.
    asks_code_owners: bool

    def requests(self) -> tuple[Request, ...]:
        """Open requests whose head branch starts with ``promote/``."""
        ...

    def request(self, number: int) -> Request:
        """One request, whatever its state."""
        ...

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        """Open a request; returns the open one for ``head_branch`` if there already is one."""
        ...

    def update(self, number: int, title: str, body: str, comment: str | None) -> Request:
        """Rewrite title and body, and add ``comment`` to the conversation when given."""
        ...

    def request_reviews(self, number: int, reviewers: tuple[str, ...]) -> None:
        """Ask ``reviewers`` (``@user`` or ``@org/team``) to review."""
        ...

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Put ``labels`` on the request; labels already there (any others too) stay."""
        ...

    def merge(self, number: int, expected_head: str, message: str) -> str:
        """Merge if the head is still ``expected_head``; returns the commit on the base.

        MergeRefused when the forge will not merge now.
        """
        ...

    def close(self, number: int, comment: str) -> None:
        """Close without merging, leaving ``comment``."""
        ...

    def codeowner_enforcement(self, base_branch: str) -> Enforcement:
        """Whether merging into ``base_branch`` requires a code owner's approval."""
        ...

    def members(self, team: str) -> frozenset[str] | None:
        """``@user`` handles in ``@org/team``; None when the forge has no such team.

        TeamUnreadable when the forge will not say (its message names what to grant).
        """
        ...

    def awaiting_live(self) -> tuple[Request, ...]:
        """Merged promotion requests whose digest has not been seen running yet."""
        ...

    def commit_checks(
        self, sha: str, *, required_on: str | None = None, repository: str | None = None
    ) -> CommitChecks:
        """The check runs and commit statuses on ``sha`` in the config repo, or in the
        source repository whose URL is ``repository`` (an image's source label); with
        ``required_on``, the check names that config repo branch requires. PermanentError
        when ``repository`` is not one this forge can read."""
        ...

    def record_live(self, number: int, at: datetime, *, inferred: bool = False) -> None:
        """Record when the promoted digest was first seen running; the first time is kept.

        ``inferred``: ``at`` is the merge's time, the environment having no live source.
        """
        ...

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        """Record that the promotion of ``digest`` was rolled back by hand (by ``commit``).

        Idempotent; True when something was written.
        """
        ...

    def seen_live(self, env: str, wanted: Mapping[str, str]) -> dict[str, datetime]:
        """For each ``app -> digest`` in ``wanted``: when the latest merged promotion of that
        digest into ``env`` was recorded seen running (inferred times left out); apps
        without such a record are absent."""
        ...


@dataclass(frozen=True)
class Sighting:
    """One merged promotion and when it was recorded seen running (a forge's records)."""

    app: str
    env: str
    digest: str
    merged_at: datetime
    live_at: datetime


def latest_sightings(
    sightings: Iterable[Sighting], env: str, wanted: Mapping[str, str]
) -> dict[str, datetime]:
    """``Forge.seen_live`` over a forge's sightings: the latest merge of each wanted digest
    counts (an earlier merge of the same digest was followed by something else)."""
    latest: dict[str, Sighting] = {}
    for seen in sightings:
        if seen.env != env or wanted.get(seen.app) != seen.digest:
            continue
        kept = latest.get(seen.app)
        if kept is None or seen.merged_at > kept.merged_at:
            latest[seen.app] = seen
    return {app: seen.live_at for app, seen in latest.items()}
