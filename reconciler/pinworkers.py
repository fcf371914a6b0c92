"""Parsing thousands of overlay pins on two cores: a cold start's parsing, shared.

A daemon's first read of a 10,000-app repo parses 30,000 overlays at about 55 us each, all
of it Python driving libyaml, which holds the interpreter lock: threads cannot share it.
Where this process may use a second core, one worker process (started fresh, "spawn": the
daemon has threads, which a fork would copy mid-flight) parses chunks from the front of the
list while this process parses from the back; each takes the next chunk until they meet
(30,000 kustomizations: 1.9 s on one core, 1.3-1.7 s on two; the worker unpickles each
app and pickles each pin, so it does a little less than half).

The worker only parses bytes it is sent (``pins.read_pin``, pure) and sends back the pins.
A file the worker cannot read is left out, and so is everything when no worker can start
(no second core, no /dev/shm for its queues, a broken worker): the caller parses what is
missing itself, with its own errors. The worker ends with the batch; nothing stays running.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App

log = logging.getLogger("reconciler.pinworkers")

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


def parse_many(
    jobs: Sequence[Job],
    *,
    cores_available: Callable[[], float] | None = None,
    min_files: int | None = None,
    chunk: int = CHUNK,
    share: bool = True,
) -> dict[str, ImagePin | None]:
    """The pins of ``jobs`` by key, parsed here and in one worker process at once; empty
    (the caller parses) when there are few, or no second core, or no worker starts.
    ``share`` False leaves every chunk to the worker (tests prove its path that way)."""
    if len(jobs) < (MIN_FILES if min_files is None else min_files):
        return {}
    if (cores_available or cores)() < 2:
        return {}
    # An app's environments side by side: a chunk sends each app once (pickle shares
    # what one message repeats), not once per file.
    grouped = sorted(jobs, key=lambda job: job.app.name)
    chunks = [grouped[i : i + chunk] for i in range(0, len(grouped), chunk)]
    try:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet
        )
        futures = [pool.submit(parse_chunk, part) for part in chunks]
    except (OSError, ImportError, RuntimeError) as error:  # no /dev/shm, no semaphores
        log.info("parsing overlays on one core: no worker process (%s)", error)
        return {}
    found: dict[str, ImagePin | None] = {}
    here = 0
    try:
        # The worker takes chunks from the front; this process from the back, each one it
        # can still take back from the worker's queue, until they meet.
        for part, future in zip(reversed(chunks), reversed(futures), strict=True):
            if not share or not future.cancel():
                break
            found.update(parse_chunk(part))
            here += len(part)
        for part, future in zip(chunks, futures, strict=True):
            if not future.cancelled():
                found.update(_result(future, part))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    log.debug("parsed %d overlays here and %d in a worker", here, len(jobs) - here)
    return found


def _quiet() -> None:
    """In the worker: Ctrl-C in a terminal reaches the whole process group; the daemon
    handles it (and ends the worker), so the worker prints no traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _result(
    future: Future[list[tuple[str, ImagePin | None]]], chunk: Sequence[Job]
) -> list[tuple[str, ImagePin | None]]:
    """The worker's pins for ``chunk``, or this process's when the worker failed."""
    try:
        return future.result()
    except Exception as error:  # a worker killed, or its answer unreadable
        log.info("the overlay worker failed (%s); parsing its files here", type(error).__name__)
        return parse_chunk(chunk)
