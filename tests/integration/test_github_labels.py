"""A pull opened on GitHub whose labelling write was lost is labelled by the next run.

GitHub takes a pull's labels in a second write after the one that creates it. Here the
simulator drops that second write unanswered, as when the process dies after creating the
pull and before labelling it; the next `reconciler once` (a new process, the same cache)
must find the unlabelled pull, label it, and open no other.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_validate import run
from tests.integration.test_cli_github import seeded
from tests.servers.github_sim import serve_github


def test_a_pull_left_unlabelled_is_labelled_by_the_next_run(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git") as sim:
        token = sim.add_user("reconciler-bot", permission="admin")
        sim.commit("main", seeded(), "config repo\n")
        (tmp_path / "token").write_text(token + "\n")
        options = [
            "--forge", "github",
            "--github-repo", "acme/config",
            "--github-url", sim.url,
            "--github-token-file", str(tmp_path / "token"),
            "--repo", str(sim.git_path),
            "--cache-dir", str(tmp_path / "cache"),
        ]  # fmt: skip
        dropped: list[str] = []

        def lose_label_writes(method: str, path: str) -> bool:
            if method == "POST" and path.endswith("/labels"):
                dropped.append(path)
                return False  # never answered: the writer is gone
            return True

        sim.world.faults.pause = lose_label_writes
        first = run("once", *options)
        sim.world.faults.pause = None

        assert dropped, "the run never tried to label the pull"
        assert "Traceback" not in first.stderr, first.stderr
        assert sim.pull(1).labels == []
        assert token not in first.stdout + first.stderr

        second = run("once", *options)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "labelled #1 promotion" in second.stdout, second.stdout
        assert sim.pull(1).labels == ["promotion"]
        assert sorted(sim.world.pulls) == [1], "a second pull was opened"

        third = run("once", *options)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "labelled" not in third.stdout, "labels were added twice"
        assert sorted(sim.world.pulls) == [1]
