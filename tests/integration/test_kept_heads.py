"""A new process beside open requests reuses what an earlier one proved of their heads.

Each open request's head is checked to be the daemon's own edit (the pin edit made again)
and, with the local forge, compared with its parent to see whether it landed unrecorded.
Both answers are fixed by the head commit, so they are kept in the cache folder
(heads.json, landings.json): a restart, `plan` or `status` beside 1,000 open requests
spent 6 s on them at 1,000 apps, 40 s at 10,000. A head pushed by someone else is checked
afresh, as is one whose base commit left the base branch.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.generate import generate
from benchmarks.settled import PUSHER
from reconciler import provenance
from reconciler.cycle import CycleReport
from reconciler.forge import landing
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import trees
from reconciler.gitrepo.pygit2_adapter.configrepo import Pygit2ConfigRepo
from reconciler.settings import Settings
from reconciler.wiring import build

APPS = 3
IDENTITY = {
    "GIT_AUTHOR_NAME": "someone",
    "GIT_COMMITTER_NAME": "someone",
    "GIT_AUTHOR_EMAIL": "someone@example.com",
    "GIT_COMMITTER_EMAIL": "someone@example.com",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A generated repo whose every prod edge has a candidate, and a cache where cycles
    opened a prod request for each app (prod waits for a code owner)."""
    bare = generate(tmp_path / "remote.git", APPS)
    settings = Settings(repo=str(bare), cache_dir=tmp_path / "cache")
    runner = build(settings).runner
    for _ in range(4):  # staging is promoted and merged, then prod's requests open
        runner.cycle(one_shot=True)
    assert len(_prod_requests(runner.plan_only(probe=False))) == APPS
    return settings


def _prod_requests(result: CycleReport) -> list[int]:
    return [
        state.request.number
        for (_, env), state in result.observation.snapshot.requests.items()
        if env == "prod"
    ]


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the work kept answers save: heads checked, trees compared."""
    counts = {"checked": 0, "compared": 0}
    check_head = provenance.check_head
    compare = trees.file_changes

    def counting(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object, **kwargs: object) -> object:
            counts[name] += 1
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(provenance, "check_head", counting("checked", check_head))
    monkeypatch.setattr(trees, "file_changes", counting("compared", compare))
    return counts


def test_a_new_process_checks_no_head_an_earlier_one_proved(
    settings: Settings, work: dict[str, int]
) -> None:
    first = build(settings).runner.plan_only(probe=False)
    assert (settings.cache_dir / provenance.FILE).is_file()
    assert (settings.cache_dir / landing.FILE).is_file()
    work.update(checked=0, compared=0)

    again = build(settings).runner.plan_only(probe=False)
    assert work == {"checked": 0, "compared": 0}
    assert again.observation.snapshot.requests == first.observation.snapshot.requests
    assert again.plan == first.plan
    assert not [b for b in again.plan.blocked if b.code == "unverified-head"]


def test_a_head_someone_else_pushed_is_checked_again(
    settings: Settings, work: dict[str, int], tmp_path: Path
) -> None:
    build(settings).runner.plan_only(probe=False)
    person = Pygit2ConfigRepo.open(settings.repo, tmp_path / "person")

    def edit(view: ReadView) -> dict[str, bytes | None]:
        return {"overlays/prod/svc-0000/extra.yaml": b"kind: Secret\n"}

    person.update_branch(
        "promote/prod/svc-0000", edit, message="a change", author=PUSHER, committer=PUSHER
    )
    work.update(checked=0, compared=0)

    result = build(settings).runner.plan_only(probe=False)
    assert work["checked"] == 1  # the new head only; the others were proved before
    blocked = [(b.app, b.env) for b in result.plan.blocked if b.code == "unverified-head"]
    assert blocked == [("svc-0000", "prod")]


def test_a_proved_head_whose_base_left_the_branch_is_checked_again(
    settings: Settings, work: dict[str, int]
) -> None:
    build(settings).runner.plan_only(probe=False)
    # main rewritten to a new root commit of the same files: the heads' parents are no
    # longer on it, whatever the kept file says of the heads themselves.
    git = ["git", "--git-dir", settings.repo]
    root = subprocess.run(
        [*git, "commit-tree", "main^{tree}", "-m", "history rewritten"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
    ).stdout.strip()
    subprocess.run([*git, "update-ref", "refs/heads/main", root], check=True)
    work.update(checked=0, compared=0)

    result = build(settings).runner.plan_only(probe=False)
    assert work["checked"] == APPS
    blocked = {(b.app, b.env) for b in result.plan.blocked if b.code == "unverified-head"}
    assert blocked == {(f"svc-{n:04d}", "prod") for n in range(APPS)}


@pytest.mark.parametrize("damage", ["{not json", '{"release": "0.0.0-other", "heads": {}}'])
def test_a_damaged_or_foreign_file_costs_the_checks_never_a_wrong_answer(
    settings: Settings, work: dict[str, int], damage: str
) -> None:
    first = build(settings).runner.plan_only(probe=False)
    for name in (provenance.FILE, landing.FILE):
        (settings.cache_dir / name).write_text(damage)
    work.update(checked=0, compared=0)

    again = build(settings).runner.plan_only(probe=False)
    assert work["checked"] == APPS
    assert work["compared"] >= APPS
    assert again.plan == first.plan
