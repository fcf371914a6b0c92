"""Parsed pins kept for the next process: this release's file only, never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import __version__, pinstore, units
from reconciler.overlays.imageref import ImagePin

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
PINS = {
    "blob1:kustomize:gw:None": ImagePin("reg.example/gw", "v1", A),
    "blob2:kustomize:gw:None": None,  # the file mentions no image of the app
    # An app of several images: its parts are kept with it (a restart reads the same set).
    "blob3:kustomize:api=ledger;migrate=ledger-migrations": ImagePin(
        "",
        "",
        units.key({"api": A, "migrate": B}),
        (("api", ImagePin("reg.example/ledger", "", A)), ("migrate", ImagePin("m", "v2", B))),
    ),
}


def test_what_is_saved_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "cache" / pinstore.FILE
    pinstore.save(path, PINS)
    assert pinstore.load(path) == PINS
    assert [p.name for p in path.parent.iterdir()] == [pinstore.FILE]  # no temporary left


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no file yet"),
        (b"{not json", "damaged"),
        (json.dumps({"release": "0.0.0-other", "pins": {"b": None}}).encode(), "another release"),
        (json.dumps({"release": __version__, "pins": []}).encode(), "pins not a table"),
        (json.dumps([1, 2]).encode(), "not an object"),
    ],
)
def test_a_file_that_cannot_be_trusted_gives_nothing(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / pinstore.FILE
    if content is not None:
        path.write_bytes(content)
    assert pinstore.load(path) == {}, why


def test_a_malformed_entry_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / pinstore.FILE
    entries = {
        "good": ["r", "", "sha256:" + "b" * 64],
        "short": ["r", ""],
        "typed": [1, 2, 3],
        "parts damaged": ["", "", "k", [["api", ["r", ""]]]],
        "parts empty": ["", "", "k", []],
        "parts nested": ["", "", "k", [["api", ["", "", "k", [["x", ["r", "", "d"]]]]]]],
    }
    path.write_text(json.dumps({"release": __version__, "pins": entries}))
    assert pinstore.load(path) == {"good": ImagePin("r", "", "sha256:" + "b" * 64)}


def test_a_folder_that_cannot_be_written_costs_nothing_but_the_file(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way")
    pinstore.save(blocked / pinstore.FILE, PINS)  # no exception: it is a cache
    assert pinstore.load(blocked / pinstore.FILE) == {}
