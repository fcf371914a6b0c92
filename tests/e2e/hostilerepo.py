"""A config repo whose main branch turns hostile, for the hostile-repo end-to-end test.

Three apps (web, api, evil) go dev -> staging; staging needs a code owner's review. The
repo starts healthy, every overlay pinning OLD. Then one commit pins NEW in every dev
overlay and, in the same commit, makes one thing hostile (a ``Row``): the policy, evil's
dev overlay, or CODEOWNERS. Symlinks point at ``outside/``, a folder next to the repo
that holds a valid overlay and a sentinel file, so that following one would "work".

Layout under the test's folder: ``work/`` holds the bare repo, the daemons' caches and a
checkout (for `reconciler validate`); ``outside/`` must end as it started.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.contract.gitworld import GitWorld
from tests.property.hostile import HOSTILE_OVERLAYS

OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
APPS = ("web", "api", "evil")
HEALTHY = ("web", "api")
POLICY = """\
version = 1

[apps.web]
image = "registry.example.com/team/web"

[apps.api]
image = "registry.example.com/team/api"

[apps.evil]
image = "registry.example.com/team/evil"

[environments.dev]
overlay = "overlays/{app}/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/{app}/staging"
require_codeowners = true
"""
CODEOWNERS = "/overlays/ @lead\n/promotions.toml @lead\n"
EVIL_DEV = "overlays/evil/dev/kustomization.yaml"
_CRAFTED = dict(HOSTILE_OVERLAYS)


def overlay_of(app: str, env: str) -> str:
    """The kustomization file of ``app`` in ``env``."""
    return f"overlays/{app}/{env}/kustomization.yaml"


def pinned(app: str, digest: str) -> bytes:
    """A kustomization that pins ``app`` to ``digest``."""
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n"
        f"- name: {app}\n  newName: registry.example.com/team/{app}\n  digest: {digest}\n"
    ).encode()


def healthy_files() -> dict[str, bytes]:
    """The repo as it starts: every app pins OLD everywhere."""
    files = {overlay_of(app, env): pinned(app, OLD) for app in APPS for env in ("dev", "staging")}
    files["promotions.toml"] = POLICY.encode()
    files[".github/CODEOWNERS"] = CODEOWNERS.encode()
    return files


@dataclass
class Tree:
    """A commit to be: files and symlinks (path -> target)."""

    files: dict[str, bytes]
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One hostile thing: how it changes the tree, and the file a report must name."""

    name: str
    change: Callable[[Tree, Path], None]
    names: str  # what the report must say: the file, with its line where there is one
    policy_level: bool = False  # the whole policy is refused (the last good one runs)


def _policy(old: str, new: Callable[[Path], str]) -> Callable[[Tree, Path], None]:
    def change(tree: Tree, outside: Path) -> None:
        tree.files["promotions.toml"] = POLICY.replace(old, new(outside)).encode()

    return change


def _evil_dev(data: bytes) -> Callable[[Tree, Path], None]:
    def change(tree: Tree, outside: Path) -> None:
        tree.files[EVIL_DEV] = data

    return change


def _folder_link(tree: Tree, outside: Path) -> None:
    del tree.files[EVIL_DEV]
    tree.links["overlays/evil/dev"] = "../../../outside"


def _file_link(tree: Tree, outside: Path) -> None:
    del tree.files[EVIL_DEV]
    tree.links[EVIL_DEV] = "../../../../outside/kustomization.yaml"


def _redos_codeowners(tree: Tree, outside: Path) -> None:
    # Backtracking bait for a regex translation, then a character class GitHub rejects.
    bait = "*a" * 2000 + "[b]"
    tree.files[".github/CODEOWNERS"] = (CODEOWNERS + f"/overlays/evil/**/{bait} @lead\n").encode()


