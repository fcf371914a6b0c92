"""A running daemon wakes when a block ends by itself, not at its next poll.

A real `reconciler run` on a config repo of its own: dev -> staging behind a 2 s soak, the
poll an hour apart. A push pins a new dev digest; the cycle that finds it blocks it as
soaking until a time it names; the next cycle must come then, by itself (`due`), and open
the promotion: before, it waited for the poll (a 3 s soak waited 30 s).
"""

from __future__ import annotations

import signal
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.gitrepo.port import ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from tests.integration.runproc import DaemonProcess, Line

POLICY = b"""version = 1
[settings]
poll_interval = "1h"
[apps.web]
image = "reg.example.com/team/web"
kustomize_image = "reg.example.com/team/web"
[environments.dev]
overlay = "envs/dev"
[environments.staging]
follows = "dev"
overlay = "envs/staging"
auto_merge = true
gates = ["soak"]
[gates.soak]
kind = "soak"
duration = "2s"
"""
PERSON = Signature("dev", "dev@example.com", datetime(2026, 12, 7, tzinfo=UTC))


def overlay(digit: str) -> bytes:
    return (
        f"resources: []\nimages:\n- name: reg.example.com/team/web\n  digest: sha256:{digit * 64}\n"
    ).encode()


def test_a_soak_ending_wakes_the_daemon_before_its_poll(tmp_path: Path) -> None:
    remote = tmp_path / "config.git"
    files = {
        "promotions.toml": POLICY,
        "envs/dev/kustomization.yaml": overlay("1"),
        "envs/staging/kustomization.yaml": overlay("1"),
    }
    create_repository(remote, files, branch="main", message="seed", author=PERSON)
    daemon = DaemonProcess("run", remote, tmp_path / "cache", "--log-format", "json")
    try:
        daemon.wait_for(lambda r: str(r["message"]).startswith("cycle 1 "), "the first cycle")

        def pin(view: ReadView) -> dict[str, bytes | None]:
            return {"envs/dev/kustomization.yaml": overlay("2")}

        person = Pygit2ConfigRepo.open(str(remote), tmp_path / "person")
        # Committed now: the soak counts from the overlay commit's time.
        now = replace(PERSON, time=utc_now().replace(microsecond=0))
        person.update_branch("main", pin, message="web: new digest", author=now, committer=now)

        soaking = daemon.wait_for(
            lambda r: "gate:soaking" in str(r["message"]) and "passes at" in str(r["message"]),
            "the candidate blocked as soaking",
        )
        opened = daemon.wait_for(
            lambda r: str(r["message"]).startswith("opened #"), "the promotion opened"
        )
        cycle = daemon.wait_for(
            lambda r: (
                str(r["message"]).startswith("cycle ") and "opened:web/staging" in str(r["message"])
            ),
            "the cycle that opened it",
        )
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert "(due)" in str(cycle["message"]), cycle  # woken by the soak's end, not a poll
    assert _at(opened) >= _at(soaking)


def _at(record: Line) -> str:
    return str(record.get("time") or record.get("ts") or "")
