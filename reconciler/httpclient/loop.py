"""The event loop an ``HttpClient`` runs its requests on: one thread, started when first
needed, holding the connection ``Pool`` between calls, stopped by ``close``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from reconciler.httpclient.pool import Pool

T = TypeVar("T")
_CLOSE_WAIT = 5.0  # seconds close() waits for connections to shut


class LoopThread:
    """Runs coroutines on its own loop thread for any number of calling threads."""

    def __init__(self, make_pool: Callable[[], Pool]) -> None:
        self._make_pool = make_pool
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: Pool | None = None
        self._sweeper: concurrent.futures.Future[None] | None = None
        self._pid = 0

    def run(self, work: Callable[[Pool], Coroutine[Any, Any, T]]) -> T:
        """Run ``work(pool)`` on the loop and wait for its result."""
        loop, pool = self._started()
        if threading.current_thread() is self._thread:
            raise RuntimeError("HttpClient called from its own event loop")
        future = asyncio.run_coroutine_threadsafe(work(pool), loop)
        try:
            return future.result()
        except BaseException:
            # The caller gave up (KeyboardInterrupt): its requests must not run on.
            future.cancel()
            raise

    def pool(self) -> Pool | None:
        """The running pool, None before the first request or after ``close``."""
        return self._pool

    def close(self) -> None:
        """Close every kept connection and stop the thread; the next call starts anew."""
        with self._lock:
            loop, pool, thread, sweeper = self._loop, self._pool, self._thread, self._sweeper
            self._loop = self._pool = self._thread = self._sweeper = None
            if loop is None or pool is None or thread is None or self._pid != os.getpid():
                return
        if threading.current_thread() is thread:
            # The client was collected on its own loop thread, which cannot wait for itself.
            threading.Thread(target=_shut, args=(loop, pool, thread, sweeper), daemon=True).start()
        else:
            _shut(loop, pool, thread, sweeper)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, Pool]:
        with self._lock:
            # A forked child inherits the loop but not its thread: it starts its own.
            if self._loop is None or self._pool is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_serve, args=(loop,), name="http-client-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._pool = asyncio.run_coroutine_threadsafe(_made(self._make_pool), loop).result()
                self._sweeper = asyncio.run_coroutine_threadsafe(self._pool.sweeping(), loop)
            return self._loop, self._pool


def _shut(
    loop: asyncio.AbstractEventLoop,
    pool: Pool,
    thread: threading.Thread,
    sweeper: concurrent.futures.Future[None] | None,
) -> None:
    if sweeper is not None:
        sweeper.cancel()
    closing = asyncio.run_coroutine_threadsafe(pool.aclose(), loop)
    try:
        closing.result(timeout=_CLOSE_WAIT)
    except Exception:  # a close that fails or hangs: stop the loop anyway
        closing.cancel()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=_CLOSE_WAIT)
    if not thread.is_alive():
        loop.close()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def _made(make_pool: Callable[[], Pool]) -> Pool:
    return make_pool()
