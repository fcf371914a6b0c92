"""An app of two images whose migrations part is pinned in a sub-kustomization of each
environment's overlay (`[apps.ledger.images.migrate] overlay = "jobs"`): the unit moves
dev -> staging -> prod in one commit per environment editing both files, `reconciler pin`
pins the part in its own file, and the real kustomize renders the prod overlay running both
promoted digests (docs/policy.md, "Apps of several images")."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path

import github
from github import Auth

from reconciler import promotions, units
from reconciler.cli import main
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo.flow import seed_files
from reconciler.demo.ledger import APP as UNIT
from reconciler.demo.ledger import IMAGES
from reconciler.demo.services import SampleServices
from reconciler.overlays import kustomize, pins
from reconciler.partfiles import combine, groups, regroup
from reconciler.policy import load_policy
from reconciler.settings import Settings
from reconciler.wiring import build as build_daemon
from tests.e2e.closedworld import AUTHOR, LOGIN, ORG, TIMING
from tests.e2e.conftest import MakeWorld
from tests.e2e.test_cli import Cli
from tests.e2e.test_units import BUILT, SEEDED, UnitWorld
from tests.e2e.world import ENVS, TEAM, cycle_until, internal_errors, overlay
from tests.kustomize import build, containers
from tests.servers.github_sim import serve_github

POLICY = f"""
[apps.{UNIT}.images.api]
image = "{IMAGES["api"]}"

[apps.{UNIT}.images.migrate]
image = "{IMAGES["migrate"]}"
overlay = "jobs"
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
spec:
  selector:
    matchLabels: {app: ledger}
  template:
    metadata:
      labels: {app: ledger}
    spec:
      containers:
        - name: api
          image: ledger
"""
JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: ledger-migrations
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: ledger-migrations
"""


def jobs(env: str) -> str:
    """The sub-kustomization that pins the migrations part in ``env``."""
    return f"overlays/{env}/jobs/kustomization.yaml"


def _entry(part: str, digest: str) -> kustomize.Image:
    name = IMAGES[part].rsplit("/", 1)[1]
    return kustomize.parse_argument(f"{name}={IMAGES[part]}@{digest}")


def seeded(files: dict[str, bytes]) -> dict[str, bytes]:
    """The demo's repo with the ledger's api in each overlay and its migrations in the
    overlay's jobs folder, listed in the parent's resources, all pinned to the seeded set."""
    files = dict(files)
    files["promotions.toml"] += POLICY.encode()
    for env in ENVS:
        parent = overlay(env)
        text = files[parent].replace(
            b"  - ../../base\n", b"  - ../../base\n  - ledger.yaml\n  - jobs\n"
        )
        files[parent] = kustomize.set_images(text, parent, [_entry("api", SEEDED["api"])])
        files[f"overlays/{env}/ledger.yaml"] = DEPLOYMENT.encode()
        files[f"overlays/{env}/jobs/job.yaml"] = JOB.encode()
        own = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        own += b"resources:\n  - job.yaml\n"
        files[jobs(env)] = kustomize.set_images(
            own, jobs(env), [_entry("migrate", SEEDED["migrate"])]
        )
    return files


class FilesWorld(UnitWorld):
    """The unit world with the migrations part in each overlay's jobs folder."""

    def __init__(self, make_world: MakeWorld) -> None:
        self.world = make_world(edit=seeded)
        policy = load_policy(self.world.read("promotions.toml") or b"").policy
        assert policy is not None
        self.app = policy.apps[UNIT]
        self.ran = {env: [] for env in ENVS}
        self.sync()

    def pinned(self, env: str) -> str:
        """The unit key ``env``'s two files pin together on main."""
        repo = self.world.repo()
        tip = repo.tip("main")
        assert tip is not None
        view = repo.tree(tip)
        found = []
        for path, part in groups("kustomize", overlay(env), self.app, view.names):
            data = view.read(path)
            assert data is not None
            found.append(pins.read_pin("kustomize", data, path, part))
        pin = combine(self.app, found)
        return pin.digest if pin else ""

    def pin(self, part: str, digest: str) -> None:
        """CI pins one part in dev with `reconciler pin --push`."""
        code = main(
            [
                "pin",
                "--push",
                "--repo",
                str(self.world.remote),
                "--cache-dir",
                str(self.world.root / f"ci-{part}"),
                "--app",
                UNIT,
                "--env",
                "dev",
                f"{IMAGES[part]}@{digest}",
            ]
        )
        assert code == 0


