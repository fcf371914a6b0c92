"""Parsed overlay pins kept on disk beside the clone, so that a new process (`status`,
`plan`, `once`, a restarted daemon) need not parse every overlay again.

Entries are keyed as in memory (blob id, format, image name, Helm keys): a blob id names
its bytes, so an entry never goes stale. The file is a reconciler.keptfile: another
release's, or a damaged one, costs a parse, never a wrong pin.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler import keptfile
from reconciler.overlays.imageref import ImagePin

FILE = "pins.json"


def load(path: Path) -> dict[str, ImagePin | None]:
    """The pins a process saved at ``path``; empty when there are none of this release."""
    out: dict[str, ImagePin | None] = {}
    for key, value in keptfile.load(path, "pins").items():
        if value is None:
            out[key] = None
        else:
            pin = _pin(value)
            if pin is not None:
                out[key] = pin.shared()
    return out


def _pin(value: object) -> ImagePin | None:
    """``[repository, tag, digest]``, or for an app of several images the same with its
    parts, ``[[name, [repository, tag, digest]], ...]``, fourth; None when damaged."""
    if not isinstance(value, list) or len(value) not in (3, 4):
        return None
    if not all(isinstance(v, str) for v in value[:3]):
        return None
    parts: list[tuple[str, ImagePin]] = []
    for item in value[3] if len(value) == 4 and isinstance(value[3], list) else ():
        part = _pin(item[1]) if isinstance(item, list) and len(item) == 2 else None
        if part is None or not isinstance(item[0], str) or part.parts:
            return None
        parts.append((item[0], part))
    if len(value) == 4 and not parts:
        return None
    return ImagePin(value[0], value[1], value[2], tuple(parts))


def _saved(pin: ImagePin) -> list[object]:
    """What ``_pin`` reads back as ``pin``."""
    out: list[object] = [pin.repository, pin.tag, pin.digest]
    if pin.parts:
        out.append([[name, _saved(part)] for name, part in pin.parts])
    return out


def save(path: Path, entries: Mapping[str, ImagePin | None]) -> None:
    """Write ``entries`` to ``path`` whole (reconciler.keptfile); a failure costs nothing
    but the file."""
    keptfile.save(path, "pins", {k: None if p is None else _saved(p) for k, p in entries.items()})
