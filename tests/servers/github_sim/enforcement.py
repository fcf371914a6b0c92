"""What stands between a pull request and its merge, decided as GitHub decides it.

Review requirements come from classic branch protection and from every active ruleset whose
conditions take in the base branch. An approval counts when it is a reviewer's latest
deciding review (a later "changes requested" withdraws it; dismissed ones count for
nothing), the reviewer can write, and is not the author. Without "dismiss stale reviews",
GitHub keeps counting an approval given on an older head: that is kept here on purpose.

Code owners come from the CODEOWNERS file on the base branch, parsed with
``reconciler.codeowners`` (the project's GitHub semantics): every changed path with owners
needs an approval from one of them (a team's member counts for the team). A path whose only
owner is the author needs none, and owners who do not exist or cannot write are ignored.

Required signatures (protection's "Require signed commits", a ruleset's
``required_signatures`` rule) refuse a merge whose pull request brings an unverified commit,
and a push of one (``signature_refusal``; pushes through pushcheck.py, a pre-receive hook).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reconciler import codeowners
from tests.servers.github_sim import signatures
from tests.servers.github_sim.state import Pull, Review, ReviewRules, Ruleset, World


@dataclass(frozen=True)
class Requirement:
    """Review rules in force on a branch, and where they come from."""

    source: Literal["protection", "ruleset"]
    rules: ReviewRules
    ruleset: Ruleset | None = None


def requirements(world: World, branch: str) -> list[Requirement]:
    """Every review requirement on ``branch``: protection first, then active rulesets."""
    found: list[Requirement] = []
    protection = world.protection.get(branch)
    if protection is not None and protection.reviews is not None:
        found.append(Requirement("protection", protection.reviews))
    for ruleset in active_rulesets(world, branch):
        if ruleset.reviews is not None:
            found.append(Requirement("ruleset", ruleset.reviews, ruleset))
    return found


def active_rulesets(world: World, branch: str) -> list[Ruleset]:
    """Rulesets enforced on ``branch`` (``evaluate`` and ``disabled`` ones are not)."""
    return [
        ruleset
        for ruleset in sorted(world.rulesets.values(), key=lambda r: r.id)
        if ruleset.enforcement == "active" and targets(world, ruleset, branch)
    ]


def targets(world: World, ruleset: Ruleset, branch: str) -> bool:
    """True when the ruleset's ref-name conditions take in ``branch``."""
    ref = f"refs/heads/{branch}"

    def hit(pattern: str) -> bool:
        if pattern == "~ALL":
            return True
        if pattern == "~DEFAULT_BRANCH":
            return branch == world.default_branch
        return _ref_pattern(pattern).fullmatch(ref) is not None

    return any(hit(p) for p in ruleset.include) and not any(hit(p) for p in ruleset.exclude)


def latest_reviews(pull: Pull) -> dict[str, Review]:
    """Each reviewer's latest deciding review (comments and pending reviews decide nothing)."""
    latest: dict[str, Review] = {}
    for review in sorted(pull.reviews, key=lambda r: (r.submitted_at, r.id)):
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user.lower()] = review
    return latest


def approvers(world: World, pull: Pull) -> list[str]:
    """Logins whose approval counts towards the required reviews."""
    return [
        review.user
        for login, review in latest_reviews(pull).items()
        if review.state == "APPROVED"
        and login != pull.user.lower()
        and world.can_write(review.user)
    ]


def dismiss_stale(world: World, pull: Pull) -> None:
    """After new commits on the head: dismiss approvals of older heads where configured."""
    if not any(r.rules.dismiss_stale_reviews for r in requirements(world, pull.base)):
        return
    for review in pull.reviews:
        if review.state == "APPROVED" and review.commit_id != pull.head_sha:
            review.state = "DISMISSED"


def refusal(world: World, pull: Pull, merger: str | None) -> str | None:
    """GitHub's message refusing the merge of ``pull`` by ``merger``, or None.

    With no ``merger``, nobody's bypass applies (what ``mergeable_state`` reports).
    """
    for requirement in requirements(world, pull.base):
        if merger is not None and _bypassed(world, requirement, pull.base, merger):
            continue
        message = _unmet(world, pull, requirement.rules)
        if message is None:
            continue
        if requirement.source == "ruleset":
            return f"Repository rule violations found\n\n{message}\n\n"
        return message
    return None


