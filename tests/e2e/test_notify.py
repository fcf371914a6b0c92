"""Notifications on a whole promotion: three replicas at once on one config repo, then a
restart, with real receivers on loopback (Slack, Teams, a signed webhook, and one failing,
one hanging, one answering 429).

Each event reaches each answering receiver exactly once, whatever replica sends it; a
restarted daemon sends nothing again; the failing receivers are retried and every attempt
is counted in reconciler_notifications_total.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import jsonschema

from reconciler.errors import ReconcilerError
from reconciler.metrics import Metrics
from reconciler.notify import generic, outbox
from reconciler.notify.delivery import Retry
from reconciler.notify.notifier import NotifyTiming
from reconciler.wiring import Factories, Wired
from tests.e2e.conftest import MakeWorld
from tests.e2e.world import CYCLE_PAUSE, NEW, OWNER, World, cycle_until
from tests.servers.endpoints import Endpoints
from tests.servers.receivers import (
    BUSY,
    FAILING,
    HANGING,
    HMAC_KEY,
    PATHS,
    delivered,
    receivers,
    sink_tables,
)

REPLICAS = 3
FAST = Factories(
    notify_timing=NotifyTiming(
        outbox=outbox.Timing(lease=timedelta(seconds=3), retry=timedelta(milliseconds=200)),
        retry=Retry(attempts=2, backoff=(0.05,), retry_after_max=2.0),
        stop_seconds=1.0,
    )
)
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "notifications.schema.json").read_text()
)
# What one promotion dev -> staging -> prod tells, per environment.
EXPECTED = {
    f"{kind}:order-gateway:{env}:{NEW}"
    for env in ("staging", "prod")
    for kind in ("opened", "merged", "live")
} | {f"waiting-review:order-gateway:prod:{NEW}"}


def counted(metrics: Metrics, sink: str, result: str) -> float:
    """reconciler_notifications_total for ``sink`` and ``result``, over every event."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "reconciler_notifications_total"
                and labels.get("sink") == sink
                and labels.get("result") == result
            ):
                total += sample.value
    return total


def test_three_replicas_and_a_restart_tell_each_event_once(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    with receivers() as endpoints:
        tables = sink_tables(endpoints, tmp_path)

        def edit(files: dict[str, bytes]) -> dict[str, bytes]:
            return {**files, "promotions.toml": files["promotions.toml"] + tables.encode()}

        world = make_world(edit=edit)
        world.ci_commit(NEW, "b7e2f90")
        world.sync()
        replicas = {f"replica-{i}": world.daemon(f"replica-{i}", FAST) for i in range(REPLICAS)}
        run_together(world, replicas, endpoints)
        metrics = [wired.metrics for wired in replicas.values()]
        for wired in replicas.values():
            wired.close()

        got = {name: delivered(endpoints, path) for name, path in PATHS.items()}
        for name, ids in got.items():
            assert set(ids) >= EXPECTED, (name, sorted(ids))
            assert [i for i, n in ids.items() if n > 1] == [], (name, ids)
        assert got["slack"].keys() == got["teams"].keys() == got["hook"].keys()
        check_generic(endpoints)

        # A restart of one replica (same cache folder): the outbox says all was told.
        before = {name: Counter(ids) for name, ids in got.items()}
        again = world.daemon("replica-0", FAST)
        for _ in range(3):
            world.step(again)
        again.close()
        assert {name: delivered(endpoints, path) for name, path in PATHS.items()} == before

        # The failing and hanging receivers were tried more than once and counted; the busy
        # one got every event after its 429.
        def total(sink: str, result: str) -> float:
            return sum(counted(m, sink, result) for m in metrics)

        assert total("failing", "error") >= 2
        assert total("hanging", "timeout") >= 2
        assert total("busy", "rate-limited") >= 1
        assert total("busy", "sent") >= 1
        assert total("hook", "sent") == sum(got["hook"].values())
        assert {r.path for r in endpoints.received} >= {FAILING, HANGING, BUSY}


def run_together(world: World, replicas: dict[str, Wired], endpoints: Endpoints) -> None:
    """The replicas cycle in their own threads while the world deploys and the code owner
    approves, until the promotion is done and the answering receivers have every event."""
    stop = threading.Event()
    crashed: list[BaseException] = []

    def loop(wired: Wired) -> None:
        while not stop.is_set():
            try:
                wired.runner.cycle()
            except ReconcilerError:
                pass  # a lost race or a fetch refused: run tries again, so does this
            except BaseException as error:
                crashed.append(error)
                return
            stop.wait(CYCLE_PAUSE)

    threads = [threading.Thread(target=loop, args=(w,)) for w in replicas.values()]
    for thread in threads:
        thread.start()
    try:
        cycle_until(
            lambda: (world.sync(), world.approve_waiting(OWNER)),
            lambda _: (
                bool(crashed)
                or (
                    world.settled(NEW)
                    and all(set(delivered(endpoints, p)) >= EXPECTED for p in PATHS.values())
                )
            ),
            "the promotion and its notifications",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert crashed == []


def check_generic(endpoints: Endpoints) -> None:
    """Every generic message is valid against the shipped schema and signed with the key."""
    with endpoints.served:
        hooks = [r for r in endpoints.received if r.path == PATHS["hook"]]
    assert hooks
    for request in hooks:
        jsonschema.validate(json.loads(request.body), SCHEMA)
        assert request.headers[generic.SIGNATURE_HEADER] == generic.signature(
            HMAC_KEY, request.body
        )
        assert request.headers[generic.EVENT_HEADER] == json.loads(request.body)["event"]
