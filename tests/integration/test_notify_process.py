"""A real `reconciler run` process tells a drift to Slack once, across a SIGTERM and a
restart, while another sink hangs: the stop is not held by the hanging receiver (bounded,
then the attempt is cut), the restarted daemon sends nothing again to the receiver that
answered, and the hanging one, never answered, is tried again by the new process."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runproc import DaemonProcess, config_repo
from tests.servers.endpoints import Endpoints, hang, reply, reply_json, serve
from tests.servers.receivers import event_id

APP = "order-gateway"
DIGEST = "sha256:" + "ab" * 32
RUNNING = "sha256:" + "cd" * 32
DRIFT = f"drift:{APP}:prod:{DIGEST}:{RUNNING}"


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """prod's version endpoint (it runs another digest than git pins), and the receivers."""
    with serve() as running:
        running.routes.update(
            {
                f"/prod/{APP}/version": reply_json(
                    {"digest": RUNNING, "started_at": "2026-01-01T00:00:00Z"}
                ),
                "/slack": reply(200, b"ok"),
                "/hang": hang(),
            }
        )
        yield running


def sinks(endpoints: Endpoints, folder: Path) -> str:
    (folder / "slack-url").write_text(endpoints.url("/slack") + "\n")
    (folder / "hang-url").write_text(endpoints.url("/hang") + "\n")
    return "".join(
        f'\n[notify.{name}]\nkind = "slack"\nurl_from = "file:{folder / (name + "-url")}"\n'
        'events = ["drift"]\ndrift_after = "0s"\ntimeout = "500ms"\n'
        for name in ("slack", "hang")
    )


def received(endpoints: Endpoints, path: str) -> Counter[str]:
    with endpoints.served:
        return Counter(event_id(r) for r in endpoints.received if r.path == path)


def run_until(daemon: DaemonProcess, endpoints: Endpoints, *, cycles: int) -> None:
    """Let ``daemon`` run ``cycles`` cycles after the hanging receiver was reached, then
    SIGTERM it; it must say it stopped and exit 0."""
    try:
        with endpoints.served:
            assert endpoints.served.wait_for(
                lambda: any(r.path == "/hang" for r in endpoints.received), 60
            ), daemon.text()
        reached = max(r.get("cycle", 0) for r in daemon.records())
        daemon.wait_for(
            lambda r: r.get("event") == "cycle" and r["cycle"] >= reached + cycles, "cycles"
        )
        daemon.signal(signal.SIGTERM)
        daemon.wait_for(lambda r: r.get("event") == "stopped", "the stopped line")
        assert daemon.finish() == 0, daemon.text()
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.text()


def test_a_restarted_daemon_tells_nothing_twice_and_a_hanging_sink_holds_no_stop(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    repo = config_repo(
        tmp_path / "config.git",
        endpoints.url(""),
        lambda policy: policy + sinks(endpoints, tmp_path),
        pins={"prod": DIGEST},
    )
    first = DaemonProcess("run", repo, tmp_path / "cache")
    first.wait_for(lambda r: r.get("event") == "notified" and r.get("sink") == "slack", "sent")
    run_until(first, endpoints, cycles=2)
    assert received(endpoints, "/slack") == {DRIFT: 1}
    hung_before = received(endpoints, "/hang")[DRIFT]

    again = DaemonProcess("run", repo, tmp_path / "cache")
    with endpoints.served:  # the hanging sink's claim was handed back at the stop
        assert endpoints.served.wait_for(
            lambda: received(endpoints, "/hang")[DRIFT] > hung_before, 60
        ), again.text()
    run_until(again, endpoints, cycles=3)
    assert received(endpoints, "/slack") == {DRIFT: 1}
