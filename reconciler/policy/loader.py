"""`promotions.toml` bytes -> a valid Policy, or every problem with its position."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from reconciler.model import RepoTree
from reconciler.policy import bounds, notify, rules
from reconciler.policy.decode import decode
from reconciler.policy.diagnostics import Diagnostic, Problems, table_name
from reconciler.policy.model import POLICY_FILE, SUPPORTED_VERSIONS, Policy
from reconciler.policy.positions import PositionIndex, Span, first_header, index_positions
from reconciler.policy.tree import check_overlays
from reconciler.policy.values import describe

MAX_BYTES = 1024 * 1024
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")
_DUPLICATE = re.compile(r"^Cannot declare \((.*)\) twice$")


@dataclass(frozen=True)
class LoadResult:
    """The policy when valid; otherwise None and the diagnostics, sorted by position."""

    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """True when the policy is valid."""
        return self.policy is not None


def load_policy(data: bytes, file: str = POLICY_FILE, tree: RepoTree | None = None) -> LoadResult:
    """Parse and validate policy bytes; with ``tree``, overlay paths are checked against it."""
    problems = Problems()
    policy, parsed = _load(data, tree, problems)
    if not problems:
        return LoadResult(policy, ())
    # Where each key stands is only needed to say where a problem is (a 10,000-app
    # policy takes 0.2 s to index).
    positions = index_positions(parsed) if parsed is not None else PositionIndex({})
    diagnostics = tuple(problems.diagnostics(file, positions))
    return LoadResult(None if diagnostics else policy, diagnostics)


def _load(
    data: bytes, tree: RepoTree | None, problems: Problems
) -> tuple[Policy | None, str | None]:
    """The policy (None when it cannot be had), and its text once TOML parsed it."""
    nowhere = None
    if len(data) > MAX_BYTES:
        problems.add_at(
            Span(1, 1),
            f"the file is {len(data):,} bytes; a policy may be at most 1 MiB ({MAX_BYTES:,} bytes)",
            "too-large",
        )
        return None, nowhere
    text = _text(data, problems)
    if text is None:
        return None, nowhere
    excess = bounds.check(text)
    if excess is not None:
        problems.add_at(Span(excess.line, excess.column), excess.message, "too-deep")
        return None, nowhere
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _syntax_error(text, str(exc), problems)
        return None, nowhere
    version = raw.get("version")
    if "version" not in raw:
        problems.add_at(Span(1, 1), 'missing "version = 1" at the top of the file', "version")
        return None, text
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        problems.add(
            ("version",),
            f"version: {describe(version)} is not supported; this release reads version "
            f"{supported}",
            "version",
        )
        return None, text
    policy: Policy = decode(Policy, raw, problems)
    rules.check(policy, problems)
    notify.check(policy.notify, policy.environments, policy.apps, problems)
    if tree is not None:
        check_overlays(policy, tree, problems)
    return policy, text


def _text(data: bytes, problems: Problems) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # editors on Windows add a BOM; TOML itself does not allow one
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        problems.add_at(
            Span(line, column),
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            "encoding",
        )
        return None


def _syntax_error(text: str, message: str, problems: Problems) -> None:
    where = _TOML_POSITION.search(message)
    if where:
        at = Span(int(where[1]), int(where[2]))
        message = message[: where.start()]
    else:
        lines = text.split("\n")
        at = Span(len(lines), len(lines[-1]) + 1)
        message = _TOML_END.sub("", message)
    duplicate = _DUPLICATE.match(message)
    if duplicate or message == "Cannot overwrite a value":
        # tomllib points past the offending declaration; point at its start instead.
        line_text = text.split("\n")[at.line - 1]
        at = Span(at.line, len(line_text) - len(line_text.lstrip()) + 1)
    if duplicate:
        path = tuple(re.findall(r"'((?:[^'\\]|\\.)*)'", duplicate[1]))
        first = first_header("\n".join(text.split("\n")[: at.line - 1]), path)
        also = f" (first at line {first.line})" if first else ""
        problems.add_at(
            at,
            f"table {table_name(path)} is defined twice{also}; merge the two into one",
            "duplicate-table",
        )
        return
    if message == "Cannot overwrite a value":
        problems.add_at(at, "this key is already defined above; keep one of the two", "syntax")
        return
    problems.add_at(at, f"TOML syntax error: {message[0].lower()}{message[1:]}", "syntax")
