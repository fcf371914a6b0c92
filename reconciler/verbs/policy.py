"""`reconciler validate` and `reconciler schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reconciler import codeowners, ownership, partfiles
from reconciler.errors import PolicyError
from reconciler.forge.records import TEAMS_PATH, parse_teams
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays import pins
from reconciler.policy import POLICY_FILE, LoadResult, Policy, load_policy
from reconciler.policy.diagnostics import Diagnostic
from reconciler.policy.model import App, Environment
from reconciler.policy.reference import reference_markdown
from reconciler.policy.schema import schema_text
from reconciler.policy.values import fill
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, display_path, fail
from reconciler.worktree import DiskTree

# The heading of each annotation GitHub shows on a failing line.
ANNOTATION_TITLE = "reconciler validate"


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
        message = f"cannot read {display}: {reason}"
        if args.output == "github":
            print(workflow_command("error", message, {"title": ANNOTATION_TITLE}))
        return fail("validate", message, EXIT_USAGE)
    result = load_policy(data, display, tree)
    warnings = _warnings(result.policy, tree, target.parent) if tree else []
    if tree and result.policy is not None:
        warnings += _part_folders(result.policy, tree, target.parent)
        warnings += _unnamed(result.policy, tree, target.parent)
    if args.output == "json":
        found = [d.as_json() for d in result.diagnostics]
        found += [{**w.as_json(), "severity": "warning"} for w in warnings]
        print(json.dumps(found, indent=2))
    elif args.output == "github":
        for diagnostic in result.diagnostics:
            print(github_annotation(diagnostic))
        for warning in warnings:
            print(github_annotation(warning, "warning"))
        _print_verdict(display, result)
    else:
        for diagnostic in result.diagnostics:
            print(diagnostic)
        for warning in warnings:
            print(f"{warning.file}:{warning.line}:{warning.column}: warning: {warning.message}")
        _print_verdict(display, result)
    return EXIT_OK if result.ok else EXIT_INVALID


def _kustomization(tree: DiskTree, folder: str) -> str | None:
    """The kustomization file in ``folder``, as kustomize looks for one; None if none."""
    names = (f"{folder}/{name}" for name in KUSTOMIZATION_FILES)
    return next((path for path in names if tree.kind(path) == "file"), None)


def _part_folders(policy: Policy, tree: DiskTree, root: Path) -> list[Diagnostic]:
    """A Kustomize overlay that does not take in a folder its unit's parts are pinned in:
    a render would run the part's base image, whatever is pinned there."""
    includes = partfiles.includes_in(tree.names, tree.read)
    found = []
    for env in policy.ordered():
        if env.format != "kustomize":
            continue
        for app in policy.apps_in(env.name):
            if not (app.images and app.has_part_files):
                continue
            where = fill(env.overlay, app=app.name)
            main = _kustomization(tree, where)
            if main is None:
                continue  # the policy's own check says so
            try:
                files = [p for p, _ in partfiles.groups("kustomize", main, app, tree.names)]
            except PolicyError:
                continue
            for missed in partfiles.unreached(main, [p for p in files if p != main], includes):
                folder = missed.rpartition("/")[0]
                found.append(
                    Diagnostic(
                        display_path(root / main),
                        1,
                        1,
                        f"{where} does not take in {folder}, where a part of {app.name} is "
                        f"pinned: a render runs that part's base image, whatever {folder} pins; "
                        f"list {folder.removeprefix(where + '/')} under resources: here",
                        "part-folder",
                    )
                )
    return found


