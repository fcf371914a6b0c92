"""What the registry says of a cycle's pins: tags resolved, candidates proven to exist."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from reconciler.errors import ReconcilerError
from reconciler.policy import Policy
from reconciler.policy.model import App, Environment
from reconciler.registry.port import ImageNotFound, ImageRegistry
from reconciler.snapshot import DigestFact, Key, OverlayState, TagFact


def registry_facts(
    policy: Policy, overlays: Mapping[Key, OverlayState], registry: ImageRegistry
) -> tuple[dict[tuple[str, str], TagFact], dict[tuple[str, str], DigestFact]]:
    """Resolve tag-only source pins, prove candidates exist, read environment tags."""
    registry.new_cycle()
    tag_queries: set[tuple[str, str]] = set()
    digest_queries: set[tuple[str, str]] = set()
    tags: dict[tuple[str, str], TagFact] = {}
    for target in policy.environments.values():
        for app in policy.apps_in(target.name):
            if target.registry_tag:
                tag_queries.add((app.image, target.registry_tag))
    for query in sorted(tag_queries):
        tags[query] = _resolve(registry, *query)
    for _, app, src, tgt in edges(policy, overlays):
        if src is None or src.pin is None:
            continue
        repository = app.image  # the policy names the registry repository
        digest = src.pin.digest
        if not digest and src.pin.tag:
            key = (repository, src.pin.tag)
            if key not in tags:
                tags[key] = _resolve(registry, *key)
            digest = tags[key].digest or ""
        current = tgt.pin.digest if tgt and tgt.pin else ""
        if digest and digest != current:
            digest_queries.add((repository, digest))
    digests = {query: _exists(registry, *query) for query in sorted(digest_queries)}
    return tags, digests


def edges(
    policy: Policy, overlays: Mapping[Key, OverlayState]
) -> Iterator[tuple[Environment, App, OverlayState | None, OverlayState | None]]:
    """Each (target, app) that follows a source, with the source's and target's overlays."""
    for target in policy.environments.values():
        if target.follows is None:
            continue
        for app in policy.apps_in(target.name):
            source = overlays.get((app.name, target.follows))
            yield target, app, source, overlays.get((app.name, target.name))


def _resolve(registry: ImageRegistry, repository: str, tag: str) -> TagFact:
    try:
        return TagFact(registry.resolve(repository, tag))
    except ImageNotFound:
        return TagFact(None)
    except ReconcilerError as exc:
        return TagFact(None, str(exc))


def _exists(registry: ImageRegistry, repository: str, digest: str) -> DigestFact:
    try:
        return DigestFact(registry.exists(repository, digest))
    except ReconcilerError as exc:
        return DigestFact(None, str(exc))


def offered(
    policy: Policy,
    overlays: Mapping[Key, OverlayState],
    tags: Mapping[tuple[str, str], TagFact],
    apps: Iterable[str] | None = None,
) -> dict[Key, str]:
    """(app, target environment) -> the digest its source pins (a tag resolved) and the
    target does not: the edges with a candidate, the only ones whose gates need samples.
    ``apps``: only theirs (None: every app's)."""
    found: dict[Key, str] = {}
    pairs = edges(policy, overlays) if apps is None else _edges_of(policy, overlays, apps)
    for target, app, src, tgt in pairs:
        if src is None or src.pin is None or tgt is None:
            continue
        fact = tags.get((app.image, src.pin.tag)) if not src.pin.digest else None
        candidate = src.pin.digest or (fact.digest if fact else None)
        if candidate and (tgt.pin is None or tgt.pin.digest != candidate):
            found[(app.name, target.name)] = candidate
    return found


def _edges_of(
    policy: Policy, overlays: Mapping[Key, OverlayState], apps: Iterable[str]
) -> Iterator[tuple[Environment, App, OverlayState | None, OverlayState | None]]:
    """``edges`` of ``apps`` only."""
    for name in apps:
        app = policy.apps.get(name)
        if app is None:
            continue
        for target in policy.environments.values():
            if target.follows is not None and policy.has_app_in(name, target.name):
                source = overlays.get((name, target.follows))
                yield target, app, source, overlays.get((name, target.name))
