"""When to ask for a task's result: learned per task kind, so a solve costs few polls.

The official SDKs poll on a fixed timer from the start (1-10 s), so a 10 s
solve costs them 4-11 getTaskResult calls. Here the first poll goes where this
crawl has seen tasks of that kind become ready, and later polls follow the
provider's minimum interval.

The service says only "ready" or "processing", so the ready time is known by
bounds: a miss at t says "later than t", a hit at t says "by t". Per task kind
the planner keeps the latest miss (``lo``) and the earliest first-poll hit
(``hi``), and puts the next first poll halfway between them until they are
within ``margin`` — then at ``hi``, just above the ready time. Every
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
        first = self._first_poll(kind)
        b = self._brackets.get(kind)
        if b is None or len(b.recent) < 5:
            # Cold start: one slow first task must not set the plan for all that follow.
            first = min(first, self.seeds.get(kind, self.min_first))
        return max(self.min_first, first)

    def _first_poll(self, kind: str) -> float:
        b = self._brackets.get(kind)
        spread = self._spread_quantile(b)
        if spread is not None:
            # Ready times vary more than two poll intervals: start at their low end
            # (a 10th percentile) and follow the provider's interval from there.
            return max(self.min_first, spread)
        if b is None or b.hi is None:
            guess = self.seeds.get(kind, self.min_first)
            if b is not None and b.lo is not None:
                guess = max(guess, b.lo + self.margin)
            return max(self.min_first, guess)
        if b.lo is not None and b.hi - b.lo > 2 * self.margin:
            return max(self.min_first, (b.lo + b.hi) / 2)
        return max(self.min_first, b.hi)

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
            b.lo = last_miss
            if b.hi is None or b.hi <= last_miss:
                b.hi = found_at
        if b.lo is not None and b.hi is not None and b.lo >= b.hi:
            b.lo = None
        if last_miss is None and b.lo is None and b.probe_from is None and b.hi is not None:
            # Never seen a miss: the seed may be far too late. Look down to half.
            b.probe_from, b.width = b.hi, b.hi / 2
            b.lo = max(self.min_first, b.hi - b.width)
            if b.lo >= b.hi:
                b.lo, b.probe_from = None, None
            return
        converged = b.hi is not None and (b.lo is None or b.hi - b.lo <= 2 * self.margin)
        if converged and b.probe_from is not None:
            # The probe is over. Found the service much faster? Look further down, soon.
            faster = b.hi <= b.probe_from - b.width / 2
            b.width = min(b.width * 2, b.hi / 2) if faster else 3 * self.margin
            b.hits = self.probe_every - 1 if faster else 0
            b.probe_from = None
        elif converged and b.hits >= self.probe_every and b.hi is not None:
            b.hits = 0
            b.probe_from = b.hi
            b.lo = max(self.min_first, b.hi - b.width)

    def estimate(self, kind: str) -> float | None:
        b = self._brackets.get(kind)
        return None if b is None else b.hi
