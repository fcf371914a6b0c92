"""Overlay pins parsed in a worker process read exactly as parsed here (reconciler.pinworkers),
and the cold-start path through it gives the same desired state."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import generate
from reconciler import desired, pinworkers
from reconciler.desired import DesiredReader, _files_hint
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.pins import read_pin
from reconciler.policy import LoadResult, load_policy
from reconciler.policy.model import App, HelmKeys
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.contract.gitworld import GitWorld
from tests.contract.test_desired import BASE, POLICY
from tests.unit.test_units import KUSTOMIZATION, UNIT, VALUES

D = "sha256:" + "1" * 64
GW = App(name="gw", image="reg.io/team/gw")
HELM_GW = App(name="gw", image="reg.io/team/gw", helm=HelmKeys(image="app.image"))

# What a worker is sent: each shape of app and file it may meet, and files that do not read.
JOBS = [
    ("kustomize", f"images:\n- name: gw\n  newName: reg.io/team/gw\n  digest: {D}\n", GW),
    ("kustomize", "resources: []\n", GW),  # no pin: None, which is kept too
    ("helm", f"app:\n  image: reg.io/team/gw:v1@{D}\n", HELM_GW),
    ("kustomize", KUSTOMIZATION, UNIT),
    ("helm", VALUES, UNIT),
    ("kustomize", "images: [\n", GW),  # not YAML
    ("kustomize", "images:\n- name: gw\n  digest: nope\n", GW),  # no digest
]


def jobs(count: int = 1) -> list[pinworkers.Job]:
    """``count`` rounds of JOBS, each file under its own key."""
    return [
        pinworkers.Job(f"{n}:{i}", fmt, text.encode(), f"f{i}.yaml", app)
        for n in range(count)
        for i, (fmt, text, app) in enumerate(JOBS)
    ]


def here(batch: list[pinworkers.Job]) -> dict[str, ImagePin | None]:
    """What this process reads of ``batch``: the files that read, by key."""
    out = {}
    for job in batch:
        try:
            out[job.key] = read_pin(job.fmt, job.data, job.path, job.app)
        except Exception:  # a file that does not read is left out
            continue
    return out


def two_cores() -> float:
    return 2.0


def parse_many(
    batch: list[pinworkers.Job], *, chunk: int = pinworkers.CHUNK, share: bool = True
) -> dict[str, ImagePin | None]:
    """``batch`` parsed here and in a worker started for it, as a cold read does."""
    worker = pinworkers.start(len(batch), cores_available=two_cores, min_files=1)
    assert worker is not None
    try:
        return worker.parse(batch, chunk=chunk, share=share)
    finally:
        worker.close()


def test_the_worker_reads_every_shape_as_this_process_does() -> None:
    batch = jobs()
    found = parse_many(batch, share=False)
    assert found == here(batch)
    assert len(found) == 5  # the two files that do not read are left to the caller


def test_this_process_and_the_worker_meet_without_a_gap_or_a_double() -> None:
    batch = jobs(300)  # 2,100 files in chunks of 50: both ends take some
    found = parse_many(batch, chunk=50)
    assert found == here(batch)


@pytest.mark.parametrize(
    ("cores", "min_files"),
    [(1.0, 1), (1.5, 1), (2.0, 100)],
    ids=["one core", "a quota of 1.5 cores", "fewer files than a worker is worth"],
)
def test_no_worker_starts_where_one_would_not_pay(cores: float, min_files: int) -> None:
    assert pinworkers.start(len(jobs()), cores_available=lambda: cores, min_files=min_files) is None


def test_a_failed_worker_chunk_is_parsed_here() -> None:
    batch = jobs()
    failed: Future[list[tuple[str, ImagePin | None]]] = Future()
    failed.set_exception(BrokenProcessPool("killed"))
    pins = pinworkers.outcome(failed, lambda: pinworkers.parse_chunk(batch))
    assert dict(pins) == here(batch)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("100000 100000\n", 1.0), ("250000 100000\n", 2.5), ("", None)],
    ids=["no quota", "one CPU", "two and a half", "unreadable"],
)
def test_a_cgroup_quota_bounds_the_cores(tmp_path: Path, cpu_max: str, expected: float) -> None:
    if cpu_max:
        (tmp_path / "cpu.max").write_text(cpu_max)
    affinity = pinworkers.cores(tmp_path / "missing")
    assert pinworkers.cores(tmp_path) == min(affinity, expected or affinity)


def test_a_cold_read_through_the_worker_is_the_read_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = generate(tmp_path / "remote.git", 6)

    def plan(cache: str) -> object:
        wired = build(Settings(repo=str(bare), cache_dir=tmp_path / cache))
        try:
            return wired.runner.plan_only(probe=False)
        finally:
            wired.close()

    alone = plan("alone")
    monkeypatch.setattr(pinworkers, "MIN_FILES", 1)  # 18 overlays: through the worker
    monkeypatch.setattr(pinworkers, "cores", two_cores)
    shared = plan("shared")
    assert shared.observation.snapshot.overlays == alone.observation.snapshot.overlays  # type: ignore[attr-defined]
    assert shared.plan == alone.plan  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("policy", "hint"),
    [
        (POLICY, 6),  # three apps, two environments
        (b"", 0),
        (b"version = 1\napps = {web = {image = 'r.io/web'}}\n", 0),  # another way: no guess
        (POLICY.replace(b"[environments.prod]", b"[environments.staging]"), 6),
    ],
    ids=["tables", "no policy", "inline tables", "other names"],
)
def test_the_overlays_a_policy_names_are_guessed_from_its_tables(policy: bytes, hint: int) -> None:
    assert _files_hint(policy) == hint


@pytest.mark.parametrize("valid", [True, False], ids=["a policy", "a broken policy"])
def test_a_worker_started_before_the_policy_is_read_ends_with_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, valid: bool
) -> None:
    # A full read starts its worker before the policy is loaded, from the policy's text:
    # whether the policy then loads or not, the worker is gone when the read returns, and
    # what is read is what a read without a worker gives.
    world = GitWorld(tmp_path)
    policy = POLICY.replace(b'[apps.db]\nimage = "r.io/db"\n', b"")  # db's overlay is a link
    files = {path: data for path, data in BASE.items() if "/db/" not in path}
    # Broken: an app without an image, whose overlays do not exist either.
    files["promotions.toml"] = policy if valid else policy + b"[apps.x]\n"
    tip = world.seed(files)
    alone = DesiredReader(world.client()).read(tip, "main")
    monkeypatch.setattr(pinworkers, "MIN_FILES", 1)
    monkeypatch.setattr(pinworkers, "cores", two_cores)
    events: list[str] = []
    start, load = pinworkers.start, load_policy

    def counted(count: int, **options: Any) -> pinworkers.Worker | None:
        events.append(f"worker for {count}")
        return start(count, **options)

    def loading(*args: Any, **options: Any) -> LoadResult:
        events.append("policy")
        return load(*args, **options)

    monkeypatch.setattr(pinworkers, "start", counted)
    monkeypatch.setattr(desired, "load_policy", loading)

    shared = DesiredReader(world.client()).read(tip, "main")

    hint = _files_hint(files["promotions.toml"])
    assert events == [f"worker for {hint}", "policy"]  # one worker, before the policy
    assert multiprocessing.active_children() == []
    assert (shared.errors, shared.overlays) == (alone.errors, alone.overlays)
    assert bool(shared.errors) is not valid
