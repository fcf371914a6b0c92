"""Worlds for the fail-closed tests: the daemon with a prod request open, on either forge.

Both flavours start where a prod promotion is one approval away: dev and staging pin (and
run) the candidate digest, prod pins the example's old one, the daemon's gates pass on the
sample services, and ``merge_when_approved = true`` with no ``merge_delay``, so that a
qualifying approval merges on the very next cycle (the control case shows it does). Tests
then approve, break something, and cycle.

``GitHubFlavour``: the GitHub simulator over HTTP (its own bare repo, pull requests, reviews,
rulesets or classic protection, teams), the daemon built by ``wiring.build`` with a token
file, as ``reconciler run --forge github`` builds it. ``LocalFlavour``: the e2e ``World``
(a bare repo on disk, the embedded local forge). Either can use a real registry
(Debian's docker-registry with an image pushed by skopeo) in place of the example's ECR
image, for the cases about digests the registry must prove.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal, Protocol

import github
from github import Auth

from reconciler import promotions
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo.flow import APP, IMAGE, OWNER, TEAM, Timing, seed_files
from reconciler.demo.services import SampleServices
from reconciler.errors import PolicyError
from reconciler.forge.ledger import Ledger
from reconciler.forge.port import Review
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.overlays import kustomize
from reconciler.settings import Settings
from reconciler.wiring import REAL, Factories, Wired, build
from tests.conftest import need
from tests.e2e.world import NEW, World, cycle_until, overlay, person, pin_of
from tests.servers.docker_registry import DOCKER_REGISTRY, run_registry
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim import enforcement as github_rules
from tests.servers.github_sim.state import Review as SimReview
from tests.servers.github_sim.state import Token as SimToken
from tests.servers.oci_images import SKOPEO, push, write_policy
from tests.servers.oci_images import build as build_image

# No merge delay: an approval that counted would merge on the next cycle, so a few cycles
# after the approval are "well past the moment it would have merged" without waiting.
TIMING = Timing(interval=timedelta(milliseconds=100), soak=timedelta(0), merge_delay=timedelta(0))
ORG, LOGIN, AUTHOR = TEAM[1:].split("/")[0], OWNER[1:], "reconciler"
OUTSIDER = "@mallory"  # can write, owns nothing
HOLD = "promotion-hold"  # settings.hold_label's default
OWNERS_FILE = ".github/CODEOWNERS"
PROD_OWNERS_LINE = f"/overlays/prod/ {TEAM}\n"
Protection = Literal["ruleset", "classic"]


@dataclass(frozen=True)
class Image:
    """What the app's overlays pin: the repository and the candidate digest."""

    repository: str = IMAGE
    digest: str = NEW
    registry_host: str | None = None  # set when a real registry serves it


def prepare(files: dict[str, bytes], image: Image) -> dict[str, bytes]:
    """The seed files with dev and staging already on the candidate (and the registry)."""
    files = dict(files)
    policy = files["promotions.toml"].decode()
    if image.registry_host is not None:
        policy = policy.replace(
            f"[apps.{APP}]", f'[registry]\nkind = "oci"\nplain_http = true\n\n[apps.{APP}]'
        ).replace(f'image = "{IMAGE}"', f'image = "{image.repository}"')
    files["promotions.toml"] = policy.encode()
    update = kustomize.parse_argument(f"{APP}={image.repository}:b7e2f90@{image.digest}")
    for env in ("dev", "staging"):
        files[overlay(env)] = kustomize.set_images(files[overlay(env)], overlay(env), [update])
    return files


def tag_only(data: bytes, path: str, image: Image) -> bytes:
    """An overlay re-pinned by tag alone (``set-image NAME=IMAGE:TAG`` drops the digest)."""
    update = kustomize.parse_argument(f"{APP}={image.repository}:b7e2f90")
    return kustomize.set_images(data, path, [update])


