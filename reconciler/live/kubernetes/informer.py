"""One resource in one namespace kept current in memory: a list, then a watch from its
resourceVersion in a background thread, as the API concepts describe ("Efficient detection
of changes", https://kubernetes.io/docs/reference/using-api/api-concepts/)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

# Asked of the API server so that it ends each watch itself (api-concepts, "Watch"); the
# client's read timeout is longer, so only a connection that died silently hits it.
WATCH_SECONDS = 300
_READ_GRACE = 30.0
_BACKOFF = (0.2, 30.0)


class Gone(Exception):
    """The watch's resourceVersion is no longer served (410 Gone): only a new list helps."""


class Informer:
    """The objects of one resource in one namespace by name; ``lister`` is the client's
    ``list_namespaced_*`` and ``model`` the item's model name ("V1Pod")."""

    def __init__(
        self,
        api: ApiClient,
        lister: Callable[..., Any],
        namespace: str,
        model: str,
        *,
        timeout: float,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        self._api, self._lister, self._namespace, self._model = api, lister, namespace, model
        self._timeout, self._watch_seconds = timeout, watch_seconds
        self._lock = threading.Lock()
        self._listing = threading.Lock()  # one list at a time: a cycle's or the watch's
        self._objects: dict[str, Any] = {}
        self._version: str | None = None  # the resourceVersion the objects are current at
        self._epoch = 0  # bumped by every list: a watch begun before it is out of date
        self._watching = False  # a watch stream is open: the objects are current now
        self._current_at: float | None = None  # monotonic time they were last known current
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None

    def objects(self, max_age: float) -> dict[str, Any]:
        """The objects, listed anew unless a watch keeps them current or they were known
        current within ``max_age`` seconds; raises what the client raises when a list fails."""
        with self._listing:
            if not self._fresh(max_age):
                self._list()
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True, name="k8s-watch")
                self._thread.start()
            return dict(self._objects)

    def close(self) -> None:
        """Stop the watch and wait for its thread."""
        self._stop.set()
        self._hang_up()
        if self._thread is not None:
            self._thread.join(self._timeout + 5)

    def _fresh(self, max_age: float) -> bool:
        with self._lock:
            if self._watching:
                return True
            at = self._current_at
            return at is not None and time.monotonic() - at <= max_age

    def _list(self) -> None:
        # Not older than what is held (api-concepts, "Semantics for get and list":
        # resourceVersionMatch=NotOlderThan), so a list never takes the objects back in time;
        # the first list, and the one after a 410, is a consistent read of the latest state.
        with self._lock:
            version = self._version
        extra = (
            {"resource_version": version, "resource_version_match": "NotOlderThan"}
            if version
            else {}
        )
        answer = self._lister(self._namespace, _request_timeout=self._timeout, **extra)
        objects = {item.metadata.name: item for item in answer.items if item.metadata}
        with self._lock:
            self._objects = objects
            self._version = answer.metadata.resource_version
            self._epoch += 1
            self._current_at = time.monotonic()

    # -- the watch thread ----------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._watch()
                # The server ended the watch at its timeout: resume at once; one that ends
                # as soon as it begins (a proxy cutting streams) must not spin.
                failures = 0 if time.monotonic() - began > 1 else failures + 1
            except Gone:
                # api-concepts, "Resource versions", 410 Gone: the version is compacted
                # away; clear the cache and list again, then watch from the new version.
                failures = self._relist(failures)
            except Exception:  # the thread must live on; reads list meanwhile
                failures += 1
            finally:
                with self._lock:
                    self._watching = False
            if failures:
                self._stop.wait(min(_BACKOFF[1], _BACKOFF[0] * 2 ** (failures - 1)))

    def _relist(self, failures: int) -> int:
        with self._lock:
            self._version = None
        try:
            with self._listing:
                self._list()
        except Exception:  # tried again after the backoff
            return failures + 1
        return 0

    def _watch(self) -> None:
        with self._lock:
            version, epoch = self._version, self._epoch
        if version is None:
            raise Gone
        response = self._lister(
            self._namespace,
            watch=True,
            resource_version=version,
            # api-concepts, "Watch bookmarks": the server tells the version it has reached
            # even when nothing here changed, so a reconnect resumes from a recent one.
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_seconds,
            _preload_content=False,
            _request_timeout=(self._timeout, self._watch_seconds + _READ_GRACE),
        )
        self._response = response
        try:
            if self._stop.is_set():  # close() came before the response could be hung up
                return
            if response.status == 410:
                raise Gone
            if response.status != 200:
                raise ApiException(status=response.status, reason="watch refused")
            with self._lock:
                if epoch != self._epoch:
                    return  # a cycle listed meanwhile: watch from its version instead
                self._watching = True
                self._current_at = time.monotonic()
            for line in _lines(response):
                if self._stop.is_set() or not self._apply(json.loads(line), epoch):
                    return
        finally:
            self._response = None
            response.release_conn()
            with self._lock:
                if self._watching:
                    self._current_at = time.monotonic()

    def _apply(self, event: dict[str, Any], epoch: int) -> bool:
        kind, raw = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            # A version too old for the watch cache comes as an ERROR event holding a
            # Status with code 410 (api-concepts, "Resource versions").
            if raw.get("code") == 410:
                raise Gone
            raise ApiException(status=raw.get("code"), reason=raw.get("reason"))
        version = (raw.get("metadata") or {}).get("resourceVersion")
        obj = None
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = self._api.deserialize(json.dumps(raw), self._model, "application/json")
        with self._lock:
            if epoch != self._epoch:
                return False
            if obj is not None and obj.metadata is not None:
                if kind == "DELETED":
                    self._objects.pop(obj.metadata.name, None)
                else:
                    self._objects[obj.metadata.name] = obj
            if version:
                self._version = version
            self._current_at = time.monotonic()
        return True

    def _hang_up(self) -> None:
        response = self._response
        if response is not None:
            # Unblocks the thread's read of a quiet stream.
            with contextlib.suppress(AttributeError, OSError, urllib3.exceptions.HTTPError):
                response.shutdown()


def _lines(response: Any) -> Iterator[str]:
    """The watch's events, one JSON document a line (api-concepts, "Watch")."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line.decode("utf-8")
