"""`reconciler doctor`'s checklist: one line per check, printed as text or JSON, and the
exit code it makes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reconciler.verbs import EXIT_INVALID, EXIT_OK


@dataclass(frozen=True)
class Check:
    """One line of the checklist; ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def print_checks(checks: list[Check], output: str = "text") -> int:
    """Print ``checks`` as ``output`` ("text" or "json"); exit 1 when a required one failed."""
    failed = [c for c in checks if not c.ok and c.required]
    if output == "json":
        shown = [
            {
                "name": c.name,
                "ok": c.ok,
                "required": c.required,
                "detail": c.detail,
                "fix": c.fix if not c.ok and c.fix else None,
            }
            for c in checks
        ]
        passed = len(checks) - len(failed)
        print(json.dumps({"ok": not failed, "passed": passed, "checks": shown}, indent=2))
        return EXIT_INVALID if failed else EXIT_OK
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"       fix: {check.fix}")
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return EXIT_INVALID if failed else EXIT_OK
