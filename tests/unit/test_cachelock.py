"""The cache folder's owner lock, in one process (test_run_process.py runs two daemons)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from reconciler.daemon.cachelock import OWNER_FILE, CacheInUse, lock_cache
from reconciler.errors import PermanentError


def test_a_held_folder_is_refused_with_its_owner_and_free_again_once_released(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache" / "nested"  # made when missing
    held = lock_cache(folder)
    with pytest.raises(CacheInUse) as refused:
        lock_cache(folder)
    message = str(refused.value)
    assert f"the cache folder {folder.resolve()} is held by another reconciler" in message
    assert f"(pid {os.getpid()})" in message
    assert "give this one its own --cache-dir (RECONCILER_CACHE_DIR)" in message
    held.release()
    lock_cache(folder).release()


def test_the_lock_is_its_own_file_so_the_git_adapters_folder_flock_is_unaffected(
    tmp_path: Path,
) -> None:
    held = lock_cache(tmp_path)
    assert held.path == tmp_path / OWNER_FILE
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if we held it
    finally:
        os.close(folder)
        held.release()


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PermanentError, match=r"cannot use the cache folder .*--cache-dir"):
        lock_cache(blocker / "cache")
