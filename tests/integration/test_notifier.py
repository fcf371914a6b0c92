"""The notifier between cycles, on the fake git remote and a real receiver: what a cycle did
is kept for the next when the outbox cannot be written, nothing is fetched while there is
nothing to record, and a claim outlasts three poll intervals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.actions import Merge, PinEdit, Plan
from reconciler.applying import ActionOutcome
from reconciler.cycle import CycleReport
from reconciler.gitrepo.port import Signature
from reconciler.httpclient.client import HttpClient
from reconciler.notify import outbox
from reconciler.notify.delivery import Retry
from reconciler.notify.notifier import Notifier, NotifyTiming
from reconciler.notify.store import BRANCH, OutboxStore
from reconciler.observing import Observation
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy, load_policy
from reconciler.policy.model import App
from reconciler.snapshot import OverlayState, Snapshot
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote
from tests.servers.endpoints import Endpoints, reply, serve
from tests.servers.receivers import delivered

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "2" * 64
MERGED = f"merged:shop:prod:{DIGEST}"


@pytest.fixture
def receiver() -> Iterator[Endpoints]:
    with serve() as running:
        running.routes["/hook"] = reply(200, b"ok")
        yield running


def policy(url_file: Path, poll: str = "30s") -> Policy:
    text = f"""
version = 1
[settings]
poll_interval = "{poll}"
[apps.shop]
image = "registry.example.com/shop"
[environments.staging]
overlay = "overlays/staging"
[environments.prod]
follows = "staging"
overlay = "overlays/prod"
[notify.ops]
kind = "slack"
url_from = "file:{url_file}"
"""
    loaded = load_policy(text.encode())
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def report(chosen: Policy, *, merged: bool) -> CycleReport:
    snapshot = Snapshot(
        base_branch="main",
        base_commit="base",
        overlays={
            ("shop", "prod"): OverlayState(
                path="overlays/prod/kustomization.yaml",
                pin=ImagePin("registry.example.com/shop", "", DIGEST),
            )
        },
    )
    pin = ImagePin("registry.example.com/shop", "", DIGEST)
    edit = PinEdit(
        app=App(name="shop", image=pin.repository), format="kustomize", path="p", pin=pin
    )
    merge = Merge(app="shop", env="prod", number=7, expected_head="h", message="m", edit=edit)
    outcomes = (ActionOutcome(merge, ok=True, result="merged", detail=""),) if merged else ()
    return CycleReport(Observation(chosen, snapshot, policy_valid=True), Plan(), outcomes)


@pytest.fixture
def world(tmp_path: Path, receiver: Endpoints) -> Iterator[tuple[FakeRemote, Notifier, Path]]:
    remote = FakeRemote()
    remote.set_branch("main", remote.commit({"README": b"config\n"}))
    repo = FakeConfigRepo(remote)
    url_file = tmp_path / "url"
    url_file.write_text(receiver.url("/hook"))
    who = Signature("reconciler", "r@localhost", NOW)
    with HttpClient() as client:
        notifier = Notifier(
            OutboxStore(repo, "main", lambda: who),
            client,
            lambda: NOW,
            count=lambda *labels: None,
            timing=NotifyTiming(retry=Retry(attempts=1), stop_seconds=2.0),
            replica="one",
        )
        try:
            yield remote, notifier, url_file
        finally:
            notifier.close()


def wait_for(receiver: Endpoints, wanted: str) -> None:
    with receiver.served:
        assert receiver.served.wait_for(lambda: wanted in delivered(receiver, "/hook"), 30)


def test_what_a_cycle_did_waits_for_the_next_when_the_outbox_cannot_be_written(
    world: tuple[FakeRemote, Notifier, Path], receiver: Endpoints
) -> None:
    remote, notifier, url_file = world
    chosen = policy(url_file)
    remote.reachable = False
    notifier.after_cycle(report(chosen, merged=True))  # logged, kept: nothing was claimed
    notifier.after_cycle(report(chosen, merged=True))  # the same merge again: kept once
    assert [e.id for e in notifier._carry] == [MERGED]
    assert BRANCH not in str(remote.refs)
    assert delivered(receiver, "/hook") == {}
    remote.reachable = True
    notifier.after_cycle(report(chosen, merged=False))  # the merge is not in this report
    wait_for(receiver, MERGED)
    assert delivered(receiver, "/hook") == {MERGED: 1}


def test_nothing_to_record_fetches_nothing(world: tuple[FakeRemote, Notifier, Path]) -> None:
    _, notifier, url_file = world
    repo = notifier._store._repo  # the store's repo counts its fetches
    assert isinstance(repo, FakeConfigRepo)
    before = repo.fetches
    for _ in range(3):
        notifier.after_cycle(report(policy(url_file), merged=False))
    assert repo.fetches == before
    assert repo.tip(BRANCH) is None


def test_a_claim_outlasts_three_poll_intervals(
    world: tuple[FakeRemote, Notifier, Path], receiver: Endpoints
) -> None:
    remote, notifier, url_file = world
    notifier.after_cycle(report(policy(url_file, poll="1h"), merged=True))
    wait_for(receiver, MERGED)
    repo = FakeConfigRepo(remote)
    tip = repo.tip(BRANCH)
    assert tip is not None
    entries = outbox.decode(repo.read(tip, outbox.path_of("ops")) or b"", "ops")
    assert entries[MERGED].lease_until == NOW + timedelta(hours=3)
    assert entries[MERGED].by == "one"


def test_a_notifier_after_a_stop_sends_nothing_again(
    world: tuple[FakeRemote, Notifier, Path], receiver: Endpoints
) -> None:
    remote, notifier, url_file = world
    chosen = policy(url_file)
    notifier.after_cycle(report(chosen, merged=True))
    wait_for(receiver, MERGED)
    notifier.close()  # a stopping daemon confirms what it sent
    who = Signature("reconciler", "r@localhost", NOW)
    with HttpClient() as client:
        other = Notifier(
            OutboxStore(FakeConfigRepo(remote), "main", lambda: who),
            client,
            lambda: NOW + timedelta(hours=1),  # past any lease
            count=lambda *labels: None,
            replica="two",
        )
        other.after_cycle(report(chosen, merged=True))
        other.close()
    assert delivered(receiver, "/hook") == {MERGED: 1}
