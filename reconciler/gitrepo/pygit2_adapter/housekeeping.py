"""The clone's objects packed now and then, as `git gc --auto` keeps a repository.

libgit2 writes each object the daemon makes (a promotion's commit and trees, the local
forge's records) as a file of its own and never packs them, and each fetch that brings
objects adds a pack. At 10,000 apps a promotion's trees take about 300 KB loose (the folder
of 10,000 overlays is one tree, written whole): 1,000 promotions left 16,000 files and
328 MB, which filled a quarter of the manifests' 1 GiB cache volume and which every process
start read (the damage check, 1 s). git's own thresholds say when: about 6,700 loose
objects (``gc.auto``, estimated from one of the 256 object folders, as git does) or more
than 50 packs (``gc.autoPackLimit``). Then one new pack, written by libgit2's pack builder,
holds every loose object and the objects of every pack but the largest (the clone's own),
and what it holds is removed: the 16,000 files became a 2 MB pack in 4-6 s.

Nothing is lost: an object is removed only once the new pack and its index are in place,
and only the packs and files read before it was written. Unreachable objects are packed
too, not judged (a cache: a damaged or swollen clone is cloned again).

The daemon packs in a process of its own (``pack_apart``, which runs ``main`` there):
the pack builder's memory, about 45 MB at its peak at 10,000 apps, ends with that process.
Built in the daemon, packing left the daemon's own memory 10-30 MB larger after each
housekeeping, for good.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from reconciler.gitrepo.pygit2_adapter.cacherepair import IDX_MAGIC

log = logging.getLogger("reconciler.gitrepo")

LOOSE_LIMIT = 6700  # git's gc.auto
PACK_LIMIT = 50  # git's gc.autoPackLimit
_SAMPLE = "17"  # the object folder git counts to estimate the loose objects
_PACK_FILES = (".bitmap", ".rev", ".mtimes", ".promisor", ".pack", ".idx")
_THREADS = 2  # the pack builder's delta search: the daemon's two cores at most
_TIMEOUT = 900.0  # seconds the packing process may take (the 16,000 files: 4-6 s)
# Run as `python -c`, not `-m`: the package imports this module first, and runpy warns
# when it then runs a module already imported.
_PROGRAM = f"import sys; from {__name__} import main; sys.exit(main(sys.argv))"


@dataclass(frozen=True)
class Packed:
    """What one housekeeping did."""

    objects: int  # written to the new pack
    loose: int  # loose object files removed
    packs: int  # packs folded into the new one
    bytes_before: int  # of those files and packs
    bytes_after: int  # of the new pack and its index
    seconds: float


def due(clone: Path) -> bool:
    """Whether ``clone`` has about ``LOOSE_LIMIT`` loose objects, or more than
    ``PACK_LIMIT`` packs (a few directory reads: asked after every fetch)."""
    try:
        with os.scandir(clone / "objects" / _SAMPLE) as entries:
            sampled = sum(1 for e in entries if len(e.name) == 38)
    except OSError:
        sampled = 0
    if sampled > (LOOSE_LIMIT + 255) // 256:
        return True
    return len(_packs(clone)) > PACK_LIMIT


def pack(repo: pygit2.Repository, clone: Path) -> Packed | None:
    """Pack ``clone``'s loose objects and every pack but its largest into one new pack and
    remove them; None when there was nothing to fold. Errors: pygit2.GitError, OSError
    (then nothing is removed)."""
    start = time.monotonic()
    loose = _loose(clone)
    packs = _packs(clone)
    folded = sorted(packs, key=lambda p: p.stat().st_size)[:-1] if packs else []
    if not loose and len(folded) < 2:
        return None
    ids: set[bytes] = set(loose)
    for found in folded:
        ids.update(_pack_ids(found.with_suffix(".idx")))
    builder = pygit2.PackBuilder(repo)
    builder.set_threads(_THREADS)
    for raw in ids:
        builder.add(pygit2.Oid(raw=raw))
    before = set(_packs(clone))
    builder.write(str(clone / "objects" / "pack"))
    written = [p for p in _packs(clone) if p not in before]
    if len(written) != 1 or not written[0].with_suffix(".idx").is_file():
        raise OSError(f"the pack builder wrote {len(written)} packs in {clone}")
    size_before = 0
    # Held alone (Clone.tidy): no other process judges the clone meanwhile. A kill between
    # a pack's files leaves an index or pack alone, which the next start repairs.
    for found in folded:
        for suffix in _PACK_FILES:
            size_before += _remove(found.with_suffix(suffix))
    for path in loose.values():
        size_before += _remove(path)
    new = written[0]
    return Packed(
        objects=builder.written_objects_count,
        loose=len(loose),
        packs=len(folded),
        bytes_before=size_before,
        bytes_after=new.stat().st_size + new.with_suffix(".idx").stat().st_size,
        seconds=time.monotonic() - start,
    )


def pack_apart(clone: Path) -> Packed | None:
    """``pack`` in a process of its own (``main``, run by the daemon's interpreter), so its
    memory goes when it ends. Errors: OSError (the process failed or took too long)."""
    try:
        done = subprocess.run(  # a fixed program, arguments as a list
            [sys.executable, "-c", _PROGRAM, str(clone)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OSError(f"packing took more than {_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        raise OSError(said[-1] if said else f"the packing process ended with {done.returncode}")
    try:
        found = json.loads(done.stdout)
        return None if found is None else Packed(**found)
    except (ValueError, TypeError):
        raise OSError(f"the packing process answered {done.stdout[:200]!r}") from None


def _packs(clone: Path) -> list[Path]:
    """The clone's packs that have an index and no ``.keep`` file (git keeps those)."""
    folder = clone / "objects" / "pack"
    try:
        names = set(os.listdir(folder))
    except OSError:
        return []
    return [
        folder / name
        for name in sorted(names)
        if name.endswith(".pack")
        and name[:-5] + ".idx" in names
        and name[:-5] + ".keep" not in names
    ]


def _loose(clone: Path) -> dict[bytes, Path]:
    """Every loose object file, by its raw id (temporary files a killed write left are not
    objects: git ignores them too)."""
    found: dict[bytes, Path] = {}
    objects = clone / "objects"
    for prefix in range(256):
        folder = objects / f"{prefix:02x}"
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if len(entry.name) == 38:
                        try:
                            raw = bytes.fromhex(folder.name + entry.name)
                        except ValueError:
                            continue
                        found[raw] = folder / entry.name
        except FileNotFoundError:
            continue
    return found


def _pack_ids(idx: Path) -> list[bytes]:
    """The object ids a version-2 pack index lists."""
    data = idx.read_bytes()
    if data[:4] != IDX_MAGIC or int.from_bytes(data[4:8], "big") != 2:
        raise OSError(f"{idx} is not a version-2 pack index")
    count = int.from_bytes(data[8 + 255 * 4 : 8 + 256 * 4], "big")
    table = 8 + 256 * 4
    return [data[table + 20 * n : table + 20 * (n + 1)] for n in range(count)]


def _remove(path: Path) -> int:
    """Remove ``path`` if it is there; its size, or 0."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def main(argv: list[str]) -> int:
    """``pack`` the clone at ``argv[1]``: what it did, as JSON, on stdout (for ``pack_apart``)."""
    clone = Path(argv[1])
    try:
        done = pack(pygit2.Repository(str(clone)), clone)
    except (pygit2.GitError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(dataclasses.asdict(done) if done is not None else None))
    return 0
