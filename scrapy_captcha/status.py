"""The captcha side of a running crawl, as one INFO line at Scrapy's LOGSTATS_INTERVAL.

    Captcha: 2 pending; solved 41 (+6), dropped 3 (+1, top ERROR_CAPTCHA_UNSOLVABLE), rescheduled 4 (+0);
    spent 0.0820 USD (+0.0120), budget left 0.9180; mean solve 12.4s; capsolver ok (balance 4.21),
    anticaptcha paused: ERROR_ZERO_BALANCE

Quiet until the crawl has met a captcha.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from .accounting import CURRENCY


def _sum(values: Mapping[str, Any], prefix: str) -> tuple[float, dict[str, float]]:
    parts = {k[len(prefix):]: float(v) for k, v in values.items() if k.startswith(prefix)}
    return sum(parts.values()), parts


class StatusLine:
    def __init__(self, stats: Any, *, budget: float | None, providers: Callable[[], Any] = lambda: None,
                 pending: Callable[[], int] = lambda: 0):
        self.stats = stats
        self.budget = budget
        self.providers = providers
        self.pending = pending
        self._last: dict[str, float] = {}

    def line(self) -> str | None:
        """The status now, or None while the crawl has met no captcha."""
        values = self.stats.get_stats()
        pending = self.pending()
        if not values.get("captcha/detected") and not values.get("captcha/solved") and not pending:
            return None
        solved = float(values.get("captcha/solved", 0))
        dropped, reasons = _sum(values, "captcha/dropped/")
        rescheduled, _ = _sum(values, "captcha/rescheduled/")
        spent = float(values.get("captcha/cost", 0.0))
        now = {"solved": solved, "dropped": dropped, "rescheduled": rescheduled, "spent": spent, **{
            f"reason/{k}": v for k, v in reasons.items()}}
        delta = {k: v - self._last.get(k, 0.0) for k, v in now.items()}
        self._last = now
        parts = [f"{pending} pending"]
        counts = [f"solved {solved:.0f} (+{delta['solved']:.0f})"]
        drop = f"dropped {dropped:.0f} (+{delta['dropped']:.0f}"
        recent = {k[len("reason/"):]: v for k, v in delta.items() if k.startswith("reason/") and v > 0}
        top = max(recent or reasons, key=lambda k: (recent or reasons)[k], default=None)
        drop += f", top {top})" if top else ")"
        counts.append(drop)
        counts.append(f"rescheduled {rescheduled:.0f} (+{delta['rescheduled']:.0f})")
        parts.append(", ".join(counts))
        money = f"spent {spent:.4f} {CURRENCY} (+{delta['spent']:.4f})"
        if values.get("captcha/cost/estimated"):
            money += " incl. estimates"
        if self.budget is not None:
            money += f", budget left {max(0.0, self.budget - spent):.4f}"
        parts.append(money)
        if solved:
            parts.append(f"mean solve {float(values.get('captcha/solve_time/total', 0.0)) / solved:.1f}s")
        pool = self.providers()
        if pool is not None:
            loop_now = asyncio.get_running_loop().time()
            parts.append(", ".join(
                f"{name} {state.describe(loop_now)}" + (f" (balance {state.balance:g})" if state.balance is not None
                                                        else "")
                for name, state in pool.states.items()))
        return "Captcha: " + "; ".join(parts)
