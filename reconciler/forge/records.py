"""The local forge's files: one JSON record per promotion request, and the team list.

Pure: bytes in, values out. Records live on the config repo's ``reconciler/requests``
branch as ``.reconciler/requests/<number>.json``; teams live on the base branch in
``.reconciler/teams.toml``. Decoding is strict, and a damaged file is reported by name.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast, get_args

from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.port import DamagedRequest, Request, RequestStatus, Review, ReviewState

VERSION = 1
REQUESTS_DIR = ".reconciler/requests"
TEAMS_PATH = ".reconciler/teams.toml"
# Trailers of a merge commit on the base branch: which request it merged, who approved.
PROMOTION_REQUEST = "Promotion-Request"
REVIEWED_BY = "Reviewed-by"
_NAME = re.compile(r"^([1-9][0-9]{0,8})\.json$")
_USER = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_TEAM = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$")
# The head branch of a record too damaged to parse as JSON (say, cut short): its key is
# written third, so a truncated file still names it.
_HEAD_KEY = re.compile(rb'"head_branch"\s*:\s*("(?:[^"\\\n]|\\.)*")')
_STATES: tuple[str, ...] = get_args(RequestStatus)
_REVIEW_STATES: tuple[str, ...] = get_args(ReviewState)


@dataclass(frozen=True)
class Comment:
    """A comment in a request's conversation."""

    author: str
    at: datetime
    text: str


@dataclass(frozen=True)
class RequestRecord:
    """Everything stored about a request; its live head commit is read from git instead.

    ``head_commit`` is set when the request stops being open (merged or closed): the head
    it had then, so later reviews and audits still see what was merged.
    """

    number: int
    head_branch: str
    base_branch: str
    title: str
    body: str
    author: str
    labels: tuple[str, ...]
    state: RequestStatus
    created_at: datetime
    updated_at: datetime
    requested_reviewers: tuple[str, ...] = ()
    reviews: tuple[Review, ...] = ()
    comments: tuple[Comment, ...] = ()
    head_commit: str | None = None
    merged_commit: str | None = None
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    live_at: datetime | None = None
    live_inferred: bool = False  # live_at is the merge's time, for want of a live source

    def to_request(self, tip: str | None) -> Request:
        """The port's view; ``tip`` is the head branch's current commit (None: no branch)."""
        head = self.head_commit if self.state != "open" and self.head_commit else tip
        return Request(
            number=self.number,
            head_branch=self.head_branch,
            head_commit=head or "",
            base_branch=self.base_branch,
            title=self.title,
            body=self.body,
            author=self.author,
            labels=self.labels,
            state=self.state,
            created_at=self.created_at,
            updated_at=self.updated_at,
            reviews=self.reviews,
            requested_reviewers=self.requested_reviewers,
            merged_commit=self.merged_commit,
            merged_at=self.merged_at,
        )

    def merged(self, commit: str, at: datetime, head: str | None) -> RequestRecord:
        """This request, merged as ``commit`` on the base at ``at``; ``head``: what was merged."""
        return replace(
            self,
            state="merged",
            head_commit=head,
            merged_commit=commit,
            merged_at=at,
            updated_at=at,
        )


def path_of(number: int) -> str:
    """Where request ``number``'s record lives on the requests branch."""
    return f"{REQUESTS_DIR}/{number}.json"


def number_of(name: str) -> int | None:
    """The request number of a file name in the requests folder, or None for other files."""
    found = _NAME.match(name)
    return int(found[1]) if found else None


def is_user(handle: str) -> bool:
    """True for a ``@user`` handle (not a team, not an email address)."""
    return _USER.match(handle) is not None


