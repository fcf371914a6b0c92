"""Every benchmark runs once, small and quick, so none of them rots between measurements.

No figure is judged here (timing asserts do not belong in a test suite); the run must
finish, print every section, and each section a figure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.generate import generate
from reconciler.actions import CommitDirect, Propose
from reconciler.settings import Settings
from reconciler.wiring import build

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = [
    "overlay reads",
    "promotion write",
    "idle cycle",
    "changed overlay",
    "cold start",
    "forge requests",
    "probe fan-out",
    "probe budget",
    "memory",
    "server burst",
    "merge cycle",
    "status view",
    "open requests",
    "push to promoted",
]


def test_every_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--apps", "20", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.split(r"^## (.+)$", done.stdout, flags=re.MULTILINE)[1:]
    sections = dict(zip(found[::2], found[1::2], strict=True))
    assert list(sections) == SECTIONS
    for name, body in sections.items():
        assert re.search(r"\d+(\.\d+)?\s*(ms|MB|x|/cycle)?\s", body), (name, body)


def test_the_scale_table_fills_every_size() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--sizes", "20,40", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [r for r in done.stdout.splitlines() if r.startswith("| ") and "---" not in r]
    assert rows[0].startswith("|  | 20 apps | 40 apps | growth")
    assert len(rows) > 20
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6, row
        assert all(re.match(r"^-?[\d,.]+( ms| MB|/cycle)?$", c) for c in cells[1:3]), row
        assert cells[5] in {"", "met", "**MISSED**"}, row
    assert "When each measure ran:" in done.stdout


@pytest.mark.parametrize(
    ("envs", "fmt"), [(("dev", "staging", "prod"), "kustomize"), (("a", "b", "c", "d"), "helm")]
)
def test_the_generator_makes_repos_the_daemon_reads_whole(
    envs: tuple[str, ...], fmt: str, tmp_path: Path
) -> None:
    bare = generate(tmp_path / "remote.git", 7, envs, fmt)
    result = build(Settings(repo=str(bare), cache_dir=tmp_path / "cache")).runner.plan_only()
    assert result.observation.policy_valid
    overlays = result.observation.snapshot.overlays
    assert len(overlays) == 7 * len(envs)
    assert all(o.error is None and o.pin is not None and o.pin.digest for o in overlays.values())
    # every environment pins another digest than the one before: one promotion per edge
    proposed = [a for a in result.plan.actions if isinstance(a, (Propose, CommitDirect))]
    assert len(proposed) == 7 * (len(envs) - 1)
