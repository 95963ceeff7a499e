"""The configured providers, in order: each task goes to the first that can take it.

A provider that answers MISCONFIGURED for a task (it does not offer the task
type, or refuses the task's shape) passes the task to the next one.
"""

from __future__ import annotations

import logging
from typing import Any

from .model import CaptchaError, Challenge, Identity, Reaction, Solution
from .service.errors import rule_for
from .solver import Solver

logger = logging.getLogger(__name__)


class ProviderPool:
    def __init__(self, solvers: list[Solver], stats: Any = None):
        if not solvers:
            raise ValueError("a provider pool needs at least one solver")
        self.solvers = solvers
        self.stats = stats
        self._warned: set[tuple[str, str]] = set()

    @property
    def primary(self) -> Solver:
        return self.solvers[0]

    async def solve(self, challenge: Challenge, identity: Identity | None = None) -> tuple[Solution, Solver]:
        """The solution and the solver that produced it; the last provider's error otherwise."""
        solvers = self.solvers
        for i in range(len(solvers)):
            # (An index, not enumerate(): one live iterator less per pending solve.)
            solver = solvers[i]
            try:
                return await solver.solve(challenge, identity), solver
            except CaptchaError as exc:
                exc.provider = solver.provider  # type: ignore[attr-defined]
                rule = rule_for(exc.code)
                if rule.reaction is not Reaction.MISCONFIGURED or rule.pause_all or i == len(solvers) - 1:
                    raise
                if (solver.provider, exc.code) not in self._warned:
                    self._warned.add((solver.provider, exc.code))
                    logger.warning("Captcha provider %s cannot solve %s (%s): trying %s",
                                   solver.provider, challenge.kind, exc.code, solvers[i + 1].provider)
                if self.stats is not None:
                    self.stats.inc_value(f"captcha/failover/{solver.provider}/{exc.code}")
        raise AssertionError("unreachable: the last provider raises")

    def call_stats(self) -> dict[str, int]:
        """``captcha/api_calls/*`` and ``captcha/backoff/*`` totals over every provider."""
        totals: dict[str, int] = {}
        for solver in self.solvers:
            for name, count in solver.stats.items():
                totals[f"captcha/api_calls/{name}"] = totals.get(f"captcha/api_calls/{name}", 0) + count
            for code, count in solver.faults.items():
                totals[f"captcha/backoff/{code}"] = totals.get(f"captcha/backoff/{code}", 0) + count
        return totals

    async def close(self) -> None:
        for solver in self.solvers:
            await solver.close()