def encode(record: RequestRecord) -> bytes:
    """The record as pretty, stable JSON (keys in a fixed order, one trailing newline)."""
    data: dict[str, Any] = {
        "v": VERSION,
        "number": record.number,
        "head_branch": record.head_branch,
        "base_branch": record.base_branch,
        "title": record.title,
        "body": record.body,
        "author": record.author,
        "labels": list(record.labels),
        "state": record.state,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "requested_reviewers": list(record.requested_reviewers),
        "reviews": [
            {
                "reviewer": r.reviewer,
                "state": r.state,
                "commit": r.commit,
                "at": r.at.isoformat(),
                "comment": r.comment,
            }
            for r in record.reviews
        ],
        "comments": [
            {"author": c.author, "at": c.at.isoformat(), "text": c.text} for c in record.comments
        ],
        "head_commit": record.head_commit,
        "merged_commit": record.merged_commit,
        "merged_at": _time_text(record.merged_at),
        "closed_at": _time_text(record.closed_at),
        "live_at": _time_text(record.live_at),
        "live_inferred": record.live_inferred,
    }
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def decode(data: bytes, source: str, number: int | None = None) -> RequestRecord:
    """Parse a record; PermanentError naming ``source`` when it is damaged.

    ``number`` is the one its file name says, which the record must agree with. Keys this
    version does not know are ignored, so a newer writer's additions do not break readers.
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _damaged(source, f"it is not JSON ({error})") from None
    fields = _Fields(raw, source, "the record")
    version = fields.integer("v")
    if version != VERSION:
        raise _damaged(source, f"its format version is {version}; this reconciler reads {VERSION}")
    record = RequestRecord(
        number=fields.integer("number"),
        head_branch=fields.text("head_branch", nonempty=True),
        base_branch=fields.text("base_branch", nonempty=True),
        title=fields.text("title"),
        body=fields.text("body"),
        author=fields.text("author", nonempty=True),
        labels=fields.texts("labels"),
        state=cast(RequestStatus, fields.choice("state", _STATES)),
        created_at=fields.time("created_at"),
        updated_at=fields.time("updated_at"),
        requested_reviewers=fields.texts("requested_reviewers"),
        reviews=tuple(_review(item, source, i) for i, item in enumerate(fields.items("reviews"))),
        comments=tuple(
            _comment(item, source, i) for i, item in enumerate(fields.items("comments"))
        ),
        head_commit=fields.optional_text("head_commit"),
        merged_commit=fields.optional_text("merged_commit"),
        merged_at=fields.optional_time("merged_at"),
        closed_at=fields.optional_time("closed_at"),
        live_at=fields.optional_time("live_at"),
        live_inferred=fields.optional_flag("live_inferred"),
    )
    if record.number < 1:
        raise _damaged(source, f"its number is {record.number}; numbers start at 1")
    if number is not None and record.number != number:
        raise _damaged(source, f"it holds request #{record.number}, not #{number}")
    if record.state == "merged" and (record.merged_commit is None or record.merged_at is None):
        raise _damaged(source, "it is merged but has no merged_commit or merged_at")
    return record


def damaged(number: int, data: bytes, problem: str) -> DamagedRequest:
    """Request ``number``'s record that ``decode`` refused with ``problem``: what it still
    says of its head branch, and what the damage blocks until it is repaired."""
    head = _named_head(data)
    if head is None:
        blocked = (
            "its head branch cannot be read either, so no promotion is blocked by it; "
            "the request is left out until it is repaired"
        )
    else:
        blocked = f"until it is repaired, {head} gets no new promotion request"
    return DamagedRequest(number, head, f"{problem}; {blocked}")


def _named_head(data: bytes) -> str | None:
    """The head branch a damaged record names, when that much of it is readable."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        found = _HEAD_KEY.search(data)
        try:
            value = json.loads(found[1].decode("utf-8")) if found else None
        except (UnicodeDecodeError, ValueError):
            value = None
    else:
        value = raw.get("head_branch") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return None
    return value


def parse_teams(data: bytes, source: str) -> dict[str, frozenset[str]]:
    """``[teams] "@org/team" = ["@alice", ...]`` -> team -> members; PolicyError if invalid."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"{source}: not valid TOML ({error})") from None
    teams = raw.get("teams", {})
    if not isinstance(teams, dict):
        raise PolicyError(f'{source}: "teams" must be a table of "@org/team" = ["@user", ...]')
    found: dict[str, frozenset[str]] = {}
    for team, members in teams.items():
        if not _TEAM.match(team):
            raise PolicyError(f'{source}: "{team}" is not a team name like "@org/team"')
        if not isinstance(members, list) or not all(
            isinstance(m, str) and is_user(m) for m in members
        ):
            raise PolicyError(
                f'{source}: the members of "{team}" must be a list of "@user" handles'
            )
        found[team] = frozenset(members)
    return found


def _time_text(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _damaged(source: str, problem: str) -> PermanentError:
    return PermanentError(
        f"the promotion request record {source} is damaged: {problem}; restore it from the "
        "branch's history (git log -- <file>) or fix it by hand"
    )


def _review(raw: object, source: str, index: int) -> Review:
    fields = _Fields(raw, source, f"reviews[{index}]")
    return Review(
        reviewer=fields.text("reviewer", nonempty=True),
        state=cast(ReviewState, fields.choice("state", _REVIEW_STATES)),
        commit=fields.text("commit", nonempty=True),
        at=fields.time("at"),
        comment=fields.text("comment"),
    )


def _comment(raw: object, source: str, index: int) -> Comment:
    fields = _Fields(raw, source, f"comments[{index}]")
    return Comment(
        author=fields.text("author", nonempty=True),
        at=fields.time("at"),
        text=fields.text("text"),
    )


class _Fields:
    """Typed access to one JSON object; every mistake names the file and the key."""

    def __init__(self, raw: object, source: str, where: str) -> None:
        if not isinstance(raw, dict):
            raise _damaged(source, f"{where} is not a JSON object")
        self._raw: Mapping[str, object] = raw
        self._source = source
        self._where = where

    def _get(self, key: str) -> object:
        if key not in self._raw:
            raise self._problem(key, "is missing")
        return self._raw[key]

    def _problem(self, key: str, what: str) -> PermanentError:
        where = key if self._where == "the record" else f"{self._where}.{key}"
        return _damaged(self._source, f'"{where}" {what}')

    def integer(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._problem(key, "must be a whole number")
        return value

    def text(self, key: str, *, nonempty: bool = False) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._problem(key, "must be a string")
        if nonempty and not value.strip():
            raise self._problem(key, "must not be empty")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self._raw.get(key) is None else self.text(key, nonempty=True)

    def optional_flag(self, key: str) -> bool:
        """False when absent: records written before the key existed."""
        value = self._raw.get(key, False)
        if not isinstance(value, bool):
            raise self._problem(key, "must be true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._problem(key, "must be a list of strings")
        return tuple(value)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self._problem(key, f"is {value!r}; expected one of {', '.join(allowed)}")
        return value

    def time(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._problem(key, f"is {value!r}, not an ISO 8601 time") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise self._problem(key, f"is {value!r}, a time without a UTC offset")
        return parsed

    def optional_time(self, key: str) -> datetime | None:
        return None if self._raw.get(key) is None else self.time(key)

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._problem(key, "must be a list")
        return list(value)
