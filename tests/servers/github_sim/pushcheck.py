"""Required signatures on pushes: a pre-receive hook in the simulated repository refuses a push
bringing an unverified commit to a branch that requires signed commits, with GitHub's words.

GitHub: "When you enable required commit signing on a branch, contributors and bots can only
push commits that have been signed and verified to the branch"
(https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches#require-signed-commits).
The refusal reads "GH006: Protected branch update failed for refs/heads/BRANCH." then
"Commits must have verified signatures." (protection), or "GH013: Repository rule violations
found for refs/heads/BRANCH." for a ruleset (enforcement.UNVERIFIED cites where users report
those lines).

The hook runs in git's own process (a push over smart HTTP, ``tests.servers.git_http``, or
``git push PATH``), so the simulator writes what it needs beside the repository
(``write_rules``: the rules, the registered keys, the commits GitHub made itself) whenever
that changes, and installs the hook the first time a branch requires signatures. Not seen by
the hook: a bypass (who pushes is not known to it), and the daemon's writes to a repository on
this machine (reconciler's localpush.py updates refs itself, as no server would let it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.servers.github_sim import signatures
from tests.servers.github_sim.enforcement import UNVERIFIED, _ref_pattern
from tests.servers.github_sim.state import World

RULES = "sim-push-rules.json"
ROOT = Path(__file__).resolve().parents[3]
ZERO = "0" * 40


def write_rules(world: World) -> None:
    """Write the push rules beside the repository, and the hook once any rule exists."""
    rules: list[dict[str, Any]] = [
        {"source": "protection", "branch": branch}
        for branch, protection in world.protection.items()
        if protection.required_signatures
    ]
    rules.extend(
        {"source": "ruleset", "include": r.include, "exclude": r.exclude}
        for r in world.rulesets.values()
        if r.enforcement == "active" and r.required_signatures
    )
    state = {
        "default_branch": world.default_branch,
        "rules": rules,
        "keys": {
            email: [[key.kind, key.public] for key in keys]
            for email, keys in world.keys.by_email.items()
        },
        "gnupghome": str(world.keys.gnupghome) if world.keys.gnupghome else None,
        "made_here": sorted(world.made_here),
    }
    path = world.git.path
    (path / RULES).write_text(json.dumps(state))
    hook = path / "hooks" / "pre-receive"
    if rules and not hook.exists():
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(
            f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m "
            "tests.servers.github_sim.pushcheck\n"
        )
        hook.chmod(0o755)


def main() -> int:
    """The pre-receive hook: one ``OLD NEW REF`` line per updated ref on stdin."""
    git_dir = Path(os.environ.get("GIT_DIR", "."))
    state = json.loads((git_dir / RULES).read_text())
    keys = signatures.Keyring(
        {
            email: [signatures.SigningKey(kind, public) for kind, public in listed]
            for email, listed in state["keys"].items()
        },
        Path(state["gnupghome"]) if state["gnupghome"] else None,
    )
    for line in sys.stdin.read().splitlines():
        old, new, ref = line.split()
        if not ref.startswith("refs/heads/") or new == ZERO:
            continue
        sources = _sources(state, ref)
        if not sources:
            continue
        excluded = ["--not", "--all"] if old == ZERO else ["--not", old]
        commits = signatures.rev_list(git_dir, new, excluded)
        bad = [
            c
            for c in commits
            if c not in state["made_here"]
            and not signatures.verified(signatures.read_commit(git_dir, c), keys)
        ]
        if bad:
            if "protection" in sources:
                print(f"error: GH006: Protected branch update failed for {ref}.", file=sys.stderr)
                print(f"error: {UNVERIFIED}", file=sys.stderr)
            else:
                print(f"error: GH013: Repository rule violations found for {ref}.", file=sys.stderr)
                print(f"error: - {UNVERIFIED}", file=sys.stderr)
                print(f"error:   Found {len(bad)} violation(s): {' '.join(bad)}", file=sys.stderr)
            return 1
    return 0


def _sources(state: dict[str, Any], ref: str) -> set[str]:
    branch = ref[len("refs/heads/") :]

    def hit(pattern: str) -> bool:
        if pattern == "~ALL":
            return True
        if pattern == "~DEFAULT_BRANCH":
            return bool(branch == state["default_branch"])
        return _ref_pattern(pattern).fullmatch(ref) is not None

    found: set[str] = set()
    for rule in state["rules"]:
        if rule["source"] == "protection" and rule["branch"] == branch:
            found.add("protection")
        elif rule["source"] == "ruleset" and (
            any(hit(p) for p in rule["include"]) and not any(hit(p) for p in rule["exclude"])
        ):
            found.add("ruleset")
    return found


if __name__ == "__main__":
    raise SystemExit(main())
