"""Where every request that met a captcha ends: stats, log lines and signals.

Shared by the HTTP gates (``middleware.py``) and the in-page solves
(``in_page.py``), so both paths count the same way and neither imports the other.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request

from . import signals as captcha_signals
from .journal import Journal
from .meta import META_RETRIES
from .model import CaptchaError, Challenge, Reaction, Solution
from .service.prices import estimate_usd
from .service.protocol import variant

logger = logging.getLogger("scrapy_captcha.middleware")

#: Costs are in US dollars: what the service reports, else the price table's estimate.
CURRENCY = "USD"


class Accounting:
    def __init__(self, crawler: Any, max_retries: int, prices: dict[str, dict[str, float]] | None = None,
                 journal: Journal | None = None):
        self.crawler = crawler
        self.stats = crawler.stats
        self.max_retries = max_retries
        #: What the crawl report is drawn from.
        self.journal = journal if journal is not None else Journal()
        #: provider -> kind or variant -> USD per 1000 solves (CAPTCHA_PRICES), over the defaults.
        self.prices = prices or {}

    def estimate(self, provider: str, challenge: Challenge) -> float | None:
        """US dollars one solve of ``challenge`` costs at ``provider`` by the price table."""
        own = self.prices.get(provider) or {}
        for name in (variant(challenge), challenge.kind):
            if name in own:
                return float(own[name]) / 1000.0
        return estimate_usd(provider, variant(challenge)) or estimate_usd(provider, challenge.kind)

    def record_solved(self, request: Request | None, challenge: Challenge, solution: Solution,
                      provider: str | None = None) -> float | None:
        """Stats, the INFO line and the ``captcha_solved`` signal for one solved task; its cost."""
        self.stats.inc_value("captcha/solved")
        self.stats.inc_value(f"captcha/solved/{challenge.kind}")
        self.stats.inc_value("captcha/solve_time/total", solution.elapsed, start=0.0)
        self.stats.max_value("captcha/solve_time/max", solution.elapsed)
        cost, estimated = solution.cost, False
        if cost is None and provider is not None:
            cost, estimated = self.estimate(provider, challenge), True
        if cost is not None:
            self.stats.inc_value("captcha/cost", cost, start=0.0)
            if provider is not None:
                self.stats.inc_value(f"captcha/cost/{provider}", cost, start=0.0)
            if estimated:
                self.stats.inc_value("captcha/cost/estimated", cost, start=0.0)
        if provider is not None:
            self.stats.inc_value(f"captcha/solved/by/{provider}")
        self.journal.solve(challenge.kind, provider or "unknown", solution.elapsed, polls=solution.polls, cost=cost,
                           estimated=estimated)
        logger.info(
            "Solved %s on %s in %.1fs (%d poll%s%s%s)", challenge.kind, challenge.page_url,
            solution.elapsed, solution.polls, "" if solution.polls == 1 else "s", f", {provider}" if provider else "",
            f", cost {cost:.4f} {CURRENCY}{' (estimate)' if estimated else ''}" if cost is not None else "",
        )
        self.crawler.signals.send_catch_log(
            captcha_signals.captcha_solved, request=request, challenge=challenge, solution=solution
        )
        return cost

    def failed(self, challenge: Challenge, provider: str, seconds: float, code: str) -> None:
        """A solve attempt that ended without an answer (for the report's solve times)."""
        self.journal.solve(challenge.kind, provider, seconds, outcome=code)

    def rescheduled(self, code: str, count: int) -> None:
        self.stats.inc_value(f"captcha/rescheduled/{code}", count)
        self.journal.reschedule(code, count=count)

    def retries_left(self, request: Request) -> bool:
        """Whether a RESCHEDULE may send ``request`` again (``CAPTCHA_MAX_RETRIES``)."""
        return int(request.meta.get(META_RETRIES, 0)) < self.max_retries

    def announce_drop(self, request: Request, exc: CaptchaError, reaction: Reaction) -> str:
        """Stats, the WARNING line and the signal for a dropped request; the reason given."""
        reason = exc.description or exc.code
        if reaction is Reaction.RESCHEDULE:
            reason = f"{reason} (after {self.max_retries} retries)"
        self.stats.inc_value(f"captcha/dropped/{exc.code}")
        self.journal.drop(exc.code)
        logger.warning("Dropped %s: captcha %s: %s", request.url, exc.code, reason)
        self.crawler.signals.send_catch_log(
            captcha_signals.captcha_dropped, request=request, code=exc.code, reason=reason
        )
        return reason
