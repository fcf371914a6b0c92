"""A stateful GitHub REST API simulator on loopback, held to GitHub's OpenAPI description.

PyGithub (and any other client) talks to it unmodified: ``serve_github`` starts it and
yields a ``GitHubSim`` to seed users, teams, protection and rulesets, inject faults and
read counters. See ``simulator.py`` for the API and ``pulls.py``/``enforcement.py`` for
the GitHub rules it keeps.
"""

from tests.servers.github_sim.simulator import GitHubSim, serve_github

__all__ = ["GitHubSim", "serve_github"]
