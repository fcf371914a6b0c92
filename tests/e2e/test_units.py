"""An app of two images promoted as one unit, dev -> staging -> prod, by one daemon on the
local forge: every environment moves to the set dev pins in one commit, and no environment
ever runs a combination of the two images that dev did not run first (docs/policy.md,
"Apps of several images")."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import github
from github import Auth

from reconciler import promotions, units
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo.flow import seed_files
from reconciler.demo.ledger import APP as UNIT
from reconciler.demo.ledger import IMAGES as UNIT_IMAGES
from reconciler.demo.ledger import app as unit_app
from reconciler.demo.ledger import with_ledger
from reconciler.demo.services import SampleServices
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.overlays import kustomize, pins
from reconciler.policy import load_policy
from reconciler.settings import Settings
from reconciler.wiring import Wired, build
from tests.e2e.closedworld import AUTHOR, LOGIN, ORG, TIMING
from tests.e2e.conftest import MakeWorld
from tests.e2e.test_cli import Cli
from tests.e2e.world import ENVS, OWNER, TEAM, World, cycle_until, internal_errors, overlay, person
from tests.servers.github_sim import serve_github

SEEDED = {"api": "sha256:" + "1" * 64, "migrate": "sha256:" + "2" * 64}
BUILT = {"api": "sha256:" + "3" * 64, "migrate": "sha256:" + "4" * 64}


def _entries(digests: dict[str, str]) -> list[kustomize.Image]:
    return [
        kustomize.parse_argument(f"{UNIT_IMAGES[part].rsplit('/', 1)[1]}={UNIT_IMAGES[part]}@{d}")
        for part, d in digests.items()
    ]


def seeded(files: dict[str, bytes]) -> dict[str, bytes]:
    """The demo's config repo with its two-image app pinned to the seeded set everywhere."""
    return with_ledger(files, SEEDED)


