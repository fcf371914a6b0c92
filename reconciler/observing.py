"""Observe: read git, the forge, live sources and gate endpoints into one frozen Snapshot.

Read-only. What git says (the policy, overlays, CODEOWNERS) comes from reconciler.desired,
which re-reads only what changed since the last cycle; when the policy is invalid, the last
good one stays in force and the snapshot carries the errors. Gate endpoints are probed at
each gate's own interval, and their samples are kept across cycles (they are observations,
so a restart simply collects them again).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType

from reconciler import codeowners, promotions, provenance
from reconciler.actions import PinEdit
from reconciler.desired import DesiredReader
from reconciler.errors import PermanentError, ReconcilerError
from reconciler.forge.port import DamagedRequest, Forge, Request
from reconciler.gates import Sample
from reconciler.gitrepo.port import ConfigRepo, UnknownCommit
from reconciler.live.port import ApplicationReader, LiveReader
from reconciler.policy import Policy
from reconciler.policy.model import HttpGate
from reconciler.probes import Prober, ProbeRequest
from reconciler.registry.port import ImageNotFound, ImageRegistry
from reconciler.shards import ALL, Shard
from reconciler.snapshot import (
    ApplicationStatus,
    DigestFact,
    Key,
    LiveState,
    OverlayState,
    RequestState,
    Snapshot,
    TagFact,
)

SAMPLES_KEPT = 50  # per (gate, app, env): enough for any sane `successes`


@dataclass(frozen=True)
class Observation:
    """The policy in force and what was observed under it."""

    policy: Policy | None
    snapshot: Snapshot
    policy_valid: bool


class Observer:
    """Builds snapshots; keeps the last good policy, parsed overlays and gate samples."""

    def __init__(
        self,
        repo: ConfigRepo,
        forge: Forge,
        prober: Prober,
        live_reader: Callable[[Policy, str], LiveReader | None],
        clock: Callable[[], datetime],
        base_branch: str = "main",
        registry_for: Callable[[Policy], ImageRegistry | None] = lambda _: None,
        wait: Callable[[float], object] = lambda seconds: threading.Event().wait(seconds),
        shard: Shard = ALL,
    ) -> None:
        self.repo = repo
        self.forge = forge
        self.prober = prober
        self.live_reader = live_reader
        self.clock = clock
        self.base_branch = base_branch
        self._configured = base_branch  # where the daemon falls back if a switch goes away
        self._refused: tuple[str, str, str] | None = None  # (branch, its tip, why)
        self.registry_for = registry_for
        self.wait = wait
        self.shard = shard
        self.desired = DesiredReader(repo, shard.narrow)
        self._chain = provenance.BaseChain(repo)
        self._checked: dict[tuple[str, ...], provenance.HeadCheck] = {}
        self._samples: dict[tuple[str, str, str], deque[Sample]] = {}
        self._probed_at: dict[tuple[str, str, str], datetime] = {}

    # -- the whole snapshot ------------------------------------------------------------------
    def observe(self, fetch: bool = True, one_shot: bool = False) -> Observation:
        """Fetch, then read everything a plan needs (``one_shot``: no earlier cycles)."""
        if fetch:
            self.repo.fetch()
        notes: tuple[str, ...] = ()
        if self.base_branch != self._configured and self.repo.tip(self.base_branch) is None:
            notes = (
                f'the base branch "{self.base_branch}" is gone; reading "{self._configured}" again',
            )
            self.base_branch = self._configured
        tip = self._tip(self.base_branch)
        desired = self.desired.read(tip, self.base_branch)
        wanted = desired.policy.settings.base_branch if desired.policy else None
        if wanted and not desired.errors and wanted != self.base_branch:
            refused = self._refuse_switch(wanted)
            if refused is None:
                self.base_branch = wanted
                tip = self._tip(wanted)
            else:
                notes += (refused,)
            desired = self.desired.read(tip, self.base_branch)
        policy = desired.policy
        errors = notes + desired.errors
        empty = Snapshot(self.base_branch, tip, policy_errors=errors)
        if policy is None:
            return Observation(None, empty, False)
        overlays = desired.overlays
        applications: dict[Key, ApplicationStatus] = {}
        live = self._live(policy, applications)
        samples = self._probe(policy, overlays, live, one_shot)
        registry = self.registry_for(policy) if policy.registry is not None else None
        tags, digests = self._registry(policy, overlays, registry) if registry else ({}, {})
        overlays = self._deep_histories(policy, overlays, tags)
        owners = desired.owners
        requests = self._requests(policy, overlays, tip)
        needs_owners = any(e.require_codeowners for e in policy.environments.values())
        enforcement = self.forge.codeowner_enforcement(self.base_branch) if needs_owners else None
        owner_errors = self._codeowners_errors(owners) if needs_owners else {}
        snapshot = Snapshot(
            base_branch=self.base_branch,
            base_commit=tip,
            overlays=overlays,
            live=MappingProxyType(live),
            requests=MappingProxyType(requests),
            samples=samples,
            codeowners=owners,
            enforcement=enforcement,
            teams=self._teams(owners),
            policy_errors=errors,
            awaiting_live=self._awaiting_live(),
            applications=MappingProxyType(applications),
            codeowners_errors=MappingProxyType(owner_errors),
            tags=MappingProxyType(tags),
            digests=MappingProxyType(digests),
            damaged=MappingProxyType(self._damaged()),
        )
        return Observation(policy, snapshot, not errors)

    @property
    def last_good(self) -> Policy | None:
        """The last valid policy read from the base branch."""
        return self.desired.last_good

    def _refuse_switch(self, wanted: str) -> str | None:
        """Why the policy's ``settings.base_branch`` is not adopted yet; None to adopt it.

        A branch is adopted only when it exists and its own policy is valid and names it:
        one commit naming a missing or broken branch must not leave the daemon reading a
        branch where the fix can never appear. A refusal is kept until that branch moves.
        """
        here = self.base_branch
        tip = self.repo.tip(wanted)
        if tip is None:
            return (
                f'settings.base_branch is "{wanted}", but the config repo has no such branch; '
                f'staying on "{here}" (push the branch, or fix the setting)'
            )
        if self._refused is not None and self._refused[:2] == (wanted, tip):
            return self._refused[2]
        there = self.desired.read(tip, wanted)
        problem = (
            f"its promotions.toml is invalid ({there.errors[0]})"
            if there.errors or there.policy is None
            else None
            if there.policy.settings.base_branch == wanted
            else f'its promotions.toml names "{there.policy.settings.base_branch}"'
        )
        if problem is None:
            self._refused = None
            return None
        reason = (
            f'settings.base_branch is "{wanted}", but {problem}; staying on "{here}" until '
            f'"{wanted}" holds a valid policy naming itself'
        )
        self._refused = (wanted, tip, reason)
        return reason

    def _tip(self, branch: str) -> str:
        tip = self.repo.tip(branch)
        if tip is None:
            raise PermanentError(
                f'the config repo has no branch "{branch}"; push one, or set '
                "settings.base_branch in promotions.toml"
            )
        return tip

    # -- live sources and probes ---------------------------------------------------------------
    def _live(
        self, policy: Policy, applications: dict[Key, ApplicationStatus]
    ) -> dict[Key, LiveState]:
        out: dict[Key, LiveState] = {}
        for env in policy.live:
            pairs = [(app.name, env) for app in policy.apps_in(env)]
            reader = self.live_reader(policy, env)
            if reader is None:
                kind = policy.live[env].kind
                out.update(
                    {
                        p: LiveState(None, error=f"live source kind {kind!r} is not available")
                        for p in pairs
                    }
                )
                continue
            if isinstance(reader, ApplicationReader):
                # Read once: the same status answers drift and the `argocd` gate.
                now = self.clock()
                statuses = reader.statuses(pairs)
                applications.update(statuses)
                out.update({p: reader.live_state(p, s, now) for p, s in statuses.items()})
                continue
            out.update(reader.read(pairs))
        return out

    def _probe(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        live: Mapping[Key, LiveState],
        one_shot: bool,
    ) -> tuple[Sample, ...]:
        """Probe the gates that are due, least recently probed first, and keep the samples
        still bound to what ran; a probe the round left out is due again next cycle."""
        gates = list(self._http_gates(policy))
        # A daemon samples one round per cycle and keeps samples across cycles. A one-shot
        # process (`once`, `plan`) has no earlier cycles: it takes as many rounds as the
        # longest streak needs, each gate's interval apart, so it can reach a verdict too.
        rounds = max((g.successes for g, _, _ in gates), default=1) if one_shot else 1
        for round_number in range(rounds):
            if round_number:
                self.wait(min(g.interval for g, _, _ in gates).total_seconds())
            now = self.clock()
            due: list[ProbeRequest] = []
            # A round is bounded (reconciler.probes): what it leaves out goes first next
            # time, or a few hanging endpoints would starve every gate behind them.
            for gate, app, source in sorted(gates, key=self._stalest_first):
                last = self._probed_at.get((gate.name, app, source))
                if round_number == 0 and last is not None and now - last < gate.interval:
                    continue
                digest = self._running(policy, app, source, overlays, live)
                due.append(
                    ProbeRequest(gate, app, source, digest, policy.settings.private_redirects)
                )
            taken = self.prober.probe(due) if due else []
            moved = self._moved(policy, due, taken)
            for sample in taken:
                if (sample.app, sample.env) in moved:
                    continue  # of either digest: dropped, and probed again next cycle
                key = (sample.gate, sample.app, sample.env)
                self._probed_at[key] = now
                self._samples.setdefault(key, deque(maxlen=SAMPLES_KEPT)).append(sample)
        return tuple(s for bucket in self._samples.values() for s in bucket)

    def _stalest_first(self, entry: tuple[HttpGate, str, str]) -> tuple[int, datetime] | tuple[int]:
        last = self._probed_at.get((entry[0].name, entry[1], entry[2]))
        return (0,) if last is None else (1, last)

    def _moved(
        self, policy: Policy, due: Sequence[ProbeRequest], taken: Sequence[Sample]
    ) -> set[Key]:
        """The (app, env) pairs whose live digest after the round is not the one read before
        it: a rollout ran meanwhile, so their samples may be of either digest. One read per
        environment with a live source; an overlay pin cannot move within a cycle."""
        before = {(r.app, r.env): r.live_digest for r in due}
        probed: dict[str, set[str]] = {}
        for sample in taken:
            if sample.env in policy.live:
                probed.setdefault(sample.env, set()).add(sample.app)
        moved: set[Key] = set()
        for env, apps in probed.items():
            reader = self.live_reader(policy, env)
            if reader is None:
                continue  # none before either: the samples are bound to no digest
            after = reader.read(sorted((app, env) for app in apps))
            moved.update(pair for pair, state in after.items() if _steady(state) != before[pair])
        return moved

    @staticmethod
    def _http_gates(policy: Policy) -> Iterable[tuple[HttpGate, str, str]]:
        seen = set()
        for target in policy.environments.values():
            if target.follows is None:
                continue
            for name in target.gates:
                gate = policy.gates.get(name)
                if not isinstance(gate, HttpGate):
                    continue
                for app in policy.apps_in(target.name):
                    key = (name, app.name, target.follows)
                    if key not in seen:
                        seen.add(key)
                        yield gate, app.name, target.follows

    @staticmethod
    def _running(
        policy: Policy,
        app: str,
        env: str,
        overlays: Mapping[Key, OverlayState],
        live: Mapping[Key, LiveState],
    ) -> str | None:
        """What ``env`` runs for ``app`` as far as this cycle knows, for sample binding."""
        if env in policy.live:
            return _steady(live.get((app, env)))
        overlay = overlays.get((app, env))
        return (overlay.pin.digest or None) if overlay and overlay.pin else None

    # -- registry ------------------------------------------------------------------------------
    def _registry(
        self, policy: Policy, overlays: Mapping[Key, OverlayState], registry: ImageRegistry
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
        for target in policy.environments.values():
            if target.follows is None:
                continue
            for app in policy.apps_in(target.name):
                src = overlays.get((app.name, target.follows))
                tgt = overlays.get((app.name, target.name))
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

    def _deep_histories(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        tags: Mapping[tuple[str, str], TagFact],
    ) -> Mapping[Key, OverlayState]:
        """Each target overlay with a pending candidate, its history walked back as far as
        the manual-rollback rule needs to judge that candidate (DesiredReader.back_to)."""
        deeper: dict[Key, OverlayState] = {}
        for target in policy.environments.values():
            if target.follows is None:
                continue
            for app in policy.apps_in(target.name):
                src = overlays.get((app.name, target.follows))
                tgt = overlays.get((app.name, target.name))
                if src is None or src.pin is None or tgt is None or tgt.error:
                    continue
                fact = tags.get((app.image, src.pin.tag)) if not src.pin.digest else None
                candidate = src.pin.digest or (fact.digest if fact else None)
                if not candidate or (tgt.pin is not None and tgt.pin.digest == candidate):
                    continue
                history = self.desired.back_to(target, app, tgt, candidate)
                if history is not tgt.history:
                    deeper[(app.name, target.name)] = replace(tgt, history=history)
        if not deeper:
            return overlays
        return MappingProxyType({**overlays, **deeper})

    # -- forge ---------------------------------------------------------------------------------
    def _requests(
        self, policy: Policy, overlays: Mapping[Key, OverlayState], tip: str
    ) -> dict[Key, RequestState]:
        out: dict[Key, RequestState] = {}
        self._chain.move_to(tip)
        for request in self.forge.requests():
            parsed = promotions.parse_branch(request.head_branch)
            if parsed is None or request.base_branch != self.base_branch:
                continue
            env, app = parsed
            if not self.shard.owns(app):
                continue  # another replica's (it also closes it if the app is gone)
            if not request.head_commit:  # its head branch is gone: rebuild it
                out[(app, env)] = RequestState(request, outdated=True)
                continue
            try:
                checked = self._check_head(policy, app, env, request, overlays, tip)
            except UnknownCommit as missing:
                if missing.commit != request.head_commit:
                    raise
                # Pushed after this cycle's fetch (another replica, a person): judged next
                # cycle, neither merged nor rebuilt now.
                out[(app, env)] = RequestState(request, unfetched=True)
                continue
            out[(app, env)] = RequestState(request, not checked.current, checked.problem)
        return out

    def _check_head(
        self,
        policy: Policy,
        app: str,
        env: str,
        request: Request,
        overlays: Mapping[Key, OverlayState],
        tip: str,
    ) -> provenance.HeadCheck:
        """Whether the request's head is exactly the daemon's edit (reconciler.provenance)."""
        target = policy.environments.get(env)
        spec = policy.apps.get(app)
        if target is None or spec is None or target.follows is None:
            return provenance.HeadCheck(f"{app} is not promoted into {env} by the policy")
        overlay = overlays.get((app, env))
        source = overlays.get((app, target.follows))
        if overlay is None or overlay.error or source is None or source.pin is None:
            return provenance.HeadCheck(f"the overlays of {app} cannot be read to check it")
        marker = promotions.parse_marker(request.body)
        if marker is None:
            return provenance.HeadCheck("its body has no reconciler marker")
        keep_tag = policy.settings.pin == "tag-and-digest"
        pin = promotions.target_pin(source.pin, marker.digest, keep_tag)
        edit = provenance.pin_edit(PinEdit(spec, target.format, overlay.path, pin))
        # Idle cycles ask the same question of the same heads: the answer depends only on
        # the head, the edit, the base's version of the file and the chain being the same.
        key = (
            request.head_commit,
            overlay.path,
            target.format,
            spec.image_name,
            repr(spec.helm),
            repr(pin),
            self.repo.blob_id(tip, overlay.path) or "",
            str(self._chain.generation),
        )
        found = self._checked.get(key)
        if found is None:
            found = provenance.check_head(
                self.repo, self._chain, request.head_commit, tip, overlay.path, marker.digest, edit
            )
            if len(self._checked) >= 10_000:
                self._checked.clear()  # bounded; a miss costs one check
            self._checked[key] = found
        return found

    def _damaged(self) -> dict[Key, str]:
        """Unreadable request records (the local forge's ``damaged()``), by the promotion
        each one's head branch names: only that promotion waits for the repair."""
        ask = getattr(self.forge, "damaged", None)
        found: dict[Key, str] = {}
        for record in ask() if callable(ask) else ():
            parsed = promotions.parse_branch(record.head_branch or "")
            if isinstance(record, DamagedRequest) and parsed is not None:
                env, app = parsed
                found.setdefault((app, env), f"request #{record.number}: {record.problem}")
        return found

    def _codeowners_errors(self, owners: codeowners.CodeOwners) -> dict[int, str]:
        """The forge's own complaints about CODEOWNERS lines (GitHub's errors endpoint)."""
        ask = getattr(self.forge, "codeowners_errors", None)
        if not callable(ask) or owners.source is None:
            return {}
        found: dict[int, str] = {}
        for text in ask(self.base_branch):
            path, _, rest = str(text).partition(":")
            line, _, detail = rest.partition(":")
            if path == owners.source and line.isdigit():
                found[int(line)] = detail.split(":", 1)[-1].strip() or str(text)
        return found

    def _awaiting_live(self) -> Mapping[Key, Request]:
        latest: dict[Key, Request] = {}
        for request in self.forge.awaiting_live():
            parsed = promotions.parse_branch(request.head_branch)
            if parsed is not None and self.shard.owns(parsed[1]):
                env, app = parsed
                latest[(app, env)] = request  # numbers rise: the last one is the newest
        return MappingProxyType(latest)

    def _teams(self, owners: codeowners.CodeOwners) -> Mapping[str, frozenset[str]]:
        teams: dict[str, frozenset[str]] = {}
        for rule in owners.rules:
            for owner in rule.owners:
                if owner.startswith("@") and "/" in owner and owner not in teams:
                    members = self.forge.members(owner)
                    if members is not None:
                        teams[owner] = members
        return MappingProxyType(teams)


def _steady(state: LiveState | None) -> str | None:
    """The digest a live state binds samples to: None while unknown or rolling out."""
    return state.digest if state and not state.rolling else None


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
