"""GitHubForge.compare against the simulator's "Compare two commits": the commits between an
image's two revisions in its source repository, capped, a rollback, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.changes import MAX_COMMITS
from reconciler.errors import PermanentError
from reconciler.forge.github.forge import GitHubForge
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim.gitstore import GitStore, Person

AT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with serve_github(tmp_path / "config.git", owner="acme", name="config") as running:
        yield running


def _commits(store: GitStore, messages: list[str]) -> list[str]:
    who = Person("Dev", "dev@example.org", AT)
    return [store.commit("main", {"f": m.encode()}, m, who) for m in messages]


def test_compare_lists_the_newest_commits_and_counts_the_rest(
    sim: GitHubSim, tmp_path: Path
) -> None:
    store = sim.add_source("acme/app", tmp_path / "app.git")
    alice = sim.add_user("alice", email="alice@example.org")
    first = _commits(store, ["Release 1"])[0]
    made = _commits(store, [f"Change {n} (#{n})" for n in range(1, 41)])
    forge = GitHubForge("acme/config", base_url=sim.url, token=alice)
    url = f"{sim.url}/acme/app"

    found = forge.compare(url, first, made[-1])

    assert found is not None
    assert found.total == 40
    assert [c.sha for c in found.commits] == made[-MAX_COMMITS:]  # the newest, oldest first
    assert found.commits[-1].title == "Change 40 (#40)"
    assert found.commits[-1].pull == 40
    assert found.commits[-1].author == "Dev"  # no account has the commit's email
    assert found.behind == 0
    back = forge.compare(url, made[-1], first)  # a rollback
    assert back is not None
    assert (back.total, back.behind, back.commits) == (0, 40, ())
    assert sim.counts["GET /repos/{owner}/{repo}/compare/{basehead}"] == 2


def test_a_source_elsewhere_is_none_and_an_unreadable_one_is_refused(
    sim: GitHubSim, tmp_path: Path
) -> None:
    token = sim.add_user("alice")
    forge = GitHubForge("acme/config", base_url=sim.url, token=token)
    assert forge.compare("https://gitlab.com/acme/app", "a" * 40, "b" * 40) is None
    with pytest.raises(PermanentError, match=r"GitHub answered 404.*read access"):
        forge.compare(f"{sim.url}/acme/private", "a" * 40, "b" * 40)
    store = sim.add_source("acme/app", tmp_path / "app.git")
    head = _commits(store, ["one"])[0]
    with pytest.raises(PermanentError, match="404"):  # a revision the repository lacks
        forge.compare(f"{sim.url}/acme/app", "c" * 40, head)
