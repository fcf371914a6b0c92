"""Large real-world inputs the daemon must take in its stride (found passing, kept as tests).

A staging kustomization listing 5,000 images, of which the policy promotes two: a promotion
changes exactly one line of it. A CODEOWNERS of 20,000 lines: the owner of the prod overlay
is still the last matching line, as GitHub reads it.
"""

from __future__ import annotations

from pathlib import Path

from reconciler import codeowners
from reconciler.actions import Merge
from reconciler.clock import utc_now
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.e2e.sharedrepo import OLD, STAGING, WHO, kustomization

NEW = "sha256:" + "a" * 64
OTHERS = 4998
POLICY = (
    'version = 1\n[apps.app0]\nimage = "r.io/app0"\n[apps.app1]\nimage = "r.io/app1"\n'
    '[environments.dev]\noverlay = "overlays/dev/{app}"\n'
    '[environments.staging]\nfollows = "dev"\noverlay = "overlays/staging"\nauto_merge = true\n'
)


def test_one_promotion_in_a_5000_image_overlay_changes_one_line(tmp_path: Path) -> None:
    remote = tmp_path / "config.git"
    staging = {"app0": OLD, "app1": OLD, **{f"lib{i}": OLD for i in range(OTHERS)}}
    files = {
        "promotions.toml": POLICY.encode(),
        STAGING: kustomization(staging),
        "overlays/dev/app0/kustomization.yaml": kustomization({"app0": OLD}),
        "overlays/dev/app1/kustomization.yaml": kustomization({"app1": OLD}),
    }
    create_repository(remote, files, branch="main", message="seed", author=WHO)
    ci = Pygit2ConfigRepo.open(str(remote), tmp_path / "ci")

    def dev(_: ReadView) -> dict[str, bytes | None]:
        return {"overlays/dev/app0/kustomization.yaml": kustomization({"app0": NEW})}

    ci.update_branch("main", dev, message="dev: app0", author=WHO, committer=WHO)
    wired = build(Settings(repo=str(remote), cache_dir=tmp_path / "cache"), utc_now)
    results = [wired.runner.cycle() for _ in range(3)]

    assert [o.detail for r in results for o in r.outcomes if not o.ok] == []
    assert sum(isinstance(o.action, Merge) for r in results for o in r.outcomes) == 1
    ci.fetch()
    tip = ci.tip("main")
    assert tip is not None
    before = (ci.read(ci.commit_info(tip).parents[0], STAGING) or b"").splitlines()
    after = (ci.read(tip, STAGING) or b"").splitlines()
    assert len(before) == len(after) == 1 + 2 * (OTHERS + 2)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [(f"  digest: {OLD}".encode(), f"  digest: {NEW}".encode())]


def test_a_20000_line_codeowners_still_gives_the_last_matching_line() -> None:
    lines = [f"/services/s{i}/ @acme/team{i}" for i in range(19_998)]
    lines += ["/overlays/ @acme/everyone", "/overlays/prod/ @acme/release"]
    owners = codeowners.parse("\n".join(lines) + "\n", ".github/CODEOWNERS")

    assert owners.owners_of("overlays/prod/kustomization.yaml") == ("@acme/release",)
    assert owners.owners_of("overlays/dev/kustomization.yaml") == ("@acme/everyone",)
    assert owners.owners_of("services/s17/app.yaml") == ("@acme/team17",)
    assert owners.owners_of("README.md") == ()
