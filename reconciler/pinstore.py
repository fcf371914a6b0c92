"""Parsed overlay pins kept on disk beside the clone, so that a new process (`status`,
`plan`, `once`, a restarted daemon) need not parse every overlay again.

Entries are keyed as in memory (blob id, format, image name, Helm keys): a blob id names
its bytes, so an entry never goes stale. The file names the release that wrote it; another
release's file is ignored, since its parser may read overlays differently. It is a cache:
a file that is missing, damaged or cannot be written costs a parse, never a wrong pin
(anyone who can write it can write the clone beside it too).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler import __version__
from reconciler.overlays.imageref import ImagePin

FILE = "pins.json"
log = logging.getLogger("reconciler.desired")


def load(path: Path) -> dict[str, ImagePin | None]:
    """The pins a process saved at ``path``; empty when there are none of this release."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("release") != __version__:
        return {}
    entries = document.get("pins")
    if not isinstance(entries, dict):
        return {}
    out: dict[str, ImagePin | None] = {}
    for key, value in entries.items():
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
    """Write ``entries`` to ``path`` whole (another process reads the old file or the new
    one, never a mix); a failure is logged at DEBUG and otherwise ignored."""
    pins = {key: None if pin is None else _saved(pin) for key, pin in entries.items()}
    data = json.dumps({"release": __version__, "pins": pins}, separators=(",", ":")).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".pins-", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("could not keep the parsed pins in %s: %s", path, exc.strerror)
