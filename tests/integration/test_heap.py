"""heap.release gives a fragmented C heap's free pages back to the system (glibc)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

from benchmarks.generate import generate
from reconciler import heap
from reconciler.settings import Settings
from reconciler.wiring import build

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def resident_mb() -> float:
    """This process's resident set (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for text in status:
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; elsewhere release does nothing")
def test_release_gives_back_the_pages_a_cycle_freed_around_what_it_kept() -> None:
    assert heap.can_release()
    # 80 MB of 2 KB chunks (past Python's small-object allocator: glibc's heap), of which
    # every 64th stays alive, the last one included: the heap's top cannot shrink, and
    # freeing alone leaves the pages between resident, as after a cycle that read thousands
    # of overlays and kept their pins.
    chunks = [bytes(2048) for _ in range(40_000)]
    kept = chunks[63::64]
    del chunks
    before = resident_mb()
    heap.release()
    after = resident_mb()
    assert len(kept) == 625
    assert before - after > 40, (before, after)


def test_the_daemon_gives_the_heap_back_after_every_cycle_and_its_hooks(tmp_path: Path) -> None:
    wired = build(Settings(repo=str(generate(tmp_path / "remote.git", 2)), cache_dir=tmp_path))
    try:
        assert wired.runner.after[-1] is heap.release
        wired.runner.cycle()  # the hook takes the cycle's report
    finally:
        wired.close()
