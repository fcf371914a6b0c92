"""Promotions into one shared overlay merge one after another, not rebuilt after each.

22 apps share one staging kustomization (one `images` entry each); CI pins new digests for
21 of them in dev. Each merge changes the shared file, so before the fix every other open
request was judged outdated and its merge refused ("the base branch changed ... will be
rebuilt"): 21 promotions took 46 cycles and 212 failed merges. Now a request whose one-line
edit still merges cleanly into the moved file (as GitHub merges it) is merged as it is: one
cycle opens all 21, the next merges all 21, and no merge is refused.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.actions import Merge
from reconciler.clock import utc_now
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.pins import read_pin
from reconciler.policy.model import App
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.e2e.sharedrepo import APPS, OLD, STAGING, WHO, kustomization, seed

GENEROUS = 10  # cycles; two are needed


def test_twenty_one_promotions_into_one_shared_overlay(tmp_path: Path) -> None:
    remote = seed(tmp_path, dev=dict.fromkeys(APPS, OLD), staging=dict.fromkeys(APPS, OLD))
    ci = Pygit2ConfigRepo.open(str(remote), tmp_path / "ci")
    new = {a: "sha256:" + f"{i + 1:x}".rjust(64, "c") for i, a in enumerate(APPS[1:])}

    def edit(_: ReadView) -> dict[str, bytes | None]:
        return {
            f"overlays/dev/{a}/kustomization.yaml": kustomization({a: d}) for a, d in new.items()
        }

    ci.update_branch("main", edit, message="dev: 21 new builds", author=WHO, committer=WHO)
    wired = build(Settings(repo=str(remote), cache_dir=tmp_path / "cache"), utc_now)

    def staging_pins() -> dict[str, str]:
        ci.fetch()
        tip = ci.tip("main")
        assert tip is not None
        data = ci.read(tip, STAGING)
        assert data is not None
        found: dict[str, str] = {}
        for app in APPS:
            pin = read_pin("kustomize", data, STAGING, App(name=app, image=f"r.io/{app}"))
            assert isinstance(pin, ImagePin)
            found[app] = pin.digest
        return found

    cycles, refused, merged = 0, [], 0
    while staging_pins() != {APPS[0]: OLD, **new} and cycles < GENEROUS:
        result = wired.runner.cycle()
        cycles += 1
        refused += [o.detail for o in result.outcomes if not o.ok]
        merged += sum(1 for o in result.outcomes if isinstance(o.action, Merge) and o.ok)
    print(f"shared overlay: promotions=21 cycles={cycles} merges={merged} refused={len(refused)}")
    assert staging_pins() == {APPS[0]: OLD, **new}
    assert refused == []
    assert merged == 21
    assert cycles == 2


def test_a_damaged_request_record_stops_only_its_own_promotion(tmp_path: Path) -> None:
    """Request #1's record (app1, long merged) is cut short by a bad hand edit. Before the
    fix the ledger failed whole and no app was promoted; now app1 waits, blocked with the
    file named, and app3 is promoted as usual."""
    remote = seed(tmp_path, dev=dict.fromkeys(APPS, OLD), staging=dict.fromkeys(APPS, OLD))
    ci = Pygit2ConfigRepo.open(str(remote), tmp_path / "ci")
    wired = build(Settings(repo=str(remote), cache_dir=tmp_path / "cache"), utc_now)

    def dev(pins: dict[str, str]) -> None:
        def edit(_: ReadView) -> dict[str, bytes | None]:
            return {
                f"overlays/dev/{a}/kustomization.yaml": kustomization({a: d})
                for a, d in pins.items()
            }

        ci.update_branch("main", edit, message="dev: builds", author=WHO, committer=WHO)

    dev({"app1": "sha256:" + "1" * 64})
    for _ in range(2):
        wired.runner.cycle()
    ci.fetch()
    record = ".reconciler/requests/1.json"
    ledger = ci.tip("reconciler/requests")
    assert ledger is not None
    assert b'"state": "merged"' in (ci.read(ledger, record) or b"")

    def damage(view: ReadView) -> dict[str, bytes | None]:
        data = view.read(record)
        assert data is not None
        return {record: data[: len(data) // 2]}

    ci.update_branch("reconciler/requests", damage, message="oops", author=WHO, committer=WHO)
    dev({"app1": "sha256:" + "2" * 64, "app3": "sha256:" + "3" * 64})
    results = [wired.runner.cycle() for _ in range(3)]

    ci.fetch()
    tip = ci.tip("main")
    assert tip is not None
    staging = ci.read(tip, STAGING) or b""
    assert b"3" * 64 in staging  # app3 promoted
    assert b"2" * 64 not in staging  # app1 waits for the repair
    blocks = [b for b in results[-1].plan.blocked if b.app == "app1"]
    assert [b.code for b in blocks] == ["request-damaged"]
    assert record in blocks[0].reason
