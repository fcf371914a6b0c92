"""Prometheus rules and the daemon's exposition, checked by the real promtool.

`promtool check rules` and `promtool test rules` on deploy/prometheus/, every alert with a
case that fires and one that does not, every alert with a runbook in docs/operations.md,
and `promtool check metrics` on a real scrape of the daemon's /metrics.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.metrics import Metrics
from tests.conftest import ROOT, need
from tests.integration.test_dashboard import (
    daemon_names,
    exercise,
    full_report,
    metric_names,
    scrape,
    serving,
)

RULES = ROOT / "deploy/prometheus/rules.yaml"
RULE_TESTS = sorted((ROOT / "deploy/prometheus/tests").glob("*.yaml"))
OPERATIONS = ROOT / "docs/operations.md"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real promtool (skipped locally when missing, a failure in CI)."""
    need(Path(PROMTOOL).is_file(), "promtool (Debian package prometheus)")
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def load_yaml(path: Path) -> Any:
    """A YAML file as plain data."""
    return YAML(typ="safe").load(path.read_text())


def rules() -> list[dict[str, Any]]:
    """Every rule of every group in deploy/prometheus/rules.yaml."""
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    """The alerting rules."""
    return [rule for rule in rules() if "alert" in rule]


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_promtool_check_rules_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "deploy/prometheus/tests/ has no rule tests"
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    evaluated: set[str] = set()
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
            evaluated |= {check["expr"] for check in case.get("promql_expr_test", [])}
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts without a firing case"
    assert names - quiet == set(), "alerts without a case where they do not fire"
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    assert recorded - evaluated == set(), "recording rules without a promql_expr_test"


def test_every_alert_has_severity_text_and_a_runbook_section() -> None:
    headings = {
        anchor(line.lstrip("#")) for line in OPERATIONS.read_text().splitlines() if line[:1] == "#"
    }
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        notes = rule["annotations"]
        assert notes["summary"], name
        assert notes["description"], name
        page, _, section = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md", name
        assert section in headings, f"{name}: docs/operations.md has no section #{section}"


def test_rules_read_only_series_the_daemon_exports() -> None:
    exported = daemon_names()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule.get('alert') or rule['record']} reads no series"
        unknown = names - exported - recorded
        assert not unknown, f"{rule.get('alert') or rule['record']} reads {sorted(unknown)}"


def test_promtool_check_metrics_finds_no_problem_in_a_real_scrape() -> None:
    metrics = Metrics()
    metrics.publish(full_report(time.time()))
    exercise(metrics)
    with serving(metrics) as server:
        exposition = scrape(server)
    assert "reconciler_drift{" in exposition  # the report is really there
    result = promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", f"promtool lint: {result.stdout}"
    assert result.stderr.strip() == "", f"promtool lint: {result.stderr}"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [("ReconcilerProdDrift", "reconcilerproddrift"), ("How to scrape it", "how-to-scrape-it")],
)
def test_anchor_follows_github(heading: str, expected: str) -> None:
    assert anchor(heading) == expected
