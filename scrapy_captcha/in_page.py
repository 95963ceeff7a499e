"""scrapy-playwright responses: pass the challenge in the live page.

A page that shows a blocking reCAPTCHA, hCaptcha, Turnstile or Cloudflare-style
challenge is rendered again with :data:`scrapy_captcha.browser.INIT_SCRIPT`
(it captures what the DOM hides: v3 actions, cData, callbacks) and the page
kept; :func:`~scrapy_captcha.browser.solve_page` passes it there, and the
spider receives the page after the challenge. Unlike plain-HTTP gates this
awaits inside ``process_response``: the live page is the scarce resource and
holds its slot anyway.
"""

from __future__ import annotations

import asyncio
from http.cookiejar import Cookie
from typing import TYPE_CHECKING, Any, Protocol

from scrapy import Request
from scrapy.http import HtmlResponse, Response

from .accounting import Accounting
from .browser import META_BROWSER, solve_page, wait_for_widgets
from .detect import detect
from .meta import META_RETRIES
from .model import CaptchaDropped, CaptchaError, Challenge, Reaction, Solution
from .service.errors import TOKEN_REJECTED, rule_for

if TYPE_CHECKING:
    from .crawl import CrawlControl
    from .providers import ProviderPool
    from .settings import CaptchaSettings


class SolveHost(Protocol):
    """What the in-page path needs from the component that owns the providers."""

    crawler: Any

    @property
    def pool(self) -> ProviderPool: ...

    def sync_call_stats(self) -> None: ...

    async def solve(self, challenge: Challenge, identity: Any = None) -> Solution:
        """A solve the crawl's way: failover, budget reservation, stats, signals."""
        ...


#: Kinds a live page can pass with solve_page.
BROWSER_KINDS = frozenset({"recaptcha_v2", "recaptcha_v3", "hcaptcha", "turnstile", "cloudflare_challenge"})
#: The page's own callback for the re-render; restored when the request goes out again.
_INIT = "playwright_page_init_callback"


class InPageSolves:
    """The middleware's path for ``meta["playwright"]`` requests."""

    def __init__(self, host: SolveHost, accounting: Accounting, control: CrawlControl, config: CaptchaSettings):
        self.host = host
        self.accounting = accounting
        self.control = control
        self.stats = accounting.stats
        self.config = config

    def handle(self, request: Request, response: Response, challenge: Challenge) -> Any:
        """A Request to render again, an awaitable of the page after the challenge, or ``response``."""
        if any(getattr(pm, "method", None) is solve_page for pm in request.meta.get("playwright_page_methods") or ()):
            return response  # the request solves in its own page methods
        page = response.meta.get("playwright_page") if request.meta.get(META_BROWSER) else None
        if page is None:
            self.stats.inc_value("captcha/browser/rerendered")
            meta = dict(request.meta)
            meta[META_BROWSER] = {"include_page": bool(meta.get("playwright_include_page")), "init": meta.get(_INIT)}
            meta.update({"playwright_include_page": True, _INIT: "scrapy_captcha.browser.prepare_page"})
            return request.replace(dont_filter=True, meta=meta)
        return self._solve(request, challenge, page)

    async def _solve(self, request: Request, challenge: Challenge, page: Any) -> Response | Request:
        state = request.meta[META_BROWSER]
        try:
            # Vendor scripts render after the load event: wait (bounded) for a widget.
            await wait_for_widgets(page, timeout=self.config.browser_wait)
            try:
                # Through the crawl's own solve: the budget, failover and bookkeeping of every solve.
                await solve_page(page, self.host)
            except CaptchaError as exc:
                return await self._failure(request, exc)
            body, url = await self._after_challenge(page)
            if self.config.browser_cookies:
                await self._copy_cookies(page, request)
        finally:
            self.host.sync_call_stats()
            if not state.get("include_page"):
                await page.close()
        return HtmlResponse(url=url, body=body, encoding="utf-8", request=request)

    async def _after_challenge(self, page: Any) -> tuple[bytes, str]:
        """Wait (bounded) until the page no longer shows the challenge; its HTML and URL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.browser_wait
        while True:
            try:
                await page.wait_for_load_state("load", timeout=max(1, self.config.browser_wait) * 1000)
                html = await page.content()
            except Exception:  # navigating: the old document is gone; try again
                html = ""
            if html and not any(c.blocking for c in detect(html, url=page.url)):
                return html.encode("utf-8"), page.url
            if loop.time() > deadline:
                raise CaptchaDropped(TOKEN_REJECTED, "the challenge stayed after solving in the browser", page.url)
            await asyncio.sleep(0.25)

    async def _copy_cookies(self, page: Any, request: Request) -> None:
        """The page's cookies (e.g. cf_clearance) into Scrapy's jar for this request's cookiejar."""
        jars = next((mw.jars for mw in self.host.crawler.engine.downloader.middleware.middlewares
                     if hasattr(mw, "jars")), None)
        if jars is None:
            return
        jar = jars[request.meta.get("cookiejar")]
        for c in await page.context.cookies():
            # http.cookiejar marks HttpOnly by the key's presence, with None as value.
            rest: dict[str, Any] = {"HttpOnly": None} if c.get("httpOnly") else {}
            jar.jar.set_cookie(Cookie(
                0, c["name"], c["value"], None, False, c["domain"], True, c["domain"].startswith("."),
                c["path"], True, c["secure"], None if c["expires"] < 0 else int(c["expires"]), False,
                None, None, rest,
            ))
        self.stats.inc_value("captcha/browser/cookies_copied")

    async def _failure(self, request: Request, exc: CaptchaError) -> Request:
        """The same policy as plain-HTTP gates, for one request."""
        reaction = exc.reaction or rule_for(exc.code).reaction
        self.stats.inc_value(f"captcha/failed/{exc.code}")
        # The request goes out as the spider wrote it, not as our re-render.
        state = request.meta[META_BROWSER]
        meta = {k: v for k, v in request.meta.items() if k not in (META_BROWSER, "playwright_page")}
        meta["playwright_include_page"] = state.get("include_page", False)
        if state.get("init"):
            meta[_INIT] = state["init"]
        else:
            meta.pop(_INIT, None)
        if reaction in (Reaction.PAUSE, Reaction.COOLDOWN) and await self.control.hold(exc, self.host.pool):
            return request.replace(dont_filter=True, meta=meta)
        if reaction is Reaction.RESCHEDULE and self.accounting.retries_left(request):
            self.accounting.rescheduled(exc.code, 1)
            meta[META_RETRIES] = meta.get(META_RETRIES, 0) + 1
            return request.replace(dont_filter=True, meta=meta)
        reason = self.accounting.announce_drop(request, exc, reaction)
        raise CaptchaDropped(exc.code, reason, request.url)
