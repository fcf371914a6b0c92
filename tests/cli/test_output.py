"""`-o/--output text|json|yaml` on the verbs that read: YAML is the JSON document, and the
older spellings (`--json`, `validate --format`) still work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository
from reconciler.verbs import yaml_of_json
from tests.cli.shell import reconciler as run
from tests.conftest import ROOT

EXAMPLE = ROOT / "promotion-policies/examples/order-gateway"
ME = Signature("platform", "platform@example.com", utc_now().replace(microsecond=0))


def documents(*args: str, cwd: Path | None = None) -> tuple[Any, Any]:
    """What ``reconciler ARGS -o json`` and ``-o yaml`` print, decoded; both must agree on
    the exit code."""
    as_json = run(*args, "-o", "json", cwd=cwd)
    as_yaml = run(*args, "-o", "yaml", cwd=cwd)
    assert as_json.returncode == as_yaml.returncode, as_json.stderr + as_yaml.stderr
    assert as_json.stderr == as_yaml.stderr
    return json.loads(as_json.stdout), yaml.safe_load(as_yaml.stdout)


def test_validate_takes_o_and_keeps_format_and_json(tmp_path: Path) -> None:
    bad = tmp_path / "promotions.toml"
    bad.write_text('version = 1\n[environments.dev]\noverlay = "o"\nfolows = "x"\n')
    shown = {
        spelling: run("validate", str(bad), *spelling.split())
        for spelling in ("-o json", "--output json", "--format json", "--json")
    }
    assert {r.returncode for r in shown.values()} == {1}
    assert len({r.stdout for r in shown.values()}) == 1
    found = json.loads(shown["--json"].stdout)
    assert [d["line"] for d in found] == [1, 4]
    as_json, as_yaml = documents("validate", str(bad))
    assert as_yaml == as_json == found
    github = run("validate", str(bad), "-o", "github")
    assert github.stdout.startswith("::error file=")


def test_validate_text_is_unchanged() -> None:
    assert run("validate", "-o", "text", cwd=EXAMPLE).stdout == run("validate", cwd=EXAMPLE).stdout


def test_codeowners_yaml_is_its_json() -> None:
    paths = ("overlays/prod/kustomization.yaml", "overlays/dev/kustomization.yaml")
    as_json, as_yaml = documents("codeowners", "--repo", str(EXAMPLE), *paths)
    assert as_yaml == as_json == json.loads(run("codeowners", "--json", *paths, cwd=EXAMPLE).stdout)
    assert as_json["paths"][0]["owners"] == ["@swiggy-platform/release-managers"]


def test_doctor_prints_its_checklist_as_a_document(tmp_path: Path) -> None:
    files = seed_files("http://127.0.0.1:9", QUICK)
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=ME)
    options = ("--repo", str(tmp_path / "config.git"), "--cache-dir", str(tmp_path / "c"))
    as_json, as_yaml = documents("doctor", *options)
    assert as_yaml == as_json
    assert as_json["ok"] is True
    checks = {check["name"]: check for check in as_json["checks"]}
    assert checks["main enforces code-owner review on the daemon"]["ok"] is True
    live = checks["live source answers for order-gateway in prod"]  # port 9: a warning
    assert (live["ok"], live["required"]) == (False, False)
    assert as_json["passed"] == len(as_json["checks"])


@pytest.mark.parametrize("verb", ["plan", "status", "history", "codeowners", "doctor"])
def test_the_reading_verbs_take_o(verb: str) -> None:
    shown = run(verb, "--help").stdout
    assert "-o {text,json,yaml}, --output {text,json,yaml}" in " ".join(shown.split())


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        (("review", "list"), "--repo is required"),
        (("registry", "resolve", "app"), "give IMAGE:TAG"),
    ],
)
def test_an_error_in_yaml_mode_is_the_same_error(verb: tuple[str, ...], expected: str) -> None:
    done = run(*verb, "-o", "yaml")
    assert done.returncode == 2
    assert done.stdout == ""
    assert expected in done.stderr


def test_yaml_of_json_keeps_order_types_and_long_lines() -> None:
    message = "x" * 300
    text = json.dumps({"b": 1, "a": [None, True, "2026-01-01T00:00:00Z", "@team"], "m": message})
    shown = yaml_of_json(text)
    assert shown.index("b:") < shown.index("a:")
    assert yaml.safe_load(shown) == json.loads(text)  # dates stay strings, handles quoted
    assert f"m: {message}\n" in shown
    assert yaml_of_json("not json\n") == "not json\n"
