"""When to ask for a task's result: learned per task kind, so a solve costs few polls.

The official SDKs poll on a fixed timer from the start (1-10 s), so a 10 s
solve costs them 4-11 getTaskResult calls. Here the first poll goes where this
crawl has seen tasks of that kind become ready, and later polls follow the
provider's minimum interval.

The service says only "ready" or "processing", so the ready time is known by
bounds: a miss at t says "later than t", a hit at t says "by t". Per task kind
the planner keeps the latest miss (``lo``) and the earliest first-poll hit
(``hi``), and probes between them — three quarters of the way up, since a miss
costs a whole poll interval and a late hit only the gap, and one task at a time
— until they are within ``margin``; then it polls at ``hi``, just above the
ready time. A seed that was too late is found by stepping down from it in
doubling steps. Every
``probe_every`` hits in a row it widens the bracket downwards again, so a
service that got faster is noticed; a service that got slower shows up as a
miss and moves the bracket up.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Bracket:
    lo: float | None = None
    hi: float | None = None
    hits: int = 0
    #: Recent ready-time estimates (a miss-and-hit's midpoint, or a hit's moment).
    recent: list[float] = field(default_factory=list)
    #: A task of this kind has been seen still processing at its first poll.
    missed: bool = False
    #: ``lo`` is a real miss (not a step a descent wants to try).
    lo_seen: bool = False
    #: Probe points handed out and not yet observed: one probe at a time, so
    #: concurrent tasks do not all pay for the same experiment.
    outstanding: list[float] = field(default_factory=list)
    #: A re-probe below ``hi`` is under way, started from ``probe_from`` with ``width``.
    probe_from: float | None = None
    width: float = 0.0


@dataclass
class PollPlanner:
    #: The provider's floor for the first poll, and its minimum interval between polls.
    min_first: float
    interval: float
    #: Typical solve seconds per kind, before anything is learned.
    seeds: dict[str, float] = field(default_factory=dict)
    margin: float = 0.15
    probe_every: int = 50
    #: How many recent ready times decide whether the workload is steady or spread.
    window: int = 20
    _brackets: dict[str, _Bracket] = field(default_factory=dict)

    def first_poll(self, kind: str) -> float:
        first, probe = self._first_poll(kind)
        b = self._brackets.get(kind)
        if b is None or len(b.recent) < 5:
            # Cold start: one slow first task must not set the plan for all that follow.
            first = min(first, self.seeds.get(kind, self.min_first))
        first = max(self.min_first, first)
        if probe and b is not None:
            b.outstanding.append(first)
        return first

    def _first_poll(self, kind: str) -> tuple[float, bool]:
        """(seconds, whether it is a probe below the safe estimate)."""
        b = self._brackets.get(kind)
        spread = self._spread_quantile(b)
        if spread is not None:
            # Ready times vary more than two poll intervals: start at their low end
            # (a 10th percentile) and follow the provider's interval from there.
            return spread, False
        if b is None or b.hi is None:
            guess = self.seeds.get(kind, self.min_first)
            if b is not None and b.lo is not None:
                guess = max(guess, b.lo + self.margin)
            return guess, False
        if b.lo is not None and b.hi - b.lo > 2 * self.margin and not b.outstanding:
            if not b.lo_seen:
                return b.lo, True  # a descent step: try it as it is
            # A miss costs a whole poll interval, a late hit only the gap: lean to the safe side.
            return b.lo + 0.75 * (b.hi - b.lo), True
        return b.hi, False

    def _spread_quantile(self, b: _Bracket | None) -> float | None:
        if b is None or len(b.recent) < 5:
            return None
        ordered = sorted(b.recent)
        low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
        return low if high - low > 2 * self.interval else None

    def observe(self, kind: str, first_poll: float, found_at: float, last_miss: float | None) -> None:
        """A finished task: its first poll went at ``first_poll`` s, it was found
        ready at ``found_at`` s, and was last seen processing at ``last_miss`` s."""
        b = self._brackets.setdefault(kind, _Bracket(width=3 * self.margin))
        if first_poll in b.outstanding:
            b.outstanding.remove(first_poll)
        # A hit says only "ready by then": count it an interval earlier, or the low
        # percentile would confirm itself and never walk down.
        sample = max(self.min_first, found_at - self.interval) if last_miss is None else (last_miss + found_at) / 2
        b.recent = (b.recent + [sample])[-self.window:]
        if last_miss is None:
            b.hi = first_poll if b.hi is None else min(b.hi, first_poll)
            b.hits += 1
        elif b.hi is not None and found_at > b.hi + 2 * self.interval:
            pass  # one much slower task says little about the rest (the spread check sees it)
        else:
            b.hits = 0
            b.missed = b.lo_seen = True
            b.lo = last_miss
            if b.hi is None or b.hi <= last_miss:
                b.hi = found_at
        if b.lo is not None and b.hi is not None and b.lo >= b.hi:
            # A hit below an older miss (jitter, or tasks planned before the bracket
            # moved): the newer hit wins; the bracket is closed around it.
            b.lo, b.lo_seen = b.hi - self.margin, True
        if last_miss is None and not b.missed and b.probe_from is None and b.hi is not None:
            # Never seen a miss: the seed may be too late. Step down, doubling the
            # step while it keeps hitting (see the probe below).
            b.probe_from, b.width = b.hi, 3 * self.margin
            b.lo, b.lo_seen = max(self.min_first, b.hi - b.width), False
            if b.lo >= b.hi:
                b.lo, b.probe_from = None, None
            return
        converged = b.hi is not None and (b.lo is None or b.hi - b.lo <= 2 * self.margin)
        if converged and b.probe_from is not None:
            # The probe is over. Found the service faster? Step further down at once.
            faster = b.hi <= b.probe_from - b.width / 2
            b.probe_from = None
            b.hits = 0
            if faster:
                b.width = min(b.width * 2, b.hi / 2)
                b.probe_from = b.hi
                b.lo, b.lo_seen = max(self.min_first, b.hi - b.width), False
                if b.lo >= b.hi:
                    b.lo, b.probe_from = None, None
            else:
                b.width = 3 * self.margin
        elif converged and b.hits >= self.probe_every and b.hi is not None:
            b.hits = 0
            b.probe_from = b.hi
            b.lo, b.lo_seen = max(self.min_first, b.hi - b.width), False

    def estimate(self, kind: str) -> float | None:
        b = self._brackets.get(kind)
        return None if b is None else b.hi
