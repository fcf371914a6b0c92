"""Commit statuses on the local forge: what `reconciler review check` sets, the `checks`
gate reads.

A commit's statuses are one JSON file on the requests branch,
``.reconciler/checks/<sha>.json``: every status set on it, oldest first (the latest of a
name counts, as with GitHub's commit statuses), each with who set it and when. Setting one
is a commit on that branch, so the history says who turned a check green. The states are
GitHub's commit status states: success, pending, failure, error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.ledger import BRANCH, Ledger
from reconciler.forge.port import STATUS_STATES, CommitCheck, CommitChecks
from reconciler.gitrepo.port import ConfigRepo, ReadView, UnknownCommit

CHECKS_DIR = ".reconciler/checks"
VERSION = 1
KEPT = 200  # statuses kept per commit: a CI that sets one every minute for hours stays small
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_MAX_TEXT = 1024


def path_of(sha: str, repository: str | None = None) -> str:
    """Where the statuses of commit ``sha`` are kept on the requests branch: of the config
    repo, or of the source repository whose URL is ``repository``, under its host and path."""
    if repository is None:
        return f"{CHECKS_DIR}/{sha}.json"
    return f"{CHECKS_DIR}/{'/'.join(_parts(repository))}/{sha}.json"


def _parts(repository: str) -> list[str]:
    """``https://github.com/acme/shop`` -> ``["github.com", "acme", "shop"]``."""
    url = urlsplit(repository)
    parts = [url.netloc, *(p for p in url.path.split("/") if p)]
    if url.scheme not in ("https", "http") or len(parts) < 2 or not all(map(_PART.match, parts)):
        raise PolicyError(
            f"{repository!r} is not a source repository URL like https://github.com/acme/shop"
        )
    return [p.lower() for p in parts]


class Statuses:
    """Reads and sets the commit statuses of one config repo's local forge."""

    def __init__(self, repo: ConfigRepo, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._ledger = ledger
        self._clock = clock

    def of(self, sha: str, repository: str | None = None) -> CommitChecks:
        """The statuses set on ``sha`` (as of the last fetch), oldest first; of the source
        repository ``repository`` (a URL) when given."""
        path = path_of(sha, repository)
        tip = self._repo.tip(BRANCH)
        if tip is None:
            return CommitChecks(sha=sha)
        data = self._repo.read(tip, path) if _SHA.match(sha) else None
        entries = _decode(data, path) if data else []
        return CommitChecks(sha=sha, checks=tuple(_check(e) for e in entries))

    def set(
        self,
        sha: str,
        *,
        name: str,
        state: str,
        url: str,
        description: str,
        by: str,
        repository: str | None = None,
    ) -> CommitCheck:
        """Set status ``name`` of commit ``sha`` to ``state`` (GitHub's words); of the
        source repository ``repository`` (a URL) when given, whose commits are not here."""
        if not _SHA.match(sha):
            raise PolicyError(f"{sha!r} is not a full commit id (40 hexadecimal digits)")
        if state not in STATUS_STATES:
            raise PolicyError(f"{state!r} is not a status; use {', '.join(STATUS_STATES)}")
        if not name.strip() or len(name) > _MAX_TEXT:
            raise PolicyError("a status needs a name (its context), like e2e or ci/build")
        if url and not url.startswith(("https://", "http://")):
            raise PolicyError(f"--url {url!r}: give an http(s) URL where the check's log is")
        path = path_of(sha, repository)
        self._repo.fetch()
        try:
            if repository is None:
                self._repo.commit_info(sha)
        except UnknownCommit:
            raise PermanentError(
                f"commit {sha} is not in the config repo; statuses are set on its commits "
                "(--source URL for a commit of an image's source repository)"
            ) from None
        entry = {
            "name": name,
            "state": state,
            "url": url,
            "description": description[:_MAX_TEXT],
            "by": by,
            "at": self._clock().isoformat(),
        }

        def files(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(path)
            entries = [*(_decode(data, path) if data else []), entry][-KEPT:]
            document = {"version": VERSION, "sha": sha, "statuses": entries}
            return {path: json.dumps(document, indent=1).encode() + b"\n"}

        where = f" of {repository}" if repository else ""
        self._ledger.put(files, f"status {name} {state} on {sha[:12]}{where} by {by}")
        return _check(entry)


def _decode(data: bytes, path: str) -> list[dict[str, Any]]:
    where = f"{path} on branch {BRANCH}"
    try:
        document = json.loads(data)
    except ValueError:
        raise PermanentError(f"{where} is not JSON; fix or delete the file") from None
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise PermanentError(f"{where} is not a version {VERSION} statuses file")
    entries = document.get("statuses")
    if not isinstance(entries, list):
        raise PermanentError(f"{where} is not a version {VERSION} statuses file")
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and entry.get("state") in STATUS_STATES
            and isinstance(entry.get("at"), str)
        ):
            raise PermanentError(f"{where} holds a status without a name, state or time")
    return entries


def _check(entry: dict[str, Any]) -> CommitCheck:
    try:
        at = datetime.fromisoformat(entry["at"])
    except ValueError:
        at = None
    return CommitCheck(
        name=entry["name"],
        state=STATUS_STATES[entry["state"]],
        conclusion=entry["state"],
        url=str(entry.get("url") or ""),
        at=at,
    )
