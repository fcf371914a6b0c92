"""`reconciler codeowners`: PATH<TAB>owners, as GitHub reads CODEOWNERS; ``-o json`` (or
``yaml``) gives each path's owners and deciding line, and the skipped lines as GitHub's
errors endpoint reports them."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from reconciler import codeowners
from reconciler.verbs import EXIT_OK, EXIT_USAGE, fail
from reconciler.worktree import DiskTree


def owners(args: argparse.Namespace) -> int:
    """Print the owners of each path."""
    if args.file:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            return fail("codeowners", f"cannot read {args.file}: {exc.strerror}", EXIT_USAGE)
        found = codeowners.find(lambda name: data if name == codeowners.LOCATIONS[0] else None)
        found = replace(found, source=args.file)
    else:
        found = codeowners.find(DiskTree(Path(args.repo)).read)
    path_shown = found.source or "CODEOWNERS"
    if args.output == "text":
        for error in found.errors:
            where = f"{path_shown}:{error.line}:{error.column}" if error.line else path_shown
            said = f"{where}: {error.kind}: {error.suggestion or error.message} (line skipped)"
            print(f"{said}\n{error.pointed()}".rstrip(), file=sys.stderr)
    if found.source is None:
        print("reconciler codeowners: no CODEOWNERS file; nothing is owned", file=sys.stderr)
    rows = []
    for path in args.paths:
        rule = found.rule_for(path)
        rows.append(
            {
                "path": path,
                "owners": list(rule.owners) if rule else [],
                "line": rule.line if rule else None,
            }
        )
    if args.output == "json":
        errors = [error.as_github(path_shown) for error in found.errors]
        print(json.dumps({"file": found.source, "paths": rows, "errors": errors}, indent=2))
    else:
        for row in rows:
            print(f"{row['path']}\t{' '.join(row['owners'])}")
    return EXIT_OK
