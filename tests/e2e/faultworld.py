"""A promotion world made of real parts, for daemons running as processes (test_faults.py,
test_processes.py).

- GitHub: the simulator over HTTP, holding the config repo's pull requests, a ruleset that
  requires code-owner review, the code owner ``asha`` (team ``@acme/release-managers``)
  and the daemon's account ``reconciler-bot``.
- git: the simulator's bare repository, served to the daemons over smart HTTP by git's own
  ``http-backend``, with a pre-receive hook that can decline pushes; or (``transport =
  "file"``) given to them as a ``file://`` URL, so that a daemon writes the objects and
  takes the ref locks itself (where tests/e2e/killpoints.py can kill it).
- the registry: Debian's docker-registry behind a fault proxy, holding two real images, OLD
  (what every environment runs at first) and NEW (what CI built).
- environments: the demo's sample services (health, smoke, version) with injectable
  stalls, deploying what main pins when ``sync`` is called, as Argo CD would.

Everything the test asserts on is read from these parts, never from a daemon.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from reconciler.clock import utc_now
from reconciler.demo.flow import APP, example_dir
from reconciler.demo.services import SampleServices
from reconciler.errors import TransientError
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.overlays import kustomize, pins
from reconciler.policy.model import App
from reconciler.registry import ImageNotFound, open_registry
from tests.e2e.daemons import DaemonProcess
from tests.servers.fault_proxy import RunningProxy, serve_proxy
from tests.servers.git_http import serve_git
from tests.servers.github_sim import GitHubSim, serve_github

__all__ = ["BOT", "ENVS", "OWNER", "TAGS", "FaultWorld", "FaultyServices", "Images", "overlay"]

ENVS = ("dev", "staging", "prod")
TAGS = {"staging": "staging", "prod": "production"}  # the registry_tag of each environment
BOT, OWNER = "reconciler-bot", "asha"
REPOSITORY = "team/order-gateway"
FORGE_TIMEOUT = 1  # seconds: --github-timeout, so an injected timeout costs little
POLICY = """\
version = 1

[settings]
base_branch = "main"
poll_interval = "1s"              # webhooks make cycles sooner; this is the fallback
labels = ["promotion"]

[registry]
kind = "oci"
plain_http = true
timeout = "1s"

[apps.order-gateway]
image = "{image}"
kustomize_image = "order-gateway"

[environments.dev]
overlay = "overlays/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/staging"
auto_merge = true
gates = ["health"]
registry_tag = "staging"

[environments.prod]
follows = "staging"
overlay = "overlays/prod"
require_codeowners = true
merge_when_approved = true
gates = ["health", "smoke"]
registry_tag = "production"

[gates.health]
kind = "http"
url = "{base}/{{env}}/{{app}}/healthz"
successes = 2
interval = "100ms"
timeout = "300ms"

[gates.smoke]
kind = "http"
url = "{base}/{{env}}/{{app}}/smoke"
expect_json = {{ status = "ok" }}
interval = "100ms"
timeout = "300ms"
"""
LIVE = """
[live.{env}]
kind = "http"
url = "{base}/{{env}}/{{app}}/version"
since_field = "started_at"
timeout = "300ms"
"""
HOOK = """#!/bin/sh
# Declines one push per token file in {folder} (an injected fault); otherwise accepts.
for token in "{folder}"/decline-*; do
  [ -e "$token" ] || continue
  if rm "$token" 2>/dev/null; then
    echo "push declined: the server is busy (injected fault)" >&2
    exit 1
  fi
