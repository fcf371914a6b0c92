"""deploy/kustomize/base/prometheusrule.yaml is scripts/sync-prometheusrule's wrapping of
deploy/prometheus/rules.yaml (the rules promtool tests), and the script notices a stale copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import ROOT

RULES = ROOT / "deploy/prometheus/rules.yaml"
PROMETHEUS_RULE = ROOT / "deploy/kustomize/base/prometheusrule.yaml"
SYNC = ROOT / "scripts/sync-prometheusrule"


def sync(*args: str) -> subprocess.CompletedProcess[str]:
    """scripts/sync-prometheusrule as CI or a developer runs it."""
    return subprocess.run(
        [sys.executable, str(SYNC), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_committed_prometheusrule_is_the_scripts_output() -> None:
    result = sync("--stdout")
    assert result.returncode == 0, result.stderr
    assert PROMETHEUS_RULE.read_text() == result.stdout, "run scripts/sync-prometheusrule"
    assert sync("--check").returncode == 0


def test_prometheusrule_carries_the_rules_files_groups() -> None:
    rules = YAML(typ="safe").load(RULES.read_text())
    wrapped = YAML(typ="safe").load(PROMETHEUS_RULE.read_text())
    assert set(rules) == {"groups"}
    assert wrapped["spec"] == {"groups": rules["groups"]}


def test_sync_check_fails_on_a_stale_copy_and_write_fixes_it(tmp_path: Path) -> None:
    rules, out = tmp_path / "rules.yaml", tmp_path / "prometheusrule.yaml"
    text = RULES.read_text()
    rules.write_text(text.replace("> 900", "> 1200"))
    shutil.copy(PROMETHEUS_RULE, out)
    stale = sync("--check", "--rules", str(rules), "--out", str(out))
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    assert sync("--rules", str(rules), "--out", str(out)).returncode == 0
    assert sync("--check", "--rules", str(rules), "--out", str(out)).returncode == 0
    assert "> 1200" in out.read_text()


def test_sync_refuses_a_rules_file_with_other_top_level_keys(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text() + "extra: 1\n")
    result = sync("--stdout", "--rules", str(rules))
    assert result.returncode == 1
    assert "only `groups:`" in result.stderr
