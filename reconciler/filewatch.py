"""Wakes the daemon when a local config repo changes; the only watchfiles user.

In a git repository only references matter: the daemon reads commits, and a commit becomes
visible through ``refs/`` (loose refs), ``packed-refs`` or ``reftable/``. Object writes,
reflogs, index and worktree edits are ignored, and so are git's ``*.lock`` files, whose
rename into place is the change itself. A folder that is not a git repository counts every
change. Bursts (a push writes several refs) are grouped by watchfiles' debounce, and the
daemon collapses whatever still arrives during a cycle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from watchfiles import Change, watch

_REF_FILES = frozenset({"packed-refs"})
_REF_FOLDERS = frozenset({"refs", "reftable"})


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


@dataclass(frozen=True)
class WatchScope:
    """The folder to watch and which changes under it are worth a cycle."""

    root: Path
    refs_only: bool

    def relevant(self, path: str) -> str | None:
        """``path`` relative to the root when it is worth a cycle, else None."""
        try:
            relative = PurePath(path).relative_to(self.root)
        except ValueError:
            return None
        parts = relative.parts
        if not parts:
            return None
        if not self.refs_only:
            return relative.as_posix()
        if parts[-1].endswith(".lock"):
            return None
        if parts[0] in _REF_FOLDERS or (len(parts) == 1 and parts[0] in _REF_FILES):
            return relative.as_posix()
        return None


def scope_for(path: Path) -> WatchScope:
    """A bare repo, a repo's ``.git`` folder (refs only), or any other folder (everything)."""
    root = path.resolve()
    if _is_git_dir(root):
        return WatchScope(root, refs_only=True)
    if _is_git_dir(root / ".git"):
        return WatchScope(root / ".git", refs_only=True)
    return WatchScope(root, refs_only=False)


def describe(paths: Iterable[str]) -> str:
    """One short line naming what changed: the first path and how many more."""
    ordered = sorted(set(paths))
    if not ordered:
        return "nothing"
    more = len(ordered) - 1
    return ordered[0] + (f" and {more} more" if more else "")


class FileWatcher:
    """Calls ``on_change`` (from its own thread) with a short description of each change burst.

    ``ready_ms`` bounds how long ``wait_ready`` may take: watchfiles reports nothing once the
    OS watch is in place, so readiness is its first (empty) report after that many ms.
    """

    def __init__(
        self,
        path: Path,
        on_change: Callable[[str], None],
        *,
        debounce_ms: int = 1600,
        step_ms: int = 50,
        ready_ms: int = 200,
        logger: logging.Logger | None = None,
    ) -> None:
        self.scope = scope_for(path)
        self._on_change = on_change
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._ready_ms = ready_ms
        self._log = logger or logging.getLogger(__name__)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._watching = False
        self._thread = threading.Thread(target=self._run, name="filewatch", daemon=True)

    def start(self) -> FileWatcher:
        """Start watching on a background thread; returns self."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """The watching thread is running."""
        return self._thread.is_alive()

    def wait_ready(self, timeout: float) -> bool:
        """Block until changes are being watched (True), or watching failed or timed out."""
        return self._ready.wait(timeout) and self._watching

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        def keep(_change: Change, path: str) -> bool:
            return self.scope.relevant(path) is not None

        try:
            # A finite rust_timeout with yield_on_timeout is what tells us the watch is in place.
            for changes in watch(
                self.scope.root,
                watch_filter=keep,
                debounce=self._debounce_ms,
                step=self._step_ms,
                stop_event=self._stop,
                rust_timeout=self._ready_ms,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                if not self._ready.is_set():
                    self._watching = True
                    self._ready.set()
                relevant = [r for _, p in changes if (r := self.scope.relevant(p)) is not None]
                if relevant:
                    self._on_change(describe(relevant))
        except Exception as exc:
            # Only the type: watchfiles' messages are not ours to vouch for.
            self._log.warning(
                "cannot watch %s for changes (%s); cycles run on poll_interval only",
                self.scope.root,
                type(exc).__name__,
                extra={"path": str(self.scope.root), "error": type(exc).__name__},
            )
        finally:
            self._ready.set()
