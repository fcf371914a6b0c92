"""A generated config repo in which nothing is left to promote, and upstream edits to it.

The generated repo pins a different digest in each environment, so a daemon's first cycles
promote every app. The issue 11 measures need the steady state instead: every environment
pins dev's digest, so a cycle finds nothing to do until someone changes an overlay upstream.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import remote
from benchmarks.generate import ENVS, app_name, digest
from reconciler.gitrepo.port import Edit, ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo

PUSHER = Signature("pusher", "pusher@example.com", datetime(2026, 11, 26, tzinfo=UTC))
CODEOWNERS = ".github/CODEOWNERS"


def overlay_path(app: str, env: str) -> str:
    """The kustomization of ``app`` in ``env``."""
    return f"overlays/{env}/{app}/kustomization.yaml"


def settled_remote(work: Path, apps: int, owners: str = "@acme/release") -> Path:
    """A generated bare remote where staging and prod already pin dev's digest.

    ``owners`` own ``/overlays/prod/`` in CODEOWNERS (the simulator's org is ``acme``).
    """
    bare = remote(work, apps)
    names = [app_name(i) for i in range(apps)]

    def settle(view: ReadView) -> dict[str, bytes | None]:
        changes: dict[str, bytes | None] = {CODEOWNERS: f"/overlays/prod/ {owners}\n".encode()}
        for name in names:
            dev = digest(f"{name}-dev-1").encode()
            for env in ENVS[1:]:
                path = overlay_path(name, env)
                data = view.read(path)
                assert data is not None
                changes[path] = data.replace(digest(f"{name}-{env}-1").encode(), dev)
        return changes

    push(bare, work / "settle-clone", settle, "settle every environment on dev's digest")
    shutil.rmtree(work / "settle-clone")
    packed(bare)
    return bare


def packed(bare: Path) -> None:
    """Pack the remote's objects, as a hosted remote keeps them.

    The generator writes every object loose (93,000 at 10,000 apps); fetching from a
    local remote like that makes libgit2 open thousands of files per fetch (343 ms of a
    changed-overlay cycle at 10,000 apps), which no hosted remote costs.
    """
    subprocess.run(["git", "-C", str(bare), "gc", "--quiet"], check=True)


def push(bare: Path, clone: Path, edit: Edit, message: str) -> None:
    """Commit ``edit``'s changes on main and push them to ``bare``."""
    repo = Pygit2ConfigRepo.open(str(bare), clone)
    repo.update_branch("main", edit, message=message, author=PUSHER, committer=PUSHER)


class Upstream:
    """A person's clone of the remote: changes one app's overlay at a time and pushes."""

    def __init__(self, bare: Path, clone: Path) -> None:
        self._repo = Pygit2ConfigRepo.open(str(bare), clone)
        self._count = 0

    def repin(self, app: str, envs: tuple[str, ...] = ("dev",)) -> str:
        """Pin one new digest for ``app`` in each of ``envs`` in one commit, and push it."""
        self._count += 1
        new = digest(f"upstream-{app}-{self._count}")

        def edit(view: ReadView) -> dict[str, bytes | None]:
            changes: dict[str, bytes | None] = {}
            for env in envs:
                path = overlay_path(app, env)
                data = view.read(path)
                assert data is not None
                old = data.split(b"sha256:", 1)[1][:64].decode()
                changes[path] = data.replace(f"sha256:{old}".encode(), new.encode())
            return changes

        self._repo.fetch()
        self._repo.update_branch(
            "main", edit, message=f"{app}: {new[:15]}", author=PUSHER, committer=PUSHER
        )
        return new


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set size (VmRSS), or one of its parts (RssAnon: memory of
    its own; RssFile: pages of mapped files, such as pack files), in MB."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(f"{field}:"):
            return int(row.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")
