"""Which image an environment's overlay pins for an app, and pinning another: one entry point
for both overlay formats. What is read is checked by the image grammar (``pincheck``)."""

from __future__ import annotations

from reconciler.overlays import helm, kustomize, pincheck
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.yamlread import parse
from reconciler.policy.model import App

Format = str  # "kustomize" | "helm", as Environment.format


def read_pin(fmt: Format, data: bytes, file: str, app: App) -> ImagePin | None:
    """The pin of ``app`` in an overlay file, or None when the file does not mention it.

    The app's `images` entry is the one named exactly as ``app.image_name``, else the first
    naming the same repository in the normalised form (``kustomize.same_name``).
    """
    if fmt == "helm":
        return helm.read_pin(data, file, app.helm)
    entries = kustomize.read_images(parse(data, file, keep=(kustomize.IMAGES,)), file)
    wanted = app.image_name
    exact = [node for image, node in entries if image.name == wanted]
    alike = exact or [node for image, node in entries if kustomize.same_name(image.name, wanted)]
    return pincheck.kustomize_entry(file, alike[0]) if alike else None


def write_pin(fmt: Format, data: bytes, file: str, app: App, pin: ImagePin) -> bytes:
    """``data`` with ``app`` pinned to ``pin``; only the bytes of changed values differ."""
    if fmt == "helm":
        return helm.write_pin(data, file, app.helm, pin)
    # The text decides whether newName is written, not the normalised name: a pin whose
    # repository is written as the entry's name needs none.
    new_name = "" if pin.repository == app.image_name else pin.repository
    entry = kustomize.Image(app.image_name, new_name, pin.tag, pin.digest)
    return kustomize.set_images(data, file, [entry])