class UnitWorld:
    """The world's daemon and people, and what the two-image app runs where."""

    def __init__(self, world: World) -> None:
        self.world = world
        policy = load_policy(world.read("promotions.toml") or b"").policy
        assert policy is not None
        self.app = policy.apps[UNIT]
        assert self.app == unit_app()
        self.ran: dict[str, list[str]] = {env: [] for env in ENVS}  # every set each ran

    def pinned(self, env: str) -> str:
        """The unit key ``env``'s overlay pins on main ("" when not every part is there)."""
        data = self.world.read(overlay(env))
        assert data is not None
        pin = pins.read_pin("kustomize", data, overlay(env), self.app)
        return pin.digest if pin else ""

    def sync(self) -> None:
        """Deploy what main pins, as Argo CD would, and remember what each environment ran."""
        for env in ENVS:
            key = self.pinned(env)
            if key and self.world.services.deploy(env, UNIT, key):
                self.ran[env].append(key)

    def ci(self, digests: dict[str, str], title: str) -> None:
        """CI pins ``digests`` (some or all parts) in dev in one commit."""
        path = overlay("dev")

        def edit(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(path)
            assert data is not None
            return {path: kustomize.set_images(data, path, _entries(digests))}

        who = person("ci-bot")
        repo = Pygit2ConfigRepo.open(str(self.world.remote), self.world.root / "unit-ci")
        pushed = repo.update_branch("main", edit, message=title, author=who, committer=who)
        assert pushed.changed

    def step(self, wired: Wired) -> CycleReport:
        """One cycle, then deploy, then the code owner approves the unit's prod request."""
        result = self.world.step(wired, approve=OWNER)
        self.sync()
        self.world.approve_waiting(OWNER, app=UNIT)
        return result

    def settled(self, key: str) -> bool:
        """Every environment runs ``key`` and every request of the unit is merged and live."""
        if any(self.world.services.running(env, UNIT).digest != key for env in ENVS):
            return False
        return all(
            r.state == "merged" and r.live_at is not None
            for r in self.world.records()
            if r.head_branch.endswith(f"/{UNIT}")
        )

    def promote(self, key: str, *, restart: bool = False) -> list[CycleReport]:
        """Cycles until ``key`` runs everywhere; with ``restart``, the daemon is started
        again after its first cycle, with the same cache (the pins it parsed and kept)."""
        wired = self.world.daemon()
        if restart:
            first = self.step(wired)
            assert internal_errors([first]) == []
            wired.close()
            wired = self.world.daemon()
        results = cycle_until(
            lambda: self.step(wired), lambda _: self.settled(key), f"the promotion of {key}"
        )
        assert internal_errors(results) == []
        return results


def _unit_world(make_world: MakeWorld) -> UnitWorld:
    unit = UnitWorld(make_world(edit=seeded))
    unit.sync()
    return unit


def test_a_two_image_app_moves_through_every_environment_as_one_unit(
    make_world: MakeWorld,
) -> None:
    unit = _unit_world(make_world)
    built = units.key(BUILT)
    unit.ci(BUILT, "dev: ledger api and migrations 3333333")

    unit.promote(built)

    assert {env: unit.pinned(env) for env in ENVS} == dict.fromkeys(ENVS, built)
    for env, source in (("staging", "dev"), ("prod", "staging")):
        # One commit moved both images, saying so; no commit moved one of them alone.
        (merge,) = unit.world.promotion_commits(env, built)
        assert merge.trailer(promotions.PROMOTED_FROM) == source
        assert merge.trailer(promotions.PROMOTION_APP) == UNIT
        (record,) = [
            r for r in unit.world.records() if r.head_branch == promotions.branch(env, UNIT)
        ]
        marker = promotions.parse_marker(record.body)
        assert marker is not None
        assert marker.digest == built
        for part, digest in BUILT.items():
            assert f"{part}: `{UNIT_IMAGES[part]}@{digest}`" in record.body
    # Each environment ran the seeded set, then the built one: never a mix.
    seeded = units.key(SEEDED)
    assert unit.ran == {env: [seeded, built] for env in ENVS}
    # The audit lists the set, part by part.
    history = [h for h in Cli(unit.world).json("history") if h["app"] == UNIT]
    assert [(h["to"], h["digest"], h["images"]) for h in history] == [
        ("staging", built, BUILT),
        ("prod", built, BUILT),
    ]

    # A rollback goes back to the whole set prod ran before, in one request.
    rolled = unit.world.rollback("prod", "migrations lock a table", app=UNIT)
    assert rolled == 0
    request = unit.world.open_request("prod", UNIT)
    assert request is not None
    marker = promotions.parse_marker(request.body)
    assert marker is not None
    assert (marker.kind, marker.digest, marker.replaces) == ("rollback", seeded, built)
    repo = unit.world.repo()
    head = repo.tip(promotions.branch("prod", UNIT))
    assert head is not None
    info = repo.commit_info(head)
    assert [c.path for c in repo.changed_paths(info.parents[0], head)] == [overlay("prod")]
    data = repo.read(head, overlay("prod"))
    assert data is not None
    pinned = pins.read_pin("kustomize", data, overlay("prod"), unit.app)
    assert pinned is not None
    assert pinned.digest == seeded
    assert info.trailer(promotions.ROLLBACK_OF) == built


def test_one_image_changed_in_dev_moves_with_the_others_as_dev_pins_them(
    make_world: MakeWorld,
) -> None:
    unit = _unit_world(make_world)
    # CI rebuilt the api only: dev's set is the new api with the migrations it had.
    partial = units.key({"api": BUILT["api"], "migrate": SEEDED["migrate"]})
    unit.ci({"api": BUILT["api"]}, "dev: ledger api 3333333")

    # A restart on the way: what the first process parsed is read back, parts and all.
    unit.promote(partial, restart=True)

    assert {env: unit.pinned(env) for env in ENVS} == dict.fromkeys(ENVS, partial)
    for env in ("staging", "prod"):
        changed = [
            line
            for line in (unit.world.read(overlay(env)) or b"").splitlines()
            if SEEDED["migrate"].encode() in line or BUILT["api"].encode() in line
        ]
        assert len(changed) == 2  # the new api beside the migrations it always had
    # What ran downstream is only ever a set dev ran before.
    for env in ("staging", "prod"):
        assert all(key in unit.ran["dev"] for key in unit.ran[env])
    assert unit.ran["prod"][-1] == partial


def test_on_the_github_simulator_the_unit_moves_in_one_pull_per_environment(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        services = SampleServices(utc_now).start()
        stack.callback(services.stop)
        sim = stack.enter_context(serve_github(tmp_path / "config.git", owner=ORG, name="config"))
        author = sim.add_user(AUTHOR, "write")
        owner = sim.add_user(LOGIN)
        sim.add_team(TEAM.split("/")[1], (LOGIN,))
        sim.add_ruleset("prod reviews", require_code_owner_review=True)
        sim.commit("main", seeded(seed_files(services.base_url, TIMING)))
        (tmp_path / "token").write_text(author + "\n")
        wired = build(
            Settings(
                repo=str(sim.git_path),
                cache_dir=tmp_path / "daemon",
                forge="github",
                github_repo=f"{ORG}/config",
                github_url=sim.url,
                github_token_file=tmp_path / "token",
            ),
            utc_now,
        )
        stack.callback(wired.close)
        tip = sim.tip("main")
        assert tip is not None
        dev = sim.read(tip, overlay("dev"))
        assert dev is not None
        sim.commit(
            "main", {overlay("dev"): kustomize.set_images(dev, overlay("dev"), _entries(BUILT))}
        )
        key = units.key(BUILT)
        repo = github.Github(
            base_url=sim.url, auth=Auth.Token(owner), seconds_between_requests=0
        ).get_repo(f"{ORG}/config")

        def step() -> CycleReport:
            result = wired.runner.cycle()
            now = sim.tip("main")
            assert now is not None
            for env in ENVS:
                data = sim.read(now, overlay(env))
                assert data is not None
                pinned = pins.read_pin("kustomize", data, overlay(env), unit_app())
                services.deploy(env, UNIT, pinned.digest if pinned else None)
            # The ruleset asks an approval of every pull into main: a person gives it.
            for pull in list(sim.world.pulls.values()):
                mine = pull.head.endswith(f"/{UNIT}")
                if mine and sim.pull(pull.number).state == "open" and not pull.reviews:
                    repo.get_pull(pull.number).create_review(event="APPROVE", body="lgtm")
            return result

        results = cycle_until(
            step, lambda _: services.running("prod", UNIT).digest == key, "the unit in prod"
        )
        assert internal_errors(results) == []
        pulls = {p.head: p for p in sim.world.pulls.values()}
        for env in ("staging", "prod"):
            pull = pulls[promotions.branch(env, UNIT)]
            assert sim.pull(pull.number).merged
            body = pull.body or ""
            marker = promotions.parse_marker(body)
            assert marker is not None
            assert marker.digest == key
            assert all(f"{p}: `{UNIT_IMAGES[p]}@{d}`" in body for p, d in BUILT.items())
