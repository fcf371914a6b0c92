"""The demo's story: dev -> staging -> prod for order-gateway, on this machine only.

A bare "remote" config repo made from promotion-policies/examples/order-gateway, sample
services on loopback playing the three environments, a CI commit as `reconciler pin --push`
makes it, and the
real daemon parts (local forge, observer, planner, applier) promoting the digest through
staging to a prod request that only a code owner's approval can merge.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import TextIO

import reconciler
from reconciler import changes, overview, pinning
from reconciler.audit import trail
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo import images, ledger, receivers
from reconciler.demo.services import SampleServices
from reconciler.errors import PermanentError
from reconciler.forge.local import LocalForge
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.model import short
from reconciler.overlays import kustomize, pins
from reconciler.policy import load_policy
from reconciler.settings import Settings
from reconciler.verbs.history import promotion_commits
from reconciler.wiring import Wired, build

APP = "order-gateway"
IMAGE = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"
NEW_DIGEST = images.BUILT.digest  # what CI builds; every environment runs images.RUNNING
OWNER, OUTSIDER = "@asha", "@mallory"
TEAM = "@swiggy-platform/release-managers"
ENVS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Timing:
    """How fast the demo runs: gate interval, soak and merge delay."""

    interval: timedelta
    soak: timedelta
    merge_delay: timedelta

    def values(self) -> dict[str, str]:
        """The template values of the demo policy."""
        return {
            "INTERVAL": f"{int(self.interval.total_seconds() * 1000)}ms",
            "SOAK": f"{int(self.soak.total_seconds() * 1000)}ms",
            "MERGE_DELAY": f"{int(self.merge_delay.total_seconds() * 1000)}ms",
        }


QUICK = Timing(timedelta(milliseconds=100), timedelta(seconds=1), timedelta(seconds=1))
NORMAL = Timing(timedelta(milliseconds=500), timedelta(seconds=4), timedelta(seconds=3))


def example_dir() -> Path:
    """The example config repo in the source checkout."""
    root = Path(reconciler.__file__).resolve().parents[1]
    example = root / "promotion-policies/examples/order-gateway"
    if not example.is_dir():
        raise PermanentError(f"the demo needs {example} (a source checkout of reconciler)")
    return example


def seed_files(
    base_url: str, timing: Timing, *, registry: bool = False, unit: bool = False
) -> dict[str, bytes]:
    """The demo config repo's files: the example, the demo policy, a team for CODEOWNERS;
    with ``registry``, the sample services are the policy's registry and every overlay
    pins the image they serve as running (``images.RUNNING``); with ``unit``, the ledger,
    an app of two images, is in the policy and every overlay pins its running set."""
    example = example_dir()
    files = {
        str(p.relative_to(example)): p.read_bytes()
        for p in sorted(example.rglob("*"))
        if p.is_file()
    }
    template = Template((Path(__file__).parent / "promotions.toml.in").read_text())
    policy = template.substitute(BASE=base_url, **timing.values())
    files["promotions.toml"] = policy.encode()
    files[".reconciler/teams.toml"] = f'[teams]\n"{TEAM}" = ["{OWNER}"]\n'.encode()
    if registry:
        policy += (
            "\n# The sample services also serve the images, with their labels: the prod\n"
            "# request says which version and revision it promotes, and from which.\n"
            f'[registry]\nkind = "oci"\nendpoint_url = "{base_url}"\nplain_http = true\n'
        )
        files["promotions.toml"] = policy.encode()
        running = images.RUNNING
        update = kustomize.parse_argument(f"{APP}={IMAGE}:{running.tag}@{running.digest}")
        for env in ENVS:
            path = f"overlays/{env}/kustomization.yaml"
            files[path] = kustomize.set_images(files[path], path, [update])
    if unit:
        files = ledger.with_ledger(files, ledger.RUNNING)
    if not load_policy(files["promotions.toml"]).ok:  # pragma: no cover - guarded by tests
        raise PermanentError("the demo policy does not validate")
    return files


class Demo:
    """One run of the story; ``say`` prints each step."""

    def __init__(
        self, workdir: Path, timing: Timing, out: TextIO, *, temporary: bool = False
    ) -> None:
        """``temporary``: ``workdir`` is the demo's own, removed by ``stop``."""
        self.workdir = workdir
        self.temporary = temporary
        self.timing = timing
        self.out = out
        self.clock: Callable[[], datetime] = utc_now
        self.services = SampleServices(self.clock).start()
        self.receivers = receivers.Receivers().start()
        for image in (images.RUNNING, images.BUILT):
            self.services.push(APP, image.tag, image.manifest, image.config)
        for path, image in (
            ("ledger", images.LEDGER_API),
            ("ledger", images.LEDGER_API_BUILT),
            ("ledger-migrations", images.LEDGER_MIGRATE),
        ):
            self.services.push(path, image.tag, image.manifest, image.config)
        self.remote = workdir / "config-repo.git"
        self.wired: Wired | None = None
        self.argo: Pygit2ConfigRepo | None = None
        self.unit_changed: list[str] = []  # where the last sync changed what the ledger runs

    def say(self, text: str) -> None:
        """Print one line of the story."""
        print(text, file=self.out, flush=True)

    # -- the parts ---------------------------------------------------------------------------
    def setup(self) -> Wired:
        """Remote config repo, sample services running what it pins, the daemon's parts."""
        signature = Signature("platform-team", "platform@example.com", self._now())
        files = seed_files(self.services.base_url, self.timing, registry=True, unit=True)
        files["promotions.toml"] += self.receivers.tables(self.workdir).encode()
        create_repository(
            self.remote,
            files,
            branch="main",
            message="config repo for order-gateway",
            author=signature,
        )
        self.argo = Pygit2ConfigRepo.open(str(self.remote), self.workdir / "argo-cache")
        self.sync()
        settings = Settings(repo=str(self.remote), cache_dir=self.workdir / "daemon-cache")
        self.wired = build(settings, self.clock)
        return self.wired

    def sync(self) -> list[str]:
        """Deploy what each overlay pins on main, as Argo CD would; returns what changed."""
        assert self.argo is not None
        self.argo.fetch()
        tip = self.argo.tip("main")
        assert tip is not None
        view = self.argo.tree(tip)
        app = _app()
        changed = []
        self.unit_changed = []
        for env in ENVS:
            path = f"overlays/{env}/kustomization.yaml"
            data = view.read(path)
            pin = pins.read_pin("kustomize", data, path, app) if data else None
            if self.services.deploy(env, APP, pin.digest if pin else None):
                changed.append(env)
            # The ledger runs the set its overlay pins, every part or none.
            unit = pins.read_pin("kustomize", data, path, ledger.app()) if data else None
            if self.services.deploy(env, ledger.APP, unit.digest if unit and unit.digest else None):
                self.unit_changed.append(env)
        return changed

    def ci_commit(self, digest: str, tag: str, app: str = APP, image: str = IMAGE) -> str:
        """What CI does once it built the image: `reconciler pin --push` in dev (the same
        edit, commit and push); returns the whole command, as CI would run it."""
        ci = Pygit2ConfigRepo.open(str(self.remote), self.workdir / "ci-cache")
        request = pinning.Request(app=app, env="dev", reference=f"{image}:{tag}@{digest}")
        signature = Signature("ci-bot", "ci@example.com", self._now())
        pinning.push(ci, "main", request, signature)
        return shlex.join(
            [
                "reconciler",
                "pin",
                "--push",
                "--repo",
                str(self.remote),
                "--app",
                app,
                "--env",
                "dev",
                request.reference,
            ]
        )

    def cycle(self) -> CycleReport:
        """One daemon cycle, then the sample environments deploy what it merged."""
        assert self.wired is not None
        result = self.wired.runner.cycle()
        for outcome in result.outcomes:
            self.say(f"    daemon: {outcome.detail}")
        for env in self.sync():
            self.say(f"    {env} now runs {_short(self.services.running(env, APP).digest)}")
        for env in self.unit_changed:
            running = self.services.running(env, ledger.APP).digest or ""
            self.say(f"    {env} now runs {ledger.APP} {short(running)}")
        return result

    def until(
        self, done: Callable[[CycleReport], bool], what: str, limit: timedelta
    ) -> CycleReport:
        """Cycle until ``done``; PermanentError after ``limit``."""
        deadline = self._now() + limit
        while True:
            result = self.cycle()
            if done(result):
                return result
            if self._now() > deadline:
                raise PermanentError(f"demo: {what} did not happen within {limit}")
            threading.Event().wait(self.timing.interval.total_seconds())

    def review(self, who: str, app: str = APP) -> None:
        """A person reviews the open prod request with `reconciler review approve`."""
        forge = LocalForge(
            self._repo(),
            "main",
            handle=who,
            name=who.lstrip("@"),
            email=f"{who.lstrip('@')}@example.com",
            clock=self.clock,
        )
        number = self.prod_request(app)
        request = forge.review(number, who, "approved")
        self.say(f"  {who} approves #{number} on head {request.head_commit[:12]}")

    def prod_request(self, app: str = APP) -> int:
        """The number of the open prod request of ``app``."""
        assert self.wired is not None
        for request in self.wired.forge.requests():
            if request.head_branch == f"promote/prod/{app}":
                return request.number
        raise PermanentError("demo: no open prod request")

    def _repo(self) -> Pygit2ConfigRepo:
        return Pygit2ConfigRepo.open(str(self.remote), self.workdir / "reviewer-cache")

    def _now(self) -> datetime:
        return self.clock().replace(microsecond=0)

    def stop(self) -> None:
        """Stop the sample services; remove the work folder when it is the demo's own."""
        self.services.stop()
        self.receivers.stop()
        if self.temporary:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _app() -> reconciler.policy.model.App:
    return reconciler.policy.model.App(name=APP, image=IMAGE, kustomize_image=APP)


