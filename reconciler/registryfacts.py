"""What the registry says of a cycle's pins: tags resolved, candidates proven to exist."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from reconciler import promotions, units
from reconciler.errors import ReconcilerError, TransientError
from reconciler.policy import Policy
from reconciler.policy.model import App, Environment
from reconciler.registry.port import ImageNotFound, ImageRegistry
from reconciler.snapshot import DigestFact, Key, OverlayState, RequestState, TagFact


def registry_facts(
    policy: Policy, overlays: Mapping[Key, OverlayState], registry: ImageRegistry
) -> tuple[dict[tuple[str, str], TagFact], dict[tuple[str, str], DigestFact]]:
    """Resolve tag-only source pins, prove candidates exist, read environment tags: one
    batched read of a repository's tags, then one of its digests (ECR answers up to 100 ids
    a call; other registries are asked one at a time as before)."""
    registry.new_cycle()
    tag_queries: dict[str, set[str]] = {}
    digest_queries: dict[str, set[str]] = {}
    tag_only: list[tuple[str, str, str]] = []  # repository, tag, what the target pins
    for target in policy.environments.values():
        if target.registry_tag:
            for app in policy.apps_in(target.name):
                for _, part in app.parts():
                    tag_queries.setdefault(part.image, set()).add(target.registry_tag)
    for _, app, src, tgt in edges(policy, overlays):
        if src is None or src.pin is None:
            continue
        if app.is_unit:
            # A unit's parts are proven one by one; a tag-only part blocks the unit.
            current = tgt.pin.digest if tgt and tgt.pin else ""
            if src.pin.digest and src.pin.digest != current:
                have = dict(src.pin.parts)
                for name, part in app.parts():
                    digest_queries.setdefault(part.image, set()).add(have[name].digest)
            continue
        repository = app.image  # the policy names the registry repository
        current = tgt.pin.digest if tgt and tgt.pin else ""
        if src.pin.digest:
            if src.pin.digest != current:
                digest_queries.setdefault(repository, set()).add(src.pin.digest)
        elif src.pin.tag:
            tag_queries.setdefault(repository, set()).add(src.pin.tag)
            tag_only.append((repository, src.pin.tag, current))
    tags: dict[tuple[str, str], TagFact] = {}
    for repository in sorted(tag_queries):
        tags |= _resolve(registry, repository, sorted(tag_queries[repository]))
    for repository, tag, current in tag_only:
        digest = tags[(repository, tag)].digest
        if digest and digest != current:
            digest_queries.setdefault(repository, set()).add(digest)
    digests: dict[tuple[str, str], DigestFact] = {}
    for repository in sorted(digest_queries):
        digests |= _exists(registry, repository, sorted(digest_queries[repository]))
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


def _resolve(
    registry: ImageRegistry, repository: str, tags: list[str]
) -> dict[tuple[str, str], TagFact]:
    try:
        answers = registry.resolve_all(repository, tags)
    except ReconcilerError as exc:  # the port says it does not; an adapter that did fails closed
        answers = dict.fromkeys(tags, exc)
    facts: dict[tuple[str, str], TagFact] = {}
    for tag in tags:
        answer = answers.get(tag)
        if answer is None:  # the port promises every id an answer; fail closed if not
            answer = _unanswered(repository, tag)
        if isinstance(answer, ImageNotFound):
            facts[(repository, tag)] = TagFact(None)
        elif isinstance(answer, ReconcilerError):
            facts[(repository, tag)] = TagFact(None, str(answer))
        else:
            facts[(repository, tag)] = TagFact(answer)
    return facts


def rollbacks_proven(
    policy: Policy,
    requests: Mapping[Key, RequestState],
    known: Mapping[tuple[str, str], DigestFact],
    registry: ImageRegistry | None,
) -> dict[tuple[str, str], DigestFact]:
    """Prove the digests open rollback requests go back to (`reconciler rollback`): no
    candidate names them, and a rollback is merged only once they are shown to exist.
    Nothing without a registry."""
    if registry is None:
        return {}
    wanted: dict[str, set[str]] = {}
    for (app_name, _), held in requests.items():
        marker = promotions.parse_marker(held.request.body)
        app = policy.apps.get(app_name)
        if marker is None or not marker.rollback or app is None:
            continue
        for repository, digest in images_of(app, marker.digest).items():
            if (repository, digest) not in known:
                wanted.setdefault(repository, set()).add(digest)
    return prove(registry, wanted)


def images_of(app: App, digest: str) -> dict[str, str]:
    """Repository -> digest of what ``digest`` pins for ``app``: its image's, or for an
    image unit each part's digest in the unit's key (none for a key that is not one)."""
    if not app.is_unit:
        return {app.image: digest}
    each = units.parts(digest) or {}
    return {part.image: each[name] for name, part in app.parts() if name in each}


def prove(
    registry: ImageRegistry, wanted: Mapping[str, Iterable[str]]
) -> dict[tuple[str, str], DigestFact]:
    """Whether each wanted digest exists, by repository (one batched read of each)."""
    facts: dict[tuple[str, str], DigestFact] = {}
    for repository in sorted(wanted):
        facts |= _exists(registry, repository, sorted(wanted[repository]))
    return facts


def _exists(
    registry: ImageRegistry, repository: str, digests: list[str]
) -> dict[tuple[str, str], DigestFact]:
    try:
        answers = registry.exists_all(repository, digests)
    except ReconcilerError as exc:
        answers = dict.fromkeys(digests, exc)
    facts: dict[tuple[str, str], DigestFact] = {}
    for digest in digests:
        answer = answers.get(digest)
        if answer is None:  # the port promises every id an answer; fail closed if not
            answer = _unanswered(repository, digest)
        if isinstance(answer, ReconcilerError):
            facts[(repository, digest)] = DigestFact(None, str(answer))
        else:
            facts[(repository, digest)] = DigestFact(answer)
    return facts


def _unanswered(repository: str, ident: str) -> TransientError:
    return TransientError(f"the registry gave no answer for {ident} in {repository}")


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
        unit = app.is_unit
        fact = tags.get((app.image, src.pin.tag)) if not src.pin.digest and not unit else None
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