def test_a_unit_with_a_part_in_a_sub_kustomization_moves_in_one_commit_per_environment(
    make_world: MakeWorld, tmp_path: Path
) -> None:
    unit = FilesWorld(make_world)
    assert unit.pinned("prod") == units.key(SEEDED)
    before = {env: unit.world.read(overlay(env)) for env in ENVS}
    # CI pins each part in dev, each in its own file: the api in the overlay, the
    # migrations in its jobs folder.
    unit.pin("migrate", BUILT["migrate"])
    assert unit.world.read(overlay("dev")) == before["dev"]
    unit.pin("api", BUILT["api"])
    built = units.key(BUILT)
    assert unit.pinned("dev") == built

    unit.promote(built)

    repo = unit.world.repo()
    for env, source in (("staging", "dev"), ("prod", "staging")):
        assert unit.pinned(env) == built
        # One commit moved both parts, editing both files and nothing else.
        (merge,) = unit.world.promotion_commits(env, built)
        assert merge.trailer(promotions.PROMOTED_FROM) == source
        changed = repo.changed_paths(merge.parents[0], merge.id)
        assert sorted(c.path for c in changed) == sorted([overlay(env), jobs(env)])
        (record,) = [
            r for r in unit.world.records() if r.head_branch == promotions.branch(env, UNIT)
        ]
        assert f"`{overlay(env)}`, `{jobs(env)}`" in record.body
    # Each environment ran the seeded set, then the built one: never a mix.
    assert unit.ran == {env: [units.key(SEEDED), built] for env in ENVS}
    history = [h for h in Cli(unit.world).json("history") if h["app"] == UNIT]
    assert [(h["to"], h["digest"]) for h in history] == [("staging", built), ("prod", built)]

    # What the cluster would run: the real kustomize renders the prod overlay, its jobs
    # folder included through the parent's resources.
    folder = tmp_path / "rendered"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "--git-dir", str(unit.world.remote), "archive", "main"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True, timeout=60)
    rendered = build(folder / "overlays/prod")
    images = {c["name"]: c["image"] for obj in rendered for c in containers(obj)}
    assert images["api"] == f"{IMAGES['api']}@{BUILT['api']}"
    assert images["migrate"] == f"{IMAGES['migrate']}@{BUILT['migrate']}"

    # A rollback goes back to the whole set prod ran before: one request whose head edits
    # both files back.
    rolled = unit.world.rollback("prod", "migrations lock a table", app=UNIT)
    assert rolled == 0
    repo = unit.world.repo()
    head = repo.tip(promotions.branch("prod", UNIT))
    assert head is not None
    info = repo.commit_info(head)
    edited = sorted(c.path for c in repo.changed_paths(info.parents[0], head))
    assert edited == sorted([overlay("prod"), jobs("prod")])
    assert info.trailer(promotions.ROLLBACK_OF) == built
    assert info.trailer(promotions.IMAGE_DIGEST) == units.key(SEEDED)


def test_on_the_github_simulator_each_files_code_owner_must_approve(tmp_path: Path) -> None:
    dba = "dba"
    with ExitStack() as stack:
        services = SampleServices(utc_now).start()
        stack.callback(services.stop)
        sim = stack.enter_context(serve_github(tmp_path / "config.git", owner=ORG, name="config"))
        author = sim.add_user(AUTHOR, "write")
        owner = sim.add_user(LOGIN)
        other = sim.add_user(dba)
        sim.add_team(TEAM.split("/")[1], (LOGIN,))
        sim.add_ruleset("prod reviews", require_code_owner_review=True)
        files = seeded(seed_files(services.base_url, TIMING))
        # The jobs folder of prod has an owner of its own, who is not in the release team.
        files[".github/CODEOWNERS"] += f"/overlays/prod/jobs/ @{dba}\n".encode()
        dev = kustomize.set_images(
            files[overlay("dev")], overlay("dev"), [_entry("api", BUILT["api"])]
        )
        job = kustomize.set_images(
            files[jobs("dev")], jobs("dev"), [_entry("migrate", BUILT["migrate"])]
        )
        sim.commit("main", {**files, overlay("dev"): dev, jobs("dev"): job})
        (tmp_path / "token").write_text(author + "\n")
        wired = build_daemon(
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
        loaded = load_policy(files["promotions.toml"]).policy
        assert loaded is not None
        unit_app = loaded.apps[UNIT]
        key = units.key(BUILT)
        clients = {
            who: github.Github(
                base_url=sim.url, auth=Auth.Token(token), seconds_between_requests=0
            ).get_repo(f"{ORG}/config")
            for who, token in ((LOGIN, owner), (dba, other))
        }
        approving = [LOGIN]

        def step() -> CycleReport:
            result = wired.runner.cycle()
            now = sim.tip("main")
            assert now is not None
            for env in ENVS:
                found = []
                layout = ((overlay(env), ("api",)), (jobs(env), ("migrate",)))
                for path, part in regroup(unit_app, layout):
                    data = sim.read(now, path)
                    assert data is not None
                    found.append(pins.read_pin("kustomize", data, path, part))
                pinned = combine(unit_app, found)
                services.deploy(env, UNIT, pinned.digest if pinned else None)
            for pull in list(sim.world.pulls.values()):
                if pull.head.endswith(f"/{UNIT}") and sim.pull(pull.number).state == "open":
                    for who in approving:
                        given = (
                            r.user == who and r.commit_id == pull.head_sha for r in pull.reviews
                        )
                        if not any(given):
                            clients[who].get_pull(pull.number).create_review(event="APPROVE")
            return result

        def waiting_for_dba(report: CycleReport) -> bool:
            return any(
                b.env == "prod" and b.code == "awaiting-review" and jobs("prod") in b.reason
                for b in report.plan.blocked
            )

        cycle_until(step, waiting_for_dba, "the prod pull waiting for the jobs folder's owner")
        prod = promotions.branch("prod", UNIT)
        (pull,) = [p for p in sim.world.pulls.values() if p.head == prod]
        assert not sim.pull(pull.number).merged  # the release team's approval alone is not all
        approving.append(dba)

        results = cycle_until(
            step, lambda _: services.running("prod", UNIT).digest == key, "the unit in prod"
        )

        assert internal_errors(results) == []
        assert sim.pull(pull.number).merged
        merged = sim.pull(pull.number).merge_commit_sha
        assert merged is not None
