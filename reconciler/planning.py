"""plan(policy, snapshot, now) -> Plan: what this cycle should do, and what is blocked and why.

Pure and deterministic: no clock, no I/O. For every edge (source -> target) and every app,
the candidate is the digest the source overlay pins; it is promoted into the target only
when every gate passes on the source, nothing holds it, and (for `require_codeowners`) the
forge enforces a code owner's review and CODEOWNERS covers the overlay. One rolling
request per (app, target env); a newer candidate updates it rather than opening another.
"""

from __future__ import annotations

from datetime import datetime

from reconciler import codeowners, gates, holds, promotions
from reconciler.actions import (
    Action,
    AddLabels,
    Blocked,
    Close,
    CommitDirect,
    Merge,
    MoveTag,
    PinEdit,
    Plan,
    Propose,
    RecordLive,
    RecordRollback,
    RequestReviews,
)
from reconciler.forge.port import Request
from reconciler.gates import Candidate, GateResult
from reconciler.gates.argocd import evaluate_argocd
from reconciler.model import short as short_digest
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, ArgoCDGate, Environment, Policy
from reconciler.snapshot import OverlayState, RequestState, Snapshot


def plan(policy: Policy, snapshot: Snapshot, now: datetime) -> Plan:
    """The plan for ``snapshot`` under ``policy`` at ``now``."""
    planner = _Planner(policy, snapshot, now)
    for target in policy.ordered():
        if target.follows is None:
            continue
        source = policy.environments[target.follows]
        for app in policy.apps_in(target.name):
            if policy.has_app_in(app.name, source.name):
                planner.edge(app, source, target)
    planner.close_unwanted()
    planner.record_live()
    planner.move_tags()
    notes = tuple(
        f"policy on {snapshot.base_branch} is invalid: {e}" for e in snapshot.policy_errors
    )
    return Plan(
        tuple(planner.actions),
        tuple(planner.blocked),
        tuple(planner.results),
        notes,
        timed=planner.timed,
    )


