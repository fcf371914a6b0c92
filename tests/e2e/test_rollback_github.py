"""`reconciler rollback` on the GitHub simulator: prod's CODEOWNERS-protected pull request.

The candidate is promoted into prod; `reconciler rollback --forge github` opens the prod pull
going back to the digest prod ran before. A write-access non-owner's approval does not merge
it (the daemon waits, and GitHub's rule would refuse too); the code owner's does. Then the
daemon does not promote the candidate, which staging still runs, into prod again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import promotions
from reconciler.actions import Merge, Propose
from reconciler.cli import main
from reconciler.demo.flow import APP, OWNER
from reconciler.model import short
from tests.e2e.closedworld import OUTSIDER, GitHubFlavour, Image
from tests.e2e.world import NEW, cycle_until


@pytest.mark.parametrize("merged_by", ["daemon", "person"])
def test_a_github_prod_rollback_merges_only_on_a_code_owners_approval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], merged_by: str
) -> None:
    flavour = GitHubFlavour(tmp_path, Image())
    try:
        before = flavour.prod_pin()
        flavour.approve(flavour.prod_request(), OWNER)
        cycle_until(flavour.step, lambda _: flavour.prod_pin() == NEW, "NEW in prod")
        settings = flavour.settings
        argv = [
            "rollback",
            *("--repo", settings.repo or "", "--forge", "github"),
            *("--github-repo", settings.github_repo or "", "--github-url", settings.github_url),
            *("--github-token-file", str(settings.github_token_file)),
            *("--cache-dir", str(tmp_path / "operator"), "--app", APP, "--env", "prod"),
            *("--reason", "checkout 500s", "--as", "@alice", "--previous"),
        ]
        assert main(argv) == 0, capsys.readouterr()
        head = promotions.branch("prod", APP)
        (number,) = [
            n for n, p in flavour.sim.world.pulls.items() if p.head == head and p.state == "open"
        ]
        pull = flavour.sim.pull(number)
        body = pull.body or ""
        marker = promotions.parse_marker(body)
        assert marker is not None
        assert (marker.kind, marker.digest, marker.replaces) == ("rollback", before, NEW)
        assert pull.title == f"prod: roll back {APP} to {short(before or '')}"
        assert "the gates on the source are not evaluated" in body

        flavour.approve(number, OUTSIDER)
        for _ in range(3):
            result = flavour.step()
            assert not [a for a in result.plan.actions if isinstance(a, Merge)]
        assert flavour.forge_alone(number).startswith("refuses")
        assert flavour.sim.pull(number).state == "open"
        assert flavour.prod_pin() == NEW

        flavour.approve(number, OWNER)
        if merged_by == "person":
            # The owner presses GitHub's button: a merge commit with GitHub's message,
            # "Merge pull request #N from ...", and none of the daemon's trailers.
            flavour.merge_as(number, OWNER)
        else:
            cycle_until(flavour.step, lambda _: flavour.prod_pin() == before, "the rollback")
        assert flavour.sim.pull(number).state == "closed"
        assert flavour.prod_pin() == before
        for _ in range(3):
            result = flavour.step()
            assert not [a for a in result.plan.actions if isinstance(a, (Propose, Merge))]
        (held,) = [b for b in result.plan.blocked if b.env == "prod"]
        assert held.code == "hold"
        assert "by a rollback (checkout 500s)" in held.reason, held.reason
        rollbacks = flavour.wired.metrics.rollbacks.labels(app=APP, env="prod")
        assert rollbacks._value.get() == 1
        assert flavour.prod_pin() == before
    finally:
        flavour.stop()
