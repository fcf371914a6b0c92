"""Cache files beside the clone: this release's table only, and damaged entries left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import __version__, keptfile
from reconciler.forge import landing
from reconciler.gitrepo.port import FileChange


def test_a_table_is_read_back_as_saved_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "heads.json"
    keptfile.save(path, "heads", {"c1": True, "c2": False})
    assert keptfile.load(path, "heads") == {"c1": True, "c2": False}
    assert keptfile.load(path, "pins") == {}  # another table's name reads nothing
    assert [p.name for p in path.parent.iterdir()] == ["heads.json"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no file yet"),
        ("{not json", "damaged"),
        (json.dumps({"release": "0.0.0-other", "heads": {"c": True}}), "another release"),
        (json.dumps({"release": __version__, "heads": [1]}), "not a table"),
        (json.dumps(["heads"]), "not an object"),
    ],
)
def test_a_file_that_cannot_be_trusted_reads_empty(
    tmp_path: Path, content: str | None, why: str
) -> None:
    path = tmp_path / "heads.json"
    if content is not None:
        path.write_text(content)
    assert keptfile.load(path, "heads") == {}, why


def test_a_landing_file_entry_that_is_malformed_is_worked_out_again(tmp_path: Path) -> None:
    a, b = "a" * 40, "b" * 40
    entries = {
        "good": [a, [["overlays/prod/gw/kustomization.yaml", a, b]]],
        "added": [None, [["x.yaml", None, b]]],
        "short change": [a, [["x.yaml", a]]],
        "typed path": [a, [[1, a, b]]],
        "no changes list": [a, "x.yaml"],
        "parent typed": [7, []],
        "not a pair": [a],
    }
    path = tmp_path / landing.FILE
    keptfile.save(path, "heads", entries)
    found = landing.read_kept(keptfile.load(path, "heads"))
    assert found == {
        "good": (a, (FileChange("overlays/prod/gw/kustomization.yaml", a, b),)),
        "added": (None, (FileChange("x.yaml", None, b),)),
    }
