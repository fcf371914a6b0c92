"""A whole promotion world for end-to-end tests, on this machine only.

A bare config repo on disk (the demo's files: the order-gateway example, the demo policy
pointed at the sample services, a team for CODEOWNERS), the sample services on loopback
playing dev, staging and prod, a way to deploy what main pins (as Argo CD would), CI
pinning a digest in dev, code owners and others reviewing from their own clones, and
daemons built by ``reconciler.wiring.build``, each with its own cache folder as separate
processes would have. Every read a test asserts on goes to the bare repo through a fresh
fetch: git and the request records are the user-visible truth.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from reconciler import promotions
from reconciler.cli import main
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo.flow import APP, IMAGE, OWNER, TEAM, Timing, seed_files
from reconciler.demo.services import SampleServices
from reconciler.forge.local import LocalForge
from reconciler.forge.port import Request
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY, RequestRecord
from reconciler.gitrepo.port import CommitInfo, ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.overlays import kustomize, pins
from reconciler.policy.model import App
from reconciler.settings import Settings
from reconciler.wiring import REAL, Factories, Wired, build

__all__ = [
    "APP",
    "CYCLE_PAUSE",
    "ENVS",
    "FAST",
    "NEW",
    "NEWER",
    "OWNER",
    "TEAM",
    "World",
    "cycle_until",
    "internal_errors",
    "overlay",
    "person",
    "pin_of",
]

ENVS = ("dev", "staging", "prod")
# The digests CI builds in these tests (the example repo pins another one everywhere).
NEW = "sha256:b7e2f90c2c5d9f1e6a4b3c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"
NEWER = "sha256:c4d1a0e9f8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1"
# The shortest durations the policy allows where they are not what a test is about.
FAST = Timing(
    interval=timedelta(milliseconds=100), soak=timedelta(0), merge_delay=timedelta(seconds=1)
)
CYCLE_PAUSE = FAST.interval.total_seconds()  # pacing of a real loop between cycles
GENEROUS_CYCLES = 300
GENEROUS_SECONDS = 30.0
APP_MODEL = App(name=APP, image=IMAGE, kustomize_image=APP)

T = TypeVar("T")


def overlay(env: str) -> str:
    """The file that pins the app in ``env``."""
    return f"overlays/{env}/kustomization.yaml"


def person(name: str) -> Signature:
    """A commit signature for someone other than the daemon, now."""
    return Signature(name, f"{name}@example.com", utc_now().replace(microsecond=0))


def pin_of(data: bytes | None, path: str) -> str | None:
    """The digest ``data`` (an overlay file) pins for the app, or None."""
    if data is None:
        return None
    pin = pins.read_pin("kustomize", data, path, APP_MODEL)
    return (pin.digest or None) if pin else None


def cycle_until(
    step: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    *,
    pause: float = CYCLE_PAUSE,
    max_cycles: int = GENEROUS_CYCLES,
    seconds: float = GENEROUS_SECONDS,
) -> list[T]:
    """Run ``step`` until ``done`` holds for its result; fail after a generous bound."""
    results: list[T] = []
    deadline = time.monotonic() + seconds
    while True:
        results.append(step())
        if done(results[-1]):
            return results
        if len(results) >= max_cycles or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {len(results)} cycles")
        threading.Event().wait(pause)


def internal_errors(results: list[CycleReport]) -> list[str]:
    """Failed actions that were bugs (exceptions other than ReconcilerError), not races."""
    return [o.detail for r in results for o in r.outcomes if "internal error" in o.detail]


class World:
    """One config repo, its sample environments and the people around it."""

    def __init__(
        self,
        root: Path,
        timing: Timing = FAST,
        edit: Callable[[dict[str, bytes]], dict[str, bytes]] | None = None,
    ) -> None:
        """``edit``, if given, changes the seed files before the repo is made."""
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.timing = timing
        self.clock = utc_now
        self.services = SampleServices(self.clock).start()
        self.remote = root / "config-repo.git"
        files = seed_files(self.services.base_url, timing)
        create_repository(
            self.remote,
            edit(files) if edit else files,
            branch="main",
            message="config repo for order-gateway",
            author=person("platform-team"),
        )
        self._argo = Pygit2ConfigRepo.open(str(self.remote), root / "argo-cache")
        self._reader = Pygit2ConfigRepo.open(str(self.remote), root / "reader-cache")
        self._audit = LocalForge(self._reader, "main")
        self._ci: Pygit2ConfigRepo | None = None
        self._reviewers: dict[str, LocalForge] = {}
        self.original = self.pinned("prod")
        self.sync()

    def stop(self) -> None:
        """Stop the sample services."""
        self.services.stop()

    # -- the daemon ----------------------------------------------------------------------
    def settings(self, name: str) -> Settings:
        """What a daemon process called ``name`` is started with (its own cache folder)."""
        return Settings(repo=str(self.remote), cache_dir=self.root / f"daemon-{name}")

    def daemon(self, name: str = "one", factories: Factories = REAL) -> Wired:
        """A daemon built as the `reconciler` command builds it; same name, same cache."""
        return build(self.settings(name), self.clock, factories=factories)

    def step(self, wired: Wired, approve: str | None = None, sync: bool = True) -> CycleReport:
        """One cycle; then the environments deploy main and, if asked, ``approve`` reviews."""
        result = wired.runner.cycle()
        if sync:
            self.sync()
        if approve is not None:
            self.approve_waiting(approve)
        return result

    # -- the world around it ---------------------------------------------------------------
    def sync(self) -> list[str]:
        """Deploy what each overlay pins on main, as Argo CD would; returns what changed."""
        self._argo.fetch()
        tip = self._argo.tip("main")
        assert tip is not None
        view = self._argo.tree(tip)
        changed = []
        for env in ENVS:
            if self.services.deploy(env, APP, pin_of(view.read(overlay(env)), overlay(env))):
                changed.append(env)
        return changed

    def ci_commit(self, digest: str, tag: str) -> str:
        """What the seed's CI job does: `set-image` on the dev overlay, commit, push."""
        if self._ci is None:
            self._ci = Pygit2ConfigRepo.open(str(self.remote), self.root / "ci-cache")
        path = overlay("dev")
        argument = f"{APP}={IMAGE}:{tag}@{digest}"

        def edit(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(path)
            assert data is not None
            return {path: kustomize.set_images(data, path, [kustomize.parse_argument(argument)])}

        who = person("ci-bot")
        pushed = self._ci.update_branch(
            "main", edit, message=f"dev: {tag}", author=who, committer=who
        )
        assert pushed.commit is not None
        return pushed.commit

    def push(self, path: str, change: Callable[[bytes], bytes], message: str) -> str:
        """A person's commit on main changing one file."""
        if self._ci is None:
            self._ci = Pygit2ConfigRepo.open(str(self.remote), self.root / "ci-cache")

        def edit(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(path)
            assert data is not None
            return {path: change(data)}

        who = person("platform-team")
        pushed = self._ci.update_branch("main", edit, message=message, author=who, committer=who)
        assert pushed.changed
        assert pushed.commit is not None
        return pushed.commit

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Point (None: delete) ``branch`` on the remote, as a person's push would."""
        ref = f"refs/heads/{branch}"
        change = ["-d", ref] if commit is None else [ref, commit]
        subprocess.run(["git", "-C", str(self.remote), "update-ref", *change], check=True)

    def forge_as(self, who: str) -> LocalForge:
        """The local forge as ``who`` uses it, from their own clone (`reconciler review`)."""
        if who not in self._reviewers:
            name = who.lstrip("@")
            repo = Pygit2ConfigRepo.open(str(self.remote), self.root / f"reviewer-{name}")
            self._reviewers[who] = LocalForge(
                repo, "main", handle=who, name=name, email=f"{name}@example.com", clock=self.clock
            )
        return self._reviewers[who]

    def approve(self, number: int, who: str) -> Request:
        """``who`` approves request ``number`` on its current head."""
        return self.forge_as(who).review(number, who, "approved")

    def approve_waiting(self, who: str, env: str = "prod", app: str = APP) -> bool:
        """Approve the open request into ``env`` unless ``who`` already approved its head."""
        request = self.open_request(env, app)
        if request is None or not request.head_commit or who in request.approvals():
            return False
        self.approve(request.number, who)
        return True

    def rollback(
        self, env: str, reason: str, *extra: str, app: str = APP, cache: str = "operator"
    ) -> int:
        """`reconciler rollback` of ``app`` in ``env``, as an operator runs it on their own
        clone (``cache``, under the world's folder); its exit code."""
        argv = ["rollback", "--repo", str(self.remote), "--cache-dir", str(self.root / cache)]
        return main([*argv, "--app", app, "--env", env, "--reason", reason, *extra])

    # -- what is true now, read from the bare repo ----------------------------------------
    def repo(self) -> Pygit2ConfigRepo:
        """A reader's clone, fetched now."""
        self._reader.fetch()
        return self._reader

    def tip(self, branch: str = "main") -> str | None:
        """Where ``branch`` is on the remote now."""
        return self.repo().tip(branch)

    def branches(self) -> dict[str, str]:
        """Every branch of the remote, with its commit."""
        return dict(self.repo().branches())

    def read(self, path: str, branch: str = "main") -> bytes | None:
        """``path`` on ``branch`` now."""
        repo = self.repo()
        tip = repo.tip(branch)
        return repo.read(tip, path) if tip else None

    def pinned(self, env: str, branch: str = "main") -> str | None:
        """The digest ``env``'s overlay pins on ``branch`` now."""
        return pin_of(self.read(overlay(env), branch), overlay(env))

    def running(self, env: str) -> str | None:
        """The digest the sample service of ``env`` runs."""
        return self.services.running(env, APP).digest

    def records(self) -> tuple[RequestRecord, ...]:
        """Every promotion request ever made, as the local forge reports them."""
        self.repo()
        return self._audit.records()

    def records_for(self, env: str) -> list[RequestRecord]:
        """The requests ever made for promotions of the app into ``env``."""
        head = promotions.branch(env, APP)
        return [r for r in self.records() if r.head_branch == head]

    def open_request(self, env: str, app: str = APP) -> Request | None:
        """The open request of ``app`` into ``env``, if any."""
        self.repo()
        head = promotions.branch(env, app)
        found = [r for r in self._audit.requests() if r.head_branch == head]
        assert len(found) <= 1, f"more than one open request for {head}: {found}"
        return found[0] if found else None

    def main_log(self) -> list[CommitInfo]:
        """Main's first-parent history, newest first."""
        repo = self.repo()
        tip = repo.tip("main")
        log = []
        while tip is not None:
            info = repo.commit_info(tip)
            log.append(info)
            tip = info.parents[0] if info.parents else None
        return log

    def promotion_commits(self, env: str, digest: str | None = None) -> list[CommitInfo]:
        """Commits on main that promoted something (``digest``, if given) into ``env``."""
        return [
            c
            for c in self.main_log()
            if c.trailer(promotions.PROMOTION_ENV) == env
            and (digest is None or c.trailer(promotions.IMAGE_DIGEST) == digest)
        ]

    def head_change(self, env: str) -> tuple[list[str], str | None, CommitInfo]:
        """What the head branch of ``env``'s promotions changes: paths, digest pinned, commit."""
        repo = self.repo()
        head = repo.tip(promotions.branch(env, APP))
        assert head is not None, f"no head branch for {env}"
        info = repo.commit_info(head)
        changed = [c.path for c in repo.changed_paths(info.parents[0], head)]
        return changed, pin_of(repo.read(head, overlay(env)), overlay(env)), info

    def settled(self, digest: str) -> bool:
        """Every environment runs ``digest``, and every request is merged and seen live."""
        if any(self.running(env) != digest for env in ENVS):
            return False
        return all(r.state == "merged" and r.live_at is not None for r in self.records())

    def summary(self) -> dict[str, Any]:
        """The end state in terms that do not depend on times, ports or commit ids."""
        log = [
            (
                c.title,
                c.trailer(promotions.PROMOTED_FROM),
                c.trailer(promotions.IMAGE_DIGEST),
                c.trailer(PROMOTION_REQUEST),
                tuple(t.value for t in c.trailers if t.key == REVIEWED_BY),
            )
            for c in self.main_log()
        ]
        requests = []
        for record in self.records():
            marker = promotions.parse_marker(record.body)
            approvers = sorted(
                {r.reviewer for r in record.reviews if r.state == "approved"}
                if record.head_commit is None
                else {
                    r.reviewer
                    for r in record.reviews
                    if r.state == "approved" and r.commit == record.head_commit
                }
            )
            requests.append(
                (
                    record.number,
                    record.head_branch,
                    record.state,
                    marker.digest if marker else None,
                    record.title,
                    record.requested_reviewers,
                    tuple(approvers),
                    record.live_at is not None,
                )
            )
        return {
            "overlays": {env: self.read(overlay(env)) for env in ENVS},
            "main": log,
            "requests": requests,
            "branches": sorted(self.branches()),
            "running": {env: self.running(env) for env in ENVS},
        }
