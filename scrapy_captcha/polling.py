"""When to ask for a task's result: a grid of polls anchored where tasks become ready.

The service says only "ready" or "processing", so a task's ready time is known
by bounds: a miss at age ``a`` says "later than a", a hit says "by a". Two rules
decide every poll of a task:

* **Latency first.** A task is polled on a grid whose step is the provider's
  minimum interval, from its first poll on. A task that is ready earlier than
  expected therefore waits at most one interval, whatever was learned (the
  official SDKs' fixed timers give the same bound, for more polls).
* **Few polls.** The grid's phase is learned per task kind: it is anchored just
  above the ready time of recent tasks, and the first poll is the lowest grid
  point at or above the provider's floor. On a steady 10 s workload with a 3 s
  interval that is polls at about 4, 7 and 10 s: the last one lands on the
  ready time.

What is known is a *bracket* (L, H]: the latest miss and the earliest hit of
the recent tasks that agree with each other. When a new task disagrees (the
service got faster or slower) the bracket starts again from it, so a shift is
followed at the next task. A wide bracket is narrowed by probing: a task puts
its anchor in the middle of the widest part of the bracket that no probe under
way covers yet (so concurrent tasks split it between them). A probe that misses
costs that task up to an interval, so probes are made only while the bracket
is wider than ``interval / PROBE_RATIO`` (and, rarely, to notice a service
that got a little faster).

Tasks of a kind that is not yet known ("cold") get phases spread evenly over
one interval, so a burst of concurrent first tasks learns the ready time to a
fraction of an interval at once. Beyond :attr:`PollPlanner.scouts` cold tasks at
once, the others wait for the first answer instead of polling in the dark: a
burst of thousands would otherwise poll the service on every grid point.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise

#: A probe is made while the bracket is wider than ``interval / PROBE_RATIO``.
#: Five concurrent cold tasks learn the ready time to interval/5: no probe then,
#: because a probe that misses costs a whole interval.
PROBE_RATIO = 4.5
#: Poll this far above the earliest hit (a fraction of the interval:
#: 3 s: 0.03 s), against jitter in the service's and the network's timing.
SAFETY = 1 / 100
#: Every so many anchored tasks in a row, one probe (the service may have got faster).
REPROBE_EVERY = 50


@dataclass
class _Kind:
    #: Recent (lo, hi] brackets of single tasks, newest last; lo is None when the
    #: task's first poll hit.
    recent: deque[tuple[float | None, float]] = field(default_factory=lambda: deque(maxlen=20))
    #: Anchors of the probes under way.
    probes: list[float] = field(default_factory=list)
    anchored: int = 0
    solves: int = 0


@dataclass
class PollPlanner:
    #: The provider's floor for the first poll, and its minimum interval between polls.
    min_first: float
    interval: float
    #: Cold tasks of one kind that poll before anything is known; the rest wait.
    scouts: int = 10
    _kinds: dict[str, _Kind] = field(default_factory=dict)

    # ----------------------------------------------------------- knowledge

    def bracket(self, kind: str) -> tuple[float | None, float] | None:
        """(L, H] from the newest run of tasks that agree; None when nothing is known."""
        k = self._kinds.get(kind)
        if k is None or not k.recent:
            return None
        lo: float | None = None
        hi = float("inf")
        for a, b in reversed(k.recent):
            new_lo = lo if a is None else (a if lo is None else max(lo, a))
            new_hi = min(hi, b)
            if new_lo is not None and new_lo >= new_hi:
                break  # older tasks disagree: the service changed since
            lo, hi = new_lo, new_hi
        return lo, hi

    def known(self, kind: str) -> bool:
        k = self._kinds.get(kind)
        return k is not None and bool(k.recent)

    def estimate(self, kind: str) -> float | None:
        """Seconds after creation by which a task of ``kind`` is expected ready."""
        b = self.bracket(kind)
        return None if b is None else b[1]

    # ------------------------------------------------------------ planning

    def first_poll(self, kind: str, cohort_size: int = 1, index: int = 0) -> tuple[float, float | None]:
        """(age of a new task's first poll, the probe's anchor if the task is a probe).

        ``cohort_size``/``index``: for a cold kind, this task is number ``index``
        of ``cohort_size`` cold tasks planned together (phases spread evenly).
        """
        k = self._kinds.setdefault(kind, _Kind())
        b = self.bracket(kind)
        if b is None:
            return self.min_first + self.interval * (index % max(1, cohort_size)) / max(1, cohort_size), None
        lo, hi = b
        floor = self.min_first if lo is None else max(lo, self.min_first)
        width = hi - floor
        if width > self.interval / PROBE_RATIO or (
                width > 2 * SAFETY * self.interval and k.anchored >= REPROBE_EVERY and not k.probes):
            # The middle of the widest stretch of the bracket no probe under way covers.
            points = sorted([floor, hi] + [p for p in k.probes if floor < p < hi])
            gap, start = max((b - a, a) for a, b in pairwise(points))
            if gap > 2 * SAFETY * self.interval:
                probe = start + gap / 2
                k.probes.append(probe)
                k.anchored = 0
                return self.lowest_grid_point(probe), probe
        k.anchored += 1
        # At the floor already: nothing earlier can be asked.
        anchor = self.min_first if hi <= self.min_first else hi + SAFETY * self.interval
        return self.lowest_grid_point(anchor), None

    def lowest_grid_point(self, anchor: float) -> float:
        """The first poll of a grid through ``anchor`` that starts at or above the floor."""
        if anchor <= self.min_first:
            return self.min_first
        steps = int((anchor - self.min_first) // self.interval)
        return anchor - steps * self.interval

    def observe(self, kind: str, last_miss: float | None, hit: float, probe: float | None = None) -> None:
        """A finished task: last seen processing at age ``last_miss``, ready at age ``hit``."""
        k = self._kinds.setdefault(kind, _Kind())
        self.abandon(kind, probe)
        k.solves += 1
        k.recent.append((last_miss, hit))

    def abandon(self, kind: str, probe: float | None) -> None:
        """A task ended (answered, failed or timed out): its probe is no longer under way."""
        k = self._kinds.get(kind)
        if k is not None and probe is not None and probe in k.probes:
            k.probes.remove(probe)
