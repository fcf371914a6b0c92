"""The verbs that work on a config repo, over a real one: `-o yaml` beside `--json`, `once
--dry-run` and `review --dry-run` writing nothing, and a did-you-mean for mistyped app and
environment names."""

from __future__ import annotations

import gc
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import cli, wiring
from reconciler.settings import Settings
from reconciler.verbs import reconcile
from reconciler.wiring import Wired
from tests.cli.shell import reconciler
from tests.e2e.world import APP, NEW, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "world")
    yield made
    made.stop()


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world the tests only read."""
    made = World(tmp_path_factory.mktemp("untouched"))
    yield made
    made.stop()


class Cli:
    """The verbs pointed at one world's config repo, one cache folder between runs."""

    def __init__(self, world: World) -> None:
        self.options = ("--repo", str(world.remote), "--cache-dir", str(world.root / "cli"))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        verb = 2 if args[0] == "review" else 1
        return reconciler(*args[:verb], *self.options, *args[verb:])

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def both(self, *args: str) -> tuple[Any, Any]:
        """``ARGS --json`` (or ``-o json``) and ``ARGS -o yaml``, decoded."""
        return json.loads(self.ok(*args, "-o", "json")), yaml.safe_load(
            self.ok(*args, "-o", "yaml")
        )


def test_plan_status_history_and_review_list_print_yaml_as_their_json(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()

    as_json, as_yaml = cli.both("plan", "--probe")
    assert as_yaml["actions"] == as_json["actions"]
    assert [(a["env"], a["kind"], a["digest"]) for a in as_yaml["actions"]] == [
        ("staging", "propose", NEW)
    ]

    as_json, as_yaml = cli.both("status")
    shown = [(r["app"], r["env"], r["desired"], r["live"]) for r in as_yaml["rows"]]
    assert shown == [(r["app"], r["env"], r["desired"], r["live"]) for r in as_json["rows"]]
    assert ("dev", NEW) in [(r["env"], r["desired"]) for r in as_yaml["rows"]]

    assert "opened #1 staging" in cli.ok("once")
    as_json, as_yaml = cli.both("review", "list")
    assert as_yaml == as_json
    assert [(r["number"], r["head_branch"]) for r in as_json] == [(1, f"promote/staging/{APP}")]

    assert "merged #1" in cli.ok("once")
    as_json, as_yaml = cli.both("history", "--app", APP, "--env", "staging")
    assert as_yaml == as_json
    assert [(h["from"], h["to"], h["digest"], h["request"]) for h in as_json] == [
        ("dev", "staging", NEW, 1)
    ]
    assert json.loads(cli.ok("history", "--json", "--env", "prod")) == []


def test_once_dry_run_prints_the_plan_and_writes_nothing(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    branches = world.branches()

    dry = cli.ok("once", "--dry-run")
    assert dry.endswith("(dry run: nothing written)\n")
    assert f"  {APP} -> staging: open request: staging: promote {APP} sha256:b7e2f90c" in dry
    assert dry.removesuffix("(dry run: nothing written)\n") == cli.ok("plan", "--probe")
    assert world.branches() == branches
    assert world.records() == ()

    assert "opened #1 staging" in cli.ok("once")  # and without it, the cycle writes


def test_review_dry_run_names_the_request_and_records_nothing(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    assert "opened #1 staging" in cli.ok("once")
    records = world.records()

    said = cli.ok(
        "review", "approve", "--app", APP, "--env", "staging", "--as", "@asha", "--dry-run"
    )
    assert said.startswith("would approve #1 (staging: promote order-gateway")
    assert said.rstrip().endswith("as @asha (dry run: nothing written)")
    held = cli.ok("review", "hold", "--request", "1", "--as", "@asha", "--dry-run")
    assert held.startswith("would hold #1 (staging: promote")
    assert held.endswith("): label 'promotion-hold' by @asha (dry run: nothing written)\n")
    as_json = json.loads(
        cli.ok("review", "approve", "--request", "1", "--as", "@asha", "--dry-run", "-o", "json")
    )
    assert (as_json["action"], as_json["dry_run"], as_json["request"]["number"]) == (
        "approve",
        True,
        1,
    )
    assert world.records() == records  # no review, no label


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("review", "approve", "--app", "order-gatway", "--env", "staging", "--as", "@a"),
            'promotions.toml: no app "order-gatway"; did you mean "order-gateway"?',
        ),
        (
            ("review", "approve", "--app", APP, "--env", "prd", "--as", "@a"),
            'promotions.toml: no environment "prd"; did you mean "prod"?',
        ),
        (
            ("history", "--env", "Staging"),
            'promotions.toml: no environment "Staging"; did you mean "staging"?',
        ),
        (
            ("history", "--app", "gateway", "--json"),
            'promotions.toml: no app "gateway"; did you mean "order-gateway"?',
        ),
        (
            ("history", "--env", "qa"),
            'promotions.toml: no environment "qa"; defined: "dev", "prod", "staging"',
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_mistyped_names_get_a_did_you_mean(
    untouched: World, args: tuple[str, ...], expected: str
) -> None:
    done = Cli(untouched)(*args)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"reconciler {args[0]}: {expected}\n"


@pytest.mark.parametrize("verb", ["plan", "status"])
def test_plan_and_status_pause_the_collector_and_leave_it_running(
    untouched: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    verb: str,
) -> None:
    # They build the whole state, print it and exit: the cyclic collector would only walk
    # it (reconciler.collector); a program that calls them goes on with it running.
    seen: list[bool] = []
    wire = wiring.build

    def noting(settings: Settings) -> Wired:
        seen.append(gc.isenabled())
        return wire(settings)

    monkeypatch.setattr(reconcile, "build", noting)
    gc.enable()
    options = ("--repo", str(untouched.remote), "--cache-dir", str(tmp_path / "cli"))

    assert cli.main([verb, *options, "-o", "json"]) == 0

    assert seen == [False]
    assert gc.isenabled()
    assert json.loads(capsys.readouterr().out)
