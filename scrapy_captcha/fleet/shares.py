"""Local control while Redis is away: each process keeps to its share of what the fleet had left.

When Redis goes away every process is on its own. Were each to go on with
the whole budget and the whole task limit, N processes would spend N budgets
and open N limits' worth of tasks. Instead each keeps to 1/N of what was
left when it last saw the fleet (N = the live processes it saw), on top of
what it had itself. A process that never reached Redis knows no fleet: it
keeps to the whole budget and limit, as a process without a fleet does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FleetSnapshot:
    """The fleet as this process last saw it (from Redis)."""

    #: Money the fleet had spent or reserved (None: never seen).
    usage: float | None = None
    #: Live processes (this one included).
    members: int = 1
    #: provider -> the task limit in force (the configured one or the lowered one).
    limits: dict[str, int] = field(default_factory=dict)


@dataclass
class LocalShare:
    """This process's part of the budget and of each task limit during an outage."""

    seen: FleetSnapshot
    #: What this process had spent or reserved when Redis went away.
    own_usage: float
    #: provider -> a cap lowered during the outage (ERROR_THREADS_MAXIMUM).
    lowered: dict[str, int] = field(default_factory=dict)

    def budget_allowance(self, budget: float) -> float:
        """The total (own spending + reservations) this process may reach."""
        if self.seen.usage is None:
            return budget
        left = max(0.0, budget - self.seen.usage)
        return self.own_usage + left / max(1, self.seen.members)

    def task_limit(self, provider: str, configured: int) -> int:
        """Tasks this process may hold open at once (0: no limit)."""
        limit = self.seen.limits.get(provider, configured) if self.seen.usage is not None else configured
        if configured and (not limit or limit > configured):
            limit = configured
        if limit and self.seen.usage is not None:
            limit = max(1, limit // max(1, self.seen.members))
        cap = self.lowered.get(provider)
        if cap is not None:
            limit = cap if not limit else min(limit, cap)
        return limit

    def lower(self, provider: str, configured: int, open_here: int) -> int:
        limit = self.task_limit(provider, configured) or open_here
        self.lowered[provider] = max(1, min(limit, open_here) - 1)
        return self.lowered[provider]
