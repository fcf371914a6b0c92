"""Probes of the source environment's endpoints for HTTP gates: requests in, Samples out.

``HttpProber`` implements the port ``reconciler.gates.port.Prober`` over
``reconciler.httpclient``. A round of probes for many apps is sent as one batch on the
client's asyncio loop with a bound on requests in flight: each probe is cancelled at its
own timeout, so one hanging endpoint holds one slot for its timeout and delays no other
probe (threads could not interrupt a blocked read, and would cost a thread per slot).

A round is also bounded as a whole: a probe starts only when its timeout ends within the
round's budget, and a stop (the daemon's SIGTERM, SIGINT, SIGHUP) cancels the probes in
flight. A probe not taken gets no sample, not a failed one: it is probed next round, and
the observer puts the least recently probed first, so every probe gets its turn.

Header values from ``headers_from_env`` and ``headers_from_file`` are read at probe time
(a rotated secret is picked up by the next round) and never appear in a Sample.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.clock import utc_now
from reconciler.errors import os_reason
from reconciler.gates import Sample
from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.policy.model import MAX_GATE_TIMEOUT, HttpGate
from reconciler.policy.values import fill

_SHOWN = 40  # longest JSON value quoted in a sample's detail
# A round of probes ends within this, so a cycle does too however many endpoints hang. Twice
# the longest gate timeout: every probe fits when it starts first, and a round still takes
# probes that wait for a free slot while the first ones hang.
PROBE_BUDGET = 2 * MAX_GATE_TIMEOUT

log = logging.getLogger("reconciler.probes")


class HttpProber:
    """The real prober: HTTP requests built from each gate, judged by its expectations."""

    def __init__(
        self,
        client: HttpClient,
        *,
        concurrency: int = 32,
        clock: Callable[[], datetime] = utc_now,
        environ: Mapping[str, str] | None = None,
        budget: timedelta = PROBE_BUDGET,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        """``environ`` is where ``headers_from_env`` look (default: the process's);
        ``budget`` bounds a round; once ``stopping()`` is true, a round ends at once."""
        self._client = client
        self._concurrency = concurrency
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._budget = budget
        self._stopping = stopping

    def probe(self, requests: Sequence[ProbeRequest]) -> list[Sample]:
        """Probe ``requests`` concurrently within the budget; samples carry the round's
        start time, and requests left out get none (see the module docstring)."""
        taken_at = self._clock()
        deadline = time.monotonic() + self._budget.total_seconds()
        prepared = [self._prepare(r) for r in requests]
        outcomes = iter(
            self._client.send_within(
                [p for p in prepared if isinstance(p, HttpRequest)],
                concurrency=self._concurrency,
                deadline=deadline,
                stopping=self._stopping,
            )
        )
        samples = []
        for request, ready in zip(requests, prepared, strict=True):
            if isinstance(ready, str):
                ok, detail, status = False, ready, None
            else:
                outcome = next(outcomes)
                if outcome is None:
                    continue
                ok, detail, status = judge(request.gate, outcome)
            samples.append(
                Sample(
                    gate=request.gate.name,
                    app=request.app,
                    env=request.env,
                    taken_at=taken_at,
                    ok=ok,
                    detail=detail,
                    live_digest=request.live_digest,
                    status=status,
                )
            )
        self._report(len(requests) - len(samples), len(requests))
        return samples

    def _report(self, left: int, total: int) -> None:
        if not left:
            return
        if self._stopping():
            log.info(
                "probing stopped: the daemon is stopping; %d of %d probes not taken "
                "(no sample, none failed)",
                left,
                total,
                extra={"event": "probes-stopped", "not_taken": left},
            )
            return
        log.warning(
            "%d of %d probes did not fit in this cycle's probing budget of %gs and are "
            "taken next cycle (endpoints that hang, or long gate timeouts, use it up)",
            left,
            total,
            self._budget.total_seconds(),
            extra={"event": "probes-deferred", "not_taken": left},
        )

    def _prepare(self, request: ProbeRequest) -> HttpRequest | str:
        """The HTTP request for ``request``, or why it cannot be sent."""
        gate = request.gate
        headers = dict(gate.headers)
        for name, variable in gate.headers_from_env.items():
            value = self._environ.get(variable)
            if not value:
                return f"environment variable {variable} (for header {name}) is not set"
            headers[name] = value
        for name, path in gate.headers_from_file.items():
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                reason = os_reason(exc)
                return f"cannot read {path} (for header {name}): {reason}"
            except UnicodeDecodeError:
                return f"{path} (for header {name}) is not UTF-8 text"
            if not value:
                return f"{path} (for header {name}) is empty"
            headers[name] = value
        return HttpRequest(
            method=gate.method,
            url=fill(gate.url, app=request.app, env=request.env),
            headers=headers,
            timeout=gate.timeout,
            max_body_bytes=gate.max_body_bytes,
            redirects=gate.follow_redirects,
            private_redirects=request.private_redirects,
        )


def judge(gate: HttpGate, outcome: HttpResponse | HttpError) -> tuple[bool, str, int | None]:
    """(ok, detail, status) of one response against the gate's expectations."""
    if isinstance(outcome, HttpError):
        return False, str(outcome), None
    status = outcome.status
    if status not in gate.expect_status:
        expected = " or ".join(str(s) for s in gate.expect_status)
        return False, f"status {status}, expected {expected}", status
    if gate.expect_json is not None:
        try:
            document = json.loads(outcome.body)
        except ValueError:
            return False, f"status {status}, but the body is not JSON", status
        for path, wanted in gate.expect_json.items():
            found, value = lookup(document, path)
            if not found:
                return False, f"status {status}, but JSON field {path} is missing", status
            if not same_json(value, wanted):
                return (
                    False,
                    f"status {status}, but JSON field {path} is {_show(value)}, "
                    f"expected {_show(wanted)}",
                    status,
                )
    if gate.expect_body is not None:
        text = outcome.body.decode("utf-8", errors="replace")
        if re.search(gate.expect_body, text) is None:
            return False, f"status {status}, but the body does not match {gate.expect_body}", status
    return True, f"status {status}", status


def lookup(document: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (``checks.0.status``: keys, and indexes into arrays)."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def same_json(value: Any, wanted: Any) -> bool:
    """JSON equality as a person means it: 1 == 1.0, but true != 1 and "1" != 1."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value == wanted
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        return value == wanted
    if isinstance(value, list) and isinstance(wanted, list):
        return len(value) == len(wanted) and all(map(same_json, value, wanted))
    if isinstance(value, dict) and isinstance(wanted, dict):
        return value.keys() == wanted.keys() and all(same_json(value[k], wanted[k]) for k in value)
    return type(value) is type(wanted) and bool(value == wanted)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
