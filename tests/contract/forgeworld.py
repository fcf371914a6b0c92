"""A config repo with a forge on it, in three flavours, for the forge contract tests.

``fake``: FakeForge alone. ``local-memory``: LocalForge over the in-memory ConfigRepo.
``local-git``: LocalForge over the pygit2 adapter and a real bare repo on disk. Each
world's base branch holds the same CODEOWNERS and teams, and ``push_head`` builds a head
branch the way the daemon does: one commit on the base tip changing one overlay.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Protocol

from reconciler.codeowners import parse
from reconciler.forge.local import LocalForge
from reconciler.forge.port import Forge, Request, ReviewState
from reconciler.forge.records import parse_teams
from reconciler.gitrepo.port import ConfigRepo, Signature
from reconciler.gitrepo.trailers import Trailer
from tests.contract.gitworld import FakeWorld, GitWorld, World
from tests.fakes.forge import FakeForge, stepping_clock

PROD = "overlays/prod/app/kustomization.yaml"
STAGING = "overlays/staging/app/kustomization.yaml"
CODEOWNERS = b"""\
# prod needs the release team or the lead; staging has no owners
/overlays/prod/ @acme/release @lead
/promotions.toml @acme/platform
"""
TEAMS = b"""\
[teams]
"@acme/release" = ["@rita", "@ron"]
"""
BASE = {
    "promotions.toml": b"version = 1\n",
    PROD: b"images:\n- name: app\n  digest: sha256:aa\n",
    STAGING: b"images:\n- name: app\n  digest: sha256:bb\n",
    ".github/CODEOWNERS": CODEOWNERS,
    ".reconciler/teams.toml": TEAMS,
}
SOURCE_URL = "https://github.com/acme/shop"  # an app's source repository
SOURCE_COMMIT = "5" * 40
HEAD_TRAILERS = (
    Trailer("Promoted-From", "staging"),
    Trailer("Image-Digest", "sha256:" + "c" * 64),
)


class ReviewingForge(Forge, Protocol):
    """A forge on which a test can also review, as ``reconciler review`` does."""

    def review(
        self, number: int, reviewer: str, state: ReviewState, comment: str = ""
    ) -> Request: ...


class ForgeWorld(Protocol):
    """A forge whose head branches a test can (re)build."""

    @property
    def forge(self) -> ReviewingForge:
        """The forge under test."""
        ...

    def push_head(self, branch: str, content: bytes, path: str = PROD) -> str:
        """Build (or rebuild) ``branch`` as one commit on the base changing ``path``."""
        ...

    def set_status(
        self, sha: str, name: str, state: str, url: str = "", repository: str | None = None
    ) -> None:
        """Set a commit status on ``sha`` as CI would (another identity than the daemon's),
        in the config repo or the source repository whose URL is ``repository``."""
        ...

    def source_commit(self) -> tuple[str, str]:
        """(URL, commit id) of a commit in an app's source repository the forge can read."""
        ...

    def require_checks(self, branch: str, names: tuple[str, ...]) -> bool:
        """Make ``branch`` require ``names``; False when this forge has no such rules."""
        ...


class FakeForgeWorld:
    """FakeForge with the same owners and teams as the git worlds."""

    def __init__(self) -> None:
        self.forge = FakeForge(
            codeowners=parse(CODEOWNERS.decode(), ".github/CODEOWNERS"),
            teams=parse_teams(TEAMS, "teams"),
            clock=stepping_clock(),
        )
        self._pushes = itertools.count()

    def push_head(self, branch: str, content: bytes, path: str = PROD) -> str:
        text = f"{branch} {path} {next(self._pushes)}".encode() + content
        commit = hashlib.sha1(text, usedforsecurity=False).hexdigest()
        self.forge.set_head(branch, commit, (path,))
        return commit

    def set_status(
        self, sha: str, name: str, state: str, url: str = "", repository: str | None = None
    ) -> None:
        self.forge.set_status(sha, name, state, url=url, repository=repository)

    def source_commit(self) -> tuple[str, str]:
        return SOURCE_URL, SOURCE_COMMIT

    def require_checks(self, branch: str, names: tuple[str, ...]) -> bool:
        self.forge.required[branch] = names
        return True


class LocalForgeWorld:
    """LocalForge acting as the daemon, over a client of ``world``'s remote."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.base = world.seed(BASE)
        self.repo: ConfigRepo = world.client()
        self.clock = stepping_clock()
        self.forge = LocalForge(self.repo, "main", clock=self.clock)

    def push_head(self, branch: str, content: bytes, path: str = PROD) -> str:
        base = self.repo.tip("main")
        assert base is not None
        who = Signature("reconciler", "reconciler@localhost", self.clock())
        outcome = self.repo.replace_branch(
            branch,
            lambda _view: {path: content},
            base=base,
            expected_old=self.repo.tip(branch),
            message=f"promote {path}",
            author=who,
            committer=who,
            trailers=HEAD_TRAILERS,
        )
        assert outcome.commit is not None
        return outcome.commit

    def set_status(
        self, sha: str, name: str, state: str, url: str = "", repository: str | None = None
    ) -> None:
        ci = LocalForge(self.world.client(), "main", handle="@ci", clock=self.clock)
        ci.set_status(sha, name, state, url=url, repository=repository)
        self.repo.fetch()  # the daemon's clone reads what the last fetch brought

    def source_commit(self) -> tuple[str, str]:
        return SOURCE_URL, SOURCE_COMMIT  # the local forge holds no source repositories

    def require_checks(self, branch: str, names: tuple[str, ...]) -> bool:
        return False  # no branch protection on the local forge


def make_world(flavour: str, tmp_path: Path) -> ForgeWorld:
    """One of "fake", "local-memory", "local-git"."""
    if flavour == "fake":
        return FakeForgeWorld()
    if flavour == "local-memory":
        return LocalForgeWorld(FakeWorld())
    return LocalForgeWorld(GitWorld(tmp_path))