class _Planner:
    def __init__(self, policy: Policy, snapshot: Snapshot, now: datetime) -> None:
        self.policy = policy
        self.snap = snapshot
        self._now = now
        self.timed = False
        self.actions: list[Action] = []
        self.blocked: list[Blocked] = []
        self.results: list[tuple[str, str, GateResult]] = []
        self.planned: set[tuple[str, str]] = set()

    @property
    def now(self) -> datetime:
        """The plan's time; reading it marks the plan as depending on it."""
        self.timed = True
        return self._now

    def block(self, app: str, env: str, code: str, reason: str, **when: datetime | None) -> None:
        self.blocked.append(Blocked(app, env, code, reason, when.get("since"), when.get("until")))

    def edge(self, app: App, source: Environment, target: Environment) -> None:
        key = (app.name, target.name)
        self.planned.add(key)
        held = self.snap.requests.get(key)
        request = held.request if held else None
        if self._request_waits(app.name, target.name, held):
            return
        src = self.snap.overlays.get((app.name, source.name))
        tgt = self.snap.overlays.get(key)
        if src is None or tgt is None:
            missing = source.name if src is None else target.name
            self.block(
                app.name, target.name, "overlay-missing", f"no overlay for {app.name} in {missing}"
            )
            return
        for env, state in ((source.name, src), (target.name, tgt)):
            if state.error:
                self.block(app.name, target.name, "overlay-invalid", f"{env}: {state.error}")
                return
        candidate = self._candidate(app, source, target, src)
        if candidate is None:
            return
        current = tgt.pin.digest if tgt.pin else None
        if candidate.digest == current:
            if request is not None:
                self.actions.append(
                    Close(
                        app.name,
                        target.name,
                        request.number,
                        f"{target.name} already pins {short_digest(candidate.digest)}; "
                        "this request is no longer needed.",
                    )
                )
            return
        stop = holds.holds(self.policy, app.name, target.name, request.labels if request else ())
        rollback = holds.rollback_hold(tgt.history, candidate.digest, target.name)
        for hold in (*stop, *([rollback] if rollback else [])):
            self.block(app.name, target.name, "hold", hold.reason, since=hold.since)
        manual = holds.manual_rollback(tgt.history, candidate.digest) if rollback else None
        if manual is not None:
            self.actions.append(
                RecordRollback(
                    app.name, target.name, manual.digest, manual.commit, manual.committed_at
                )
            )
        if stop or rollback:
            return
        results = [self._gate(name, candidate) for name in target.gates]
        self.results += [(app.name, target.name, r) for r in results]
        failing = [r for r in results if not r.passed]
        for result in failing:
            self.block(
                app.name,
                target.name,
                f"gate:{result.code}",
                f"gate {result.gate}: {result.reason}",
                since=result.since,
                until=result.until,
            )
        owners = self._owners(app, target, tgt)
        if failing or owners is None:
            return
        marker = promotions.Marker(
            app.name, target.name, source.name, candidate.digest, src.commit or ""
        )
        pin = self._pin(src, candidate.digest, self.policy.settings.pin == "tag-and-digest")
        if not self._proven(app, target, pin):
            return
        message, trailers = promotions.commit_message(marker, gates.evidence_trailer(results))
        trailer_pairs = tuple((t.key, t.value) for t in trailers)
        if target.mode == "commit":
            self.actions.append(
                CommitDirect(
                    app,
                    target.name,
                    source.name,
                    target.format,
                    tgt.path,
                    pin,
                    marker,
                    message,
                    trailer_pairs,
                )
            )
            return
        if (
            request is None
            or held is None
            or self._stale(request, marker)
            or held.outdated
            or held.head_problem
        ):
            self._propose(
                app, source, target, tgt, pin, marker, message, trailer_pairs, results, owners, held
            )
            return
        unasked = tuple(o for o in owners if o not in request.requested_reviewers)
        if unasked:
            # Asked right after opening; a crash in between must not leave owners unasked.
            self.actions.append(RequestReviews(app.name, target.name, request.number, unasked))
        unlabelled = tuple(x for x in self.policy.settings.labels if x not in request.labels)
        if unlabelled:
            # Labelled right after opening (on GitHub, a second write): a crash in between, or
            # a label added to the policy since, must not leave the request without them.
            self.actions.append(AddLabels(app.name, target.name, request.number, unlabelled))
        self._merge(
            app, target, tgt, request, owners, marker, PinEdit(app, target.format, tgt.path, pin)
        )

    def _request_waits(self, app: str, env: str, held: RequestState | None) -> bool:
        """Block what the open request's record or head does not allow; True when nothing
        else may be planned for the pair this cycle."""
        if held is not None and held.head_problem:
            self.block(
                app,
                env,
                "unverified-head",
                f"request #{held.request.number} is not merged: {held.head_problem}; the "
                "daemon rebuilds it as its own edit when the promotion can proceed",
            )
        damaged = self.snap.damaged.get((app, env))
        if damaged is not None:
            self.block(app, env, "request-damaged", damaged)
            return True
        if held is not None and held.unfetched:
            self.block(
                app,
                env,
                "unverified-head",
                f"request #{held.request.number}'s head {held.request.head_commit[:12]} "
                "was pushed after this cycle fetched; it is checked next cycle",
            )
            return True
        return False

    def _candidate(
        self, app: App, source: Environment, target: Environment, src: OverlayState
    ) -> Candidate | None:
        if src.pin is None:
            self.block(
                app.name,
                target.name,
                "no-pin",
                f"the {source.name} overlay ({src.path}) pins no image for {app.name}",
            )
            return None
        digest = src.pin.digest or self._resolved(app, source, target, src.pin)
        if not digest:
            return None
        if source.name in self.policy.live:
            live = self.snap.live.get((app.name, source.name))
            since = live.since if live and live.digest == digest and not live.rolling else None
            return Candidate(app.name, source.name, digest, since, "live")
        return Candidate(
            app.name,
            source.name,
            digest,
            gates.pinned_since(src.history, digest) or src.changed_at,
            "overlay",
        )

    def _gate(self, name: str, candidate: Candidate) -> GateResult:
        gate = self.policy.gates[name]
        if not isinstance(gate, ArgoCDGate):
            return gates.evaluate(gate, self.snap.samples, candidate, self.now)
        status = self.snap.applications.get((candidate.app, candidate.source_env))
        if status is None:
            return evaluate_argocd(
                name,
                None,
                None,
                (),
                candidate.digest,
                self.now,
                error=f"no Argo CD status for {candidate.app} in {candidate.source_env}",
            )
        return evaluate_argocd(
            name,
            status.sync,
            status.health,
            status.images,
            candidate.digest,
            self.now,
            application=status.application,
            synced_at=status.synced_at,
            operation=status.operation,
            error=status.error,
        )

    def _resolved(self, app: App, source: Environment, target: Environment, pin: ImagePin) -> str:
        """The digest a tag-only source pin points to in the registry; "" when blocked."""
        if self.policy.registry is None or not pin.tag:
            self.block(
                app.name,
                target.name,
                "tag-only",
                f"the {source.name} overlay pins {app.name} by tag ({pin.tag or 'none'}) "
                "only; promotions move digests: pin the digest in "
                f"{source.name} (reconciler set-image {app.image_name}@sha256:...), or "
                "configure [registry] to resolve tags",
            )
            return ""
        repository = app.image
        fact = self.snap.tags.get((repository, pin.tag))
        if fact is None or fact.error:
            why = fact.error if fact else "it was not asked this cycle"
            self.block(
                app.name,
                target.name,
                "registry-unreachable",
                f"cannot resolve {repository}:{pin.tag} to a digest: {why}",
            )
            return ""
        if fact.digest is None:
            self.block(
                app.name,
                target.name,
                "unknown-tag",
                f"the registry has no tag {pin.tag} in {repository}; push it, or pin a digest",
            )
            return ""
        return fact.digest

    def _proven(self, app: App, target: Environment, pin: ImagePin) -> bool:
        """Fail closed: with a registry configured, the digest must be shown to exist."""
        if self.policy.registry is None:
            return True
        repository = app.image
        fact = self.snap.digests.get((repository, pin.digest))
        if fact is not None and fact.exists:
            return True
        if fact is not None and fact.exists is False:
            self.block(
                app.name,
                target.name,
                "unknown-digest",
                f"the registry does not know {short_digest(pin.digest)} in {repository}; "
                "push the image, or pin a digest that exists",
            )
        else:
            why = fact.error if fact and fact.error else "it was not asked this cycle"
            self.block(
                app.name,
                target.name,
                "registry-unreachable",
                f"cannot prove {short_digest(pin.digest)} exists in {repository}: {why}",
            )
        return False

    def _owners(self, app: App, target: Environment, tgt: OverlayState) -> tuple[str, ...] | None:
        """The overlay's code owners; () when none are required; None when blocked."""
        if not target.require_codeowners:
            return ()
        enforcement = self.snap.enforcement
        if enforcement is None or not enforcement.enforced:
            reason = (
                enforcement.reason if enforcement else "the forge's protection settings are unknown"
            )
            self.block(app.name, target.name, "codeowners-not-enforced", reason)
            return None
        owners = self.snap.codeowners.owners_of(tgt.path)
        if not owners:
            where = self.snap.codeowners.source or "no CODEOWNERS file"
            self.block(
                app.name,
                target.name,
                "codeowners-gap",
                f"{tgt.path} has no code owner ({where}); add a line such as "
                f"/{tgt.path.rsplit('/', 1)[0]}/ @your-team to .github/CODEOWNERS",
            )
            return None
        rule = self.snap.codeowners.rule_for(tgt.path)
        problem = self.snap.codeowners_errors.get(rule.line) if rule else None
        if rule is not None and problem:
            self.block(
                app.name,
                target.name,
                "codeowners-error",
                f"{self.snap.codeowners.source}:{rule.line}, the line that owns {tgt.path}, "
                f"has an error the forge reports: {problem}; fix that line",
            )
            return None
        return owners

    @staticmethod
    def _pin(src: OverlayState, digest: str, keep_tag: bool) -> ImagePin:
        """What the target will pin: the source's repository and digest (and tag, if kept)."""
        assert src.pin is not None
        return promotions.target_pin(src.pin, digest, keep_tag)

    @staticmethod
    def _stale(request: Request, marker: promotions.Marker) -> bool:
        found = promotions.parse_marker(request.body)
        return found is None or found.digest != marker.digest

    def _propose(
        self,
        app: App,
        source: Environment,
        target: Environment,
        tgt: OverlayState,
        pin: ImagePin,
        marker: promotions.Marker,
        message: str,
        trailers: tuple[tuple[str, str], ...],
        results: list[GateResult],
        owners: tuple[str, ...],
        held: RequestState | None,
    ) -> None:
        notes = []
        if any(r.weak_binding for r in results):
            notes.append("weak binding: no live source for the source environment")
        body = promotions.body(
            marker, tgt.path, pin.reference(), gates.evidence_table(results), tuple(notes)
        )
        comment = None
        number = expected = None
        if held is not None:
            request = held.request
            number, expected = request.number, request.head_commit
            old = promotions.parse_marker(request.body)
            if held.head_problem:
                comment = (
                    f"Rebuilt: {held.head_problem}. Only the daemon's own edit is merged; "
                    "approvals on the old head no longer count."
                )
            elif old is not None and old.digest != marker.digest:
                comment = (
                    f"Updated to a newer candidate: {short_digest(marker.digest)} replaces "
                    f"{short_digest(old.digest)}. Approvals given on the old head no longer "
                    "count."
                )
            else:
                comment = (
                    "Rebuilt on the current base branch; approvals on the old head no longer count."
                )
        self.actions.append(
            Propose(
                app,
                target.name,
                source.name,
                target.format,
                tgt.path,
                pin,
                marker,
                promotions.title(marker),
                body,
                message,
                trailers,
                tuple(self.policy.settings.labels),
                owners,
                number,
                expected,
                comment,
            )
        )

    def _merge(
        self,
        app: App,
        target: Environment,
        tgt: OverlayState,
        request: Request,
        owners: tuple[str, ...],
        marker: promotions.Marker,
        edit: PinEdit,
    ) -> None:
        approvals = request.approvals()
        approvers: tuple[str, ...] = ()
        if target.require_codeowners:
            qualifying = {
                who: at
                for who, at in approvals.items()
                if codeowners.is_owner(who, owners, self.snap.teams)
            }
            if not qualifying:
                others = sorted(set(approvals))
                extra = (
                    f" (approvals from {', '.join(others)} do not count: not code owners)"
                    if others
                    else ""
                )
                self.block(
                    app.name,
                    target.name,
                    "awaiting-review",
                    f"request #{request.number} waits for approval from a code owner of "
                    f"{tgt.path}: {' '.join(owners)}{extra}",
                    since=request.updated_at,
                )
                return
            approvers = tuple(sorted(qualifying))
            delay = gates.merge_delay(target.merge_delay, min(qualifying.values()), self.now)
            if not delay.passed:
                self.block(
                    app.name,
                    target.name,
                    "merge-delay",
                    delay.reason,
                    since=delay.since,
                    until=delay.until,
                )
                return
            if not target.merge_when_approved:
                self.block(
                    app.name,
                    target.name,
                    "manual-merge",
                    f"request #{request.number} is approved by {', '.join(approvers)}; "
                    f"merge_when_approved is off for {target.name}, so a person merges it",
                )
                return
        elif not target.auto_merge:
            self.block(
                app.name,
                target.name,
                "manual-merge",
                f"request #{request.number} is ready; auto_merge is off for {target.name}, "
                "so a person merges it",
            )
            return
        self.actions.append(
            Merge(
                app.name,
                target.name,
                request.number,
                request.head_commit,
                # The daemon's own title: a person may have edited the request's.
                f"{promotions.title(marker)} (#{request.number})",
                approvers,
                owners_required=target.require_codeowners,
                hold_label=self.policy.settings.hold_label,
                edit=edit,
            )
        )

    def move_tags(self) -> None:
        """Each environment's `registry_tag` follows the digest the environment runs."""
        for env in self.policy.ordered():
            if not env.registry_tag or self.policy.registry is None:
                continue
            for app in self.policy.apps_in(env.name):
                key = (app.name, env.name)
                if env.name in self.policy.live:
                    live = self.snap.live.get(key)
                    running = live.digest if live and not live.rolling else None
                else:
                    overlay = self.snap.overlays.get(key)
                    running = overlay.pin.digest if overlay and overlay.pin else None
                fact = self.snap.tags.get((app.image, env.registry_tag))
                if not running or fact is None or fact.error or fact.digest == running:
                    continue
                self.actions.append(
                    MoveTag(app.name, env.name, app.image, running, env.registry_tag)
                )

    def record_live(self) -> None:
        for key, request in sorted(self.snap.awaiting_live.items()):
            marker = promotions.parse_marker(request.body)
            live = self.snap.live.get(key)
            overlay = self.snap.overlays.get(key)
            if marker is None:
                continue
            if live is not None and live.digest == marker.digest and not live.rolling:
                at = live.since or self.now
            elif key[1] not in self.policy.live and overlay and overlay.pin:
                # Without a live source the merge itself is the best durable fact.
                if overlay.pin.digest != marker.digest or request.merged_at is None:
                    continue
                at = request.merged_at
            else:
                continue
            self.actions.append(RecordLive(key[0], key[1], request.number, at))

    def close_unwanted(self) -> None:
        for key, held in sorted(self.snap.requests.items()):
            if key not in self.planned:
                app, env = key
                self.actions.append(
                    Close(
                        app,
                        env,
                        held.request.number,
                        f"{app} is no longer promoted into {env} by promotions.toml; closing.",
                    )
                )
