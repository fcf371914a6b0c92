"""A person's rollback is remembered however many commits follow it.

22 apps share one staging kustomization. The daemon promoted app0's digest D into staging;
a person rolled app0 back by hand; then the daemon's own promotions of the other apps
touched the same file 25 times. Dev still pins D. Before the fix the rollback fell out of
the 20 commits of history kept per overlay and D went back into staging; now the history
is walked back as far as the rule needs, and D stays held.
"""

from __future__ import annotations

from pathlib import Path

from reconciler import promotions
from reconciler.actions import CommitDirect, Merge, Propose
from reconciler.clock import utc_now
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.gitrepo.trailers import Trailer
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.e2e.sharedrepo import APPS, OLD, STAGING, WHO, kustomization, seed

D = "sha256:" + "d" * 64


def test_a_rollback_in_a_shared_overlay_outlives_the_history_window(tmp_path: Path) -> None:
    staging = dict.fromkeys(APPS, OLD)
    remote = seed(tmp_path, dev={**dict.fromkeys(APPS, OLD), "app0": D}, staging=staging)
    person = Pygit2ConfigRepo.open(str(remote), tmp_path / "person")

    def commit(pins: dict[str, str], message: str, by_daemon: bool) -> None:
        def edit(_: ReadView) -> dict[str, bytes | None]:
            return {STAGING: kustomization(pins)}

        trailers = [Trailer(promotions.PROMOTED_FROM, "dev")] if by_daemon else []
        person.update_branch(
            "main", edit, message=message, author=WHO, committer=WHO, trailers=trailers
        )

    commit({**staging, "app0": D}, "promote app0", by_daemon=True)
    commit(staging, "roll app0 back: D broke checkout", by_daemon=False)
    for n in range(25):  # the daemon promotes the other apps, one commit each
        app = APPS[1 + n % 21]
        staging[app] = "sha256:" + f"{n + 1:x}".rjust(64, "a")
        commit(staging, f"promote {app}", by_daemon=True)

    wired = build(Settings(repo=str(remote), cache_dir=tmp_path / "cache"), utc_now)
    result = wired.runner.plan_only()

    writes = [
        a
        for a in result.plan.actions
        if isinstance(a, (Propose, Merge, CommitDirect)) and a.app == "app0"
    ]
    assert writes == []
    holds = [b for b in result.plan.blocked if b.app == "app0"]
    assert [b.code for b in holds] == ["hold"], holds
    assert "was replaced by hand in staging" in holds[0].reason
