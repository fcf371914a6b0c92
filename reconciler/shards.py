"""Which apps one replica reconciles: ``--shard INDEX/COUNT`` by a stable hash of the name.

A fleet of replicas (a StatefulSet's pods, each with its ordinal as INDEX) splits the apps
with no coordination service: each app belongs to exactly one INDEX for a given COUNT.
Jump consistent hashing (Lamping and Veach, 2014) keeps moves small when COUNT changes:
going from N to N+1 replicas moves about 1/(N+1) of the apps, all to the new replica. While
a change of COUNT rolls out two replicas may briefly both own an app; that is safe, as for
any two daemons: requests are keyed by their head branch, so the second one updates the
request the first opened rather than opening another.

``--peers`` names the other replicas, which a webhook delivery is forwarded to: URLs, one
with ``{index}`` standing for every INDEX of COUNT but this replica's own.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass, replace
from types import MappingProxyType

from reconciler.errors import PermanentError, PolicyError
from reconciler.policy import Policy

_SPEC = re.compile(r"\A(\d+)/(\d+)\Z")
_MULTIPLIER = 2862933555777941757
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Shard:
    """Replica ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    def owns(self, app: str) -> bool:
        """Whether this replica reconciles ``app``."""
        return self.count == 1 or bucket(app, self.count) == self.index

    def narrow(self, policy: Policy) -> Policy:
        """``policy`` with only this replica's apps."""
        if self.count == 1:
            return policy
        kept = {name: app for name, app in policy.apps.items() if self.owns(name)}
        return replace(policy, apps=MappingProxyType(kept))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


ALL = Shard()


def parse_shard(text: str) -> Shard:
    """``INDEX/COUNT`` as a Shard; PermanentError saying what to write otherwise."""
    found = _SPEC.match(text.strip())
    if found is None:
        raise PermanentError(
            f"--shard {text!r} is not INDEX/COUNT; write, for example, --shard 0/3 for the "
            "first of three replicas"
        )
    index, count = int(found[1]), int(found[2])
    if count < 1 or index >= count:
        raise PermanentError(
            f"--shard {text}: INDEX must be from 0 to COUNT-1 and COUNT at least 1"
        )
    return Shard(index, count)


def bucket(app: str, count: int) -> int:
    """The replica (0..count-1) that owns ``app``: jump consistent hash of a SHA-256 key."""
    key = int.from_bytes(hashlib.sha256(app.encode()).digest()[:8], "big")
    chosen, step = -1, 0
    while step < count:
        chosen = step
        key = (key * _MULTIPLIER + 1) & _MASK
        step = int((chosen + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return chosen


def peer_urls(spec: str, shard: Shard) -> tuple[str, ...]:
    """The peers' base URLs ``spec`` names (comma-separated), ``{index}`` expanded for
    every other replica of ``shard.count``; PolicyError saying what to write otherwise."""
    found: list[str] = []
    for given in (part.strip() for part in spec.split(",")):
        if not given:
            continue
        if "{index}" in given:
            others = (i for i in range(shard.count) if i != shard.index)
            expanded = [given.replace("{index}", str(i)) for i in others]
        else:
            expanded = [given]
        for url in expanded:
            _check_peer(url, given)
            if url.rstrip("/") not in found:
                found.append(url.rstrip("/"))
    return tuple(found)


def _check_peer(url: str, given: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path.strip("/")
        or parts.query
        or parts.username
        or "{" in url
    ):
        raise PolicyError(
            f"--peers {given!r} is not a peer's base URL; write, for example, "
            "http://reconciler-{index}.reconciler-shards:9464 (RECONCILER_PEERS)"
        )
