"""Implementations of the `reconciler` verbs; cli.py parses arguments and calls these."""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it is below it, as users typed it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fail(verb: str, message: str, code: int = EXIT_INVALID) -> int:
    """Print ``reconciler VERB: message`` to stderr and return ``code``."""
    print(f"reconciler {verb}: {message}", file=sys.stderr)
    return code
