"""Who asks a new prod pull's code owners: GitHub does, at times only after answering the
create; the daemon leaves them to it and asks, a cycle later, only those still not asked.

https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners
("Code owners are automatically requested for review when someone opens a pull request
that modifies code that they own").
"""

from __future__ import annotations

from pathlib import Path

from reconciler.demo.flow import TEAM
from tests.e2e.closedworld import GitHubFlavour, Image

ASK = "POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"


def test_github_asks_a_new_pulls_code_owners_and_the_daemon_only_those_it_did_not(
    tmp_path: Path,
) -> None:
    flavour = GitHubFlavour(tmp_path, Image())
    try:
        sim = flavour.sim
        sim.faults.code_owners_later = True  # the create answer names nobody yet
        number = flavour.prod_request()
        flavour.step()  # the next cycle reads the pull: GitHub has asked them since
        team = TEAM.split("/")[1]
        assert sim.pull(number).requested_teams == [team]
        assert [e.operation for e in sim.exchanges].count(ASK) == 0

        with sim.world.lock:  # a person takes the request back: nobody asks them now
            sim.world.pulls[number].requested_teams.clear()
        flavour.step()
        assert sim.pull(number).requested_teams == [team]
        assert [e.operation for e in sim.exchanges].count(ASK) == 1
    finally:
        flavour.stop()