def _unnamed(policy: Policy, tree: DiskTree, root: Path) -> list[Diagnostic]:
    """An app's own Kustomize overlay (its path has "{app}") that names images, none of them
    the app's: the daemon reads no pin there and blocks the app as no-pin."""
    found = []
    for env in policy.ordered():
        if env.format != "kustomize" or "{app}" not in env.overlay:
            continue
        for app in policy.apps_in(env.name):
            if app.images:
                continue  # a unit's parts: each named by its own kustomize_image
            where = fill(env.overlay, app=app.name)
            main = _kustomization(tree, where)
            data = tree.read(main) if main is not None else None
            if main is None or data is None:
                continue  # the policy's own check says so
            try:
                others = pins.others_only(data, main, app)
            except PolicyError:
                continue  # a malformed list: the plan names its line
            if others is None:
                continue
            line, column, listed = others
            wanted = " or ".join(f'"{name}"' for name in app.image_names)
            found.append(
                Diagnostic(
                    display_path(root / main),
                    line,
                    column,
                    f"{main} names {', '.join(repr(n) for n in listed)} in images, not "
                    f"{app.name}'s image ({wanted}): the daemon finds no pin for {app.name} in "
                    f"{env.name} and blocks it as no-pin; set kustomize_image in "
                    f"[apps.{app.name}] to the name this file uses",
                    "no-pin",
                )
            )
    return found


def _warnings(policy: Policy | None, tree: DiskTree, root: Path) -> list[Diagnostic]:
    """What CODEOWNERS means for the policy and the forge cannot be asked here: an
    ``auto_merge`` overlay with owners; an owning team ``.reconciler/teams.toml`` lacks."""
    owners = codeowners.find(tree.read)
    if policy is None or owners.source is None:
        return []
    source = display_path(root / owners.source)

    def path_of(env: Environment, app: App) -> tuple[str, ...]:
        where = fill(env.overlay, app=app.name)
        if env.format == "helm":
            main: str | None = where
        else:
            main = _kustomization(tree, where)
        if main is None:
            return ()
        try:  # an app of several images: each file its parts are pinned in
            return tuple(path for path, _ in partfiles.groups(env.format, main, app, tree.names))
        except PolicyError:  # a part's folder without a kustomization: the policy says so
            return (main,)

    found = [
        Diagnostic(
            source,
            owned.line,
            1,
            f"{owned.owned()}: when the base branch requires review from code owners, the "
            f"forge refuses the daemon's merge into {owned.env} (auto_merge) until an owner "
            f"approves; {owned.fix()}",
            "auto-merge-owned",
        )
        for owned in ownership.owned_auto_merges(policy, owners, path_of)
    ]
    listed = tree.read(TEAMS_PATH)
    if listed is None:
        return found
    try:
        teams = parse_teams(listed, TEAMS_PATH)
    except PolicyError as invalid:
        return [*found, Diagnostic(display_path(root / TEAMS_PATH), 1, 1, str(invalid), "teams")]
    for team, paths in ownership.owning_teams(policy, owners, path_of).items():
        if codeowners.team_members(teams, team) is None:
            line = next((r.line for r in owners.rules if team in r.owners), 1)
            found.append(
                Diagnostic(
                    source,
                    line,
                    1,
                    f"{team} owns {paths[0]} but {TEAMS_PATH} does not list its members: on the "
                    "local forge no approval counts for it; add "
                    f'"{team}" = ["@someone", ...] under [teams]',
                    "team-unlisted",
                )
            )
    return found


def _print_verdict(display: str, result: LoadResult) -> None:
    if result.policy is not None:
        print(f"{display}: valid: {summary(result.policy)}")
    else:
        count = len(result.diagnostics)
        print(f"{display}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)


def github_annotation(diagnostic: Diagnostic, level: str = "error") -> str:
    """``::error file=F,line=L,col=C,title=...::message``: an annotation on the failing line."""
    properties = {
        "file": diagnostic.file,
        "line": str(diagnostic.line),
        "col": str(diagnostic.column),
        "title": ANNOTATION_TITLE,
    }
    return workflow_command(level, diagnostic.message, properties)


def workflow_command(name: str, message: str, properties: dict[str, str]) -> str:
    """A GitHub Actions workflow command, escaped as actions/toolkit's command.ts does."""
    shown = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' if shown else ''}{shown}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    # "%" first, so the escapes added below are not escaped again.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # "," ends a property and ":" (as "::") ends the list, so both are escaped inside values.
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


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
