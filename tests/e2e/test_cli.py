"""The verbs over a real config repo, as a user's shell runs them (the installed script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.world import APP, NEW, OWNER, TEAM, World, cycle_until, overlay

EXE = Path(sys.executable).with_name("reconciler")


def reconciler(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``reconciler ARGS`` with no RECONCILER_* variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env["XDG_CACHE_HOME"] = str(home / "xdg-cache")
    done = subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


class Cli:
    """The verbs pointed at one world's config repo, with one cache folder between runs."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.options = ("--repo", str(world.remote), "--cache-dir", str(world.root / "cli"))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return reconciler(*args[:1], *self.options, *args[1:], home=self.world.root)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


def test_the_verbs_take_a_promotion_from_dev_to_prod(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()

    branches = world.branches()
    unprobed = cli.json("plan")  # a process of its own has no samples: it says so
    assert (unprobed["probed"], unprobed["actions"]) == (False, [])
    assert [(b["env"], b["code"]) for b in unprobed["blocked"]] == [("staging", "gate:not-sampled")]
    plan = cli.json("plan", "--probe")
    assert plan["probed"] is True
    assert [(a["app"], a["env"], a["kind"], a["digest"], a["path"]) for a in plan["actions"]] == [
        (APP, "staging", "propose", NEW, overlay("staging"))
    ]
    assert world.branches() == branches  # plan writes nothing

    assert "ok: opened #1 staging: promote order-gateway sha256:b7e2f90c from dev" in cli.ok("once")
    assert [r.state for r in world.records_for("staging")] == ["open"]
    assert "ok: merged #1 as " in cli.ok("once")
    world.sync()
    done = cli.ok("once")
    assert "ok: #1 seen live since " in done
    assert "ok: opened #2 prod: promote order-gateway sha256:b7e2f90c from staging" in done

    view = cli.json("status")
    assert (view["source"], view["probed"]) == ("repo", False)
    rows = {row["env"]: row for row in view["rows"]}
    assert (rows["staging"]["desired"], rows["staging"]["live"]) == (NEW, NEW)
    assert rows["staging"]["drift"] is False
    assert rows["prod"]["request"] == 2
    assert rows["prod"]["desired"] == world.original
    assert any(
        "waits for approval from a code owner" in b["reason"] for b in rows["prod"]["blocked"]
    ), rows["prod"]["blocked"]

    listed = cli.ok("review", "list").splitlines()
    assert [line for line in listed if not line.startswith("    ")] == listed[:1]  # one request
    assert "    - versions unknown: promotions.toml has no [registry] to read labels from" in listed
    assert listed[0].startswith("#2\tprod: promote order-gateway sha256:b7e2f90c from staging\t")
    assert f"\treviewers {TEAM}\tapproved by none" in listed[0]

    approved = cli.ok("review", "approve", "--env", "prod", "--app", APP, "--as", OWNER)
    assert approved.startswith("approve #2 (prod: promote order-gateway sha256:b7e2f90c")
    assert approved.rstrip().endswith(f"as {OWNER}")

    outputs = cycle_until(lambda: cli.ok("once"), lambda out: "ok: merged #2 as " in out, "merge")
    for waiting in outputs[:-1]:
        assert "[merge-delay]" in waiting
    world.sync()
    assert "ok: #2 seen live since " in cli.ok("once")

    history = cli.json("history")
    assert [(h["from"], h["to"], h["digest"], h["state"], h["request"]) for h in history] == [
        ("dev", "staging", NEW, "merged", 1),
        ("staging", "prod", NEW, "merged", 2),
    ]
    assert [[a["by"] for a in h["approvals"]] for h in history] == [[], [OWNER]]
    for entry in history:
        assert entry["merged_at"] is not None
        assert entry["live_at"] is not None
        assert entry["commit"] in {c.id for c in world.promotion_commits(entry["to"])}


@pytest.mark.parametrize(
    "verb", [["plan"], ["once"], ["status"], ["history"], ["review", "list"]], ids=" ".join
)
def test_a_missing_repo_is_a_usage_error_without_a_traceback(
    verb: list[str], tmp_path: Path
) -> None:
    done = reconciler(*verb, home=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"reconciler {verb[0]}: --repo is required" in done.stderr


def test_repeated_once_runs_pass_a_health_streak_of_two(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    outputs = []
    for _ in range(3):  # enough for a streak of two however the samples are gathered
        outputs.append(cli.ok("once"))
        if "ok: opened #1 staging" in outputs[-1]:
            break
        threading.Event().wait(world.timing.interval.total_seconds())
    assert "ok: opened #1 staging" in outputs[-1], outputs
    assert [r.state for r in world.records_for("staging")] == ["open"]
