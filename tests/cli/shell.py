"""The installed `reconciler` script run as a user's shell runs it, in a clean environment:
no RECONCILER_* variables and no GitHub tokens but those a test passes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

EXE = Path(sys.executable).with_name("reconciler")
TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without RECONCILER_* and token variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RECONCILER_") and k not in TOKEN_VARIABLES
    }
    return {**env, **(extra or {})}


def reconciler(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``reconciler ARGS``; ``env`` adds variables to the clean environment."""
    done = subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment(env),
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done
