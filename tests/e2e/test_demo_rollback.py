"""`reconciler demo --quick --rollback`, run as users run it: after the story, prod is rolled
back with `reconciler rollback`, only the code owner's approval merges it, and the daemon
holds the bad digest out of prod."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from reconciler import promotions
from reconciler.demo import images
from reconciler.demo.flow import NEW_DIGEST, OUTSIDER
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.e2e.world import OWNER, overlay, pin_of


def test_the_demo_rolls_prod_back_through_a_code_owner(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("reconciler")
    done = subprocess.run(
        [str(exe), "demo", "--quick", "--rollback", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()

    def first(pattern: str, after: int = -1) -> int:
        found = [i for i, line in enumerate(lines) if re.search(pattern, line) and i > after]
        assert found, f"no line matches {pattern!r} in:\n{done.stdout}"
        return found[0]

    bad, good = NEW_DIGEST[:15], images.RUNNING.digest[:15]
    opened = re.search(r"opened #(\d+) prod: roll back order-gateway to", done.stdout)
    assert opened is not None, done.stdout
    number = opened[1]
    # Each step after the one before: the story before step 9 has lines like these too.
    step = -1
    for pattern in (
        r"\$ reconciler rollback --repo .* --env prod --previous --reason",
        rf"blocked: \[awaiting-review\] request #{number} waits for approval",
        rf"{OUTSIDER} approves #{number}",
        rf"still blocked: .*approvals from {OUTSIDER} do not count",
        rf"{OWNER} approves #{number}",
        rf"daemon: merged #{number} as",
        rf"prod now runs {good}",
        rf"held: \[hold\] {bad}.* was replaced by a rollback \(checkout",
        rf"prod rolled back from {bad} to {good} by @oncall .* \[merged\] #{number}",
        r'^reconciler_rollbacks_total\{app="order-gateway",env="prod"\} 1\.0$',
    ):
        step = first(pattern, after=step)

    # The repo the demo leaves: prod pins the old digest again, by the rollback's merge.
    repo = Pygit2ConfigRepo.open(str(tmp_path / "demo/config-repo.git"), tmp_path / "reader")
    tip = repo.tip("main")
    assert tip is not None
    assert pin_of(repo.read(tip, overlay("prod")), overlay("prod")) == images.RUNNING.digest
    info = repo.commit_info(tip)
    assert info.trailer(promotions.ROLLBACK_OF) == NEW_DIGEST
    assert info.trailer(promotions.PROMOTED_FROM) is None
