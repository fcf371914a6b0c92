"""A cache file beside the clone that one process writes whole and the next one reads.

The document names the release that wrote it; another release's file is ignored, since its
parsers and checks may answer differently. It is a cache: a file that is missing, damaged or
cannot be written costs the work again. A file someone wrote to can mislead what a process
observes, as the clone beside it could (whoever can write one can write the other), never
what it merges: a head is proven again right before each merge (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler import __version__

log = logging.getLogger("reconciler.desired")


def load(path: Path, field: str) -> dict[str, object]:
    """The table ``field`` this release saved at ``path``; empty when there is none."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("release") != __version__:
        return {}
    entries = document.get(field)
    return entries if isinstance(entries, dict) else {}


def save(path: Path, field: str, entries: Mapping[str, object]) -> None:
    """Write ``entries`` as the table ``field`` of ``path``, whole (another process reads the
    old file or the new one, never a mix); a failure is logged at DEBUG and otherwise
    ignored."""
    document = {"release": __version__, field: dict(entries)}
    data = json.dumps(document, separators=(",", ":")).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("could not keep %s in %s: %s", field, path, exc.strerror)
