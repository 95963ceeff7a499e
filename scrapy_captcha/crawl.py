"""Crawl control: pause the crawler on account conditions, watch the account, resume, or close.

One :class:`CrawlControl` per crawler, shared by the middleware (which asks
for a pause) and :class:`CaptchaExtension` (which reports).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import signals as scrapy_signals
from scrapy.exceptions import NotConfigured

from . import signals
from .accounting import CURRENCY
from .fleet import Fleet
from .journal import Journal
from .model import CaptchaConfigError, CaptchaError, Reaction
from .service.errors import rule_for
from .status import StatusLine

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from .providers import ProviderPool
    from .settings import CaptchaSettings

logger = logging.getLogger(__name__)


def settings_or_stop(crawler: Crawler) -> CaptchaSettings | None:
    """The ``CAPTCHA_*`` settings, or None after a configuration error.

    A wrong setting is one CRITICAL line naming the setting and what is allowed,
    then a clean stop (close reason ``captcha_config_error``): no traceback.
    """
    from .settings import CaptchaSettings

    try:
        return CaptchaSettings.from_settings(crawler.settings)
    except CaptchaConfigError as exc:
        if getattr(crawler, "_captcha_config_error", None) is None:
            crawler._captcha_config_error = str(exc)  # type: ignore[attr-defined]
            logger.critical("Captcha configuration error: %s. The crawl stops.", exc)
            crawler.signals.connect(_stop_at_open, signal=scrapy_signals.spider_opened)
        return None


async def _stop_at_open(spider: Any) -> None:
    await spider.crawler.engine.close_spider_async(reason="captcha_config_error")


class CrawlControl:
    """Pauses the engine while the service account cannot be used, and resumes it."""

    def __init__(
        self, crawler: Crawler, *, check_interval: float, timeout: float | None, delay_scale: float = 1.0
    ):
        self.crawler = crawler
        self.check_interval = check_interval
        self.timeout = timeout
        self.delay_scale = delay_scale
        self.code: str | None = None
        #: Set once the spider is closing on a pause timeout: no new pause after that.
        self.closing = False
        self._resumed: asyncio.Future[bool] | None = None
        self._watch: asyncio.Task[None] | None = None
        # The engine's close on a pause timeout, held: the loop keeps only a weak reference to a task.
        self._closing_engine: asyncio.Future[Any] | None = None
        #: Called before the spider closes on a pause timeout, so parked requests
        #: go back to the scheduler (and to JOBDIR) first.
        self.before_close: list[Callable[[], None]] = []
        #: What happened on the captcha side, for the crawl report (CAPTCHA_REPORT).
        self.journal = Journal()
        #: The providers and the count of pending solves, once the middleware is up
        #: (for the status line and the report).
        self.pool: ProviderPool | None = None
        self.pending: Callable[[], int] = lambda: 0
        #: What every process of the account shares (Redis, CAPTCHA_REDIS_URL), or
        #: this process's own controls when there is no fleet.
        self.fleet: Fleet = Fleet.local()
        self._fleet_ready: asyncio.Future[Fleet] | None = None

    async def open_fleet(self) -> Fleet:
        """The fleet, connected once (every component that asks gets the same one)."""
        if self._fleet_ready is None:
            self._fleet_ready = asyncio.ensure_future(self._connect_fleet())
        return await asyncio.shield(self._fleet_ready)

    async def _connect_fleet(self) -> Fleet:
        from .settings import CaptchaSettings

        config = CaptchaSettings.from_settings(self.crawler.settings)
        if config.redis_url is not None:
            self.fleet = await Fleet.connect(config.redis_url.reveal(), api_key=config.api_key,
                                             namespace=config.redis_namespace)
        else:
            self.fleet = Fleet.local(api_key=config.api_key)
        return self.fleet

    async def close_fleet(self) -> None:
        if self._fleet_ready is not None and self._fleet_ready.done() and not self._fleet_ready.cancelled():
            await self.fleet.close()

    @classmethod
    def of(cls, crawler: Crawler, config: CaptchaSettings) -> CrawlControl:
        control = getattr(crawler, "_captcha_control", None)
        if control is None:
            control = cls(
                crawler,
                check_interval=config.pause_check_interval,
                timeout=config.pause_timeout,
                delay_scale=config.delay_scale,
            )
            control.journal.set_budget(config.budget)
            for provider in config.providers:
                control.journal.provider_state(provider, "ok", t=0.0)
            crawler._captcha_control = control  # type: ignore[attr-defined]
        return control

    @property
    def paused(self) -> bool:
        return self._resumed is not None and not self._resumed.done()

    async def wait_unpaused(self) -> bool:
        """Return at once when running; while paused, wait (False if the crawl is closing)."""
        if self.closing:
            return False
        if not self.paused:
            return True
        assert self._resumed is not None
        return await asyncio.shield(self._resumed)

    async def hold(self, error: CaptchaError, pool: ProviderPool) -> bool:
        """No provider can take work (``error`` is what the last one said): pause the
        crawl until one can. True once resumed; False if the crawl is closing."""
        if self.closing:
            return False
        if not self.paused:
            self._pause(error, pool)
        assert self._resumed is not None
        return await asyncio.shield(self._resumed)

    def _pause(self, error: CaptchaError, pool: ProviderPool) -> None:
        rule = rule_for(error.code)
        self.code = error.code
        self._resumed = asyncio.get_running_loop().create_future()
        engine = self.crawler.engine
        if engine is not None:
            engine.pause()
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"captcha/paused/{error.code}")
        if rule.reaction is Reaction.COOLDOWN:
            what = f"cooling down for {rule.delay * self.delay_scale:g}s"
        else:
            what = f"checking the account every {self.check_interval:g}s"
        if rule.pause_all:
            provider = getattr(error, "provider", None) or pool.primary.provider
            url = next((s.api_url for s in pool.solvers if s.provider == provider), pool.primary.api_url)
            what += f"; the service URL {url} looks wrong"
        if len(pool.solvers) > 1:
            what += "; no configured provider can take work (" + ", ".join(
                f"{name}: {state.describe(asyncio.get_running_loop().time())}"
                for name, state in pool.states.items()) + ")"
        logger.critical(
            "Captcha service says %s (%s): crawl paused, %s. %s",
            error.code, error.description or "no description", what,
            (rule.advice[:1].upper() + rule.advice[1:] + ".") if rule.advice else "",
        )
        self.crawler.signals.send_catch_log(signals.captcha_paused, code=error.code, reason=str(error))
        self._watch = asyncio.ensure_future(self._until_available(error, pool))

    async def _until_available(self, error: CaptchaError, pool: ProviderPool) -> None:
        """Resume as soon as a provider is back; close after CAPTCHA_PAUSE_TIMEOUT."""
        try:
            waiting = pool.wait_available()
            if self.timeout is None:
                await waiting
            else:
                try:
                    await asyncio.wait_for(waiting, self.timeout)
                except asyncio.TimeoutError:
                    self._give_up(error)
                    return
            back = [f"{s.name}" + (f", balance {s.balance:g}" if s.balance is not None else "")
                    for s in pool.states.values() if s.status == "ok"]
            self._resume(error, "; ".join(back))
        except asyncio.CancelledError:
            if self._resumed is not None and not self._resumed.done():
                self._resumed.set_result(False)
            raise

    def _resume(self, error: CaptchaError, why: str = "") -> None:
        logger.warning("Captcha account usable again%s: crawl resumed", f" ({why})" if why else "")
        engine = self.crawler.engine
        if engine is not None:
            engine.unpause()
        assert self._resumed is not None
        self._resumed.set_result(True)
        self.crawler.signals.send_catch_log(signals.captcha_resumed, code=error.code, reason=why)

    def _give_up(self, error: CaptchaError) -> None:
        logger.critical(
            "Captcha account still unusable after CAPTCHA_PAUSE_TIMEOUT=%gs: closing the spider",
            self.timeout,
        )
        self.close_spider(f"captcha_{error.code.lower()}")

    def close_spider(self, reason: str) -> None:
        """Hand every parked request back to the scheduler (JOBDIR keeps them), then close."""
        if self.closing:
            return
        self.closing = True
        logger.info("Closing the spider (%s); parked requests go back to the scheduler", reason)
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(False)
        for hand_back in self.before_close:
            hand_back()
        engine = self.crawler.engine
        if engine is not None:
            # Not awaited here: closing sends spider_closed, which stops this watch task.
            self._closing_engine = asyncio.ensure_future(engine.close_spider_async(reason=reason))

    def close(self) -> None:
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()


class CaptchaExtension:
    """The status line while the crawl runs, a summary when the spider closes (and crawl control)."""

    def __init__(self, crawler: Crawler, config: CaptchaSettings):
        self.crawler = crawler
        self.control = CrawlControl.of(crawler, config)
        self.config = config
        self.status = StatusLine(crawler.stats, budget=config.budget, providers=lambda: self.control.pool,
                                 pending=lambda: self.control.pending())
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptchaExtension:
        if not crawler.settings.getbool("CAPTCHA_ENABLED", True):
            raise NotConfigured("CAPTCHA_ENABLED is False")
        config = settings_or_stop(crawler)
        if config is None:
            raise NotConfigured("a CAPTCHA_* setting is wrong (see the CRITICAL line above)")
        ext = cls(crawler, config)
        crawler.signals.connect(ext.spider_opened, signal=scrapy_signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=scrapy_signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any = None) -> None:
        # Scrapy's own interval: one setting says how often a crawl reports.
        interval = self.crawler.settings.getfloat("LOGSTATS_INTERVAL", 60.0)
        if self.config.status and interval > 0:
            self._ticker = asyncio.ensure_future(self._tick(interval))

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            line = self.status.line()
            if line:
                logger.info("%s", line)

    async def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.control.close()
        await self.control.close_fleet()
        if self.config.report:
            from . import report  # only crawls that ask for a report load the charts

            name = getattr(spider, "name", None) or "crawl"
            try:
                path = report.write(self.control.journal, self.config.report, title=f"Captcha report: {name}")
            except OSError as exc:
                logger.error("Captcha report not written to %s: %s", self.config.report, exc)
            else:
                logger.info("Captcha report: %s", path)
        stats = self.crawler.stats
        if stats is None:
            return
        values = stats.get_stats()
        detected = values.get("captcha/detected", 0)
        if not detected:
            return
        solved = values.get("captcha/solved", 0)
        failed = sum(v for k, v in values.items() if k.startswith("captcha/failed/"))
        dropped = sum(v for k, v in values.items() if k.startswith("captcha/dropped/"))
        logger.info(
            "Captcha summary: %d challenge pages, %d solved, %d failed, %d requests dropped, "
            "cost %.4f %s%s, %.1fs solving",
            detected, solved, failed, dropped, values.get("captcha/cost", 0.0), CURRENCY,
            " (estimates included)" if values.get("captcha/cost/estimated") else "",
            values.get("captcha/solve_time/total", 0.0),
        )
