"""The files of an app of several images whose parts are pinned in files of their own
(`[apps.NAME.images.PART] overlay`): which file pins which parts in an environment, and the
unit's pin read and written as one over those files, and whether a Kustomize overlay takes
in its part folders (`doctor`, `validate`).

A part's overlay is a folder under the environment's overlay folder holding its own
kustomization (kustomize), or a values file beside the environment's values file (helm).
No I/O: paths come from the policy and the folder names and files a caller reads, pins from
bytes (parsed by reconciler.overlays, as every overlay is).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Iterable
from types import MappingProxyType

from reconciler import units
from reconciler.errors import PolicyError
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays import kustomize
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App
from reconciler.policy.values import fill

Group = tuple[str, App]  # a file and the app narrowed to the parts pinned there
Layout = tuple[tuple[str, tuple[str, ...]], ...]  # each file and the part names it pins
Names = Callable[[str], tuple[str, ...]]  # a folder's entry names (() when no folder)
# A folder's kustomization `resources` and `components`; None when it holds no kustomization.
Includes = Callable[[str], tuple[str, ...] | None]


def part_path(fmt: str, main: str, overlay: str, app: str, names: Names) -> str:
    """The file of a part whose overlay is ``overlay``, in the environment whose own file
    is ``main``; PolicyError when a kustomize folder has no kustomization."""
    folder = main.rpartition("/")[0]
    where = f"{folder}/{fill(overlay, app=app)}" if folder else fill(overlay, app=app)
    if fmt == "helm":
        return where
    found = set(names(where))
    for name in KUSTOMIZATION_FILES:
        if name in found:
            return f"{where}/{name}"
    raise PolicyError(f"{where} has no kustomization.yaml (the overlay of a part of {app})")


def groups(fmt: str, main: str, app: App, names: Names) -> tuple[Group, ...]:
    """Each file pinning a part of ``app``, the environment's own file first, with the app
    narrowed to the parts there; ``((main, app),)`` when that file pins them all."""
    if not app.images or not app.has_part_files:
        return ((main, app),)
    by_file: dict[str, list[str]] = {}
    for name, part in sorted(app.images.items()):
        path = main if not part.overlay else part_path(fmt, main, part.overlay, app.name, names)
        by_file.setdefault(path, []).append(name)
    return regroup(app, tuple((path, tuple(by_file[path])) for path in _ordered(by_file, main)))


def layout(found: tuple[Group, ...], main: str) -> Layout:
    """What ``OverlayState.part_files`` keeps of ``found``: () when ``main``, the
    environment's own file, pins every part."""
    if len(found) == 1 and found[0][0] == main:
        return ()
    return tuple((path, tuple(sorted(app.images))) for path, app in found)


def regroup(app: App, kept: Layout) -> tuple[Group, ...]:
    """The groups a ``layout`` was made of, for ``app``."""
    return tuple((path, narrow(app, names)) for path, names in kept)


def narrow(app: App, names: Iterable[str]) -> App:
    """``app`` with only the parts ``names`` (one file's share of a unit)."""
    return dataclasses.replace(
        app, images=MappingProxyType({name: app.images[name] for name in names})
    )


def combine(app: App, pins: Iterable[ImagePin | None]) -> ImagePin | None:
    """One pin of the unit ``app`` from its files' pins (each holding its own parts); its
    digest is the unit's key only when every part is pinned by digest."""
    parts = sorted((part for pin in pins if pin is not None for part in pin.parts), key=_name)
    if not parts:
        return None
    digests = {name: pin.digest for name, pin in parts}
    whole = len(digests) == len(app.images)
    return ImagePin("", "", units.key(digests) if whole else "", tuple(parts))


def share(pin: ImagePin, app: App) -> ImagePin:
    """``pin``, a whole unit's, with only the parts of ``app`` (one file's)."""
    parts = tuple((name, part) for name, part in pin.parts if name in app.images)
    return ImagePin("", "", units.key({name: part.digest for name, part in parts}), parts)


def unreached(main: str, parts: Iterable[str], includes: Includes) -> list[str]:
    """The part files of ``parts`` that the kustomization ``main`` does not take in through
    its `resources` or `components`, directly or through the kustomizations it includes: a
    render of the environment would not run what they pin."""
    seen: set[str] = set()
    pending = [main.rpartition("/")[0]]
    while pending:
        folder = pending.pop()
        if folder in seen:
            continue
        seen.add(folder)
        for entry in includes(folder) or ():
            target = posixpath.normpath(f"{folder}/{entry}") if folder else entry
            if target not in seen and includes(target) is not None:
                pending.append(target)
    return [path for path in parts if path.rpartition("/")[0] not in seen]


def includes_in(names: Names, read: Callable[[str], bytes | None]) -> Includes:
    """``Includes`` of a tree read through ``names`` and ``read``: each folder's
    kustomization `resources` and `components` (() when it cannot be parsed: the overlay's
    own read reports that)."""

    def includes(folder: str) -> tuple[str, ...] | None:
        found = set(names(folder))
        for name in KUSTOMIZATION_FILES:
            if name in found:
                try:
                    return kustomize.includes(read(f"{folder}/{name}") or b"", name)
                except PolicyError:
                    return ()
        return None

    return includes


def _ordered(by_file: dict[str, list[str]], main: str) -> list[str]:
    return sorted(by_file, key=lambda path: (path != main, path))


def _name(part: tuple[str, ImagePin]) -> str:
    return part[0]
