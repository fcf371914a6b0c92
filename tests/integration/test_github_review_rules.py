"""Prod review exactly as GitHub enforces it, on the simulator: bypass, teams, case, catch-all.

Each scenario sets GitHub up as a user might, then asks the daemon's plan (as `reconciler plan`
builds it) and `reconciler doctor` (the console script): both must say the same thing, in
the same words. The simulator itself proves the danger each check guards against: where the
daemon reports "not enforced", the simulator lets the daemon's identity merge unreviewed.

GitHub's documentation behind each rule: "About rulesets" / REST "Get a repository ruleset"
(``current_user_can_bypass``, the bypass list), "About protected branches" ("Do not allow
bypassing the above settings"; "Allow specified actors to bypass required pull requests"),
REST "List team members" (organization permission "Members: read"), "About code owners"
(logins and slugs are case-insensitive; a line without owners unowns).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.demo.flow import QUICK, seed_files
from reconciler.forge.github import protection
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.cli.test_validate import run
from tests.e2e.closedworld import Image, prepare
from tests.integration.test_github_app import _rsa_pem
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim import enforcement as github_rules
from tests.servers.github_sim.state import BypassActor, Permission, Pull

ORG = "swiggy-platform"
TEAM = "release-managers"


@dataclass
class Setup:
    """The simulator with the demo's config repo (staging and dev ahead of prod)."""

    sim: GitHubSim
    root: Path
    token_file: Path

    def settings(self) -> Settings:
        return Settings(
            repo=str(self.sim.git_path),
            cache_dir=self.root / "cache",
            forge="github",
            github_repo=f"{ORG}/config",
            github_url=self.sim.url,
            github_token_file=self.token_file,
        )

    def as_user(self, login: str, permission: Permission = "write") -> None:
        """The daemon acts with a personal token of ``login``."""
        self.token_file.write_text(self.sim.add_user(login, permission) + "\n")

    def blocked(self, env: str) -> list[tuple[str, str]]:
        """The plan's blocked reasons for order-gateway in ``env``."""
        report = build(self.settings()).runner.plan_only()
        return [(b.code, b.reason) for b in report.plan.blocked if b.env == env]

    def doctor(self) -> tuple[int, str]:
        result = run(
            "doctor",
            "--forge",
            "github",
            "--github-repo",
            f"{ORG}/config",
            "--github-url",
            self.sim.url,
            "--github-token-file",
            str(self.token_file),
            "--repo",
            str(self.sim.git_path),
            "--cache-dir",
            str(self.root / "doctor-cache"),
        )
        return result.returncode, result.stdout


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with serve_github(tmp_path / "config.git", owner=ORG, name="config") as sim:
        sim.add_user("alice")
        sim.add_team(TEAM, ("alice",))
        sim.add_team("platform", ("alice",))
        sim.commit("main", prepare(seed_files("http://127.0.0.1:9", QUICK), Image()))
        yield Setup(sim, tmp_path, tmp_path / "token")


def not_enforced(setup: Setup) -> str:
    """The plan's codeowners-not-enforced reason for prod, checked against doctor's words."""
    blocked = dict(setup.blocked("prod"))
    assert "codeowners-not-enforced" in blocked, blocked
    reason = blocked["codeowners-not-enforced"]
    code, said = setup.doctor()
    assert code == 1
    assert f"[FAIL] main enforces code-owner review on the daemon: {reason}\n" in said
    return reason


def unreviewed_merge_allowed(setup: Setup, login: str) -> bool:
    """Whether GitHub (the simulator's rules) would let ``login`` merge an unreviewed change
    to the prod overlay: what "not enforced" means."""
    sim = setup.sim
    tip = sim.tip("main")
    assert tip is not None
    head = sim.commit("promote/prod/x", {"overlays/prod/kustomization.yaml": b"x\n"}, parent=tip)
    with sim.world.lock:
        number = next(sim.world.numbers)
        now = sim.world.clock()
        pull = Pull(number, number, "t", None, login, "promote/prod/x", "main", head, tip, now, now)
        return github_rules.refusal(sim.world, pull, login) is None


# -- classic protection -------------------------------------------------------------------


