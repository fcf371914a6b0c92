"""One writing reconciler per cache folder: an exclusive flock held for the process's life.

Two daemons on one ``--cache-dir`` would both see a promotion missing and both open it.
``run`` and ``once`` take ``OWNER_FILE`` in the folder with flock(LOCK_EX | LOCK_NB) and
never release it: the OS does, when the process ends in any way, SIGKILL included, so no
stale lock is ever left to clean up. The file holds the owner's pid, for the message only.
It is a file of its own, not the folder: the git adapter flocks the folder itself around
writes to its clones, and flocks on one inode from two descriptors would block each other.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PermanentError, ReconcilerError, os_reason

OWNER_FILE = "reconciler.owner"


class CacheInUse(ReconcilerError):
    """Another live process holds the cache folder."""


@dataclass(frozen=True)
class CacheLock:
    """The held lock: keep a reference for as long as the process may write the cache."""

    path: Path
    fd: int

    def release(self) -> None:
        """Give the folder up before the process ends (tests; a process never needs to)."""
        os.close(self.fd)


def lock_cache(folder: Path) -> CacheLock:
    """Hold ``folder`` for this process; CacheInUse when another process holds it."""
    path = folder / OWNER_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        reason = os_reason(exc)
        raise PermanentError(
            f"cannot use the cache folder {folder}: {reason}; give a writable --cache-dir "
            "(RECONCILER_CACHE_DIR)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _owner(fd)
        os.close(fd)
        raise CacheInUse(
            f"the cache folder {folder.resolve()} is held by another reconciler "
            f"({owner}); two on one cache would open duplicate requests: give this one its "
            "own --cache-dir (RECONCILER_CACHE_DIR), or stop the other"
        ) from None
    except OSError:
        # A file system without flock (some network mounts): nothing to coordinate with.
        return CacheLock(path, fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return CacheLock(path, fd)


def _owner(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "a process that is still starting"
