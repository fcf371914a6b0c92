"""Whole cycles over a config repo whose main branch turned hostile: no crash, no escape.

One row per hostile thing (hostilerepo.py): the daemon (built as `reconciler run` builds it,
its last good policy learnt from the healthy repo) runs real cycles, then `reconciler once`
(a fresh process without a last good policy), `validate` on a checkout with real symlinks
and `codeowners` run as users run them. For every row: nothing is raised out of a cycle, no
command prints a traceback, the healthy apps are promoted in the cycle that first sees the
hostile commit, the hostile thing is reported naming its file (and line where there is
one), every branch the daemon wrote holds a whole promotion, and the folder next to the
repo keeps its files, bytes and mtimes. The suite prints
``hostile repos=N cycles=N crashes=0 escapes=0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.actions import action_key
from reconciler.cycle import CycleReport
from reconciler.forge.local import LocalForge
from reconciler.gitrepo.port import ConfigRepo
from reconciler.settings import Settings
from reconciler.wiring import build
from tests import figures
from tests.cli.test_validate import run
from tests.e2e.hostilerepo import APPS, HEALTHY, NEW, ROWS, HostileRepo, Row, overlay_of
from tests.e2e.world import internal_errors

SEEN: Counter[str] = Counter()
_FIGURE: list[int] = []  # where this suite's line is in figures.LINES


def record(what: str, count: int = 1) -> None:
    """Count ``what`` and keep this suite's figure line current."""
    SEEN[what] += count
    text = (
        f"hostile repos={SEEN['repos']} cycles={SEEN['cycles']} "
        f"crashes={SEEN['crashes']} escapes={SEEN['escapes']}"
    )
    if not _FIGURE:
        _FIGURE.append(len(figures.LINES))
        figures.line(text)
    figures.LINES[_FIGURE[0]] = text


def counted(cycle: Callable[[], CycleReport]) -> CycleReport:
    """One cycle; an exception out of it is a crash, counted and re-raised."""
    record("cycles")
    try:
        return cycle()
    except BaseException:
        record("crashes")
        raise


def reports(result: CycleReport) -> list[str]:
    """What a cycle tells people: its notes and every blocked promotion's reason."""
    return [*result.plan.notes, *(f"{b.app}: {b.reason}" for b in result.plan.blocked)]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_a_hostile_repo_never_crashes_a_cycle_nor_escapes_it(row: Row, tmp_path: Path) -> None:
    repo = HostileRepo(tmp_path)
    record("repos")
    before = repo.outside_state()
    wired = build(Settings(repo=repo.url, cache_dir=repo.work / "daemon"))
    healthy = counted(wired.runner.cycle)
    assert healthy.observation.policy_valid
    assert healthy.outcomes == ()

    tree = repo.turn_hostile(row)
    result = counted(wired.runner.cycle)
    again = counted(wired.runner.cycle)

    assert internal_errors([result, again]) == []
    assert result.ok, [o.detail for o in result.outcomes if not o.ok]
    opened = {action_key(o.action)[0] for o in result.outcomes if o.result == "opened"}
    assert set(HEALTHY) <= opened, reports(result)
    assert [o.result for o in again.outcomes if o.result == "opened"] == []
    if row.policy_level:
        # The policy on main is refused; the last good one (healthy) keeps running.
        assert not result.observation.policy_valid
    elif row.names.startswith(".github/CODEOWNERS"):
        # GitHub skips a line it cannot parse; the folder's line still makes evil wait.
        assert "evil" in opened
    else:
        assert "evil" not in opened
        assert any(b.app == "evil" and b.code == "overlay-invalid" for b in result.plan.blocked)
    if not row.names.startswith(".github/CODEOWNERS"):
        assert any(row.names in text for text in reports(result)), reports(result)

    once = run("once", "--repo", repo.url, "--cache-dir", str(repo.work / "once"))
    checkout = repo.checkout(tree)
    validate = run("validate", str(checkout))
    owners = run("codeowners", "--repo", str(checkout), overlay_of("evil", "staging"))
    for command in (once, validate, owners):
        record("cycles" if command is once else "commands")
        if "Traceback" in command.stderr:
            record("crashes")
        assert "Traceback" not in command.stderr, command.stderr
    assert once.returncode == (1 if row.policy_level else 0), once.stdout + once.stderr
    assert validate.returncode == (1 if row.policy_level else 0), validate.stdout
    if row.names.startswith(".github/CODEOWNERS"):
        assert row.names in owners.stderr, owners.stderr
        assert owners.stdout.split() == [overlay_of("evil", "staging"), "@lead"]
    else:
        assert row.names in once.stdout, once.stdout
    if row.policy_level:
        assert row.names in validate.stdout, validate.stdout

    assert_whole_branches(repo.git.client(), "evil" in opened)
    after = repo.outside_state()
    if after != before:
        record("escapes")
    assert after == before, "something was written next to the repo"


def assert_whole_branches(client: ConfigRepo, evil_promoted: bool) -> None:
    """Every promotion branch is one whole change on main, and its request points at it."""
    client.fetch()
    main = client.tip("main")
    assert main is not None
    promoted = [*HEALTHY, *(["evil"] if evil_promoted else [])]
    heads = {b for b in client.branches() if b.startswith("promote/")}
    assert heads == {f"promote/staging/{app}" for app in promoted}
    for app in promoted:
        head = client.tip(f"promote/staging/{app}")
        assert head is not None
        info = client.commit_info(head)
        assert info.parents == (main,)
        changes = [c.path for c in client.changed_paths(main, head)]
        assert changes == [overlay_of(app, "staging")]
        data = client.read(head, overlay_of(app, "staging"))
        assert data is not None
        assert NEW.encode() in data
    requests = LocalForge(client, "main").requests()
    assert sorted(r.head_branch for r in requests) == sorted(heads)
    for request in requests:
        assert client.tip(request.head_branch) == request.head_commit
    assert set(APPS) >= set(promoted)
