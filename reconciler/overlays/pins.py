"""Which image an environment's overlay pins for an app, and pinning another: one entry point
for both overlay formats. What is read is checked by the image grammar (``pincheck``)."""

from __future__ import annotations

from reconciler import units
from reconciler.overlays import helm, kustomize, pincheck
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.yamldoc import YMap
from reconciler.overlays.yamlread import parse
from reconciler.policy.model import App

Format = str  # "kustomize" | "helm", as Environment.format


def read_pin(fmt: Format, data: bytes, file: str, app: App) -> ImagePin | None:
    """The pin of ``app`` in an overlay file, or None when the file does not mention it.

    The app's `images` entry is the one named as the first of ``app.image_names`` that
    names one: exactly, else in the normalised form (``kustomize.same_name``). An app of
    several images gets one pin holding each part the file mentions (``ImagePin.parts``);
    its digest is the unit's key only when every part is there, pinned by digest.
    """
    if app.is_unit:
        found = [(name, read_pin(fmt, data, file, part)) for name, part in app.parts()]
        parts = tuple((name, pin) for name, pin in found if pin is not None)
        if not parts:
            return None
        digest = units.key({name: pin.digest for name, pin in found if pin is not None})
        return ImagePin("", "", digest if len(parts) == len(found) else "", parts)
    if fmt == "helm":
        return helm.read_pin(data, file, app.helm)
    entries = _images(data, file)
    index = _named(app, [image.name for image, _ in entries])
    return pincheck.kustomize_entry(file, entries[index][1]) if index is not None else None


def others_only(data: bytes, file: str, app: App) -> tuple[int, int, list[str]] | None:
    """Where a kustomization's `images` list starts and the names in it, when it has
    entries and none is ``app``'s (the daemon would find no pin); None otherwise. Errors:
    PolicyError (a malformed list: the plan says so)."""
    entries = _images(data, file)
    names = [image.name for image, _ in entries]
    if not entries or _named(app, names) is not None:
        return None
    span = entries[0][1].span
    return span.line, span.column, names


def _images(data: bytes, file: str) -> list[tuple[kustomize.Image, YMap]]:
    """A kustomization's `images` entries, read with nothing else of the file kept."""
    return kustomize.read_images(parse(data, file, keep=(kustomize.IMAGES,)), file)


def _named(app: App, names: list[str]) -> int | None:
    """Which of an overlay's `images` entry ``names`` is the app's, or None."""
    for wanted in app.image_names:
        if wanted in names:
            return names.index(wanted)
        for index, name in enumerate(names):
            if kustomize.same_name(name, wanted):
                return index
    return None


def write_pin(fmt: Format, data: bytes, file: str, app: App, pin: ImagePin) -> bytes:
    """``data`` with ``app`` pinned to ``pin``; only the bytes of changed values differ. An
    app of several images has every part of ``pin`` written, in one edit of the file."""
    if app.is_unit:
        wanted = dict(pin.parts)
        if fmt == "helm":
            for name, part in app.parts():
                data = helm.write_pin(data, file, part.helm, wanted[name])
            return data
        return kustomize.set_images(
            data, file, [_entry(part, wanted[name]) for name, part in app.parts()]
        )
    if fmt == "helm":
        return helm.write_pin(data, file, app.helm, pin)
    return kustomize.set_images(data, file, [_entry(app, pin, data, file)])


def _entry(app: App, pin: ImagePin, data: bytes = b"", file: str = "") -> kustomize.Image:
    """The `set image` of ``pin`` for ``app``, under the entry name the file (``data``)
    already uses for the app, else ``app.image_name``."""
    name = app.image_name
    if len(app.image_names) > 1:
        entries = _images(data, file)
        names = [image.name for image, _ in entries]
        found = _named(app, names)
        name = names[found] if found is not None else name
    # The text decides whether newName is written, not the normalised name: a pin whose
    # repository is written as the entry's name needs none.
    new_name = "" if pin.repository == name else pin.repository
    return kustomize.Image(name, new_name, pin.tag, pin.digest)
