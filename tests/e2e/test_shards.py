"""Replicas by shard: three daemons with ``--shard i/3`` on one repo reconcile every app
exactly once; moving to four shards moves apps with no duplicate or wrongly closed request.

Each daemon has its own cache folder, as replicas in a StatefulSet would. The repo has a
dozen apps whose dev overlays pin a digest staging does not: every app needs one staging
promotion request, which stays open (a person merges), so requests are easy to count.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from reconciler import promotions
from reconciler.actions import Close, Propose
from reconciler.cycle import CycleReport
from reconciler.forge.local import LocalForge
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.settings import Settings
from reconciler.shards import Shard, bucket
from reconciler.wiring import Wired, build

APPS = [f"app-{n:02d}" for n in range(12)]
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
NEWER = "sha256:" + "c" * 64
WHO = Signature("platform", "platform@example.com", datetime(2026, 11, 1, tzinfo=UTC))


def kustomization(app: str, digest: str) -> bytes:
    image = f"registry.example.com/{app}"
    return f"images:\n- name: {app}\n  newName: {image}\n  digest: {digest}\n".encode()


def seed(remote: Path) -> None:
    policy = ["version = 1"]
    policy += [f'[apps.{app}]\nimage = "registry.example.com/{app}"' for app in APPS]
    policy += [
        '[environments.dev]\noverlay = "overlays/dev/{app}"',
        '[environments.staging]\nfollows = "dev"\noverlay = "overlays/staging/{app}"',
    ]
    files = {"promotions.toml": "\n".join(policy).encode() + b"\n"}
    for app in APPS:
        files[f"overlays/dev/{app}/kustomization.yaml"] = kustomization(app, NEW)
        files[f"overlays/staging/{app}/kustomization.yaml"] = kustomization(app, OLD)
    create_repository(remote, files, branch="main", message="seed", author=WHO)


def daemons(remote: Path, root: Path, count: int) -> list[Wired]:
    return [
        build(Settings(repo=str(remote), cache_dir=root / f"{count}-{i}", shard=Shard(i, count)))
        for i in range(count)
    ]


def open_requests(remote: Path, root: Path, digest: str) -> Counter[str]:
    """Open requests per app that promote ``digest``, read from the remote as a person would."""
    reader = Pygit2ConfigRepo.open(str(remote), root / "reader")
    reader.fetch()
    found = LocalForge(reader, "main").requests()
    marked = [(r, promotions.parse_marker(r.body)) for r in found]
    return Counter(m.app for r, m in marked if m is not None and m.digest == digest)


def proposed(result: CycleReport) -> set[str]:
    return {o.action.app.name for o in result.outcomes if isinstance(o.action, Propose) and o.ok}


def closed(results: list[CycleReport]) -> list[str]:
    return [o.action.app for r in results for o in r.outcomes if isinstance(o.action, Close)]


def repin_dev(remote: Path, root: Path, digest: str) -> None:
    person = Pygit2ConfigRepo.open(str(remote), root / "person")
    person.update_branch(
        "main",
        lambda _view: {
            f"overlays/dev/{a}/kustomization.yaml": kustomization(a, digest) for a in APPS
        },
        message="CI: new digest everywhere",
        author=WHO,
        committer=WHO,
    )


def test_three_shards_reconcile_every_app_once_and_four_shards_take_over_cleanly(
    tmp_path: Path,
) -> None:
    remote = tmp_path / "config.git"
    seed(remote)

    three = daemons(remote, tmp_path, 3)
    firsts = [wired.runner.cycle() for wired in three]
    owned = [proposed(result) for result in firsts]
    assert [set(r.observation.policy.apps) for r in firsts if r.observation.policy] == [
        {a for a in APPS if bucket(a, 3) == i} for i in range(3)
    ]
    assert owned == [{a for a in APPS if bucket(a, 3) == i} for i in range(3)]
    assert sorted(a for apps in owned for a in apps) == APPS  # each app by exactly one
    seconds = [wired.runner.cycle() for wired in three]
    assert all(not r.outcomes for r in seconds), [r.summary() for r in seconds]
    assert open_requests(remote, tmp_path, NEW) == Counter(APPS)

    # Scale to four while the three still run (a rolling change of COUNT), then CI moves
    # every app on: each request is updated in place by its new owner, none duplicated.
    four = daemons(remote, tmp_path, 4)
    repin_dev(remote, tmp_path, NEWER)
    mixed = [wired.runner.cycle() for wired in [*four, *three]]
    assert closed(mixed) == []
    assert open_requests(remote, tmp_path, NEWER) == Counter(APPS)
    updated = [proposed(result) for result in mixed[:4]]
    assert updated == [{a for a in APPS if bucket(a, 4) == i} for i in range(4)]
    moved = {a for a in APPS if bucket(a, 3) != bucket(a, 4)}
    assert moved
    assert all(bucket(a, 4) == 3 for a in moved)
    settled = [wired.runner.cycle() for wired in four]
    assert all(not r.outcomes for r in settled), [r.summary() for r in settled]
    assert open_requests(remote, tmp_path, NEWER) == Counter(APPS)
