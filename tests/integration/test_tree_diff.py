"""Tree diffs of large folders (libgit2) give exactly what the walk gives.

A folder past ``trees._BIG`` entries is compared by libgit2; every kind of change in such
a folder must come out as the Python walk reports it (which the git repo contract pins).
The threshold is lowered here so small trees take that path.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.pygit2_adapter import trees

SIZE = 40  # entries in the big folder: past the lowered threshold


def tree_of(repo: pygit2.Repository, files: dict[str, tuple[bytes, int]]) -> pygit2.Tree:
    """A tree holding ``files`` (path -> (content, filemode)), nested folders included."""
    nested: dict[str, object] = {}
    for path, blob in files.items():
        *folders, name = path.split("/")
        at = nested
        for folder in folders:
            at = at.setdefault(folder, {})  # type: ignore[assignment]
        at[name] = blob

    def write(level: dict[str, object]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in level.items():
            if isinstance(value, dict):
                builder.insert(name, write(value), FileMode.TREE)
            else:
                blob: tuple[bytes, int] = value  # type: ignore[assignment]
                builder.insert(name, repo.create_blob(blob[0]), blob[1])
        return builder.write()

    found = repo[write(nested)]
    assert isinstance(found, pygit2.Tree)
    return found


BASE: dict[str, tuple[bytes, int]] = {
    **{
        f"overlays/dev/app{n:04d}/kustomization.yaml": (f"n{n}".encode(), FileMode.BLOB)
        for n in range(SIZE)
    },
    "overlays/dev/app0001/extra.yaml": (b"x", FileMode.BLOB),
    "overlays/dev/tool": (b"#!/bin/sh", FileMode.BLOB),
    "overlays/dev/was-file": (b"f", FileMode.BLOB),
    "overlays/dev/was-folder/a.yaml": (b"a", FileMode.BLOB),
    "README.md": (b"hi", FileMode.BLOB),
}
EDITS: dict[str, dict[str, tuple[bytes, int] | None]] = {
    "an edit": {"overlays/dev/app0007/kustomization.yaml": (b"changed", FileMode.BLOB)},
    "an addition and a deletion": {
        "overlays/dev/app9999/kustomization.yaml": (b"new", FileMode.BLOB),
        "overlays/dev/app0003/kustomization.yaml": None,
    },
    "a mode change": {"overlays/dev/tool": (b"#!/bin/sh", FileMode.BLOB_EXECUTABLE)},
    "a file turned into a link": {"overlays/dev/app0001/extra.yaml": (b"x", FileMode.LINK)},
    "a file turned into a folder": {
        "overlays/dev/was-file": None,
        "overlays/dev/was-file/k.yaml": (b"k", FileMode.BLOB),
    },
    "a folder turned into a file": {
        "overlays/dev/was-folder/a.yaml": None,
        "overlays/dev/was-folder": (b"now a file", FileMode.BLOB),
    },
    "outside the folder": {"README.md": (b"changed", FileMode.BLOB)},
    "edits far apart": {
        "overlays/dev/app0000/kustomization.yaml": (b"first", FileMode.BLOB),
        "overlays/dev/app0020/kustomization.yaml": (b"middle", FileMode.BLOB),
        "overlays/dev/was-folder/a.yaml": (b"last", FileMode.BLOB),
    },
    "a file added in a subfolder": {"overlays/dev/app0009/extra.yaml": (b"new", FileMode.BLOB)},
    "a rename of the same length": {
        "overlays/dev/app0011/kustomization.yaml": None,
        "overlays/dev/app0098/kustomization.yaml": (b"n11", FileMode.BLOB),
    },
}
# Edits that keep every name and mode of the big folder: compared by their bytes alone.
SAME_LAYOUT = {
    "an edit",
    "edits far apart",
    "a file added in a subfolder",
    "a file turned into a link",
}


def edited(what: str) -> dict[str, tuple[bytes, int]]:
    """BASE with the edit ``what`` made."""
    files = dict(BASE)
    for path, blob in EDITS[what].items():
        if blob is None:
            files.pop(path)
        else:
            files[path] = blob
    return files


@pytest.mark.parametrize("what", list(EDITS))
@pytest.mark.parametrize("prefixes", [None, ("overlays/dev",), ("overlays/dev/app0001",)])
def test_a_big_folder_compared_by_libgit2_reads_as_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, prefixes: tuple[str, ...] | None
) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    old, new = tree_of(repo, BASE), tree_of(repo, edited(what))

    monkeypatch.setattr(trees, "_BIG", 16)
    by_libgit2 = trees.file_changes(old, new, prefixes)
    by_bytes = trees.file_changes(old, new, prefixes, repo)
    monkeypatch.setattr(trees, "_BIG", 10**9)
    by_walk = trees.file_changes(old, new, prefixes)

    assert by_libgit2 == by_walk, what
    assert by_bytes == by_walk, what
    if prefixes is None:
        assert by_walk, f"{what}: the change was not seen at all"


@pytest.mark.parametrize("what", list(EDITS))
def test_a_big_folders_changed_children_are_those_whose_entries_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    # File histories look a big folder's wanted names up only where libgit2 sees a change.
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    old, new = (trees.entry(tree_of(repo, f), "overlays/dev") for f in (BASE, edited(what)))
    assert isinstance(old, pygit2.Tree)
    assert isinstance(new, pygit2.Tree)
    names = sorted({str(e.name) for e in old} | {str(e.name) for e in new} | {"absent"})

    def differs(name: str) -> bool:
        before, after = trees.entry(old, name), trees.entry(new, name)
        if before is None or after is None:
            return before is not after
        return (before.id, before.filemode) != (after.id, after.filemode)

    def expected(name: str) -> tuple[str, object, object]:
        before, after = trees.entry(old, name), trees.entry(new, name)
        return name, before and before.id, after and after.id

    monkeypatch.setattr(trees, "_BIG", 16)
    found = trees.changed_children(repo, old, new, names)
    got = [(name, a and a.id, b and b.id) for name, a, b in found]
    assert got == [expected(n) for n in names if differs(n)], what


@pytest.mark.parametrize("known", ["neither side", "the older side", "the newer side"])
@pytest.mark.parametrize("what", list(EDITS))
def test_a_big_folder_is_compared_by_its_bytes_when_only_ids_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, known: str
) -> None:
    # A folder's layout, once read, is kept and serves the next comparison from either side.
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    old, new = (trees.entry(tree_of(repo, f), "overlays/dev") for f in (BASE, edited(what)))
    assert isinstance(old, pygit2.Tree)
    assert isinstance(new, pygit2.Tree)
    monkeypatch.setattr(trees, "_LAYOUTS", BlobCache(max_entries=2))
    if known != "neither side":
        side = old if known == "the older side" else new
        assert trees.changed_entries(side, side) == []
        assert str(side.id) in trees._LAYOUTS
    found = trees.changed_entries(old, new)
    if what not in SAME_LAYOUT and old.id != new.id:
        assert found is None, what  # names or modes differ: libgit2 compares it
        return
    assert found is not None, what
    expected = sorted(
        (str(e.name), e.id, new[str(e.name)].id) for e in old if new[str(e.name)].id != e.id
    )
    assert sorted(found) == expected, what
