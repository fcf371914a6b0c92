"""Paths inside a config repo: checked at the edge, resolved through symlinks in a tree.

Every path the git adapters accept is relative and "/"-separated; ``..`` and absolute paths
are the caller's mistake (PolicyError), never something to resolve. Symlinks stored in the
repo are followed the way a checkout would follow them, but never out of the repo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.errors import PolicyError
from reconciler.model import EntryKind

# Like the kernel's limit on nested links (ELOOP): a loop resolves to "missing".
MAX_LINK_HOPS = 40


@dataclass(frozen=True)
class Entry:
    """One tree entry as resolution needs it; ``target`` is a link's text."""

    kind: Literal["tree", "blob", "link"]
    target: str = ""


@dataclass(frozen=True)
class Resolved:
    """Where a path leads: its kind and, for "file" and "dir", the real path it names."""

    kind: EntryKind
    path: str = ""


def clean_path(path: str, what: str = "path") -> str:
    """``path`` normalised (no empty or "." parts, no trailing "/"); "" is the repo root."""
    at = f"/{path}/"
    if "//" not in at and "/./" not in at and "/../" not in at and "\x00" not in path:
        return path  # clean already, as nearly every path is: no list of parts made
    if "\x00" in path:
        raise PolicyError(f"{what} {path!r} contains a NUL byte")
    if path.startswith("/"):
        raise PolicyError(f"{what} {path!r} is absolute; give it relative to the repo root")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PolicyError(f"{what} {path!r} contains '..'; paths must stay inside the repo")
    return "/".join(parts)


def clean_file_path(path: str) -> str:
    """A path a commit may write: not the root, and nothing under a ``.git`` folder."""
    cleaned = clean_path(path, "file path")
    if not cleaned:
        raise PolicyError("a file path is empty; name a file inside the repo")
    if any(part.lower() == ".git" for part in cleaned.split("/")):
        raise PolicyError(f"file path {path!r} is inside '.git', which git never stores")
    return cleaned


def clean_prefixes(prefixes: Iterable[str] | None) -> tuple[str, ...]:
    """Distinct cleaned prefixes, sorted, without those another one already covers."""
    if prefixes is None:
        return ("",)
    cleaned = sorted({clean_path(prefix, "path prefix") for prefix in prefixes})
    kept: list[str] = []
    for prefix in cleaned:
        if not any(is_under(prefix, outer) for outer in kept):
            kept.append(prefix)
    return tuple(kept)


def is_under(path: str, prefix: str) -> bool:
    """True when ``path`` is ``prefix`` or inside it ("" contains everything)."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


def join(base: str, name: str) -> str:
    """``base/name``, where an empty base is the root."""
    return f"{base}/{name}" if base else name


def resolve(path: str, lookup: Callable[[str], Entry | None], start: str = "") -> Resolved:
    """Follow ``path`` (already clean) through the tree that ``lookup`` reads, links included.

    ``lookup`` is given real paths (no links in them) and answers what is there. A link whose
    target is absolute or climbs above the root "escapes", as in a checkout it would leave
    the repo; a link loop, or a path through a file, is "missing". ``start``: the real path
    of a folder ``path`` is relative to (one already resolved).
    """
    pending = [part for part in path.split("/") if part]
    resolved: list[str] = [part for part in start.split("/") if part]
    hops = 0
    last: Entry = Entry("tree")
    while pending:
        name = pending.pop(0)
        if last.kind != "tree":
            return Resolved("missing")
        if name in ("", "."):
            continue
        if name == "..":
            if not resolved:
                return Resolved("escapes")
            resolved.pop()
            continue
        entry = lookup("/".join([*resolved, name]))
        if entry is None:
            return Resolved("missing")
        if entry.kind == "link":
            hops += 1
            if hops > MAX_LINK_HOPS:
                return Resolved("missing")
            if entry.target.startswith("/"):
                return Resolved("escapes")
            pending[:0] = entry.target.split("/")
            last = Entry("tree")
            continue
        resolved.append(name)
        last = entry
    return Resolved("dir" if last.kind == "tree" else "file", "/".join(resolved))


# A commit's changes as nested folders: file bytes, None to delete, or a sub-folder.
Nested = dict[str, "bytes | Nested | None"]


def nest(changes: Mapping[str, bytes | None]) -> Nested:
    """``changes`` keyed by cleaned path, grouped by folder; PolicyError on clashing paths."""
    root: Nested = {}
    for raw in sorted(changes):
        path = clean_file_path(raw)
        *folders, name = path.split("/")
        node = root
        for depth, folder in enumerate(folders):
            child = node.setdefault(folder, {})
            if not isinstance(child, dict):
                clash = "/".join(folders[: depth + 1])
                raise PolicyError(f"changes write both the file {clash!r} and {path!r} under it")
            node = child
        if name in node:
            if isinstance(node[name], dict):
                raise PolicyError(f"changes write both the file {path!r} and files under it")
            raise PolicyError(f"changes name {path!r} twice (as {raw!r})")
        node[name] = changes[raw]
    return root


def only_deletions(changes: Nested) -> bool:
    """True when ``changes`` deletes and writes nothing (deleting what is absent is a no-op)."""
    return all(
        change is None or (isinstance(change, dict) and only_deletions(change))
        for change in changes.values()
    )