done
exit 0
"""


def overlay(env: str) -> str:
    """The file that pins the app in ``env``."""
    return f"overlays/{env}/kustomization.yaml"


class Images:
    """The two real images in the registry, and where each environment tag points."""

    def __init__(self, registry_host: str, old: str, new: str) -> None:
        self.registry_host = registry_host
        self.old, self.new = old, new
        self._direct = open_registry("oci", plain_http=True)  # past the proxy: no faults

    def reset_tags(self) -> None:
        """Every environment tag back on OLD, as before any promotion; a new run starts a
        new request budget, as each daemon cycle does (the client is the session's)."""
        self._direct.new_cycle()
        for tag in TAGS.values():
            self._direct.tag(f"{self.registry_host}/{REPOSITORY}", self.old, tag)

    def tagged(self, tag: str) -> str | None:
        """The digest ``tag`` points to now; None when unknown or not readable right now."""
        try:
            return self._direct.resolve(f"{self.registry_host}/{REPOSITORY}", tag)
        except ImageNotFound:
            return None
        except TransientError:
            # docker-registry rewrites a tag's link file in place: read during a daemon's
            # PUT, it answers 500 "invalid checksum digest format". Not settled yet, then.
            return None


class FaultyServices(SampleServices):
    """The sample environments, whose next ``stalls`` answers come after ``delay`` seconds."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__(clock)
        # A probe that timed out has hung up before its late answer: not worth a traceback.
        self._server.handle_error = _quiet  # type: ignore[method-assign]
        self.stalls = 0
        self.delay = 0.0
        self._faults = threading.Lock()

    def stall(self, count: int, delay: float) -> None:
        """Answer the next ``count`` requests late (a probe or live read times out)."""
        with self._faults:
            self.stalls, self.delay = count, delay

    def answer(self, path: str) -> tuple[int, dict[str, object]]:
        with self._faults:
            late = self.stalls > 0
            self.stalls -= 1 if late else 0
        if late:
            threading.Event().wait(self.delay)  # the injected timeout itself
        return super().answer(path)


class FaultWorld:
    """One config repo on the simulated GitHub, its environments, registry and daemons."""

    def __init__(
        self,
        root: Path,
        images: Images,
        registry_port: int,
        transport: Literal["http", "file"] = "http",
    ) -> None:
        self.root = root
        self.images = images
        self.transport = transport
        self._stack = contextlib.ExitStack()
        try:
            self._open(registry_port)
        except BaseException:
            self._stack.close()
            raise

    def _open(self, registry_port: int) -> None:
        git_root = self.root / "git"
        self.sim: GitHubSim = self._stack.enter_context(serve_github(git_root / "config.git"))
        self.git = self._stack.enter_context(serve_git(git_root))
        self.proxy: RunningProxy = self._stack.enter_context(serve_proxy(registry_port))
        self.services = FaultyServices(utc_now)
        self.services.start()
        self._stack.callback(self.services.stop)
        self.image = f"{self.proxy.host}/{REPOSITORY}"
        self.declines = self.root / "declines"
        self.declines.mkdir(parents=True)
        hook = self.sim.git_path / "hooks" / "pre-receive"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(HOOK.format(folder=self.declines))
        hook.chmod(0o755)

        self.sim.add_user(BOT, permission="write")
        self.owner_token = self.sim.add_user(OWNER, permission="write")
        self.sim.add_team("release-managers", (OWNER,))
        self.sim.add_team("platform", ())
        self.sim.add_ruleset(
            "code owners", require_code_owner_review=True, required_approving_review_count=0
        )
        self.token_file = self.root / "bot-token"
        self.token_file.write_text(self.sim.token_for(BOT) + "\n")
        self.intended = [self.sim.commit("main", self._seed(), "config repo for order-gateway\n")]
        self.intended.append(self.pin_dev(self.images.new, "new"))
        self.images.reset_tags()
        self._argo = Pygit2ConfigRepo.open(str(self.sim.git_path), self.root / "argo")
        self.sync()
        self.daemons: list[DaemonProcess] = []

    def close(self) -> None:
        """Stop the daemons (SIGTERM), then every server; the simulator checks its answers."""
        with self._stack:
            for daemon in self.daemons:
                daemon.stop()

    # -- the config repo ---------------------------------------------------------------------
    def _seed(self) -> dict[str, bytes]:
        example = example_dir()
        files = {
            str(p.relative_to(example)): p.read_bytes()
            for p in sorted(example.rglob("*"))
            if p.is_file()
        }
        owners = files[".github/CODEOWNERS"].replace(b"@swiggy-platform/", b"@acme/")
        files[".github/CODEOWNERS"] = owners
        policy = POLICY.format(image=self.image, base=self.services.base_url)
        policy += "".join(LIVE.format(env=env, base=self.services.base_url) for env in ENVS)
        files["promotions.toml"] = policy.encode()
        for env in ENVS:
            files[overlay(env)] = self._pinned(files[overlay(env)], env, self.images.old, "old")
        return files

    def _pinned(self, data: bytes, env: str, digest: str, tag: str) -> bytes:
        update = kustomize.parse_argument(f"{APP}={self.image}:{tag}@{digest}")
        return kustomize.set_images(data, overlay(env), [update])

    def pin_dev(self, digest: str, tag: str) -> str:
        """What CI does: pin ``digest`` in dev on main (a push); the commit."""
        tip = self.sim.tip("main")
        assert tip is not None
        data = self.sim.read(tip, overlay("dev"))
        assert data is not None
        files = {overlay("dev"): self._pinned(data, "dev", digest, tag)}
        return self.sim.commit("main", files, f"dev: {tag}\n", parent=tip)

    def other_writer(self, number: int) -> str:
        """Someone else pushes an unrelated change to main; the commit."""
        for _ in range(20):
            try:
                path = f"notes/other-writer-{number}.md"
                return self.sim.commit("main", {path: b"unrelated\n"}, f"notes {number}\n")
            except RuntimeError:  # a daemon's push landed in between: push again, as git would
                continue
        raise AssertionError("the other writer could not push in 20 tries")

    def decline_next_push(self, number: int) -> None:
        """The server's pre-receive hook declines the next push."""
        (self.declines / f"decline-{number}").write_text("")

    # -- the world around the daemons --------------------------------------------------------
    def pinned(self, env: str, commit: str | None = None) -> str | None:
        """The digest ``env``'s overlay pins at ``commit`` (default: main's tip)."""
        commit = commit or self.sim.tip("main")
        data = self.sim.read(commit, overlay(env)) if commit else None
        return pin_digest(data, overlay(env), self.image)

    def sync(self) -> None:
        """Deploy what each overlay pins on main, as Argo CD would."""
        self._argo.fetch()
        tip = self._argo.tip("main")
        assert tip is not None
        view = self._argo.tree(tip)
        for env in ENVS:
            self.services.deploy(env, APP, pin_digest(view.read(overlay(env)), "", self.image))

    def approve_prod(self) -> bool:
        """The code owner approves the open prod pull request's head, once per head."""
        with self.sim.world.lock:
            pulls = [
                p
                for p in self.sim.world.pulls.values()
                if p.state == "open" and p.head == f"promote/prod/{APP}"
            ]
            if len(pulls) != 1:
                return False
            pull = pulls[0]
            if any(r.user == OWNER and r.commit_id == pull.head_sha for r in pull.reviews):
                return False
        url = f"{self.sim.url}/repos/acme/config/pulls/{pull.number}/reviews"
        body = json.dumps({"event": "APPROVE", "body": "ok", "commit_id": pull.head_sha})
        request = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"Authorization": f"token {self.owner_token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status) == 200
        except urllib.error.HTTPError as refused:
            if refused.code == 422:  # the head moved since it was read: review the next one
                return False
            raise

    def daemon(self, name: str) -> DaemonProcess:
        """A `reconciler run` process against this world (not started)."""
        options = [
            "--forge",
            "github",
            "--github-repo",
            "acme/config",
            "--github-url",
            self.sim.url,
            "--github-token-file",
            str(self.token_file),
            "--github-timeout",
            str(FORGE_TIMEOUT),
            "--repo",
            self.git.url("config.git") if self.transport == "http" else self.remote_url,
            "--log-format",
            "json",
        ]
        made = DaemonProcess(name, self.root / name, options)
        self.daemons.append(made)
        return made

    @property
    def remote_url(self) -> str:
        """The config repo as a ``file://`` URL (the simulator's bare repository itself)."""
        return f"file://{self.sim.git_path}"

    def settled(self) -> bool:
        """NEW pinned and running everywhere, both pulls merged, tags moved, audit written."""
        if any(self.pinned(env) != self.images.new for env in ENVS):
            return False
        if any(self.services.running(env, APP).digest != self.images.new for env in ENVS):
            return False
        if any(self.images.tagged(tag) != self.images.new for tag in TAGS.values()):
            return False
        with self.sim.world.lock:
            merged = [p.merge_commit_sha for p in self.sim.world.pulls.values() if p.merged]
            live = {
                d.sha
                for d in self.sim.world.deployments.values()
                if any(s.state == "success" for s in d.statuses)
            }
        return len(merged) == 2 and all(sha in live for sha in merged)


def _quiet(request: object, client_address: object) -> None:
    return


def pin_digest(data: bytes | None, path: str, image: str) -> str | None:
    """The digest an overlay file pins for the app, or None."""
    if data is None:
        return None
    app = App(name=APP, image=image, kustomize_image=APP)
    pin = pins.read_pin("kustomize", data, path, app)
    return (pin.digest or None) if pin else None
