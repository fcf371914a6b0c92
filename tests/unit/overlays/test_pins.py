"""Reading and writing an app's pin through one entry point for both overlay formats."""

from __future__ import annotations

import pytest

from reconciler.overlays.imageref import ImagePin, parse_reference
from reconciler.overlays.pins import read_pin, write_pin
from reconciler.policy.model import App, HelmKeys

D = "sha256:" + "1" * 64
APP = App(name="gw", image="reg.io/team/gw", kustomize_image="gw")

REFERENCES = [
    ("reg.io/team/gw", ImagePin("reg.io/team/gw")),
    ("reg.io/team/gw:v1", ImagePin("reg.io/team/gw", "v1")),
    (f"reg.io/team/gw@{D}", ImagePin("reg.io/team/gw", "", D)),
    (f"localhost:5000/gw:v1@{D}", ImagePin("localhost:5000/gw", "v1", D)),
    ("localhost:5000/gw", ImagePin("localhost:5000/gw")),
]


@pytest.mark.parametrize(("text", "pin"), REFERENCES)
def test_references_round_trip(text: str, pin: ImagePin) -> None:
    assert parse_reference(text) == pin
    assert pin.reference() == text


KUSTOMIZE_READS = [
    (
        "images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n",
        ImagePin("reg.io/team/gw", "v1"),
    ),
    (f"images:\n- name: gw\n  digest: {D}\n", ImagePin("gw", "", D)),
    ("images:\n- name: other\n  newTag: v1\n", None),
    ("resources: []\n", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "pin"), KUSTOMIZE_READS)
def test_read_kustomize_pin(text: str, pin: ImagePin | None) -> None:
    assert read_pin("kustomize", text.encode(), "k.yaml", APP) == pin


def test_write_then_read_both_formats() -> None:
    pin = ImagePin("reg.io/team/gw", "v2", D)
    kustomization = b"images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n"
    written = write_pin("kustomize", kustomization, "k.yaml", APP, pin)
    assert read_pin("kustomize", written, "k.yaml", APP) == pin
    values = b"image:\n  repository: reg.io/team/gw\n  tag: v1\n"
    written = write_pin("helm", values, "v.yaml", APP, pin)
    assert read_pin("helm", written, "v.yaml", APP) == pin
    single = App(name="gw", image="reg.io/team/gw", helm=HelmKeys(image="image"))
    written = write_pin("helm", b"image: reg.io/team/gw:v1\n", "v.yaml", single, pin)
    assert written == f"image: reg.io/team/gw:v2@{D}\n".encode()


def test_digest_only_pin_drops_a_stale_tag() -> None:
    kustomization = b"images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n"
    written = write_pin(
        "kustomize", kustomization, "k.yaml", APP, ImagePin("reg.io/team/gw", "", D)
    )
    assert written == f"images:\n- name: gw\n  newName: reg.io/team/gw\n  digest: {D}\n".encode()
