"""The local forge's file formats: request records (JSON) and the team list (TOML)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.port import Review
from reconciler.forge.records import (
    Comment,
    RequestRecord,
    damaged,
    decode,
    encode,
    is_user,
    number_of,
    parse_teams,
    path_of,
)

T0 = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
HEAD = "a" * 40
MINIMAL = RequestRecord(
    number=1,
    head_branch="promote/prod/gw",
    base_branch="main",
    title="prod: promote gw",
    body="",
    author="@reconciler",
    labels=(),
    state="open",
    created_at=T0,
    updated_at=T0,
)
FULL = replace(
    MINIMAL,
    number=42,
    body="Promotes **gw** ✓\n<!-- reconciler:promotion {} -->\n",
    labels=("promotion", "prod"),
    state="merged",
    updated_at=T0 + timedelta(hours=2),
    requested_reviewers=("@acme/release", "@lead"),
    reviews=(
        Review(
            reviewer="@alice",
            state="changes_requested",
            commit=HEAD,
            at=T0 + timedelta(minutes=5),
            comment="wrong digest",
        ),
        Review(
            reviewer="@alice",
            state="approved",
            commit=HEAD,
            at=datetime(2024, 7, 1, 15, 0, 30, 123456, tzinfo=IST),
        ),
        Review(reviewer="@bob", state="commented", commit=HEAD, at=T0 + timedelta(minutes=7)),
    ),
    comments=(Comment("@reconciler", T0 + timedelta(minutes=1), "Updated to sha256:cc"),),
    head_commit=HEAD,
    merged_commit="b" * 40,
    merged_at=T0 + timedelta(hours=2),
    live_at=T0 + timedelta(hours=3),
)
CLOSED = replace(MINIMAL, state="closed", closed_at=T0 + timedelta(days=1), head_commit=HEAD)
INFERRED = replace(FULL, live_at=FULL.merged_at, live_inferred=True)


@pytest.mark.parametrize(
    "record", [MINIMAL, FULL, CLOSED, INFERRED], ids=["minimal", "full", "closed", "inferred"]
)
def test_records_survive_a_round_trip(record: RequestRecord) -> None:
    data = encode(record)

    assert decode(data, "x.json", record.number) == record
    assert encode(decode(data, "x.json")) == data  # stable bytes: no churn in git
    assert data.endswith(b"}\n")


def test_times_keep_their_offset_and_text_stays_readable() -> None:
    data = encode(FULL)
    raw = json.loads(data)

    assert raw["reviews"][1]["at"] == "2024-07-01T15:00:30.123456+05:30"
    assert "✓".encode() in data  # not \u-escaped: the branch's diffs stay readable


@pytest.mark.parametrize(
    ("tip", "expected"),
    [
        (("open", None, "c" * 40), "c" * 40),  # an open request's head is the branch's tip
        (("open", None, None), ""),  # its branch is gone
        (("merged", HEAD, "c" * 40), HEAD),  # what was merged, even if the branch moved on
        (("closed", HEAD, None), HEAD),
        (("closed", None, "c" * 40), "c" * 40),
    ],
)
def test_the_head_commit_of_a_request(
    tip: tuple[str, str | None, str | None], expected: str
) -> None:
    state, stored_head, branch_tip = tip
    record = replace(
        MINIMAL,
        state=state,  # type: ignore[arg-type]
        head_commit=stored_head,
        merged_commit="m" * 40 if state == "merged" else None,
        merged_at=T0 if state == "merged" else None,
    )

    request = record.to_request(branch_tip)

    assert request.head_commit == expected
    assert (request.number, request.state, request.merged_commit) == (
        1,
        state,
        record.merged_commit,
    )


def test_merged_records_what_and_when() -> None:
    merged = MINIMAL.merged("m" * 40, T0 + timedelta(hours=1), HEAD)

    assert (merged.state, merged.merged_commit, merged.head_commit) == ("merged", "m" * 40, HEAD)
    assert merged.merged_at == merged.updated_at == T0 + timedelta(hours=1)


def _json(**changes: Any) -> bytes:
    raw = json.loads(encode(FULL))
    for key, value in changes.items():
        if value is ...:
            del raw[key]
        else:
            raw[key] = value
    return json.dumps(raw).encode()


def _review(**changes: Any) -> bytes:
    raw = json.loads(encode(FULL))
    for key, value in changes.items():
        if value is ...:
            del raw["reviews"][0][key]
        else:
            raw["reviews"][0][key] = value
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (_json(v=2), "format version is 2"),
        (_json(v=...), '"v" is missing'),
        (_json(number="42"), '"number" must be a whole number'),
        (_json(number=True), '"number" must be a whole number'),
        (_json(number=0), "numbers start at 1"),
        (_json(number=41), "holds request #41, not #42"),
        (_json(head_branch=""), '"head_branch" must not be empty'),
        (_json(title=None), '"title" must be a string'),
        (_json(labels="prod"), '"labels" must be a list of strings'),
        (_json(labels=["prod", 1]), '"labels" must be a list of strings'),
        (_json(state="draft"), "\"state\" is 'draft'; expected one of open, merged, closed"),
        (_json(created_at="yesterday"), "not an ISO 8601 time"),
        (_json(updated_at="2024-07-01T09:00:00"), "without a UTC offset"),
        (_json(merged_at="2024-07-01"), "without a UTC offset"),
        (_json(merged_commit=None), "merged but has no merged_commit"),
        (_json(merged_commit=""), '"merged_commit" must not be empty'),
        (_json(reviews={}), '"reviews" must be a list'),
        (_json(reviews=["lgtm"]), "reviews[0] is not a JSON object"),
        (_review(state="lgtm"), "\"reviews[0].state\" is 'lgtm'"),
        (_review(commit=""), '"reviews[0].commit" must not be empty'),
        (_review(at=...), '"reviews[0].at" is missing'),
        (_review(at=5), '"reviews[0].at" must be a string'),
        (_json(comments=[{"author": "@x", "at": "2024-07-01T09:00:00Z"}]), "comments[0].text"),
        (_json(live_inferred="yes"), '"live_inferred" must be true or false'),
    ],
)
def test_damaged_records_are_reported_by_file(data: bytes, problem: str) -> None:
    with pytest.raises(PermanentError) as caught:
        decode(data, ".reconciler/requests/42.json on branch reconciler/requests", 42)

    message = str(caught.value)
    assert problem in message
    assert message.startswith(
        "the promotion request record .reconciler/requests/42.json on branch "
        "reconciler/requests is damaged: "
    )


def test_keys_a_newer_writer_added_are_ignored() -> None:
    assert decode(_json(reactions=["+1"]), "42.json", 42) == FULL


def test_a_record_from_before_live_inferred_reads_as_seen_live() -> None:
    assert decode(_json(live_inferred=...), "42.json", 42).live_inferred is False


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("1.json", 1),
        ("42.json", 42),
        ("042.json", None),
        ("0.json", None),
        ("42.json.bak", None),
        ("README.md", None),
        ("-1.json", None),
    ],
)
def test_request_files_are_named_by_number(name: str, number: int | None) -> None:
    assert number_of(name) == number
    if number is not None:
        assert path_of(number) == f".reconciler/requests/{name}"


@pytest.mark.parametrize(
    ("handle", "user"),
    [("@alice", True), ("@a-b", True), ("@acme/release", False), ("alice", False), ("@", False)],
)
def test_user_handles(handle: str, user: bool) -> None:
    assert is_user(handle) is user


def test_teams_are_read_from_toml() -> None:
    text = b'[teams]\n"@acme/release" = ["@rita", "@ron"]\n"@acme/empty" = []\n'

    assert parse_teams(text, "teams.toml") == {
        "@acme/release": frozenset({"@rita", "@ron"}),
        "@acme/empty": frozenset(),
    }
    assert parse_teams(b"# no teams yet\n", "teams.toml") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"[teams\n", "not valid TOML"),
        (b'teams = "x"\n', '"teams" must be a table'),
        (b'[teams]\nrelease = ["@rita"]\n', '"release" is not a team name'),
        (b'[teams]\n"@acme/release" = "@rita"\n', "must be a list of"),
        (b'[teams]\n"@acme/release" = ["rita"]\n', "must be a list of"),
        (b'[teams]\n"@acme/release" = ["@acme/other"]\n', "must be a list of"),
    ],
)
def test_bad_team_files_are_policy_errors(text: bytes, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_teams(text, ".reconciler/teams.toml on main")

    assert str(caught.value).startswith(".reconciler/teams.toml on main: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("data", "head"),
    [
        (encode(MINIMAL).replace(b'"v": 1', b'"v": 9'), "promote/prod/gw"),  # valid JSON
        (encode(MINIMAL)[:70], "promote/prod/gw"),  # cut short after the head branch
        (b'{"head_branch": "promote/prod/a\\u00e9", "v": [', "promote/prod/aé"),  # escapes
        (encode(MINIMAL)[:40], None),  # cut short before it
        (b'{"head_branch": 5}', None),
        (b'{"head_branch": "two words"}', None),
        (b'{"head_branch": ""}', None),
        (b'["promote/prod/gw"]', None),
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_a_damaged_record_still_names_its_head_branch_when_it_can(
    data: bytes, head: str | None
) -> None:
    found = damaged(42, data, "the record X is damaged: it is broken")

    assert (found.number, found.head_branch) == (42, head)
    assert found.problem.startswith("the record X is damaged: it is broken; ")
    blocked = f"until it is repaired, {head} gets no new promotion request"
    assert found.problem.endswith(blocked if head else "left out until it is repaired")
