"""The demo's rollback step (`reconciler demo --rollback`): prod misbehaves on the digest the
story promoted, someone runs `reconciler rollback`, only a code owner's approval merges
it, and the daemon then holds the bad digest out of prod."""

from __future__ import annotations

import shlex
from datetime import timedelta

from reconciler.audit import trail
from reconciler.cycle import CycleReport
from reconciler.demo import images
from reconciler.demo.flow import APP, NEW_DIGEST, OUTSIDER, OWNER, Demo
from reconciler.forge.local import LocalForge
from reconciler.planning.rollback import Ask
from reconciler.verbs.history import promotion_commits
from reconciler.verbs.rollback import roll_back

REASON = "checkout p99 latency tripled after the release"
ASKER = "@oncall"


def short(digest: str) -> str:
    """A digest as the demo prints it."""
    return digest[:15]


def blocked_in(result: CycleReport, env: str) -> list[str]:
    """What blocks promotions into ``env`` after ``result``'s cycle, as the demo prints it."""
    return [f"[{b.code}] {b.reason}" for b in result.plan.blocked if b.env == env]


def step(demo: Demo, limit: timedelta) -> None:
    """Roll prod back to what it ran before the story's promotion, and show the hold."""
    say = demo.say
    wired = demo.wired
    assert wired is not None
    command = shlex.join(
        [
            *("reconciler", "rollback", "--repo", str(demo.remote), "--app", APP),
            *("--env", "prod", "--previous", "--reason", REASON, "--as", ASKER),
        ]
    )
    say(f"\n9. prod misbehaves on {short(NEW_DIGEST)}; the on-call engineer rolls it back:")
    say(f"    $ {command}")
    decision, outcomes = roll_back(wired, Ask(APP, "prod", None, REASON, ASKER))
    for outcome in outcomes:
        say(f"    {outcome.detail}")
    number = demo.prod_request()
    say(
        f"    rollback request #{number}: {short(decision.replaces)} -> "
        f"{short(decision.digest)}; gates not required, code owners asked"
    )
    for reason in blocked_in(demo.cycle(), "prod"):
        say(f"    blocked: {reason}")
    demo.review(OUTSIDER)
    for reason in blocked_in(demo.cycle(), "prod"):
        say(f"    still blocked: {reason}")
    demo.review(OWNER)
    demo.until(
        lambda r: demo.services.running("prod", APP).digest == images.RUNNING.digest,
        "prod rollback",
        limit,
    )
    # The next cycle notes the rollback on the bad digest's request (the forge's audit).
    result = demo.cycle()
    say(
        f"10. prod runs {short(images.RUNNING.digest)} again; staging still runs "
        f"{short(NEW_DIGEST)}, and the daemon does not promote it into prod again:"
    )
    for reason in blocked_in(result, "prod"):
        say(f"    held: {reason}")
    say("\n$ reconciler history --env prod")
    forge = wired.forge
    assert isinstance(forge, LocalForge)
    policy = result.observation.policy
    commits = promotion_commits(
        wired.runner.observer, result.observation.snapshot.base_commit, policy
    )
    for entry in trail(forge.records(), commits):
        if entry.env != "prod":
            continue
        what = f"{entry.source} -> prod {short(entry.digest)}"
        if entry.rollback is not None:
            what = (
                f"prod rolled back from {short(entry.rollback.replaces)} to "
                f"{short(entry.digest)} by {entry.rollback.by} ({entry.rollback.reason})"
            )
        approvals = ", ".join(who for who, _ in entry.approvals) or "-"
        if entry.counted:
            approvals += f" (counted: {', '.join(entry.counted)})"
        say(f"{entry.app}: {what} [{entry.state}] #{entry.request} approved by {approvals}")
    for line in wired.metrics.exposition().decode().splitlines():
        if line.startswith("reconciler_rollbacks_total{"):
            say(line)
