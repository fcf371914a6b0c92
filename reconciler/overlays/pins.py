"""Which image an environment's overlay pins for an app, and pinning another: one entry point
for both overlay formats."""

from __future__ import annotations

from reconciler.overlays import helm, kustomize
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.yamlread import parse
from reconciler.policy.model import App

Format = str  # "kustomize" | "helm", as Environment.format


def read_pin(fmt: Format, data: bytes, file: str, app: App) -> ImagePin | None:
    """The pin of ``app`` in an overlay file, or None when the file does not mention it."""
    if fmt == "helm":
        return helm.read_pin(data, file, app.helm)
    for image, _ in kustomize.read_images(parse(data, file), file):
        if image.name == app.image_name:
            return ImagePin(image.newName or image.name, image.newTag, image.digest)
    return None


def write_pin(fmt: Format, data: bytes, file: str, app: App, pin: ImagePin) -> bytes:
    """``data`` with ``app`` pinned to ``pin``; only the bytes of changed values differ."""
    if fmt == "helm":
        return helm.write_pin(data, file, app.helm, pin)
    new_name = "" if pin.repository == app.image_name else pin.repository
    entry = kustomize.Image(app.image_name, new_name, pin.tag, pin.digest)
    return kustomize.set_images(data, file, [entry])
