"""The JSON GitHub sends for each kind of object, built from the simulator's records."""

from tests.servers.github_sim.shapes.common import Json, error, timestamp
from tests.servers.github_sim.shapes.pulls import PullShapes


class Shapes(PullShapes):
    """Every shape the simulator sends: people, the repository, pulls, deployments."""


__all__ = ["Json", "Shapes", "error", "timestamp"]