def test_an_admin_token_without_enforce_admins_is_not_enforced(setup: Setup) -> None:
    setup.as_user("reconciler", "admin")
    setup.sim.protect("main", require_code_owner_reviews=True, enforce_admins=False)

    reason = not_enforced(setup)

    assert reason == (
        "the branch protection of main requires review from code owners, but administrators "
        "may bypass it and the daemon's identity is a repository administrator: turn on 'Do "
        "not allow bypassing the above settings' (Include administrators)"
    )
    assert unreviewed_merge_allowed(setup, "reconciler")
    setup.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
    assert "codeowners-not-enforced" not in dict(setup.blocked("prod"))
    assert not unreviewed_merge_allowed(setup, "reconciler")


@pytest.mark.parametrize("who", ["reconciler", "team:bots"], ids=["the user", "its team"])
def test_a_bypass_allowance_for_the_daemon_is_not_enforced(setup: Setup, who: str) -> None:
    setup.as_user("reconciler", "admin")
    setup.sim.add_team("bots", ("reconciler",))
    setup.sim.protect(
        "main", require_code_owner_reviews=True, enforce_admins=True, bypass=(who, "alice")
    )

    reason = not_enforced(setup)

    assert "remove it from 'Allow specified actors to bypass required pull requests'" in reason
    assert unreviewed_merge_allowed(setup, "reconciler")


def test_a_bypass_allowance_for_someone_else_still_binds_the_daemon(setup: Setup) -> None:
    setup.as_user("reconciler", "admin")
    setup.sim.add_team("bots", ("alice",))
    setup.sim.protect(
        "main", require_code_owner_reviews=True, enforce_admins=True, bypass=("alice", "team:bots")
    )

    assert "codeowners-not-enforced" not in dict(setup.blocked("prod"))
    assert not unreviewed_merge_allowed(setup, "reconciler")


# -- rulesets ------------------------------------------------------------------------------


def _actor(sim: GitHubSim, kind: str, name: str, mode: str = "always") -> BypassActor:
    if kind == "RepositoryRole":
        return BypassActor("RepositoryRole", int(name), mode)  # type: ignore[arg-type]
    return BypassActor(kind, sim.actor_id(kind, name), mode)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actor", "said"),
    [
        (("User", "reconciler", "always"), "always"),
        (("User", "reconciler", "pull_request"), "pull_requests_only"),
        (("User", "reconciler", "exempt"), "exempt"),
        (("Team", "bots", "always"), "always"),
        (("RepositoryRole", "4", "pull_request"), "pull_requests_only"),  # write role
    ],
    ids=["user always", "user pull requests", "user exempt", "team", "write role"],
)
def test_a_ruleset_the_daemon_may_bypass_is_not_enforced(
    setup: Setup, actor: tuple[str, str, str], said: str
) -> None:
    setup.as_user("reconciler")
    setup.sim.add_team("bots", ("reconciler",))
    ruleset = setup.sim.add_ruleset(
        "prod reviews", require_code_owner_review=True, bypass=(_actor(setup.sim, *actor),)
    )

    reason = not_enforced(setup)

    assert reason == (
        f"ruleset {ruleset} requires review from code owners to merge into main (prod reviews), "
        f"but the daemon's identity may bypass it ({said}): remove the App, its team or its "
        "role from the ruleset's bypass list"
    )
    assert unreviewed_merge_allowed(setup, "reconciler")


def test_a_ruleset_bypassable_by_the_app_is_not_enforced_for_the_app(setup: Setup) -> None:
    private, public = _rsa_pem()
    (setup.root / "app.pem").write_text(private)
    installation = setup.sim.add_app(4242, "reconciler", public)
    ruleset = setup.sim.add_ruleset(
        "prod reviews",
        require_code_owner_review=True,
        bypass=(_actor(setup.sim, "Integration", "reconciler"),),
    )
    settings = Settings(
        repo=str(setup.sim.git_path),
        cache_dir=setup.root / "app-cache",
        forge="github",
        github_repo=f"{ORG}/config",
        github_url=setup.sim.url,
        github_app_id=4242,
        github_app_key_file=setup.root / "app.pem",
        github_installation_id=installation,
    )

    report = build(settings).runner.plan_only()

    blocked = {b.code: b.reason for b in report.plan.blocked if b.env == "prod"}
    assert f"ruleset {ruleset} requires review" in blocked["codeowners-not-enforced"]
    assert "may bypass it (always)" in blocked["codeowners-not-enforced"]
    assert unreviewed_merge_allowed(setup, "reconciler[bot]")


