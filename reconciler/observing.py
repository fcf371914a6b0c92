"""Observe: read git, the forge, live sources and gate endpoints into one frozen Snapshot.

Read-only. What git says (the policy, overlays, CODEOWNERS) comes from reconciler.desired,
which re-reads only what changed since the last cycle; when the policy is invalid, the last
good one stays in force and the snapshot carries the errors. Gate endpoints are probed by
reconciler.sampling; open requests' heads are proven by reconciler.provenance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from reconciler import codeowners, holds, promotions, provenance
from reconciler.changefacts import ChangeReader
from reconciler.desired import DesiredReader
from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.port import DamagedRequest, Forge, Request, TeamUnreadable
from reconciler.forgechecks import CheckReader
from reconciler.gates.port import Prober
from reconciler.gitrepo.port import ConfigRepo
from reconciler.live.port import ApplicationReader, LiveReader
from reconciler.livetimes import RecordedSightings
from reconciler.phases import Stopwatch
from reconciler.pinfacts import PIN_FILE_EVERY, Windows
from reconciler.policy import Policy
from reconciler.registry.port import ImageRegistry
from reconciler.registryfacts import offered, registry_facts, rollbacks_proven
from reconciler.revisions import changed_keys
from reconciler.sampling import GateSampler
from reconciler.shards import ALL, Shard
from reconciler.snapshot import (
    ApplicationStatus,
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

    def __init__(  # noqa: PLR0913 the observer's ports, all but repo and forge keyword-only
        self,
        repo: ConfigRepo,
        forge: Forge,
        *,
        prober: Prober,
        live_reader: Callable[[Policy, str], LiveReader | None],
        clock: Callable[[], datetime],
        base_branch: str = "main",
        registry_for: Callable[[Policy], ImageRegistry | None] = lambda _: None,
        wait: Callable[[float], object] = lambda seconds: threading.Event().wait(seconds),
        shard: Shard = ALL,
        phases: Stopwatch | None = None,
        pin_file: Path | None = None,
        head_file: Path | None = None,
    ) -> None:
        """``pin_file``, ``head_file``: where parsed overlay pins and the open requests'
        heads proven to be the daemon's own edits are kept for the next process."""
        self.repo = repo
        self.phases = phases or Stopwatch()  # lapped here; restarted by the cycle's runner
        self.forge = forge
        self.live_reader = live_reader
        self.clock = clock
        self.base_branch = base_branch
        self._configured = base_branch  # where the daemon falls back if a switch goes away
        self._refused: tuple[str, str, str] | None = None  # (branch, its tip, why)
        self.registry_for = registry_for
        self.shard = shard
        self.desired = DesiredReader(repo, shard.narrow, pin_file=pin_file)
        self._heads = provenance.HeadChecker(repo, head_file)
        self._heads_kept_at = -PIN_FILE_EVERY  # monotonic time of the last save
        self.sampler = GateSampler(prober, live_reader, clock, wait)
        self.sightings = RecordedSightings(forge)
        self.windows = Windows(self.desired.pins)
        compare = getattr(forge, "compare", None)  # a forge that lists source commits
        self.changes = ChangeReader(compare if callable(compare) else None)
        self.checks = CheckReader(forge, clock)
        # The last candidates and what they were found in: an idle cycle (the same policy
        # and overlays, the same tags) need not walk every edge again.
        self._candidates: (
            tuple[
                Policy,
                Mapping[Key, OverlayState],
                Mapping[tuple[str, str], TagFact],
                dict[Key, str],
            ]
            | None
        ) = None

    # -- the whole snapshot ------------------------------------------------------------------
    def keep(self, *, one_shot: bool) -> None:
        """Save the overlay pins parsed so far and the heads proven this cycle for the next
        process, after a cycle's plan (at a cold start, 30,000 pins take 0.2 s): a one-shot
        process at once, as it ends soon; a daemon now and then."""
        now = time.monotonic()
        self.desired.pins.keep(now=now, at_once=one_shot)
        if one_shot or now - self._heads_kept_at >= PIN_FILE_EVERY:
            self._heads.keep()
            self._heads_kept_at = now

    def observe(
        self, *, fetch: bool = True, one_shot: bool = False, probe: bool = True
    ) -> Observation:
        """Fetch, then read everything a plan needs (``one_shot``: no earlier cycles;
        ``probe`` False: no gate samples taken, the ones kept are used)."""
        if fetch:
            self.repo.fetch()
        self.phases.lap("fetch")
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
        self.phases.lap("policy+overlays", len(desired.overlays))
        policy = desired.policy
        errors = notes + desired.errors
        empty = Snapshot(base_branch=self.base_branch, base_commit=tip, policy_errors=errors)
        if policy is None:
            return Observation(None, empty, policy_valid=False)
        overlays = desired.overlays
        applications: dict[Key, ApplicationStatus] = {}
        live = self.sightings.apply(
            policy,
            overlays,
            self._live(policy, applications),
            lambda key, state: self.windows.whole(policy, key, state),
        )
        self.phases.lap("live")
        registry = self.registry_for(policy) if policy.registry is not None else None
        tags, digests = registry_facts(policy, overlays, registry) if registry else ({}, {})
        self.phases.lap("registry")
        candidates = self._offered(policy, overlays, tags)
        overlays = self.windows.for_candidates(policy, overlays, candidates)
        self.phases.lap("history")
        owners = desired.owners
        requests = self._requests(policy, overlays, tip)
        # What a request would change is only written by a cycle that may write (a daemon's,
        # `once`); `plan` and `status` without --probe ask the registry nothing more for it.
        changes = (
            self.changes.read(policy, overlays, candidates, requests, registry) if probe else {}
        )
        self.phases.lap("requests")
        # Gates are sampled last: only edges with a candidate that no hold stops need them.
        unheld = {
            key: digest
            for key, digest in candidates.items()
            if not _held(policy, key, requests.get(key))
        }
        samples = (
            self.sampler.sample(policy, overlays, live, unheld, one_shot=one_shot)
            if probe
            else self.sampler.kept()
        )
        checks = (
            self.checks.read(policy, overlays, unheld, self.base_branch, registry)
            if probe
            else self.checks.kept()
        )
        self.phases.lap("probes")
        needs_owners = any(e.require_codeowners for e in policy.environments.values())
        # An auto_merge environment needs it too: owned and enforced, the daemon cannot merge.
        merges = needs_owners or any(
            e.auto_merge and e.mode == "pull-request" for e in policy.environments.values()
        )
        enforcement = self.forge.codeowner_enforcement(self.base_branch) if merges else None
        owner_errors = self._codeowners_errors(owners) if needs_owners else {}
        teams, unreadable_teams = self._teams(owners)
        snapshot = Snapshot(
            base_branch=self.base_branch,
            base_commit=tip,
            overlays=overlays,
            live=MappingProxyType(live),
            requests=MappingProxyType(requests),
            samples=samples,
            sampled=probe,
            codeowners=owners,
            enforcement=enforcement,
            teams=teams,
            unreadable_teams=unreadable_teams,
            policy_errors=errors,
            awaiting_live=self._awaiting_live(),
            applications=MappingProxyType(applications),
            checks=checks,
            codeowners_errors=MappingProxyType(owner_errors),
            tags=MappingProxyType(tags),
            digests=MappingProxyType(
                digests | rollbacks_proven(policy, requests, digests, registry)
            ),
            damaged=MappingProxyType(self._damaged()),
            changes=MappingProxyType(changes),
        )
        self.phases.lap("forge")
        return Observation(policy, snapshot, not errors)

    @property
    def prober(self) -> Prober:
        """What probes the HTTP gates (tests swap it)."""
        return self.sampler.prober

    @prober.setter
    def prober(self, prober: Prober) -> None:
        self.sampler.prober = prober

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

    # -- live sources ----------------------------------------------------------------------------
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

    def _offered(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        tags: Mapping[tuple[str, str], TagFact],
    ) -> dict[Key, str]:
        """``registryfacts.offered``, reused while policy, overlays and tags are unchanged,
        and found again only for the apps whose overlays changed while only they did."""
        last = self._candidates
        if last is not None and last[0] is policy and last[2] == tags:
            if last[1] is overlays:
                return last[3]
            changed = changed_keys(last[1], overlays)
            apps = {app for app, _ in changed}
            if len(apps) * 10 < len(policy.apps):
                found = {key: d for key, d in last[3].items() if key[0] not in apps}
                found.update(offered(policy, overlays, tags, apps))
                self._candidates = (policy, overlays, last[2], found)
                return found
        found = offered(policy, overlays, tags)
        self._candidates = (policy, overlays, dict(tags), found)
        return found

    # -- forge ---------------------------------------------------------------------------------
    def _requests(
        self, policy: Policy, overlays: Mapping[Key, OverlayState], tip: str
    ) -> dict[Key, RequestState]:
        out: dict[Key, RequestState] = {}
        self._heads.move_to(tip)
        for request in self.forge.requests():
            parsed = promotions.parse_branch(request.head_branch)
            if parsed is None or request.base_branch != self.base_branch:
                continue
            env, app = parsed
            if self.shard.owns(app):  # else another replica's (it closes it if the app is gone)
                out[(app, env)] = self._heads.state(
                    policy, app, env, request=request, overlays=overlays, tip=tip
                )
        return out

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

    def _teams(
        self, owners: codeowners.CodeOwners
    ) -> tuple[Mapping[str, frozenset[str]], Mapping[str, str]]:
        """Members of every team CODEOWNERS names, and the teams the forge would not list."""
        teams: dict[str, frozenset[str]] = {}
        unreadable: dict[str, str] = {}
        asked: set[str] = set()
        for rule in owners.rules:
            for owner in rule.owners:
                if not (owner.startswith("@") and "/" in owner) or owner.casefold() in asked:
                    continue
                asked.add(owner.casefold())
                try:
                    members = self.forge.members(owner)
                except (TeamUnreadable, PolicyError) as refused:
                    # A damaged team list (local forge) stops only what needs the team.
                    unreadable[owner] = str(refused)
                    continue
                if members is not None:
                    teams[owner] = members
        return MappingProxyType(teams), MappingProxyType(unreadable)


def _held(policy: Policy, key: Key, held: RequestState | None) -> bool:
    """Whether a hold (the policy's, or the request's hold label) stops this promotion."""
    labels = held.request.labels if held is not None else ()
    return bool(holds.holds(policy, key[0], key[1], labels))
