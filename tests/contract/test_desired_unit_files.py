"""An app of several images with a part pinned in a folder of its own under each overlay
(`[apps.NAME.images.PART] overlay`), read by the incremental reader: an edit of the part's
file alone is a change of the app's pin, its history holds the commits of both files in
order, and a reader that followed every commit holds what a fresh one reads. Run on the
in-memory fake and on pygit2."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import units
from reconciler.desired import DesiredReader
from reconciler.pinfacts import Windows
from reconciler.registryfacts import offered
from reconciler.revisions import changed_keys
from tests.contract.gitworld import FakeWorld, GitWorld, World
from tests.contract.test_desired import comparable, fresh, read_with

POLICY = b"""version = 1
[apps.shop.images.web]
image = "r.io/web"
[apps.shop.images.migrate]
image = "r.io/migrate"
overlay = "jobs"
[environments.dev]
overlay = "overlays/dev"
[environments.prod]
follows = "dev"
overlay = "overlays/prod"
"""


def entry(name: str, digest: str) -> bytes:
    return f"- name: {name}\n  newName: r.io/{name}\n  digest: sha256:{digest * 64}\n".encode()


def files(dev: tuple[str, str], prod: tuple[str, str] = ("0", "0")) -> dict[str, bytes]:
    """Each environment's web pin in its overlay and migrate pin in the jobs folder."""
    out = {"promotions.toml": POLICY}
    for env, (web, migrate) in (("dev", dev), ("prod", prod)):
        out[f"overlays/{env}/kustomization.yaml"] = b"images:\n" + entry("web", web)
        out[f"overlays/{env}/jobs/kustomization.yaml"] = b"images:\n" + entry("migrate", migrate)
    return out


def key(web: str, migrate: str) -> str:
    return units.key({"web": f"sha256:{web * 64}", "migrate": f"sha256:{migrate * 64}"})


@pytest.fixture(params=["fake", "pygit2"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "fake":
        return FakeWorld()
    return GitWorld(tmp_path)


# Each step: dev's (web, migrate) digests, or None for the jobs file removed.
STEPS: list[tuple[str, tuple[str, str] | None, str]] = [
    ("the part's own file edited", ("1", "2"), key("1", "2")),
    ("the overlay file edited", ("3", "2"), key("3", "2")),
    ("both at once", ("4", "5"), key("4", "5")),
    ("the part's folder removed", None, ""),
    ("the part's folder back", ("4", "6"), key("4", "6")),
]


def test_an_edit_of_a_parts_own_file_is_read_as_the_units_change(world: World) -> None:
    tip = world.seed(files(("1", "1")))
    repo = world.client()
    reader = DesiredReader(repo)
    last = reader.read(tip, "main")
    dev = last.overlays[("shop", "dev")]
    assert (dev.pin.digest if dev.pin else None) == key("1", "1")
    assert dev.files == ("overlays/dev/kustomization.yaml", "overlays/dev/jobs/kustomization.yaml")
    for name, pins, wanted in STEPS:
        now_files = files(pins) if pins else files(("4", "5"))
        if pins is None:
            del now_files["overlays/dev/jobs/kustomization.yaml"]
        tip = world.seed(now_files, message=f"{name}\n")
        repo.fetch()
        now = reader.read(tip, "main")
        assert comparable(now) == comparable(fresh(world, tip)), name
        assert reader.full_reads == 1, f"{name}: a fast-forward was read from scratch"
        assert changed_keys(last.overlays, now.overlays) == {("shop", "dev")}, name
        state = now.overlays[("shop", "dev")]
        if pins is None:
            assert state.error is not None
            assert "overlays/dev/jobs has no kustomization.yaml" in state.error, name
        else:
            assert state.pin is not None
            assert (state.pin.digest, state.commit) == (wanted, tip), name
        last = now


def test_the_window_holds_both_files_commits_in_order(world: World) -> None:
    seeded = [world.seed(files(("1", "1")))]
    for web, migrate in (("1", "2"), ("3", "2"), ("3", "4")):
        seeded.append(world.seed(files((web, migrate))))
    reader, desired, policy = read_with(world, seeded[-1])
    candidates = offered(policy, desired.overlays, {})
    assert candidates == {("shop", "prod"): key("3", "4")}

    made = Windows(reader.pins).for_candidates(policy, desired.overlays, candidates)

    source = made[("shop", "dev")]
    assert [(f.commit, f.digest) for f in source.history] == [
        (seeded[0], key("1", "1")),
        (seeded[1], key("1", "2")),
        (seeded[2], key("3", "2")),
        (seeded[3], key("3", "4")),
    ]
    # prod's files were seeded once and never changed: one commit.
    assert [f.digest for f in made[("shop", "prod")].history] == [key("0", "0")]


def test_a_unit_whose_parts_all_live_in_their_own_folder_is_read_there(world: World) -> None:
    policy = POLICY.replace(b'image = "r.io/web"\n', b'image = "r.io/web"\noverlay = "jobs"\n')
    seeded = files(("1", "2"))
    for env in ("dev", "prod"):
        # The overlay file pins nothing of the unit; its jobs folder pins both parts.
        seeded[f"overlays/{env}/jobs/kustomization.yaml"] = (
            b"images:\n" + entry("web", "1") + entry("migrate", "2")
        )
        seeded[f"overlays/{env}/kustomization.yaml"] = b"resources:\n- jobs\n"
    tip = world.seed({**seeded, "promotions.toml": policy})
    _, desired, _ = read_with(world, tip)

    state = desired.overlays[("shop", "dev")]

    assert state.files == ("overlays/dev/jobs/kustomization.yaml",)
    assert state.pin is not None
    assert state.pin.digest == key("1", "2")
