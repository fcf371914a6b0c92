"""What CODEOWNERS means for the policy's environments, as advice: which overlays an
``auto_merge`` environment cannot merge alone, and which teams must be readable because
they own an overlay that needs a code owner's review. Pure: ``plan``, ``doctor`` and
``validate`` ask here and say the same words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reconciler.codeowners import CodeOwners
from reconciler.policy.model import App, Environment, Policy

# The files that pin an app in an environment (its overlay file, or an app of several
# images' part files); () when they cannot be found.
PathOf = Callable[[Environment, App], tuple[str, ...]]


@dataclass(frozen=True)
class OwnedAutoMerge:
    """An ``auto_merge`` environment's overlay that a CODEOWNERS line gives owners."""

    env: str
    app: str
    path: str
    owners: tuple[str, ...]
    source: str
    line: int

    def fix(self) -> str:
        """The ownerless line that lets the daemon merge this environment by itself."""
        folder = self.path.rsplit("/", 1)[0]
        return (
            f"for {self.env} to merge by itself, add a line with no owners, /{folder}/, "
            f"below line {self.line} of {self.source}"
        )

    def owned(self) -> str:
        """Which line owns the overlay, and by whom."""
        return f"{self.path} is owned by {' '.join(self.owners)} ({self.source}:{self.line})"


def owned_auto_merges(
    policy: Policy, owners: CodeOwners, path_of: PathOf
) -> Iterator[OwnedAutoMerge]:
    """Each (auto_merge environment, app) whose overlay has code owners."""
    for env in policy.ordered():
        if not (env.auto_merge and env.mode == "pull-request"):
            continue
        for app in policy.apps_in(env.name):
            for path in path_of(env, app):
                rule = owners.rule_for(path)
                if rule is not None and rule.owners:
                    source = owners.source or "CODEOWNERS"
                    yield OwnedAutoMerge(env.name, app.name, path, rule.owners, source, rule.line)


def owning_teams(policy: Policy, owners: CodeOwners, path_of: PathOf) -> dict[str, list[str]]:
    """``@org/team`` owners of overlays that need a code owner's review, with those paths."""
    teams: dict[str, list[str]] = {}
    for env in policy.ordered():
        if not env.require_codeowners:
            continue
        for app in policy.apps_in(env.name):
            for path in path_of(env, app):
                for owner in owners.owners_of(path):
                    if owner.startswith("@") and "/" in owner:
                        teams.setdefault(owner, []).append(path)
    return teams