def test_one_ruleset_the_daemon_cannot_bypass_is_enough(setup: Setup) -> None:
    setup.as_user("reconciler")
    setup.sim.add_ruleset(
        "loose",
        require_code_owner_review=True,
        bypass=(_actor(setup.sim, "User", "reconciler"),),
    )
    strict = setup.sim.add_ruleset("strict", require_code_owner_review=True)

    assert "codeowners-not-enforced" not in dict(setup.blocked("prod"))
    _code, said = setup.doctor()
    assert f"main enforces code-owner review on the daemon: ruleset {strict}" in said
    assert not unreviewed_merge_allowed(setup, "reconciler")


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("hide_rulesets", "give the token or App 'Metadata: read' on the repository"),
        ("omit_bypass", "GitHub did not say whether the daemon may bypass it"),
    ],
)
def test_a_ruleset_github_will_not_explain_fails_closed(
    setup: Setup, fault: str, words: str
) -> None:
    setup.as_user("reconciler")
    setup.sim.add_ruleset("prod reviews", require_code_owner_review=True)
    setattr(setup.sim.faults, fault, True)

    assert words in not_enforced(setup)


def test_without_the_rules_endpoint_branch_protection_alone_decides_and_doctor_says_so(
    setup: Setup,
) -> None:
    """GitHub Enterprise Server before rulesets: ``/rules/branches`` is a 404."""
    setup.as_user("reconciler", "admin")
    setup.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
    setup.sim.faults.no_rulesets = True

    assert "codeowners-not-enforced" not in dict(setup.blocked("prod"))
    _code, said = setup.doctor()
    assert f"[warn] the forge shows all its rules: {protection.NO_RULESETS}\n" in said


# -- teams -----------------------------------------------------------------------------------


def test_an_unreadable_team_is_cannot_tell_in_the_plan_and_in_doctor(setup: Setup) -> None:
    """An App without the organization permission "Members: read"."""
    private, public = _rsa_pem()
    (setup.root / "app.pem").write_text(private)
    granted = {
        "contents": "write",
        "pull_requests": "write",
        "metadata": "read",
        "administration": "read",
    }
    installation = setup.sim.add_app(4242, "reconciler", public, permissions=granted)
    setup.sim.add_ruleset("prod reviews", require_code_owner_review=True)
    options = [
        "--github-app-id",
        "4242",
        "--github-app-key-file",
        str(setup.root / "app.pem"),
        "--github-installation-id",
        str(installation),
    ]
    common = [
        "--forge",
        "github",
        "--github-repo",
        f"{ORG}/config",
        "--github-url",
        setup.sim.url,
        "--repo",
        str(setup.sim.git_path),
    ]
    said = run("doctor", *common, *options, "--cache-dir", str(setup.root / "d")).stdout

    team = f"@{ORG}/{TEAM}"
    assert f"[FAIL] team {team} (owns overlays/prod/kustomization.yaml) can be read: " in said
    assert f"cannot tell who is in {team}" in said
    assert "'Members: read'" in said
    settings = Settings(
        repo=str(setup.sim.git_path),
        cache_dir=setup.root / "plan",
        forge="github",
        github_repo=f"{ORG}/config",
        github_url=setup.sim.url,
        github_app_id=4242,
        github_app_key_file=setup.root / "app.pem",
        github_installation_id=installation,
    )
    snapshot = build(settings).runner.plan_only().observation.snapshot
    assert "Members: read" in snapshot.unreadable_teams[team]
    assert team not in snapshot.teams


@pytest.mark.parametrize(
    ("teams", "words"),
    [
        ((), "GitHub has no such team"),
        ((TEAM,), "has no members: nobody can approve for it"),
    ],
    ids=["missing", "empty"],
)
def test_doctor_reports_a_missing_or_empty_owning_team(
    tmp_path: Path, teams: tuple[str, ...], words: str
) -> None:
    with serve_github(tmp_path / "config.git", owner=ORG, name="config") as sim:
        for team in teams:
            sim.add_team(team, ())
        sim.commit("main", prepare(seed_files("http://127.0.0.1:9", QUICK), Image()))
        setup = Setup(sim, tmp_path, tmp_path / "token")
        setup.as_user("reconciler")
        sim.add_ruleset("prod reviews", require_code_owner_review=True)

        code, said = setup.doctor()

    assert code == 1
    assert f"[FAIL] team @{ORG}/{TEAM} (owns overlays/prod/kustomization.yaml) can be read" in said
    assert words in said