@contextmanager
def registry_image(root: Path) -> Iterator[tuple[Image, Callable[[], None]]]:
    """A real registry serving the candidate; yields it and a way to delete its manifest."""
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    with run_registry(root / "registry") as registry:
        name = f"team/{APP}"
        pushed = build_image(root / "image", name, "b7e2f90", ())
        push(pushed, f"{registry.host}/{name}:b7e2f90", write_policy(root / "policy.json"))
        image = Image(f"{registry.host}/{name}", pushed.digest, registry.host)

        def vanish() -> None:
            url = registry.url(f"/v2/{name}/manifests/{pushed.digest}")
            request = urllib.request.Request(url, method="DELETE")
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(request, timeout=10) as answer:
                assert answer.status == 202, answer.status

        yield image, vanish


class Flavour(Protocol):
    """A forge with the daemon on it, as the fail-closed cases drive it."""

    name: str
    image: Image

    def step(self) -> CycleReport:
        """One daemon cycle; then the environments deploy what main pins."""
        ...

    def prod_request(self) -> int:
        """Cycle until the prod request is open; its number."""
        ...

    def request_head(self, number: int) -> str | None:
        """The request's head commit now (once merged: the head that was merged)."""
        ...

    def approve(self, number: int, who: str) -> None:
        """``who`` approves the request's current head, as a person does on that forge."""
        ...

    def author_approves(self, number: int) -> str:
        """The daemon's identity, made a code owner, approves its own request by every way
        the forge offers; returns what the forge's own front door said."""
        ...

    def hold(self, number: int) -> None:
        """A person puts the hold label on the request."""
        ...

    def push(self, path: str, change: Callable[[bytes], bytes], message: str) -> None:
        """A person's commit on main changing one file."""
        ...

    def push_to_request(self, path: str, change: Callable[[bytes], bytes]) -> None:
        """A person's commit on top of the prod request's head branch, changing one file."""
        ...

    def rewrite_request(self, files: dict[str, bytes], message: str) -> None:
        """A person's force-push: the prod head becomes one commit on main's tip."""
        ...

    def prod_pin(self) -> str | None:
        """The digest prod's overlay pins on main now."""
        ...

    def on_main(self, path: str) -> bytes | None:
        """``path`` on main now."""
        ...

    def forge_alone(self, number: int) -> str:
        """What the forge would do if asked to merge now, without the daemon's own checks."""
        ...

    def merge_calls(self) -> int:
        """Merge requests the daemon sent to the forge's API (0 where merging is local)."""
        ...


