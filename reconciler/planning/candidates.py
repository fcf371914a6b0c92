"""The candidate a source offers (the digest its overlay pins, and since when) and each
gate's verdict on it."""

from __future__ import annotations

from dataclasses import replace

from reconciler import gates, units
from reconciler.gates import Candidate, GateResult
from reconciler.gates.argocd import evaluate_argocd
from reconciler.gates.checks import evaluate_checks
from reconciler.imagerefs import same_repository
from reconciler.planning import registry
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, ArgoCDGate, ChecksGate, Environment
from reconciler.snapshot import OverlayState


def candidate(
    draft: Draft, app: App, source: Environment, target: Environment, src: OverlayState
) -> Candidate | None:
    """The digest the source overlay pins (a tag resolved); None when blocked."""
    if src.pin is None:
        why = ""
        if source.format == "kustomize" and not app.is_unit:
            named = " or ".join(f'"{name}"' for name in app.image_names)
            why = (
                f": it has no images[] entry named {named} (if it names the image otherwise, "
                f"set kustomize_image in [apps.{app.name}])"
            )
        elif source.format == "kustomize":
            named = ", ".join(repr(part.image_name) for _, part in app.parts())
            why = f": it has no images[] entry named {named}"
        draft.block(
            app.name,
            target.name,
            "no-pin",
            f"the {source.name} overlay ({src.path}) pins no image for {app.name}{why}",
        )
        return None
    if app.is_unit and not src.pin.digest:
        _incomplete(draft, app, source, target, src)
        return None
    digest = src.pin.digest or registry.resolved(draft, app, source, target, src.pin)
    if not digest:
        return None
    if source.name in draft.policy.live:
        live = draft.snap.live.get((app.name, source.name))
        since = live.since if live and live.digest == digest and not live.rolling else None
        return Candidate(app.name, source.name, digest, since, "live")
    return Candidate(
        app.name,
        source.name,
        digest,
        gates.pinned_since(src.history, digest) or src.changed_at,
        "overlay",
    )


def _incomplete(
    draft: Draft, app: App, source: Environment, target: Environment, src: OverlayState
) -> None:
    """An image unit moves whole: a part missing from the source, or pinned by tag only,
    blocks the whole unit (the target keeps the set it runs)."""
    assert src.pin is not None
    have = dict(src.pin.parts)
    missing = [name for name, _ in app.parts() if name not in have]
    tagged = [name for name, pin in src.pin.parts if not pin.digest]
    what = []
    if missing:
        what.append(f"pins no {', '.join(missing)}")
    if tagged:
        what.append(f"pins {', '.join(tagged)} by tag only")
    draft.block(
        app.name,
        target.name,
        "unit-incomplete",
        f"the {source.name} overlay ({', '.join(src.files)}) {' and '.join(what)}: "
        f"{app.name}'s images "
        f"move together, every part pinned by digest ({', '.join(n for n, _ in app.parts())}); "
        f"nothing moves until {source.name} pins them all",
    )


def gate(draft: Draft, name: str, candidate: Candidate) -> GateResult:
    """The verdict of the policy's gate ``name`` on ``candidate`` at the plan's time."""
    policy_gate = draft.policy.gates[name]
    if isinstance(policy_gate, ChecksGate):
        return _checks(draft, policy_gate, candidate)
    if not isinstance(policy_gate, ArgoCDGate):
        result = gates.evaluate(policy_gate, draft.snap.samples, candidate, draft.now)
        if result.code == "no-samples" and not draft.snap.sampled:
            # Unknown, not failing: this view took no samples, the daemon may have plenty.
            return replace(
                result,
                code="not-sampled",
                reason=f"not sampled by this command (--probe samples it); {result.reason}",
            )
        return result
    status = draft.snap.applications.get((candidate.app, candidate.source_env))
    if status is None:
        return evaluate_argocd(
            name,
            None,
            None,
            images=(),
            candidate_digest=candidate.digest,
            now=draft.now,
            error=f"no Argo CD status for {candidate.app} in {candidate.source_env}",
        )
    # Only the app's own images count, names compared in the normalised form.
    app = draft.policy.apps.get(candidate.app)
    mine = tuple(i for i in status.images if app is not None and same_repository(i, app.image))
    if app is not None and app.is_unit:
        mine = _unit_images(app, status.images)
    return evaluate_argocd(
        name,
        status.sync,
        status.health,
        images=mine,
        candidate_digest=candidate.digest,
        now=draft.now,
        application=status.application,
        synced_at=status.synced_at,
        operation=status.operation,
        error=status.error,
    )


def _unit_images(app: App, images: tuple[str, ...]) -> tuple[str, ...]:
    """An image unit runs as a set: its parts' digests in the Application's images, as one
    unit key the gate compares with the candidate's (no key when a part runs none)."""
    running = {}
    for name, part in app.parts():
        digests = sorted(
            {i.rpartition("@")[2] for i in images if "@" in i and same_repository(i, part.image)}
        )
        if len(digests) != 1:
            return ()  # a part not running, or two of its digests at once: not the set
        running[name] = digests[0]
    return (f"{app.name}@{units.key(running)}",)


def _checks(draft: Draft, policy_gate: ChecksGate, candidate: Candidate) -> GateResult:
    """The ``checks`` gate on the source overlay's commit or the candidate's source
    revision, from facts read for this candidate only (facts of another digest, or of an
    older overlay commit, prove nothing; a digest's labels never change)."""
    src = draft.snap.overlays.get((candidate.app, candidate.source_env))
    facts = draft.snap.checks.get((candidate.app, candidate.source_env, policy_gate.commit))
    if policy_gate.commit == "source":
        commit = facts.commit if facts is not None else None
    else:
        commit = src.commit if src is not None else None
    if facts is not None and (facts.digest != candidate.digest or facts.commit != commit):
        facts = None
    result = evaluate_checks(
        policy_gate,
        commit,
        facts.read if facts else None,
        base_branch=draft.snap.base_branch,
        error=facts.error if facts else None,
        repository=facts.repository if facts else None,
    )
    if facts is None and not draft.snap.sampled and not result.passed:
        return replace(
            result,
            code="not-sampled",
            reason=f"not read by this command (--probe reads it); {result.reason}",
        )
    return result