STAGING_OVERLAY = 'overlay = "overlays/{app}/staging"'
ROWS = [
    Row(
        "overlay path with ..",
        _policy(STAGING_OVERLAY, lambda _: 'overlay = "overlays/{app}/../../../outside"'),
        "promotions.toml:17:",
        policy_level=True,
    ),
    Row(
        "absolute overlay path",
        _policy(STAGING_OVERLAY, lambda outside: f'overlay = "{outside}"'),
        "promotions.toml:17:",
        policy_level=True,
    ),
    Row(
        "overlay folder is a symlink out of the repo",
        _folder_link,
        'promotions.toml:13:11: environments.dev.overlay: "overlays/evil/dev" leads outside',
        policy_level=True,
    ),
    Row(
        "kustomization.yaml is a symlink out of the repo",
        _file_link,
        f'promotions.toml:13:11: environments.dev.overlay: "{EVIL_DEV}" leads outside',
        policy_level=True,
    ),
    Row("10 MB overlay", _evil_dev(_CRAFTED["10 MB file"]), EVIL_DEV),
    Row("billion laughs", _evil_dev(_CRAFTED["billion laughs"]), EVIL_DEV),
    Row("100k-deep nesting", _evil_dev(_CRAFTED["nested flow sequences"]), EVIL_DEV),
    Row("non-UTF-8 bytes", _evil_dev(_CRAFTED["non-UTF-8 bytes"]), EVIL_DEV + ":3"),
    Row("NUL byte", _evil_dev(_CRAFTED["NUL byte"]), EVIL_DEV + ":2:12"),
    Row("CODEOWNERS with a ReDoS pattern", _redos_codeowners, ".github/CODEOWNERS:3"),
    # Malformed digests (issue 18): the overlay is invalid at the digest's line, never a
    # candidate; without a [registry] nothing else would check the digest's form.
    Row("malformed digest", _evil_dev(pinned("evil", "sha256:abc")), EVIL_DEV + ":6:11"),
    Row("digest that is no digest", _evil_dev(pinned("evil", "not-a-digest")), EVIL_DEV + ":6:11"),
    Row(
        "digest algorithm not accepted",
        _evil_dev(pinned("evil", "blake3:" + "2" * 64)),
        EVIL_DEV + ":6:11",
    ),
    Row(
        "malformed digest carried in newTag",
        _evil_dev(
            pinned("evil", NEW).replace(b"digest: " + NEW.encode(), b"newTag: v2@sha256:bad")
        ),
        EVIL_DEV + ":6:11",
    ),
]


class HostileRepo:
    """The bare repo, the folder outside it, and the commits that make it hostile."""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.outside = root / "outside"
        self.work.mkdir(parents=True)
        self.outside.mkdir()
        (self.outside / "kustomization.yaml").write_bytes(pinned("evil", NEW))
        (self.outside / "sentinel.txt").write_bytes(b"must not change\n")
        self.git = GitWorld(self.work)
        self.git.seed(healthy_files(), message="healthy config repo\n")

    @property
    def url(self) -> str:
        """Where the daemon clones from."""
        return str(self.git.path)

    def turn_hostile(self, row: Row) -> Tree:
        """One commit on main: NEW in every dev overlay, and ``row``'s hostile change."""
        tree = Tree(healthy_files())
        for app in APPS:
            tree.files[overlay_of(app, "dev")] = pinned(app, NEW)
        row.change(tree, self.outside)
        self.git.seed(tree.files, links=tree.links, message=f"dev: NEW; {row.name}\n")
        return tree

    def checkout(self, tree: Tree) -> Path:
        """``tree`` written out as a working copy, symlinks as symlinks."""
        folder = self.work / "checkout"
        for path, data in tree.files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        for path, target in tree.links.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, folder / path)
        return folder

    def outside_state(self) -> dict[str, tuple[bytes, int]]:
        """Every file next to the repo, with its bytes and mtime; and the root's entries."""
        state = {
            str(p.relative_to(self.outside)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(self.outside.rglob("*"))
        }
        state["(root entries)"] = (
            " ".join(sorted(p.name for p in self.work.parent.iterdir())).encode(),
            0,
        )
        return state
