"""A new process on a cache folder reuses the pins an earlier one parsed (pins.json)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.generate import generate
from reconciler import pinstore
from reconciler.settings import Settings
from reconciler.wiring import build


def test_a_second_process_on_the_cache_parses_no_overlay_again(tmp_path: Path) -> None:
    bare = generate(tmp_path / "remote.git", 5)
    settings = Settings(repo=str(bare), cache_dir=tmp_path / "cache")

    first = build(settings).runner
    planned = first.plan_only(probe=False)
    assert first.observer.desired.pins.parses >= 15  # 5 apps x 3 environments, and history
    assert (tmp_path / "cache" / pinstore.FILE).is_file()

    second = build(settings).runner
    again = second.plan_only(probe=False)
    assert second.observer.desired.pins.parses == 0
    assert again.observation.snapshot.overlays == planned.observation.snapshot.overlays
    assert again.plan == planned.plan


def test_a_damaged_pin_file_is_parsed_again_not_trusted(tmp_path: Path) -> None:
    bare = generate(tmp_path / "remote.git", 3)
    settings = Settings(repo=str(bare), cache_dir=tmp_path / "cache")
    planned = build(settings).runner.plan_only(probe=False)
    (tmp_path / "cache" / pinstore.FILE).write_text('{"release": "x"')

    runner = build(settings).runner
    again = runner.plan_only(probe=False)
    assert runner.observer.desired.pins.parses > 0
    assert again.observation.snapshot.overlays == planned.observation.snapshot.overlays