def test_a_case_mismatched_owner_and_approver_still_merge_and_are_asked_once(
    setup: Setup,
) -> None:
    """CODEOWNERS says @Swiggy-Platform/Release-Managers and @ALICE; GitHub says alice."""
    setup.as_user("reconciler")
    setup.sim.add_ruleset("prod reviews", require_code_owner_review=True)
    tip = setup.sim.tip("main")
    assert tip is not None
    owners_file = f"/overlays/prod/ @{ORG.title()}/Release-Managers @ALICE\n"
    setup.sim.commit("main", {".github/CODEOWNERS": owners_file.encode()})

    snapshot = build(setup.settings()).runner.plan_only().observation.snapshot

    assert snapshot.teams == {f"@{ORG.title()}/Release-Managers": frozenset({"@alice"})}
    _code, said = setup.doctor()
    assert "[ok  ] team @Swiggy-Platform/Release-Managers" in said
    assert "codeowners-not-enforced" not in dict(setup.blocked("prod"))


# -- an auto_merge environment under a catch-all owner -----------------------------------------


def test_a_catch_all_owner_over_staging_waits_with_the_fix_and_doctor_warns(setup: Setup) -> None:
    setup.as_user("reconciler")
    ruleset = setup.sim.add_ruleset(
        "reviews", require_code_owner_review=True, required_approving_review_count=0
    )
    catch_all = f"* @{ORG}/platform\n/overlays/prod/ @{ORG}/{TEAM}\n"
    setup.sim.commit("main", {".github/CODEOWNERS": catch_all.encode()})

    _code, said = setup.doctor()

    assert (
        "[warn] staging (auto_merge) can merge order-gateway by itself: "
        f"overlays/staging/kustomization.yaml is owned by @{ORG}/platform (.github/CODEOWNERS:1)"
    ) in said
    assert (
        "fix: for staging to merge by itself, add a line with no owners, /overlays/staging/, "
        "below line 1 of .github/CODEOWNERS"
    ) in said
    # The plan says the same, with staging's request open (its gate dropped to get there).
    tip = setup.sim.tip("main")
    assert tip is not None
    policy = setup.sim.read(tip, "promotions.toml")
    assert policy is not None
    ungated = policy.replace(b'auto_merge = true\ngates = ["health"]', b"auto_merge = true")
    dev = setup.sim.read(tip, "overlays/dev/kustomization.yaml")
    assert dev is not None
    newer = dev.replace(Image().digest.encode(), b"sha256:" + b"9" * 64)  # CI pushed to dev
    files = {"promotions.toml": ungated, "overlays/dev/kustomization.yaml": newer}
    setup.sim.commit("main", files)
    wired = build(setup.settings())
    opened = wired.runner.cycle(one_shot=True)
    assert [o.action.env for o in opened.outcomes if o.ok] == ["staging"], opened.plan.blocked
    blocked = dict(b for b in setup.blocked("staging"))
    assert blocked["awaiting-review"] == (
        "request #1 needs a code owner's approval before the forge lets it merge: "
        f"overlays/staging/kustomization.yaml is owned by @{ORG}/platform "
        f"(.github/CODEOWNERS:1) and ruleset {ruleset} requires review from code owners to merge "
        "into main (reviews), and the daemon cannot bypass it; for staging to merge by itself, "
        "add a line with no owners, /overlays/staging/, below line 1 of .github/CODEOWNERS"
    )
    fixed = catch_all + "/overlays/staging/\n"
    setup.sim.commit("main", {".github/CODEOWNERS": fixed.encode()})
    assert "(auto_merge) can merge" not in setup.doctor()[1]
    merged = wired.runner.cycle(one_shot=True)
    assert [type(o.action).__name__ for o in merged.outcomes if o.ok] == ["Merge"]