def code_owners(world: World, pull: Pull) -> list[str]:
    """Valid owners (``@user``, ``@org/team``, emails) of what ``pull`` changes, but its author."""
    found = {owner for owners in _owned_changes(world, pull) for owner in owners}
    return sorted(found, key=str.lower)


def missing_code_owners(world: World, pull: Pull) -> list[str]:
    """Owners (as GitHub names them) still to approve ``pull``; empty when none are needed."""
    approved = {login.lower() for login in approvers(world, pull)}
    waiting: set[str] = set()
    for owners in _owned_changes(world, pull):
        if not any(_approved_by(world, owner, approved) for owner in owners):
            waiting.update(_owner_name(owner) for owner in owners)
    return sorted(waiting, key=str.lower)


def _owned_changes(world: World, pull: Pull) -> list[list[str]]:
    """For each changed path with owners (other than the author alone): its valid owners."""
    base_tip = world.git.tip(pull.base)
    if base_tip is None:
        return []
    owners_file = codeowners.find(lambda path: world.git.read(base_tip, path))
    found = []
    for path in world.git.changed_files(base_tip, pull.head_sha):
        owners = [
            owner
            for owner in owners_file.owners_of(path)
            if valid_owner(world, owner) and owner.lower() != f"@{pull.user.lower()}"
        ]
        if owners:
            found.append(owners)
    return found


def _unmet(world: World, pull: Pull, rules: ReviewRules) -> str | None:
    if rules.require_code_owner_reviews:
        waiting = missing_code_owners(world, pull)
        if waiting:
            return f"Waiting on code owner review from {_either(waiting)}."
    count = len(approvers(world, pull))
    needed = rules.required_approving_review_count
    if count < needed:
        noun = "review is" if needed == 1 else "reviews are"
        return f"At least {needed} approving {noun} required by reviewers with write access."
    if needed > 0 and any(
        review.state == "CHANGES_REQUESTED" and world.can_write(review.user)
        for review in latest_reviews(pull).values()
    ):
        # GitHub blocks on an outstanding change request; the exact API text is not documented.
        return "Changes requested by a reviewer."
    return None


def _bypassed(world: World, requirement: Requirement, branch: str, merger: str) -> bool:
    if requirement.ruleset is not None:
        # Merging a pull request: every bypass mode lets the actor past the rule.
        return can_bypass(world, requirement.ruleset, merger) != "never"
    return _bypasses(world, branch, merger)


def _bypasses(world: World, branch: str, merger: str) -> bool:
    """Whether ``merger`` merges past the branch's classic protection.

    Admins do unless it is enforced for administrators too ("Do not allow bypassing the
    above settings"); actors in "Allow specified actors to bypass required pull requests"
    do in any case.
    """
    protection = world.protection.get(branch)
    if protection is None:
        return False
    if not protection.enforce_admins and world.is_admin(merger):
        return True
    me = merger.lower()
    if me in (u.lower() for u in protection.bypass_users):
        return True
    if me in (f"{a.lower()}[bot]" for a in protection.bypass_apps):
        return True
    teams = (world.team(slug) for slug in protection.bypass_teams)
    return any(t is not None and me in (m.lower() for m in t.members) for t in teams)


_ROLES = {2: "admin", 4: "write", 5: "admin"}  # GitHub's built-in roles: maintain, write, admin


def can_bypass(world: World, ruleset: Ruleset, login: str) -> str:
    """``current_user_can_bypass`` of ``login`` (a user, or an App's ``slug[bot]``)."""
    user = world.find_user(login)
    app = next((a for a in world.apps.values() if a.bot.login.lower() == login.lower()), None)
    for actor in ruleset.bypass:
        if actor.actor_type == "User":
            hit = user is not None and user.id == actor.actor_id
        elif actor.actor_type == "Team":
            team = next((t for t in world.teams.values() if t.id == actor.actor_id), None)
            hit = team is not None and login.lower() in (m.lower() for m in team.members)
        elif actor.actor_type == "Integration":
            hit = app is not None and app.id == actor.actor_id
        elif actor.actor_type == "RepositoryRole":
            role = _ROLES.get(actor.actor_id or 0)
            hit = world.is_admin(login) if role == "admin" else world.can_write(login)
        else:  # OrganizationAdmin: the simulator's admins stand for the organization's owners
            hit = world.is_admin(login)
        if hit:
            return {"pull_request": "pull_requests_only"}.get(actor.bypass_mode, actor.bypass_mode)
    return "never"


