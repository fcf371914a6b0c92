"""The ConfigRepo contract with a signer: the fake and the pygit2 adapter ask it once for
every commit they write, with that commit's bytes, and write nothing when it fails.
(The real signatures, checked by git: tests/integration/test_signed_commits.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.gitrepo.port import Signature, SigningError
from tests.contract.gitworld import FakeWorld, GitWorld, World
from tests.signing import Recording

WHO = Signature("reconciler", "reconciler@localhost", datetime(2024, 5, 1, tzinfo=UTC))
PROD = "overlays/prod/app/kustomization.yaml"


def make(flavour: str, tmp_path: Path, signer: Recording) -> World:
    return FakeWorld(signer) if flavour == "fake" else GitWorld(tmp_path, signer=signer)


@pytest.mark.parametrize("flavour", ["fake", "pygit2"])
def test_every_commit_written_is_signed_once(flavour: str, tmp_path: Path) -> None:
    signer = Recording()
    world = make(flavour, tmp_path, signer)
    base = world.seed({PROD: b"a\n"})
    repo = world.client()
    who = WHO

    pushed = repo.update_branch(
        "main", lambda _v: {PROD: b"b\n"}, message="update\n", author=who, committer=who
    )
    replaced = repo.replace_branch(
        "promote/prod/app", lambda _v: {PROD: b"c\n"}, base=base, expected_old=None,
        message="promote\n", author=who, committer=who,
    )  # fmt: skip
    unchanged = repo.update_branch(
        "main", lambda _v: {PROD: b"b\n"}, message="again\n", author=who, committer=who
    )

    assert pushed.changed
    assert replaced.changed
    assert not unchanged.changed
    assert len(signer.signed) == 2  # nothing signed for a change that writes no commit
    assert b"update\n" in signer.signed[0]
    assert b"promote\n" in signer.signed[1]


@pytest.mark.parametrize("flavour", ["fake", "pygit2"])
def test_a_failing_signer_writes_nothing(flavour: str, tmp_path: Path) -> None:
    world = make(flavour, tmp_path, Recording(fail=True))
    base = world.seed({PROD: b"a\n"})
    repo = world.client()
    who = WHO

    with pytest.raises(SigningError, match="the test key"):
        repo.update_branch(
            "main", lambda _v: {PROD: b"b\n"}, message="m\n", author=who, committer=who
        )
    with pytest.raises(SigningError):
        repo.replace_branch(
            "promote/prod/app", lambda _v: {PROD: b"c\n"}, base=base, expected_old=None,
            message="m\n", author=who, committer=who,
        )  # fmt: skip

    assert world.remote_tip("main") == base
    assert world.remote_tip("promote/prod/app") is None
