"""What must hold after a promotion run, whatever failed or died on the way.

Every check reads the simulator's state (its bare repository, pulls, reviews and
deployments), the registry and the environments; each broken rule is one line saying what
and where, so a failing run is explained by its message alone.
"""

from __future__ import annotations

import os
import subprocess

from reconciler.demo.flow import APP
from tests.e2e.faultworld import ENVS, OWNER, TAGS, FaultWorld, overlay, pin_digest

SOURCES = {"staging": "dev", "prod": "staging"}


def open_duplicates(world: FaultWorld) -> list[str]:
    """More than one open promotion pull per (app, env) right now."""
    with world.sim.world.lock:
        heads = [p.head for p in world.sim.world.pulls.values() if p.state == "open"]
    return [
        f"{heads.count(head)} open pulls for {head}"
        for head in sorted(set(heads))
        if heads.count(head) > 1
    ]


def after_run(world: FaultWorld, logs: dict[str, str]) -> list[str]:
    """Every invariant of a finished run; an empty list when all hold."""
    return [
        *_one_promotion_each(world),
        *_everything_promoted(world),
        *_base_branch(world),
        *_overlays_parse(world),
        *_audit(world),
        *_clean_logs(logs, world.token_file.read_text().strip()),
    ]


def _one_promotion_each(world: FaultWorld) -> list[str]:
    found = []
    with world.sim.world.lock:
        pulls = list(world.sim.world.pulls.values())
    for env in SOURCES:
        mine = [p for p in pulls if p.head == f"promote/{env}/{APP}"]
        if len(mine) != 1 or not mine[0].merged:
            states = [(p.number, p.state, p.merged) for p in mine]
            found.append(f"{env}: expected one merged pull, found {states}")
    strays = [p.number for p in pulls if not p.head.startswith("promote/")]
    if strays:
        found.append(f"pulls that are no promotion: {strays}")
    return found


def _everything_promoted(world: FaultWorld) -> list[str]:
    new = world.images.new
    found = [
        f"lost: {env} pins {world.pinned(env)} on main" for env in ENVS if world.pinned(env) != new
    ]
    found += [
        f"lost: {env} runs {world.services.running(env, APP).digest}"
        for env in ENVS
        if world.services.running(env, APP).digest != new
    ]
    found += [
        f"lost: registry tag {tag} is at {world.images.tagged(tag)}"
        for tag in TAGS.values()
        if world.images.tagged(tag) != new
    ]
    return found


def first_parents(world: FaultWorld) -> list[str]:
    """Main's first-parent history, newest first."""
    git = world.sim.world.git
    tip = world.sim.tip("main")
    walked = []
    while tip is not None:
        walked.append(tip)
        parents = git.commit_info(tip).parents
        tip = parents[0] if parents else None
    return walked


def _base_branch(world: FaultWorld) -> list[str]:
    """Main holds the seed, CI's and the other writer's commits, and one merge per env."""
    git = world.sim.world.git
    with world.sim.world.lock:
        merges = {
            p.merge_commit_sha: p for p in world.sim.world.pulls.values() if p.merge_commit_sha
        }
    found = []
    intended = set(world.intended)
    for sha in first_parents(world):
        if sha in intended:
            continue
        pull = merges.get(sha)
        if pull is None:
            info = git.commit_info(sha)
            found.append(f"unintended commit on main: {sha[:12]} {info.message.splitlines()[0]!r}")
            continue
        env = pull.head.split("/")[1]
        head = git.commit_info(sha).parents[-1]
        info = git.commit_info(head)
        changed = git.changed_files(info.parents[0], head)
        if changed != [overlay(env)]:
            found.append(f"merge of #{pull.number} ({env}) changes {changed}")
        trailers = (f"Promoted-From: {SOURCES[env]}", f"Image-Digest: {world.images.new}")
        missing = [t for t in trailers if t not in info.message]
        if missing:
            found.append(f"head of #{pull.number} lacks trailers {missing}")
    return found


def _overlays_parse(world: FaultWorld) -> list[str]:
    """Every overlay on main's history and on every head branch pins OLD or NEW."""
    known = {world.images.old, world.images.new}
    commits = first_parents(world)
    with world.sim.world.lock:
        commits += [sha for name, sha in world.sim.world.git.branches() if name != "main"]
    found = []
    for sha in commits:
        for env in ENVS:
            data = world.sim.read(sha, overlay(env))
            try:
                digest = pin_digest(data, overlay(env), world.image)
            except Exception as broken:  # any parse failure is the violation reported
                found.append(f"{overlay(env)} at {sha[:12]} does not parse: {broken!r}")
                continue
            if digest not in known:
                found.append(f"{overlay(env)} at {sha[:12]} pins {digest}")
    return found


def _audit(world: FaultWorld) -> list[str]:
    """Each merged promotion: a deployment of its merge commit in its env, seen live; the
    prod one approved by the code owner on the head that was merged."""
    found = []
    with world.sim.world.lock:
        pulls = [p for p in world.sim.world.pulls.values() if p.merged]
        deployments = list(world.sim.world.deployments.values())
        for pull in pulls:
            env = pull.head.split("/")[1]
            mine = [d for d in deployments if d.sha == pull.merge_commit_sha]
            if len(mine) != 1 or mine[0].environment != env:
                found.append(f"#{pull.number}: deployments {[(d.id, d.environment) for d in mine]}")
                continue
            states = [s.state for s in mine[0].statuses]
            if "success" not in states:
                found.append(f"#{pull.number}: never recorded live (statuses {states})")
            payload = mine[0].payload
            if not isinstance(payload, dict) or payload.get("digest") != world.images.new:
                found.append(f"#{pull.number}: deployment payload {payload}")
            if env == "prod":
                approvers = {
                    r.user
                    for r in pull.reviews
                    if r.state == "APPROVED" and r.commit_id == pull.head_sha
                }
                if OWNER not in approvers:
                    found.append(f"#{pull.number}: merged without {OWNER}'s approval")
                if "release-managers" not in pull.requested_teams and not pull.reviews:
                    found.append(f"#{pull.number}: the code owners were never asked")
    return found


def _clean_logs(logs: dict[str, str], token: str) -> list[str]:
    """No bug (an internal error, a traceback) and no secret in any daemon's log."""
    bad = ("internal error", "Traceback", token)
    return [
        f"{name}: log line {line.strip()[:300]!r}".replace(token, "<the token>")
        for name, text in logs.items()
        for line in text.splitlines()
        if any(word in line for word in bad)
    ]


def whole_repository(world: FaultWorld) -> list[str]:
    """git's own verdict on the config repo: nothing missing or broken (git fsck)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(world.root)}  # fmt: skip
    done = subprocess.run(
        ["git", "fsck", "--full", "--strict", "--no-dangling"],
        cwd=world.sim.git_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return []
    return [f"git fsck: {line}" for line in (done.stdout + done.stderr).splitlines()[:10]]
