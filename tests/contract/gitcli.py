"""The git command line, hermetic (no user or system config), for building test scenarios."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 4, 1, 10, 0, tzinfo=UTC)


class GitCli:
    """Runs ``git`` with fixed identities and commit dates that advance one minute a call."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.minute = 0
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Other User",
            "GIT_AUTHOR_EMAIL": "other@example.com",
            "GIT_COMMITTER_NAME": "Other User",
            "GIT_COMMITTER_EMAIL": "other@example.com",
        }

    def __call__(self, *args: str, cwd: Path | None = None, stdin: str | None = None) -> str:
        """Run one git command; its stdout, stripped. Raises on failure, with git's stderr."""
        self.minute += 1
        date = (START + timedelta(minutes=self.minute)).isoformat()
        env = {**self.env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
        return done.stdout.strip()

    def commit_file(self, work: Path, path: str, text: str, message: str) -> str:
        """Write ``path`` in the work tree, commit it, and return the new commit id."""
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self("add", path, cwd=work)
        self("commit", "-q", "-m", message, cwd=work)
        return self("rev-parse", "HEAD", cwd=work)