class LocalFlavour:
    """The embedded local forge: requests, reviews and labels recorded in the config repo."""

    name = "local"

    def __init__(self, root: Path, image: Image) -> None:
        self.image = image
        self.world = World(root, TIMING, edit=lambda files: prepare(files, image))
        self.wired: Wired = self.world.daemon()

    def stop(self) -> None:
        self.world.stop()

    def step(self) -> CycleReport:
        return self.world.step(self.wired)

    def prod_request(self) -> int:
        cycle_until(self.step, lambda _: self.world.open_request("prod") is not None, "prod")
        request = self.world.open_request("prod")
        assert request is not None
        return request.number

    def request_head(self, number: int) -> str | None:
        (record,) = [r for r in self.world.records() if r.number == number]
        if record.state == "open":
            return self.world.repo().tip(record.head_branch)
        return record.head_commit

    def approve(self, number: int, who: str) -> None:
        self.world.approve(number, who)

    def author_approves(self, number: int) -> str:
        author = f"@{AUTHOR}"
        try:
            self.world.approve(number, author)  # `reconciler review` refuses the author
            said = "accepted"
        except PolicyError as refused:
            said = str(refused)
        self.push(
            ".reconciler/teams.toml",
            lambda _: f'[teams]\n"{TEAM}" = ["{OWNER}", "{author}"]\n'.encode(),
            "the bot joins the release managers",
        )
        # Anyone who can push can write a review record by hand (see docs/security.md).
        request = self.world.open_request("prod")
        assert request is not None
        repo = Pygit2ConfigRepo.open(str(self.world.remote), self.world.root / "hand-editor")
        ledger = Ledger(repo, "main", lambda: person("someone"))
        forged = Review(reviewer=author, state="approved", commit=request.head_commit, at=utc_now())
        ledger.change(number, lambda r: replace(r, reviews=(*r.reviews, forged)), "review by hand")
        return said

    def hold(self, number: int) -> None:
        self.world.forge_as(OWNER).label(number, HOLD, present=True)

    def push(self, path: str, change: Callable[[bytes], bytes], message: str) -> None:
        self.world.push(path, change, message)

    def rewrite_request(self, files: dict[str, bytes], message: str) -> None:
        repo = Pygit2ConfigRepo.open(str(self.world.remote), self.world.root / "head-rewriter")
        who = person("mallory")
        branch = promotions.branch("prod", APP)
        main, head = repo.tip("main"), repo.tip(branch)
        assert main is not None

        def edit(_: ReadView) -> dict[str, bytes | None]:
            return dict(files)

        pushed = repo.replace_branch(
            branch, edit, base=main, expected_old=head, message=message, author=who, committer=who
        )
        assert pushed.changed

    def push_to_request(self, path: str, change: Callable[[bytes], bytes]) -> None:
        repo = Pygit2ConfigRepo.open(str(self.world.remote), self.world.root / "head-pusher")
        who = person("someone")

        def edit(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(path)
            assert data is not None
            return {path: change(data)}

        branch = promotions.branch("prod", APP)
        pushed = repo.update_branch(branch, edit, message="a change", author=who, committer=who)
        assert pushed.changed

    def prod_pin(self) -> str | None:
        return self.world.pinned("prod")

    def on_main(self, path: str) -> bytes | None:
        return self.world.read(path)

    def forge_alone(self, number: int) -> str:
        return "n/a (the local forge is the daemon's own)"

    def merge_calls(self) -> int:
        return 0


class GitHubFlavour:
    """The GitHub simulator, the daemon on it with a token, owners and a non-owner."""

    name = "github"
    _MERGE = "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge"

    def __init__(
        self,
        root: Path,
        image: Image,
        protection: Protection = "ruleset",
        token: str | None = None,
        repo: str | None = None,
        factories: Factories = REAL,
    ) -> None:
        """``token``: the daemon's token, when a test needs to know its value; ``repo``:
        the git remote the daemon uses (default: the simulator's bare repo, root/config.git);
        ``factories``: how the daemon makes its outside parts (a test may wrap them)."""
        self.image = image
        self._stack = ExitStack()
        self.services = SampleServices(utc_now).start()
        self._stack.callback(self.services.stop)
        self.sim: GitHubSim = self._stack.enter_context(
            serve_github(root / "config.git", owner=ORG, name="config")
        )
        # Classic protection is readable only by admins; enforce_admins keeps them bound.
        admin = protection == "classic"
        self.tokens = {AUTHOR: self.sim.add_user(AUTHOR, "admin" if admin else "write")}
        if token is not None:
            with self.sim.world.lock:
                self.sim.world.tokens[token] = SimToken(AUTHOR)
            self.tokens[AUTHOR] = token
        for login in (LOGIN, OUTSIDER[1:]):
            self.tokens[login] = self.sim.add_user(login)
        team = TEAM.split("/")[1]
        self.sim.add_team(team, (LOGIN,))
        self.sim.add_team("platform", ())
        self.ruleset = 0
        if protection == "ruleset":
            self.ruleset = self.sim.add_ruleset("prod reviews", require_code_owner_review=True)
        else:
            self.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
        self.sim.commit("main", prepare(seed_files(self.services.base_url, TIMING), image))
        (root / "token").write_text(self.tokens[AUTHOR] + "\n")
        self.settings = Settings(
            repo=repo or str(self.sim.git_path),
            cache_dir=root / "daemon",
            forge="github",
            github_repo=f"{ORG}/config",
            github_url=self.sim.url,
            github_token_file=root / "token",
        )
        self.wired = build(self.settings, utc_now, factories=factories)
        self.sync()

    def stop(self) -> None:
        self._stack.close()  # also checks every answer fitted GitHub's description

    def sync(self) -> None:
        """Deploy what each overlay pins on main, as Argo CD would."""
        tip = self.sim.tip("main")
        assert tip is not None
        for env in ("dev", "staging", "prod"):
            self.services.deploy(env, APP, pin_of(self.sim.read(tip, overlay(env)), overlay(env)))

    def step(self) -> CycleReport:
        result = self.wired.runner.cycle()
        self.sync()
        return result

    def _open(self) -> int | None:
        head = promotions.branch("prod", APP)
        found = [p.number for p in self.sim.world.pulls.values() if p.head == head]
        return found[0] if found and self.sim.pull(found[0]).state == "open" else None

    def prod_request(self) -> int:
        cycle_until(self.step, lambda _: self._open() is not None, "the prod pull request")
        number = self._open()
        assert number is not None
        return number

    def _as(self, login: str) -> github.Github:
        return github.Github(
            base_url=self.sim.url,
            auth=Auth.Token(self.tokens[login]),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )

    def request_head(self, number: int) -> str | None:
        return self.sim.pull(number).head_sha

    def approve(self, number: int, who: str) -> None:
        pull = self._as(who[1:]).get_repo(f"{ORG}/config").get_pull(number)
        pull.create_review(event="APPROVE", body="lgtm")

    def author_approves(self, number: int) -> str:
        with self.sim.world.lock:
            team = self.sim.world.team(TEAM.split("/")[1])
            assert team is not None
            team.members.append(AUTHOR)
        try:
            self.approve(number, f"@{AUTHOR}")
            said = "accepted"
        except github.GithubException as refused:
            said = f"{refused.status} {refused.data}"
        # Were GitHub ever to record one (an older GHES, a bug), it must still not count.
        with self.sim.world.lock:
            pull = self.sim.world.pulls[number]
            review = SimReview(
                self.sim.world.next_id(), AUTHOR, "APPROVED", "", pull.head_sha, utc_now()
            )
            pull.reviews.append(review)
        return said

    def hold(self, number: int) -> None:
        self._as(LOGIN).get_repo(f"{ORG}/config").get_pull(number).add_to_labels(HOLD)

    def merge_as(self, number: int, who: str) -> None:
        """``who`` merges the pull with GitHub's merge button (a merge commit, GitHub's
        default message)."""
        self._as(who[1:]).get_repo(f"{ORG}/config").get_pull(number).merge()

    def push(self, path: str, change: Callable[[bytes], bytes], message: str) -> None:
        tip = self.sim.tip("main")
        assert tip is not None
        data = self.sim.read(tip, path)
        assert data is not None
        self.sim.commit("main", {path: change(data)}, message + "\n")

    def rewrite_request(self, files: dict[str, bytes], message: str) -> None:
        main = self.sim.tip("main")
        assert main is not None
        self.sim.commit(promotions.branch("prod", APP), dict(files), message, parent=main)

    def push_to_request(self, path: str, change: Callable[[bytes], bytes]) -> None:
        branch = promotions.branch("prod", APP)
        tip = self.sim.tip(branch)
        assert tip is not None
        data = self.sim.read(tip, path)
        assert data is not None
        self.sim.commit(branch, {path: change(data)}, "a change\n", parent=tip)

    def prod_pin(self) -> str | None:
        return pin_of(self.on_main(overlay("prod")), overlay("prod"))

    def on_main(self, path: str) -> bytes | None:
        tip = self.sim.tip("main")
        assert tip is not None
        return self.sim.read(tip, path)

    def forge_alone(self, number: int) -> str:
        with self.sim.world.lock:
            refused = github_rules.refusal(self.sim.world, self.sim.world.pulls[number], AUTHOR)
        return "would merge" if refused is None else f"refuses ({refused.strip()})"

    def merge_calls(self) -> int:
        return sum(1 for e in self.sim.exchanges if e.operation == self._MERGE)
