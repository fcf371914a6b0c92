"""Implementations of the `reconciler` verbs; cli.py parses arguments and calls these."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable
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


def check_name(kind: str, name: str | None, known: Iterable[str], where: str) -> None:
    """PolicyError ``WHERE: no KIND "NAME"; did you mean "X"?`` unless ``name`` is one of
    ``known`` (or None): the one check of the app and environment names a verb is given."""
    from reconciler.errors import PolicyError  # noqa: PLC0415 - not every verb needs them
    from reconciler.policy.diagnostics import suggest  # noqa: PLC0415

    names = set(known)
    if name is None or name in names:
        return
    raise PolicyError(f'{where}: no {kind} "{name}"{suggest(name, names)}')


def unified_diff(before: bytes, after: bytes, path: str) -> str:
    """``git diff``'s view of one file's edit (``a/PATH``, ``b/PATH``), for ``--dry-run``."""
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def fleet_json(data: object, encoded: bytes | None = None) -> str:
    """A document with a row per app and environment (`status`): indented for a person at a
    terminal, one line for a program (30,000 rows take 0.3 s to indent, 0.02 s not to).
    ``encoded``: that one line already (a daemon's answer), given as it is rather than made
    again (0.25 s for 21 MB)."""
    if sys.stdout.isatty():
        return json.dumps(data, indent=2) + "\n"
    return (encoded.decode("utf-8") if encoded is not None else json.dumps(data)) + "\n"


def yaml_of_json(text: str) -> str:
    """A verb's JSON output as YAML (``-o yaml``); anything else it printed, unchanged."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    from reconciler.overlays.yamlread import dump  # noqa: PLC0415 - loads PyYAML

    return dump(data)