def _short(digest: str | None) -> str:
    return digest[:15] if digest else "nothing"


def _blocked(result: CycleReport, env: str) -> list[str]:
    return [f"[{b.code}] {b.reason}" for b in result.plan.blocked if b.env == env]


def story(demo: Demo, *, rollback: bool = False) -> None:
    """The whole flow, narrated; with ``rollback``, prod is then rolled back."""
    say = demo.say
    limit = timedelta(seconds=60)
    wired = demo.setup()
    say(
        f"1. config repo {demo.remote} from the order-gateway example; sample services on "
        f"{demo.services.base_url} run {_short(demo.services.running('prod', APP).digest)} "
        "everywhere"
    )
    command = demo.ci_commit(NEW_DIGEST, "b7e2f90")
    say(f"2. CI pins the dev overlay:\n    $ {command}")
    for env in demo.sync():
        say(f"    {env} now runs {_short(demo.services.running(env, APP).digest)}")
    say("3. the daemon sees dev healthy on the new digest and promotes it to staging")
    demo.until(
        lambda r: demo.services.running("staging", APP).digest == NEW_DIGEST,
        "staging deploy",
        limit,
    )
    say("4. staging runs it; health and smoke gates on staging, then soak")
    result = demo.until(
        lambda r: any(o.result == "opened" and o.action.env == "prod" for o in r.outcomes),
        "prod request",
        limit,
    )
    number = demo.prod_request()
    say(
        f"5. prod request #{number} is open; review requested from the code owners of "
        f"overlays/prod/ ({TEAM})"
    )
    body = wired.forge.request(number).body
    for line in changes.section_of(body).splitlines()[1:]:
        if line:
            say(f"    {line}")
    result = demo.cycle()
    for reason in _blocked(result, "prod"):
        say(f"    blocked: {reason}")
    demo.review(OUTSIDER)
    result = demo.cycle()
    for reason in _blocked(result, "prod"):
        say(f"    still blocked: {reason}")
    demo.review(OWNER)
    say(f"    a code owner approved; the merge waits merge_delay ({demo.timing.merge_delay})")
    demo.until(
        lambda r: demo.services.running("prod", APP).digest == NEW_DIGEST, "prod merge", limit
    )
    result = demo.until(lambda r: not r.plan.actions, "a quiet cycle", limit)
    policy = result.observation.policy
    assert policy is not None
    rows = overview.rows(policy, result.observation.snapshot, result.plan, demo.clock())
    drifted = [r for r in rows if r["drift"]]
    say(f"6. prod runs {NEW_DIGEST[:15]}; drift is {drifted if drifted else 'zero'}")
    say("\n$ reconciler status")
    say(overview.table(rows).rstrip())
    say("\n$ reconciler history")
    forge = wired.forge
    assert isinstance(forge, LocalForge)  # the demo runs on the embedded forge
    commits = promotion_commits(
        wired.runner.observer, result.observation.snapshot.base_commit, policy
    )
    for entry in trail(forge.records(), commits):
        approvals = ", ".join(who for who, _ in entry.approvals) or "-"
        if entry.counted:
            approvals += f" (counted: {', '.join(entry.counted)})"
        say(
            f"{entry.app}: {entry.source} -> {entry.env} {entry.digest[:15]} [{entry.state}] "
            f"#{entry.request} approved by {approvals}"
        )
    _notifications(demo, limit)
    say("\n$ curl /metrics  (reconciler_drift and friends)")
    for line in wired.metrics.exposition().decode().splitlines():
        if line.startswith(
            (
                "reconciler_drift{",
                "reconciler_promotion_lag_seconds{",
                "reconciler_promotions_total{",
                "reconciler_policy_valid",
                "reconciler_notifications_total{",
            )
        ):
            say(line)
    ledger.story(demo, limit, OWNER)
    if rollback:
        from reconciler.demo import rollback as rolling  # noqa: PLC0415 - it builds on this

        rolling.step(demo, limit)


def _notifications(demo: Demo, limit: timedelta) -> None:
    """Wait (cycling: each confirms the last one's sends) until every receiver has the
    prod promotion's live event, then print what each got: one message per event."""
    live = f"live:{APP}:prod:{NEW_DIGEST}"

    def told() -> bool:
        return all(
            live in {receivers.event_id(name, d) for d in demo.receivers.received(name)}
            for name in receivers.KINDS
        )

    demo.until(lambda r: told(), "the notifications", limit)
    demo.say("\n7. notifications, one message per event to each local receiver:")
    for name in receivers.KINDS:
        got = demo.receivers.received(name)
        demo.say(f"    {name}: {len(got)} messages")
        for document in got:
            demo.say(f"      {receivers.headline(name, document)}")


def run(*, quick: bool, out: TextIO, workdir: Path | None = None, rollback: bool = False) -> Demo:
    """Run the story in ``workdir`` (a temporary folder when None, removed by the demo's
    ``stop``); returns the finished demo. A story that fails stops the demo first."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        demo = Demo(folder, QUICK if quick else NORMAL, out, temporary=workdir is None)
    except BaseException:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        story(demo, rollback=rollback)
    except BaseException:
        demo.stop()
        raise
    return demo
