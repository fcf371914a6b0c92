"""A webhook delivery reaching one of three ``reconciler run --shard i/3`` processes makes
every shard cycle: the receiver forwards it to its ``--peers``, signed, once.

Each process has its own cache and port on one config repo, as a StatefulSet's pods do, and
polls only hourly, so a cycle whose trigger names the delivery can only come from it. Waits
are on log lines, bounded (tests/integration/runproc.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.webhooks import FORWARD_PATH, Forward, forward_message
from tests.integration.runproc import DaemonProcess, Line, config_repo
from tests.ports import free_port
from tests.servers.github_sim import webhooks

SECRET = b"shard-webhook-secret"
COUNT = 3


class Shards:
    """Three shard processes on one repo, each forwarding to the other two."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = config_repo(
            root / "config.git", "http://127.0.0.1:9", lambda p: p.replace('"1s"', '"1h"', 1)
        )
        (root / "secret").write_bytes(SECRET + b"\n")
        self.ports = [free_port() for _ in range(COUNT)]
        self.processes: list[DaemonProcess] = []
        for index in range(COUNT):
            self.processes.append(self.start(index))
        for process in self.processes:
            process.wait_for(lambda r: r.get("cycle") == 1, "the first cycle")

    def start(self, index: int) -> DaemonProcess:
        peers = ",".join(f"http://127.0.0.1:{p}" for i, p in enumerate(self.ports) if i != index)
        return DaemonProcess(
            "run",
            self.repo,
            self.root / f"cache-{index}",
            *("--shard", f"{index}/{COUNT}", "--listen", f"127.0.0.1:{self.ports[index]}"),
            *("--webhook-secret-file", str(self.root / "secret"), "--peers", peers),
        )

    def restart(self, index: int) -> None:
        self.processes[index].stop()
        self.processes[index] = self.start(index)
        self.processes[index].wait_for(lambda r: r.get("cycle") == 1, "the first cycle")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def shards(tmp_path: Path) -> Iterator[Shards]:
    running = Shards(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def push(branch: str) -> bytes:
    """GitHub's example push, to ``branch``: the cycle reason names it."""
    payload = json.loads(webhooks.example("push"))
    payload["ref"] = f"refs/heads/{branch}"
    return json.dumps(payload).encode()


def deliver(process: DaemonProcess, branch: str) -> None:
    body = push(branch)
    status, text = process.post("/webhook", body, webhooks.delivery("push", body, SECRET))
    assert status == 202, text


def reacted(process: DaemonProcess, branch: str) -> Line:
    """The cycle ``process`` ran for the push to ``branch``."""
    wanted = f"webhook push {branch}"
    return process.wait_for(
        lambda r: r.get("event") == "cycle" and wanted in r["trigger"], f"a cycle for {wanted}"
    )


def cycles_for(process: DaemonProcess, branch: str) -> int:
    wanted = re.compile(rf"webhook push {branch}\b")
    return sum(
        1 for r in process.records() if r.get("event") == "cycle" and wanted.search(r["trigger"])
    )


def test_a_delivery_to_one_shard_reaches_all_three(shards: Shards) -> None:
    receiver = shards.processes[1]
    deliver(receiver, "step-1")
    assert "forwarded" not in reacted(receiver, "step-1")["trigger"]
    for index in (0, 2):
        trigger = reacted(shards.processes[index], "step-1")["trigger"]
        assert f"(forwarded from 1/{COUNT})" in trigger
    told = receiver.wait_for(lambda r: r.get("event") == "webhook-forward", "the forward line")
    assert sorted(told["peers"].values()) == ["ok", "ok"]
    # GitHub's redelivery to another shard is a duplicate there: no second cycle anywhere.
    body = push("step-1")
    headers = webhooks.delivery("push", body, SECRET, told["delivery"])
    status, _ = shards.processes[0].post("/webhook", body, headers)
    assert status == 200
    deliver(shards.processes[0], "step-2")
    for process in shards.processes:
        reacted(process, "step-2")
        assert cycles_for(process, "step-1") == 1


def test_a_peer_down_is_logged_and_counted_and_the_others_react(shards: Shards) -> None:
    shards.processes[2].stop()  # SIGKILL: the pod is gone
    receiver = shards.processes[0]
    deliver(receiver, "down-1")
    reacted(receiver, "down-1")
    reacted(shards.processes[1], "down-1")
    missed = receiver.wait_for(lambda r: r.get("event") == "webhook-forward", "the forward line")
    down = f"127.0.0.1:{shards.ports[2]}"
    assert missed["level"] == "warning"
    assert missed["peers"] == {f"127.0.0.1:{shards.ports[1]}": "ok", down: "failed"}
    _, metrics = receiver.get("/metrics")
    assert f'reconciler_webhook_forwards_total{{peer="{down}",result="failed"}} 1.0' in metrics
    # Restarted, it cycles at start and takes forwards again, with nothing to replay.
    shards.restart(2)
    deliver(shards.processes[1], "down-2")
    for process in shards.processes:
        reacted(process, "down-2")
    assert cycles_for(shards.processes[2], "down-1") == 0


def forwarded(reason: str, *, secret: bytes = SECRET, age: int = 0) -> tuple[bytes, dict[str, str]]:
    sent = Forward(str(uuid.uuid4()), "push", reason, "test", int(time.time()) - age)
    return forward_message(secret, sent)


def test_replayed_forged_or_stale_forwards_are_refused(shards: Shards) -> None:
    peer = shards.processes[0]
    body, headers = forwarded("webhook push replayed")
    assert peer.post(FORWARD_PATH, body, headers)[0] == 202
    assert peer.post(FORWARD_PATH, body, headers) == (200, "duplicate delivery: already handled\n")
    assert peer.post(FORWARD_PATH, *forwarded("webhook push forged", secret=b"guess"))[0] == 401
    stale = forwarded("webhook push stale", age=3600)
    assert peer.post(FORWARD_PATH, *stale)[0] == 403
    # A GitHub signature does not pass for a forward's, nor a forward's for GitHub's.
    github = push("crossed")
    assert peer.post(FORWARD_PATH, github, webhooks.delivery("push", github, SECRET))[0] == 401
    as_github = webhooks.delivery("push", body, SECRET) | {
        "X-Hub-Signature-256": headers["X-Reconciler-Signature-256"]
    }
    assert peer.post("/webhook", body, as_github)[0] == 401
    deliver(peer, "after")
    for process in shards.processes:
        reacted(process, "after")  # forwards queued before it have been sent by now
    assert cycles_for(peer, "replayed") == 1
    assert [cycles_for(p, b) for p in shards.processes for b in ("forged", "stale", "crossed")] == [
        0
    ] * 9
    # A forward is never forwarded on: the other shards never heard of it.
    assert (
        cycles_for(shards.processes[1], "replayed")
        == cycles_for(shards.processes[2], "replayed")
        == 0
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--peers", "reconciler-{index}:9464"], "is not a peer's base URL"),
        (["--peers", "http://127.0.0.1:9"], "--peers needs --webhook-secret-file"),
    ],
)
def test_peers_that_cannot_work_stop_the_start(
    tmp_path: Path, options: list[str], said: str
) -> None:
    process = DaemonProcess("run", tmp_path, tmp_path / "cache", "--shard", "0/3", *options)
    assert process.finish() == 2
    assert said in process.text()
