"""`reconciler validate` and `reconciler schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reconciler.policy import POLICY_FILE, LoadResult, Policy, load_policy
from reconciler.policy.reference import reference_markdown
from reconciler.policy.schema import schema_text
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, display_path, fail
from reconciler.worktree import DiskTree


def validate(args: argparse.Namespace) -> int:
    """Check a policy file, or a config repo folder with its overlay paths."""
    target = Path(args.path)
    tree = None
    if target.is_dir():
        tree = DiskTree(target)
        target = target / POLICY_FILE
    display = display_path(target)
    try:
        data = target.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return fail("validate", f"cannot read {display}: {reason}", EXIT_USAGE)
    result = load_policy(data, display, tree)
    if args.json:
        print(json.dumps([d.as_json() for d in result.diagnostics], indent=2))
    else:
        _print_result(display, result)
    return EXIT_OK if result.ok else EXIT_INVALID


def _print_result(display: str, result: LoadResult) -> None:
    for diagnostic in result.diagnostics:
        print(diagnostic)
    if result.policy is not None:
        print(f"{display}: valid: {summary(result.policy)}")
    else:
        count = len(result.diagnostics)
        print(f"{display}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)


def summary(policy: Policy) -> str:
    """One line: counts of apps, environments and edges, then the chains."""
    apps, envs, edges = len(policy.apps), len(policy.environments), policy.edges()

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    chains = []
    for env in policy.ordered():
        if env.follows is None:
            chain, node = [env.name], env.name
            followers = [e.name for e in policy.environments.values() if e.follows == node]
            while len(followers) == 1:
                node = followers[0]
                chain.append(node)
                followers = [e.name for e in policy.environments.values() if e.follows == node]
            chains.append(" -> ".join(chain) + (" -> ..." if followers else ""))
    return (
        f"{plural(apps, 'app')}, {plural(envs, 'environment')}, {plural(len(edges), 'edge')} "
        f"({'; '.join(chains)})"
    )


def schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema, or the Markdown reference."""
    sys.stdout.write(schema_text() if args.format == "json" else reference_markdown())
    return EXIT_OK