def valid_owner(world: World, owner: str) -> bool:
    """True when ``owner`` (``@user``, ``@org/team`` or an email) exists and can write."""
    if "@" in owner and not owner.startswith("@"):
        return any(
            u.email and u.email.lower() == owner.lower() and world.can_write(u.login)
            for u in world.users.values()
        )
    handle = owner[1:]
    if "/" in handle:
        org, slug = handle.split("/", 1)
        team = world.team(slug)
        return (
            org.lower() == world.owner.lower()
            and team is not None
            and team.permission in ("write", "admin")
        )
    return world.can_write(handle)


def _approved_by(world: World, owner: str, approved: set[str]) -> bool:
    if "@" in owner and not owner.startswith("@"):
        return any(
            u.email and u.email.lower() == owner.lower() and u.login.lower() in approved
            for u in world.users.values()
        )
    handle = owner[1:]
    if "/" in handle:
        team = world.team(handle.split("/", 1)[1])
        return team is not None and any(m.lower() in approved for m in team.members)
    return handle.lower() in approved


def _owner_name(owner: str) -> str:
    return owner[1:] if owner.startswith("@") else owner


def _either(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and/or {names[1]}"
    return ", ".join(names[:-1]) + f", and/or {names[-1]}"


def _ref_pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


# -- required signatures ---------------------------------------------------------------------

# GitHub's words: "Commits must have verified signatures." on a push (after "GH006: Protected
# branch update failed for refs/heads/BRANCH." for protection, "GH013: Repository rule
# violations found for refs/heads/BRANCH." for a ruleset) and on a merge through the API, as
# users report them (github.com/sustainable-computing-io/kepler/pull/240,
# github.com/grafana/cloudcost-exporter/pull/1061,
# github.com/appolon1908-hue/kyqra-crawler/issues/29).
UNVERIFIED = "Commits must have verified signatures."


@dataclass(frozen=True)
class SignatureRule:
    """A "require signed commits" in force on a branch, and where it comes from."""

    source: Literal["protection", "ruleset"]
    ruleset: Ruleset | None = None


def signature_rules(world: World, branch: str) -> list[SignatureRule]:
    """Every rule requiring verified signatures on ``branch``: protection's "Require signed
    commits" (``required_signatures``) and active rulesets' ``required_signatures`` rule.

    GitHub: "When you enable required commit signing on a branch, contributors and bots can
    only push commits that have been signed and verified to the branch"
    (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches#require-signed-commits;
    rulesets: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/available-rules-for-rulesets#require-signed-commits).
    """
    found: list[SignatureRule] = []
    protection = world.protection.get(branch)
    if protection is not None and protection.required_signatures:
        found.append(SignatureRule("protection"))
    found.extend(
        SignatureRule("ruleset", r) for r in active_rulesets(world, branch) if r.required_signatures
    )
    return found


def signature_refusal(
    world: World, branch: str, commits: list[str], actor: str | None
) -> str | None:
    """GitHub's refusal of ``commits`` (new to ``branch``) for an unverified one, or None.

    Bypass as GitHub allows it: an administrator past protection without "Do not allow
    bypassing the above settings" (``enforce_admins``), an actor a ruleset lets bypass
    always. A commit GitHub made itself (a merge through the API) is verified.
    """
    rules = [
        r for r in signature_rules(world, branch) if not _signs_bypassed(world, r, branch, actor)
    ]
    if not rules:
        return None
    bad = [c for c in commits if c not in world.made_here and not _verified(world, c)]
    if not bad:
        return None
    if all(r.source == "protection" for r in rules):
        return UNVERIFIED
    return f"Repository rule violations found\n\n{UNVERIFIED}\n\n"


def _signs_bypassed(world: World, rule: SignatureRule, branch: str, actor: str | None) -> bool:
    if actor is None:
        return False
    if rule.source == "protection":
        protection = world.protection[branch]
        return world.is_admin(actor) and not protection.enforce_admins
    assert rule.ruleset is not None
    return can_bypass(world, rule.ruleset, actor) == "always"


def _verified(world: World, commit: str) -> bool:
    return signatures.verified(signatures.read_commit(world.git.path, commit), world.keys)
