"""Window gates: recurring allow and deny hours in a time zone, and absolute freezes.

A weekly window ``DAYS HH:MM-HH:MM ZONE`` opens on each listed day at the first instant
the local clock reads the start time or later, and closes at the first instant it reads
the end time or later (on the next day when the window wraps past midnight or ends at
24:00). Across daylight-saving changes this means: a start or end inside a spring-forward
gap falls on the moment of the jump (a window entirely inside the gap does not occur that
day); in a fall-back fold the first of the two readings counts, so a window is one
continuous stretch, never interrupted by the clock turning back.

A moment is open when it is inside an allow window (or no allow window is set), inside no
deny window and inside no freeze. A freeze ``START/END`` includes START, excludes END.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reconciler.gates.results import GateCode, GateResult, stamp
from reconciler.policy.model import WindowGate
from reconciler.policy.values import WeeklyWindow

# How far one search step looks for the next change. More than a week, so that once no
# freeze is in the way a whole weekly cycle is seen; a change further away than that
# (windows in two zones drifting across a DST change) is reported as unknown.
_HORIZON = timedelta(days=15)
_MAX_STEPS = 32  # chained freezes beyond this are not followed
_EPSILON = timedelta(microseconds=1)


def local_start(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) the clock in ``zone`` reads ``clock`` or later on ``day``."""
    naive = datetime.combine(day, clock)
    earlier = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if earlier.astimezone(zone).replace(tzinfo=None) == naive:
        return earlier  # the time exists; in a fold, fold=0 is the first reading
    # In a gap: the answer is the jump itself, between the two offsets' readings.
    other = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = sorted((int(earlier.timestamp()), int(other.timestamp())))
    lo -= 1
    hi += 1
    while hi - lo > 1:  # invariant: reading(lo) < naive <= reading(hi); zones change on seconds
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def occurrences(
    window: WeeklyWindow, lo: datetime, hi: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The [start, end) stretches of ``window`` that may overlap [lo, hi], in UTC."""
    zone = ZoneInfo(window.zone)
    wraps = window.end_of_day or window.end <= window.start
    day = lo.astimezone(zone).date() - timedelta(days=2)
    last = hi.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() in window.days:
            start = local_start(day, window.start, zone)
            end = local_start(day + timedelta(days=1) if wraps else day, window.end, zone)
            if start < end:
                yield start, end
        day += timedelta(days=1)


@dataclass(frozen=True)
class _Verdict:
    open: bool
    code: GateCode  # "passed", "frozen", "denied" or "outside-window"
    culprit: str  # the window or freeze that decided, as the policy spells it; "" if none


@dataclass(frozen=True)
class _Timeline:
    """Every stretch of the gate's windows around [lo, hi], to judge moments in it."""

    gate: WindowGate
    allow: Sequence[tuple[datetime, datetime, str]]
    deny: Sequence[tuple[datetime, datetime, str]]

    @classmethod
    def build(cls, gate: WindowGate, lo: datetime, hi: datetime) -> _Timeline:
        def stretches(windows: Sequence[WeeklyWindow]) -> list[tuple[datetime, datetime, str]]:
            return [(s, e, w.text) for w in windows for s, e in occurrences(w, lo, hi)]

        return cls(gate, stretches(gate.allow), stretches(gate.deny))

    def verdict(self, moment: datetime) -> _Verdict:
        for freeze in self.gate.freeze:
            if freeze.start <= moment < freeze.end:
                return _Verdict(open=False, code="frozen", culprit=freeze.text)
        for start, end, text in self.deny:
            if start <= moment < end:
                return _Verdict(open=False, code="denied", culprit=text)
        if not self.gate.allow:
            return _Verdict(open=True, code="passed", culprit="")
        for start, end, text in self.allow:
            if start <= moment < end:
                return _Verdict(open=True, code="passed", culprit=text)
        return _Verdict(open=False, code="outside-window", culprit="")

    def boundaries(self, lo: datetime, hi: datetime) -> list[datetime]:
        points = {p for s, e, _ in (*self.allow, *self.deny) for p in (s, e)}
        points.update(p for f in self.gate.freeze for p in (f.start, f.end))
        return sorted(p for p in points if lo <= p <= hi)


def is_open(gate: WindowGate, moment: datetime) -> bool:
    """Whether the gate allows promotion at ``moment``."""
    return _Timeline.build(gate, moment, moment).verdict(moment).open


def next_change(gate: WindowGate, now: datetime) -> datetime | None:
    """The first moment after ``now`` at which the gate opens (if closed) or closes (if open).

    None when no change is found: always open, never open, or further away than the search
    goes (about two weeks past the last freeze in the way).
    """
    now = now.astimezone(UTC)
    current = is_open(gate, now)
    cursor = now
    for _ in range(_MAX_STEPS):
        hi = cursor + _HORIZON
        timeline = _Timeline.build(gate, cursor, hi)
        for point in timeline.boundaries(cursor, hi):
            if point > now and timeline.verdict(point).open != current:
                return point
        # Nothing changes in [cursor, hi]. Without a freeze in it, the weekly pattern held
        # for over a week and will go on holding; with one, look again after it ends.
        later = [f.end for f in gate.freeze if f.end > cursor and f.start <= hi]
        if not later:
            return None
        cursor = max(later)
    return None


def last_change(gate: WindowGate, now: datetime) -> datetime | None:
    """The moment at or before ``now`` since which the gate has been as it is now, if found."""
    now = now.astimezone(UTC)
    current = is_open(gate, now)
    cursor = now
    for _ in range(_MAX_STEPS):
        lo = cursor - _HORIZON
        timeline = _Timeline.build(gate, lo, cursor)
        for point in reversed(timeline.boundaries(lo, cursor)):
            if point <= now and timeline.verdict(point - _EPSILON).open != current:
                return point
        earlier = [f.start for f in gate.freeze if f.start < cursor and f.end >= lo]
        if not earlier:
            return None
        cursor = min(earlier)
    return None


def evaluate_window(gate: WindowGate, now: datetime) -> GateResult:
    """Pass when ``now`` is inside an allow window (or none is set) and no deny or freeze."""
    verdict = _Timeline.build(gate, now, now).verdict(now)
    change = next_change(gate, now)
    since = last_change(gate, now)
    if verdict.open:
        evidence = f"inside {verdict.culprit}" if verdict.culprit else "no window restricts now"
        closes = f"; closes at {stamp(change)}" if change else ""
        return GateResult(
            gate=gate.name,
            kind="window",
            passed=True,
            code="passed",
            reason=f"open: {evidence}{closes}",
            evidence=evidence,
            since=since,
            until=change,
        )
    if verdict.code == "outside-window":
        evidence = "outside " + " and ".join(w.text for w in gate.allow)
    else:
        evidence = f"{verdict.code} by {verdict.culprit}"
    opens = (
        f"; opens at {stamp(change)}"
        if change
        else f"; no opening found in the {_HORIZON.days} days searched"
    )
    return GateResult(
        gate=gate.name,
        kind="window",
        passed=False,
        code=verdict.code,
        reason=f"closed: {evidence}{opens}",
        evidence=evidence,
        since=since,
        until=change,
    )
