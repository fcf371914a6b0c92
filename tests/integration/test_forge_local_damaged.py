"""A damaged request record on real git fails only what needs it.

Records are files a person can edit on the branch ``reconciler/requests``. One that no
longer reads (cut short, not JSON, a wrong type, even the record of a long-closed request)
must not stop the other requests: it is left out of ``requests()``, listed by
``damaged()`` with its file, what is wrong, how to repair it, and the head branch it still
names, whose new requests it blocks until it is repaired.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.forge import records
from reconciler.forge.local import REQUESTS_BRANCH, LocalForge
from reconciler.forge.port import DamagedRequest
from reconciler.gitrepo.port import Signature
from tests.contract.forgeworld import STAGING, LocalForgeWorld
from tests.contract.gitworld import GitWorld
from tests.fakes.forge import START, stepping_clock

DAMAGED = "promote/prod/app"  # request #1, whose record gets damaged
HEALTHY = "promote/staging/app"  # request #2, which must keep working
NEW = b"images:\n- name: app\n  digest: sha256:cc\n"
FILE = ".reconciler/requests/1.json"
WHERE = f"the promotion request record {FILE} on branch {REQUESTS_BRANCH} is damaged: "
BLOCKS = f"until it is repaired, {DAMAGED} gets no new promotion request"
UNNAMED = (
    "its head branch cannot be read either, so no promotion is blocked by it; the request is "
    "left out until it is repaired"
)


@pytest.fixture
def env(tmp_path: Path) -> LocalForgeWorld:
    return LocalForgeWorld(GitWorld(tmp_path))


def good_record(env: LocalForgeWorld) -> bytes:
    env.repo.fetch()
    tip = env.repo.tip(REQUESTS_BRANCH)
    assert tip is not None
    data = env.repo.read(tip, FILE)
    assert data is not None
    return data


def edited(data: bytes, **fields: object) -> bytes:
    raw = json.loads(data)
    raw.update(fields)
    return json.dumps(raw, indent=2).encode()


def closed(env: LocalForgeWorld) -> bytes:
    """Request #1 closed, then its closing time hand-edited into something unreadable."""
    env.forge.close(1, "superseded")
    return edited(good_record(env), closed_at="last tuesday")


# kind -> (how to damage the record, the problem named, whether it still names its branch)
DAMAGE: dict[str, tuple[Callable[[LocalForgeWorld], bytes], str, bool]] = {
    "not JSON": (lambda env: b"\x00\xffnot json\n", "it is not JSON", False),
    "empty": (lambda env: b"", "it is not JSON", False),
    "truncated": (lambda env: good_record(env)[:150], "it is not JSON", True),
    "wrong type": (
        lambda env: edited(good_record(env), labels="promotion"),
        '"labels" must be a list of strings',
        True,
    ),
    "missing key": (
        lambda env: edited(good_record(env), state=None),
        '"state" must be a string',
        True,
    ),
    "another number": (lambda env: edited(good_record(env), number=7), "not #1", True),
    "closed request": (closed, "\"closed_at\" is 'last tuesday', not an ISO 8601 time", True),
}


def damage(env: LocalForgeWorld, data: bytes) -> None:
    """A person commits ``data`` as request #1's record on the requests branch."""
    person = env.world.client()
    who = Signature("Person", "person@example.com", START)
    person.update_branch(
        REQUESTS_BRANCH, lambda _view: {FILE: data}, message="edit", author=who, committer=who
    )
    env.repo.fetch()  # the daemon's next cycle


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_record_fails_only_what_needs_it(
    env: LocalForgeWorld, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, problem, named = DAMAGE[kind]
    env.push_head(DAMAGED, NEW)
    env.forge.open(DAMAGED, "main", "prod: promote app", "", ())
    head = env.push_head(HEALTHY, NEW, path=STAGING)
    healthy = env.forge.open(HEALTHY, "main", "staging: promote app", "", ()).number
    data = make(env)
    caplog.set_level(logging.ERROR, "reconciler.forge.local")

    damage(env, data)

    # Every other request is read, written and merged as before.
    assert [r.number for r in env.forge.requests()] == [healthy]
    env.forge.add_labels(healthy, ("promotion",))
    assert env.forge.merge(healthy, head, "staging: promote app") == env.repo.tip("main")
    assert [r.number for r in env.forge.records()] == [healthy]
    assert [r.number for r in env.forge.awaiting_live()] == [healthy]
    # The damaged one is listed with its file, its problem, the fix and what it blocks.
    (found,) = env.forge.damaged()
    assert (found.number, found.head_branch) == (1, DAMAGED if named else None)
    assert found.problem.startswith(WHERE)
    assert problem in found.problem
    assert "restore it from the branch's history" in found.problem
    assert found.problem.endswith(BLOCKS if named else UNNAMED)
    assert [r.getMessage() for r in caplog.records] == [found.problem]  # logged once
    # What needs the record itself fails, saying why.
    with pytest.raises(PermanentError, match=r"\.reconciler/requests/1\.json on branch"):
        env.forge.request(1)
    with pytest.raises(PermanentError, match=r"\.reconciler/requests/1\.json on branch"):
        env.forge.close(1, "again")
    assert good_record(env) == data  # left as the person wrote it


@pytest.mark.parametrize("kind", DAMAGE)
def test_new_requests_get_new_numbers_and_only_the_named_branch_is_blocked(
    env: LocalForgeWorld, kind: str
) -> None:
    make, _, named = DAMAGE[kind]
    env.push_head(DAMAGED, NEW)
    env.forge.open(DAMAGED, "main", "prod: promote app", "", ())
    damage(env, make(env))
    env.push_head(HEALTHY, NEW, path=STAGING)

    opened = env.forge.open(HEALTHY, "main", "staging: promote app", "", ())

    assert opened.number == 2  # never the damaged file's number
    if named:
        with pytest.raises(PermanentError) as refused:
            env.forge.open(DAMAGED, "main", "prod: promote app again", "", ())
        assert str(refused.value) == env.forge.damaged()[0].problem
    else:
        assert env.forge.open(DAMAGED, "main", "prod: again", "", ()).number == 3


def test_a_repaired_record_counts_again(env: LocalForgeWorld) -> None:
    env.push_head(DAMAGED, NEW)
    request = env.forge.open(DAMAGED, "main", "prod: promote app", "", ())
    good = good_record(env)
    damage(env, good[:40])

    damage(env, good)

    assert env.forge.damaged() == ()
    assert [r.number for r in env.forge.requests()] == [request.number]


def test_another_daemon_sees_the_same_damage(env: LocalForgeWorld) -> None:
    env.push_head(DAMAGED, NEW)
    env.forge.open(DAMAGED, "main", "prod: promote app", "", ())
    damage(env, b"{")

    fresh = LocalForge(env.world.client(), "main", clock=stepping_clock())

    assert fresh.damaged() == env.forge.damaged()
    assert isinstance(fresh.damaged()[0], DamagedRequest)
    assert records.path_of(fresh.damaged()[0].number) == FILE
