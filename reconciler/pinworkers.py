"""A cold start's reading on two cores: overlay pins parsed, and their histories walked.

A daemon's first read of a 10,000-app repo parses 30,000 overlays at about 55 us each, all
of it Python driving libyaml, which holds the interpreter lock: threads cannot share it.
Where this process may use a second core, one worker process (started fresh, "spawn": the
daemon has threads, which a fork would copy mid-flight) is started as the read begins,
before the policy is loaded (on a guess from its text; reconciler.desired). It first walks
the overlays' histories on the clone (0.6 s at 10,000 apps) while this process reads the
files; then it parses chunks from the front of the list while this process parses from
the back, each taking the next chunk until they meet. The worker unpickles each app and
pickles each pin, so it parses a little less than half.

The worker only parses bytes it is sent (``pins.read_pin``, pure) and runs the tasks it is
handed. A file the worker cannot read is left out, and so is everything when no worker can
start (no second core, no /dev/shm for its queues, a broken worker): the caller does what
is missing itself, with its own errors. The worker ends with the read; nothing stays running.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App

log = logging.getLogger("reconciler.pinworkers")
T = TypeVar("T")

# Below this many files, starting a worker (about 0.2 s) costs more than it saves.
MIN_FILES = 4_000
CHUNK = 500  # files per hand-over: small enough that the two ends meet evenly


@dataclass(frozen=True)
class Job:
    """One file to parse: the cache key its pin is kept under, and what read_pin needs."""

    key: str
    fmt: str
    data: bytes
    path: str
    app: App


def cores(cgroup: Path = Path("/sys/fs/cgroup")) -> float:
    """The cores this process may use: its CPU affinity, bounded by a cgroup v2 quota
    (a container limited to one CPU sees every host core in its affinity)."""
    available = float(len(os.sched_getaffinity(0)))
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return available
    if quota == "max":
        return available
    try:
        return min(available, int(quota) / int(period))
    except (ValueError, ZeroDivisionError):
        return available


def parse_chunk(jobs: Sequence[Job]) -> list[tuple[str, ImagePin | None]]:
    """The pins of ``jobs``, by key; a file that does not read is left out (the caller
    parses it again and reports its error)."""
    out = []
    for job in jobs:
        try:
            out.append((job.key, pins.read_pin(job.fmt, job.data, job.path, job.app)))
        except Exception:  # the caller parses it again and words the error
            continue
    return out


class Worker:
    """One spawned process helping a cold read. It is started before the work is ready, so
    that its start (about 0.2 s) overlaps the reading that prepares the work; it runs what
    it is handed in order, then parses chunks of pins from the front of a batch."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool

    def run(self, task: Callable[[], T]) -> Future[T] | None:
        """Hand ``task`` (picklable, as a module function or a partial of one) over; None
        when the worker can take nothing more."""
        try:
            return self._pool.submit(task)
        except RuntimeError:  # the pool broke
            return None

    def parse(
        self, jobs: Sequence[Job], *, chunk: int = CHUNK, share: bool = True
    ) -> dict[str, ImagePin | None]:
        """The pins of ``jobs`` by key, parsed here and in the worker at once. ``share``
        False leaves every chunk to the worker (tests prove its path that way)."""
        # An app's environments side by side: a chunk sends each app once (pickle shares
        # what one message repeats), not once per file.
        grouped = sorted(jobs, key=lambda job: job.app.name)
        chunks = [grouped[i : i + chunk] for i in range(0, len(grouped), chunk)]
        futures = [self.run(functools.partial(parse_chunk, part)) for part in chunks]
        found: dict[str, ImagePin | None] = {}
        here = 0
        # The worker takes chunks from the front; this process from the back, each one it
        # can still take back from the worker's queue, until they meet.
        for part, future in zip(reversed(chunks), reversed(futures), strict=True):
            if future is not None and (not share or not future.cancel()):
                break
            found.update(parse_chunk(part))
            here += len(part)
        for part, future in zip(chunks, futures, strict=True):
            if future is not None and not future.cancelled():
                pins: list[tuple[str, ImagePin | None]] = outcome(
                    future, functools.partial(parse_chunk, part)
                )
                found.update(pins)
        log.debug("parsed %d overlays here and %d in a worker", here, len(jobs) - here)
        return found

    def close(self) -> None:
        """Wait for what was handed over, and end the worker process."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def start(
    files: int,
    *,
    cores_available: Callable[[], float] | None = None,
    min_files: int | None = None,
) -> Worker | None:
    """A worker, started now, for a read of ``files`` files; None where one would not pay
    (few files, no second core) or cannot start (no /dev/shm for its queues)."""
    if files < (MIN_FILES if min_files is None else min_files):
        return None
    if (cores_available or cores)() < 2:
        return None
    try:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet
        )
        pool.submit(_ready)  # a pool spawns its process at the first task handed over
    except (OSError, ImportError, RuntimeError) as error:  # no /dev/shm, no semaphores
        log.info("reading overlays on one core: no worker process (%s)", error)
        return None
    return Worker(pool)


def outcome(future: Future[T], fallback: Callable[[], T]) -> T:
    """What the worker made of a task, or ``fallback()``'s when it failed (a worker
    killed, its answer unreadable)."""
    try:
        return future.result()
    except Exception as error:
        log.info("the overlay worker failed (%s); doing its part here", type(error).__name__)
        return fallback()


def _ready() -> None:
    """Nothing: handed over first, so that the worker process starts at once."""


def _quiet() -> None:
    """In the worker: Ctrl-C in a terminal reaches the whole process group; the daemon
    handles it (and ends the worker), so the worker prints no traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
