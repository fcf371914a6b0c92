"""The `reconciler` command (DESIGN.md section 10): argument parsing, then calls into the rest."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler import __version__, codeowners
from reconciler.errors import PolicyError
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays import kustomize
from reconciler.policy import POLICY_FILE, LoadResult, Policy, load_policy
from reconciler.policy.reference import reference_markdown
from reconciler.policy.schema import schema_text
from reconciler.worktree import DiskTree, write_atomic

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `reconciler ... | head` closed the pipe: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="Promote container images through environments in a GitOps config repo.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    validate = verbs.add_parser(
        "validate",
        help="check promotions.toml (and, given a folder, its overlay paths)",
        description="Check a policy. PATH is a config repo folder or a promotions.toml file; "
        "with a folder, overlay paths are checked against its files too. Exit 0 valid, "
        "1 invalid, 2 usage or unreadable file.",
    )
    validate.add_argument("path", nargs="?", default=".", metavar="PATH")
    validate.add_argument("--json", action="store_true", help="print the errors as JSON")
    validate.set_defaults(handler=_validate)

    schema = verbs.add_parser("schema", help="print the JSON Schema of promotions.toml")
    schema.add_argument(
        "--format",
        choices=("json", "markdown"),
        default="json",
        help="json: the schema (promotion-policies/schema.json); markdown: the reference table",
    )
    schema.set_defaults(handler=_schema)

    set_image = verbs.add_parser(
        "set-image",
        help="pin images in a kustomization, like `kustomize edit set image`, minimal diff",
        description="Set images in kustomization.yaml with the argument forms of `kustomize "
        "edit set image`: NAME=NEWNAME:TAG@DIGEST, NAME=NEWNAME@DIGEST, NAME=NEWNAME:TAG, "
        "NAME=NEWNAME, NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST; `*` keeps a field's current "
        "value. Only the bytes of the values set change; comments and layout are kept.",
    )
    set_image.add_argument("images", nargs="*", metavar="ARG")
    set_image.add_argument(
        "--dir", default=".", help="folder holding the kustomization (default: current)"
    )
    set_image.set_defaults(handler=_set_image)

    owners = verbs.add_parser(
        "codeowners",
        help="who owns these paths, by GitHub's CODEOWNERS rules",
        description="Print PATH<TAB>owners for each PATH, as GitHub reads CODEOWNERS (the "
        "first of .github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS; last match wins). An "
        "unowned path prints with nothing after the tab.",
    )
    owners.add_argument("paths", nargs="+", metavar="PATH")
    source = owners.add_mutually_exclusive_group()
    source.add_argument("--file", help="a CODEOWNERS file to read")
    source.add_argument("--repo", default=".", help="a repo folder to find CODEOWNERS in")
    owners.add_argument("--json", action="store_true", help="print JSON objects")
    owners.set_defaults(handler=_codeowners)
    return parser


def _validate(args: argparse.Namespace) -> int:
    target = Path(args.path)
    tree = None
    if target.is_dir():
        tree = DiskTree(target)
        target = target / POLICY_FILE
    display = _display_path(target)
    try:
        data = target.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        print(f"reconciler validate: cannot read {display}: {reason}", file=sys.stderr)
        return EXIT_USAGE
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


def _set_image(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"reconciler set-image: {message}", file=sys.stderr)
        return EXIT_INVALID

    if not args.images:
        return fail("no image specified")
    folder = Path(args.dir)
    found = [folder / name for name in KUSTOMIZATION_FILES if (folder / name).is_file()]
    if not found:
        return fail(f"missing kustomization file 'kustomization.yaml' in {_display_path(folder)}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        return fail(f"found multiple kustomization files in {_display_path(folder)}: {names}")
    path = found[0]
    try:
        updates = [kustomize.parse_argument(arg) for arg in args.images]
        data = path.read_bytes()
        edited = kustomize.set_images(data, _display_path(path), updates)
    except PolicyError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read {_display_path(path)}: {exc.strerror}")
    if edited != data:
        write_atomic(path, edited)
    return EXIT_OK


def _codeowners(args: argparse.Namespace) -> int:
    if args.file:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(
                f"reconciler codeowners: cannot read {args.file}: {exc.strerror}", file=sys.stderr
            )
            return EXIT_USAGE
        found = codeowners.find(lambda name: data if name == codeowners.LOCATIONS[0] else None)
        found = replace(found, source=args.file)
    else:
        found = codeowners.find(DiskTree(Path(args.repo)).read)
    for error in found.errors:
        where = f"{found.source}:{error.line}" if error.line else str(found.source)
        print(f"{where}: {error.message} (line skipped)", file=sys.stderr)
    if found.source is None:
        print("reconciler codeowners: no CODEOWNERS file; nothing is owned", file=sys.stderr)
    rows = []
    for path in args.paths:
        rule = found.rule_for(path)
        rows.append(
            {
                "path": path,
                "owners": list(rule.owners) if rule else [],
                "file": found.source,
                "line": rule.line if rule else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['path']}\t{' '.join(row['owners'])}")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text() if args.format == "json" else reference_markdown())
    return EXIT_OK


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
