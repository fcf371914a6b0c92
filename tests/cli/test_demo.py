"""`reconciler demo` without --dir: it shows the whole command CI runs, and leaves no
folder behind (tests/e2e/test_demo.py runs the story itself, with --dir)."""

from __future__ import annotations

import shlex
from pathlib import Path

from reconciler.demo.flow import APP, IMAGE, NEW_DIGEST
from tests.cli.shell import reconciler


def test_the_demo_prints_the_ci_command_whole_and_removes_its_folder(tmp_path: Path) -> None:
    done = reconciler("demo", "--quick", env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    folders = [line.split()[3] for line in done.stdout.splitlines() if line.startswith("1. ")]
    assert len(folders) == 1
    remote = Path(folders[0])
    assert remote.parent.parent == tmp_path
    command = next(line for line in done.stdout.splitlines() if "$ reconciler pin" in line)
    assert shlex.split(command.split("$ ", 1)[1]) == [
        "reconciler",
        "pin",
        "--push",
        "--repo",
        str(remote),
        "--app",
        APP,
        "--env",
        "dev",
        f"{IMAGE}:b7e2f90@{NEW_DIGEST}",  # the digest whole, as CI gives it
    ]
    assert done.stdout.rstrip().endswith(
        f"removed {remote.parent} (--dir DIR keeps the demo's repos)"
    )
    assert list(tmp_path.iterdir()) == []
