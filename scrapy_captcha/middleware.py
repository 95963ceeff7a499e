"""Downloader middleware: response -> detect -> park -> solve -> submit -> deliver.

Pending solves are kept off the crawl's concurrency budget. Scrapy counts a
request against CONCURRENT_REQUESTS for the whole middleware chain, so
awaiting a 30-120 s solve in ``process_response`` would take one slot per
pending solve. Instead ``process_response`` *parks* the request: it returns
the request object to the engine, and our ``request_scheduled`` handler
vetoes it, so the download finishes at once and its slot is free. The solve,
the token post and the delivery run in one asyncio task per gate
(:mod:`scrapy_captcha.gates`: which requests share a solve, and which are held
back, is learned from the site's responses).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import dataclasses
import json
import logging
import secrets
import sys
from collections.abc import Awaitable
from typing import Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import Response, TextResponse
from scrapy.utils.reactor import is_asyncio_reactor_installed

from . import signals as captcha_signals
from .accounting import CURRENCY, Accounting
from .addon import offline_suffix_list
from .crawl import CrawlControl, _stop_at_open, settings_or_stop
from .detect import detect, explain, has_markers
from .fleet.parked import ParkedRequests
from .gates import (
    PAGE,
    REQUEST,
    SESSION,
    UNKNOWN,
    ChallengeId,
    Gate,
    GateBook,
    challenge_id,
    gate_key,
    page_of,
)
from .identity import identity_for, proxy_of, user_agent_of
from .in_page import BROWSER_KINDS, InPageSolves
from .meta import (
    META_AFTER,
    META_DELIVER,
    META_DROP,
    META_PROBE,
    META_RETRIES,
    META_SENT,
    META_SOLVES,
    META_SWITCH,
)
from .model import (
    CaptchaConfigError,
    CaptchaDropped,
    CaptchaError,
    Challenge,
    Identity,
    Reaction,
    Solution,
    SolutionCookie,
)
from .providers import ProviderPool
from .service import protocol
from .service.errors import CHALLENGE_LOOP, NO_SUBMIT_PATH, SOLVE_TIMEOUT, TOKEN_EXPIRED, TOKEN_REJECTED, rule_for
from .service.presets import providers_offering
from .settings import CaptchaSettings
from .solver import SOLVED_HOOKS, Solver
from .submission import (
    can_post,
    cookie_jars,
    expired,
    identity_request,
    set_cookies,
    store_cookies,
    token_post,
)

logger = logging.getLogger(__name__)

#: Sessions whose user agent is remembered (a cookiejar per request would keep one each).
MAX_REMEMBERED = 10_000
#: Seconds a session clearance is shared with the fleet (the site may end it sooner:
#: a request that meets the gate again withdraws it).
CLEARANCE_SHARED_FOR = 1800.0
#: Task variants a kind may go out as (the Cloudflare page has two modes).
_VARIANTS = {"cloudflare_challenge": ("cloudflare_cookie", "cloudflare_token")}
#: Solves paid for one request after which meeting the same challenge again is a loop.
CHALLENGE_LOOP_SOLVES = 3
#: Passes of one challenge in a row, on one key, that cleared nothing.
CHALLENGE_LOOP_GATES = 5
#: Solutions that expired before they could be posted, per gate, before giving up.
EXPIRED_RESOLVES = 3


class _Closing(Exception):
    """The crawl is closing while paused: hand the gate's requests back."""


class CaptchaMiddleware:
    def __init__(self, crawler: Any, config: CaptchaSettings, solvers: list[Solver] | None = None):
        self.crawler = crawler
        self.config = config
        self.stats = crawler.stats
        self._solvers = solvers
        self._pool: ProviderPool | None = None
        self.control = CrawlControl.of(crawler, config)
        self.control.before_close.append(self._hand_back_all)
        self.journal = self.control.journal
        self.accounting = Accounting(crawler, config.max_retries, config.prices, self.journal)
        self.book = GateBook()
        #: id(request) -> gate, between parking a request and vetoing its scheduling.
        #: id(request) -> (the request, its gate), from parking a request until the engine
        #: tries to schedule it (where it is vetoed: the gate sends it, or a copy, again).
        #: Kept until then even when the gate closes first: between a middleware returning
        #: a request and the engine scheduling it there may be a turn of the loop.
        self._vetoed: dict[int, tuple[Request, Gate]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._warned: set[Any] = set()
        # Scrapy filters log records at its handler, not at the loggers: whether DEBUG
        # lines are wanted (and detection explained on every page with markers) is
        # decided once from its settings.
        level = crawler.settings.get("LOG_LEVEL", "DEBUG")
        level = logging.getLevelName(level) if isinstance(level, str) else level
        self._explain = crawler.settings.getbool("LOG_ENABLED", True) and isinstance(level, int) and \
            level <= logging.DEBUG and logger.isEnabledFor(logging.DEBUG)
        #: Pages behind page gates, waiting to be handed to their requests.
        self._deliveries: dict[str, Response] = {}
        self._context = contextvars.copy_context()
        #: The last cost a solve had (the reserve for solves of unknown price).
        self._last_cost = 0.0
        #: gate key -> identity of the fleet's clearance this process used for it.
        self._shared_clearances: dict[Any, str] = {}
        #: gate key -> the user agent its clearance is bound to.
        self._user_agents: dict[Any, str] = {}
        #: (key, cid) -> passes since the last clean page on that key (see CHALLENGE_LOOP_GATES).
        self._fruitless: dict[Any, dict[ChallengeId, int]] = {}
        self.in_page = InPageSolves(self, self.accounting, self.control, config)
        #: Fleet mode: parked requests journaled in Redis, so that a killed process loses none.
        self.parked: ParkedRequests | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> CaptchaMiddleware:
        if not crawler.settings.getbool("CAPTCHA_ENABLED", True):
            raise NotConfigured("CAPTCHA_ENABLED is False")
        offline_suffix_list()
        config = settings_or_stop(crawler)
        if config is None:
            raise NotConfigured("a CAPTCHA_* setting is wrong (see the CRITICAL line above)")
        if not is_asyncio_reactor_installed():
            crawler._captcha_config_error = "reactor"
            logger.critical("Captcha configuration error: scrapy-captcha needs Twisted's asyncio reactor: set "
                            "TWISTED_REACTOR = 'twisted.internet.asyncioreactor.AsyncioSelectorReactor' (Scrapy's "
                            "default since 2.13). The crawl stops.")
            crawler.signals.connect(_stop_at_open, signal=signals.spider_opened)
            raise NotConfigured("TWISTED_REACTOR is not the asyncio reactor")
        mw = cls(crawler, config)
        crawler._captcha_middleware = mw
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(mw.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    @property
    def pool(self) -> ProviderPool:
        """One solver per configured provider, in failover order (made on first use)."""
        if self._pool is None:
            self._pool = ProviderPool(self._solvers or [
                Solver(
                    provider,
                    api_key=self.config.api_keys[provider].reveal(),
                    api_url=self.config.api_urls.get(provider),
                    timeout=self.config.solve_timeout,
                    max_concurrent_tasks=self.config.max_concurrent_tasks,
                    call_timeout=self.config.http_timeout,
                    delay_scale=self.config.delay_scale,
                )
                for provider in self.config.providers
            ], self.stats, check_interval=self.config.pause_check_interval, delay_scale=self.config.delay_scale,
                journal=self.journal)
        return self._pool

    @property
    def solvers(self) -> list[Solver]:
        return self.pool.solvers

    # ------------------------------------------------------------ Scrapy API

    def process_request(self, request: Request, spider: Any = None) -> Awaitable[None] | Request | Response | None:
        meta = request.meta
        drop = meta.get(META_DROP)
        if drop:
            code, reason = drop
            raise CaptchaDropped(code, reason, request.url)
        if META_DELIVER in meta:
            page = self._deliveries.pop(meta.pop(META_DELIVER), None)
            if page is not None:
                # The page behind its page gate, fetched with the token post.
                return page.replace(request=request)
        key = None
        if self._user_agents:
            key = gate_key(request)
            agent = self._user_agents.get(key)
            if agent is not None:
                # A clearance on this host is bound to the user agent that earned it.
                request.headers[b"User-Agent"] = agent
        held = self._vetoed.pop(id(request), None)
        gate = held[1] if held is not None and held[0] is request else None
        if gate is not None:
            # Parked, but downloaded outside the scheduler (engine.download):
            # it cannot be re-issued later, so it waits here for its gate.
            gate.waiting = [r for r in gate.waiting if r is not request]
            gate.tentative = [r for r in gate.tentative if r is not request]
            return self._wait_direct(request, gate)
        if self.book.open_keys and meta.get(META_SWITCH) is not False:
            key = gate_key(request) if key is None else key
            if key in self.book.open_keys:
                gate = self.book.session_gate(key)
                now = asyncio.get_running_loop().time()
                if gate is not None and self.config.hold_back:
                    if not gate.take_probe(now):
                        # Its host shows a session gate that is being solved: sending it
                        # now would only fetch the gate page again. It waits, unsent.
                        self.stats.inc_value("captcha/held_back")
                        return self._hold(request, gate)
                    # Now and then one goes anyway: if it comes back clean, the gate
                    # was not the site's, and holding the host back was wrong.
                    self.stats.inc_value("captcha/gate/probes")
                    meta[META_PROBE] = True
                # What comes back says whether the open challenge is the page's or the site's.
                meta[META_SENT] = now
        return None

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response | Request | Awaitable[Response | Request]:
        meta = request.meta
        switch = meta.get(META_SWITCH)
        if switch is False or not isinstance(response, TextResponse):
            return response
        challenges = detect(
            response.body, url=response.url, status=response.status, headers=response.headers,
            blocking_only=switch is not True,
        )
        challenge = self._pick(challenges, switch)
        if meta.pop(META_PROBE, False):
            gate = self.book.session_gate(gate_key(request))
            if gate is not None:
                gate.probe_back(asyncio.get_running_loop().time())
        if self.book.open_keys or META_AFTER in meta:
            self._evidence(request, response, challenge)
        if self._fruitless and challenge is None:
            # Passes on this host served a page: whatever comes back now is no loop.
            key = gate_key(request)
            self._fruitless.pop(key, None)
        if challenge is None:
            if challenges:
                self.stats.inc_value("captcha/incidental")
            elif self._explain and has_markers(response.body, response.headers):
                for line in explain(response.body, url=response.url, status=response.status,
                                    headers=response.headers):
                    logger.debug("Captcha detection on %s: %s", response.url, line)
            return response
        for found in challenges:
            logger.debug("Captcha candidate on %s: %s %s: %s", response.url, found.kind,
                         found.sitekey, "; ".join(found.evidence))
        self.stats.inc_value("captcha/detected")
        self.stats.inc_value(f"captcha/detected/{challenge.kind}")
        if "cached" in response.flags:
            # A cache that is not ours served a stored challenge page: fetch it fresh.
            if "cache" not in self._warned:
                self._warned.add("cache")
                logger.warning("The HTTP cache served a stored captcha page (%s): fetching it fresh. Enable "
                               "scrapy-captcha with ADDONS so challenge pages are never cached.", response.url)
            self.stats.inc_value("captcha/httpcache/challenge_refetched")
            return request.replace(dont_filter=True, meta={**meta, "dont_cache": True})
        looping = self._loop_verdict(request, challenge)
        if looping:
            raise self._drop_now(request, CaptchaError(CHALLENGE_LOOP, looping, Reaction.DROP))
        if meta.get("playwright") and challenge.kind in BROWSER_KINDS:
            return self.in_page.handle(request, response, challenge)
        if challenge.kind == "datadome" and challenge.param("t") == "bv":
            raise self._drop_now(request, CaptchaError(
                "DATADOME_IP_BANNED", "DataDome has banned this IP (t=bv): no captcha is shown and none can "
                "lift it; send the request through another proxy", Reaction.DROP))
        if not self._offered(challenge):
            return self._unsupported(request, response, challenge)
        parked = self._park(request, challenge)
        if challenge.kind == "cloudflare_challenge":
            held = self._vetoed.get(id(request))
            gate = held[1] if held is not None else None
            if gate is not None and gate.page is None:
                gate.page = response.body  # some providers solve the page itself
        return parked

    def _pick(self, challenges: list[Challenge], switch: Any) -> Challenge | None:
        wanted = [c for c in challenges if c.blocking or switch is True]
        if not wanted:
            return None
        # A page may show several: take one a configured provider solves first.
        return min(wanted, key=lambda c: not self._offered(c))

    def _offered(self, challenge: Challenge) -> bool:
        """Whether a configured provider solves ``challenge`` over HTTP."""
        variants = _VARIANTS.get(challenge.kind) or (protocol.variant(challenge),)
        return any(solver.preset.offers(v) for solver in self.pool.solvers for v in variants)

    def _unsupported(self, request: Request, response: Response, challenge: Challenge) -> Response:
        reason = f"unsupported_{challenge.kind}"
        if self.config.unsupported == "pass":
            self.stats.inc_value(f"captcha/passed/{reason}")
            return response
        self.stats.inc_value(f"captcha/dropped/{reason}")
        self.journal.drop(reason)
        variants = _VARIANTS.get(challenge.kind) or (protocol.variant(challenge),)
        offering = sorted({p for v in variants for p in providers_offering(v)})
        ways = ([f"a provider that solves it in CAPTCHA_PROVIDER ({', '.join(offering)})"] if offering else [])
        if challenge.kind in BROWSER_KINDS:
            ways.append("a browser (scrapy-playwright: meta['playwright'] = True)")
        logger.warning("Dropped %s: no configured provider solves captcha %s (%s). What would pass it: %s; or "
                       "set CAPTCHA_UNSUPPORTED = 'pass' to receive such pages", request.url, challenge.kind,
                       "; ".join(challenge.evidence), " or ".join(ways) or "nothing this package knows of")
        self.crawler.signals.send_catch_log(captcha_signals.captcha_dropped, request=request,
                                            code=reason, reason=reason)
        raise CaptchaDropped(reason, reason, request.url)

    async def spider_opened(self, spider: Any = None) -> None:
        try:
            fleet = await self.control.open_fleet()
        except CaptchaConfigError as exc:
            logger.critical("Captcha configuration error: %s. The crawl stops.", exc)
            await _stop_at_open(spider)
            return
        pool = self.pool
        pool.floor = self._cheapest
        self.control.pool = pool
        self.control.pending = lambda: len(self.book.gates)
        if fleet.shared:
            await pool.join_fleet(fleet)
            self.parked = ParkedRequests.start(self.crawler, fleet)
        SOLVED_HOOKS.append(self._solved_elsewhere)

    def _solved_elsewhere(self, solver: Solver, challenge: Challenge, solution: Solution) -> None:
        """A solve by a solver this crawl did not create (the spider's own, given to
        ``PageMethod(solve_page, solver=...)``): inside the crawl, every solve counts."""
        if self._pool is None or solver in self._pool.solvers:
            return
        if sum(1 for hook in SOLVED_HOOKS if getattr(hook, "__name__", "") == "_solved_elsewhere") != 1:
            if "elsewhere" not in self._warned:
                self._warned.add("elsewhere")
                logger.warning("A solve by a Solver of the spider's own cannot be told apart between the crawls "
                               "of this process: it is not counted. Use scrapy_captcha.crawl_solver(crawler).")
            return
        self.stats.inc_value("captcha/solved/outside_the_middleware")
        cost = self.accounting.record_solved(None, challenge, solution, solver.provider)
        if cost:
            self.control.fleet.spawn(self.control.fleet.settle(0.0, cost))

    async def solve(self, challenge: Challenge, identity: Identity | None = None) -> Solution:
        """Solve ``challenge`` as the crawl does: its providers, budget and bookkeeping
        (what :func:`crawl_solver` hands to ``solve_page``)."""
        gate = Gate((challenge.page_url, None, None), challenge, Request(challenge.page_url), scope=REQUEST)
        return await self._solution(gate, challenge, identity)

    def _cheapest(self, provider: str) -> float:
        """The least a task of any kind costs at ``provider`` (by the price table)."""
        from .service.prices import PRICES

        known = [p.usd_per_solve for p in (PRICES.get(provider) or {}).values()]
        known += [usd / 1000.0 for usd in ((self.config.prices or {}).get(provider) or {}).values()]
        return min(known, default=0.0)

    def request_scheduled(self, request: Request, spider: Any = None) -> None:
        held = self._vetoed.pop(id(request), None)
        if held is not None and held[0] is request:
            if self.parked is not None and held[1].passed is None:  # (decided: a copy went out already)
                self.parked.add(request)
            raise IgnoreRequest("parked until its captcha gate is passed")

    def spider_idle(self, spider: Any = None) -> None:
        if self.book or self._tasks:
            raise DontCloseSpider("captcha solves pending")

    async def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        for gate in self.book:
            self.journal.gate_closed(id(gate), "abandoned", dropped=len(gate.all_waiting()))
        parked = sum(len(g.all_waiting()) for g in self.book)
        journaled = self.parked.held if self.parked is not None else 0
        if journaled:
            logger.info("%d parked requests stay journaled in the fleet: another process of the crawl will "
                        "send them", journaled)
        if parked - journaled > 0:
            logger.warning("%d requests were still waiting for a captcha when the spider closed",
                           parked - journaled)
            self.stats.inc_value("captcha/abandoned", parked - journaled)
        for task in list(self._tasks):
            task.cancel()
        if self._solved_elsewhere in SOLVED_HOOKS:
            SOLVED_HOOKS.remove(self._solved_elsewhere)
        self.sync_call_stats()
        if self._pool is not None:
            await self._pool.close()

    # ------------------------------------------------------------- evidence

    def _evidence(self, request: Request, response: Response, challenge: Challenge | None) -> None:
        """What this response says about the scope of the challenges open on its host."""
        meta = request.meta
        key = gate_key(request)
        shown = challenge_id(challenge) if challenge is not None and challenge.blocking else None
        after = meta.pop(META_AFTER, None)
        if after is not None:
            cid = (after[0], after[1])
            again = shown == cid
            changed = self.book.after_pass(key, cid, again)
            if changed is not None:
                self._scope_changed(key, cid, changed.mode, changed.why)
        sent = meta.pop(META_SENT, None)
        if sent is None or key not in self.book.open_keys:
            return
        for scope, cid in self.book.evidence(key, response.url, shown, sent):
            self._scope_changed(key, cid, scope.mode, scope.why)

    def _scope_changed(self, key: Any, cid: ChallengeId, mode: str, why: str) -> None:
        self.stats.inc_value(f"captcha/scope/{mode}")
        logger.debug("Captcha scope of %s %s on %s: %s (%s)", cid[0], cid[1], key[0], mode, why)
        session = self.book.session_gate(key)
        if mode == PAGE and session is not None and session.cid == cid:
            self._demote(session)
            return
        leading = self.book.leading(key, cid)
        if leading is None:
            return
        if mode == SESSION and session is None:
            self.book.promote(leading)
            self.journal.gate_scope(id(leading), SESSION)
            for request in leading.tentative:
                leading.waiting.append(request)
            leading.tentative.clear()
        elif mode == PAGE and leading.tentative:
            # Each of them needs its own page's answer: the form it showed (fields such
            # as where to go on) is its page's, so it fetches its page again and opens
            # a gate of its own.
            tentative, leading.tentative = leading.tentative, []
            for request in tentative:
                leading.shown.pop(id(request), None)
            self.stats.inc_value("captcha/gate/refetched", len(tentative))
            self._reissue(tentative)

    def _count_fruitless(self, gate: Gate) -> None:
        """One more pass (or paid answer) of ``gate``'s challenge before a clean page on its host."""
        counts = self._fruitless.setdefault(gate.key, {})
        counts[gate.cid] = counts.get(gate.cid, 0) + 1

    def _demote(self, gate: Gate) -> None:
        """A gate held as the site's is only its page's: the rest of the host goes on."""
        self.book.demote(gate)
        self.journal.gate_scope(id(gate), PAGE)
        waiting, gate.waiting = gate.waiting, []
        unsent, other_pages = [], []
        for request in waiting:
            if request is gate.first or page_of(request.url) == gate.url:
                gate.waiting.append(request)
            elif gate.shown.pop(id(request), None) is None:
                unsent.append(request)  # held back unsent: it never met the challenge
            else:
                other_pages.append(request)  # its own page's challenge: fetched again, a gate of its own
        if unsent:
            self.stats.inc_value("captcha/gate/released_unsent", len(unsent))
        if other_pages:
            self.stats.inc_value("captcha/gate/refetched", len(other_pages))
        self._reissue(unsent + other_pages)

    def _loop_verdict(self, request: Request, challenge: Challenge) -> str:
        """Why meeting ``challenge`` again is a loop, or ''."""
        solves = int(request.meta.get(META_SOLVES, 0))
        fruitless = self._fruitless.get(gate_key(request), {}).get(challenge_id(challenge), 0)
        # (Two passes in a row that cleared nothing: a site whose sessions are short
        # clears some pages after each pass, and meeting the gate again is no loop then.)
        if solves >= CHALLENGE_LOOP_SOLVES and fruitless >= 2:
            return (f"the challenge came back after {solves} solves for this request: something replays "
                    f"a stale challenge page (HTTPCACHE_ENABLED with a cache filled before, a caching "
                    f"proxy, a middleware that re-serves responses)")
        if fruitless >= CHALLENGE_LOOP_GATES:
            return (f"{fruitless} passes of this challenge in a row cleared nothing on this host: "
                    f"something replays a stale challenge page, or the site refuses every pass")
        return ""

    # -------------------------------------------------------------- parking

    def _park(self, request: Request, challenge: Challenge) -> Request:
        key = gate_key(request)
        cid = challenge_id(challenge)
        self.stats.inc_value("captcha/parked")
        if not challenge.blocking:
            return self._join_or_open(REQUEST, key, challenge, request, cid)
        scope = self.book.scope(key, challenge)
        if scope.mode != UNKNOWN:
            return self._join_or_open(scope.mode, key, challenge, request, cid)
        leading = self.book.leading(key, cid)
        if leading is None or leading.url == page_of(request.url):
            return self._join_or_open(PAGE, key, challenge, request, cid)
        # Another URL shows the challenge being solved, and nobody knows yet whether
        # it is the site's or each page's: wait for the verdict instead of paying now.
        self.stats.inc_value("captcha/gate/tentative")
        leading.tentative.append(request)
        leading.shown[id(request)] = cid
        self._vetoed[id(request)] = (request, leading)
        return request

    def _join_or_open(self, mode: str, key: Any, challenge: Challenge, request: Request,
                      shown: ChallengeId) -> Request:
        slot = self.book.slot(mode, key, challenge, request)
        gate = self.book.get(slot)
        if gate is None:
            if mode == SESSION or self.book.leading(key, challenge_id(challenge)) is None:
                # A new episode of this challenge: evidence counts from now on.
                self.book.scope(key, challenge).reset_window(asyncio.get_running_loop().time())
            gate = Gate(key, challenge, request, scope=mode)
            self.book.open(slot, gate)
            self.journal.gate_opened(id(gate), str(key[0]), mode, kind=challenge.kind)
            self.stats.inc_value(f"captcha/gate/{mode}")
            task = self._start(self._run_gate(gate))
            self._tasks.add(task)
        else:
            self.stats.inc_value("captcha/gate/joined")
        gate.shown[id(request)] = shown
        return self._hold(request, gate)

    def _start(self, coro: Any) -> asyncio.Task[Any]:
        """A gate's task: one shared context for all of them (Python 3.11+), not a copy
        of the context per pending solve (thousands may wait at once)."""
        loop = asyncio.get_running_loop()
        if sys.version_info >= (3, 11):
            return loop.create_task(coro, context=self._context)
        return loop.create_task(coro)

    def _hold(self, request: Request, gate: Gate) -> Request:
        """Keep ``request`` on ``gate``, outside the scheduler and the downloader."""
        gate.waiting.append(request)
        self._vetoed[id(request)] = (request, gate)
        return request

    async def _wait_direct(self, request: Request, gate: Gate) -> None:
        if not await asyncio.shield(gate.decided()):
            exc = CaptchaError("GATE_FAILED", "its captcha gate was not passed", Reaction.DROP)
            raise self._drop_now(request, exc)

    def sync_call_stats(self) -> None:
        if self._pool is not None:
            for key, value in self._pool.call_stats().items():
                self.stats.set_value(key, value)

    # --------------------------------------------------------------- passing

    async def _run_gate(self, gate: Gate) -> None:
        try:
            await self._pass(gate)
        except _Closing:
            self._hand_back(gate)
        except CaptchaError as exc:
            reaction = exc.reaction or rule_for(exc.code).reaction
            self.stats.inc_value(f"captcha/failed/{exc.code}")
            if reaction in (Reaction.PAUSE, Reaction.COOLDOWN) or rule_for(exc.code).pause_all:
                # Every request stays parked on the gate until the account works;
                # then each fetches a fresh page (its parameters are stale by now).
                if await self.control.hold(exc, self.pool):
                    self._close_gate(gate, proceed=True)
                    self.journal.gate_closed(id(gate), exc.code, released=len(gate.all_waiting()))
                    self._reissue(gate.all_waiting())
                else:
                    self._hand_back(gate)
                return
            self._fail_gate(gate, exc, reaction)
        except Exception as exc:  # a bug here must not lose the requests
            logger.exception("Unexpected error while passing a captcha gate")
            self._fail_gate(gate, CaptchaError("INTERNAL_ERROR", repr(exc)), Reaction.RESCHEDULE)
        else:
            self._passed(gate)
        finally:
            # (Here rather than a done callback: one object less per pending gate.)
            self._tasks.discard(asyncio.current_task())

    async def _pass(self, gate: Gate) -> None:
        if not await self.control.wait_unpaused():
            raise _Closing()
        fleet = self.control.fleet
        # A session gate, or the first gate of a challenge whose reach is not known yet
        # (another process may already know it is the site's, or be passing it).
        shareable = gate.scope == SESSION or (
            gate.scope == PAGE and self.book.scope(gate.key, gate.challenge).mode == UNKNOWN)
        if shareable and fleet.shared:
            await self._pass_with_the_fleet(gate, fleet)
        else:
            await self._pass_here(gate)

    async def _pass_with_the_fleet(self, gate: Gate, fleet: Any) -> None:
        """A session gate that another process of the fleet may have passed, or be passing,
        for the same identity (host, proxy, user agent): use its clearance instead of paying."""
        first = gate.first
        identity = fleet.identity_key(str(gate.key[0]), proxy_of(first), user_agent_of(first))
        if self._shared_clearances.pop(gate.key, None) == identity:
            # The site shows the gate again to requests that carried the fleet's clearance.
            await fleet.drop_clearance(identity)
        wait = self.config.solve_timeout
        clearance = await fleet.clearance_or_claim(identity, claim_ttl=wait + 60, wait=wait)
        if clearance is not None:
            jars = cookie_jars(self.crawler)
            if jars is not None and clearance.cookies:
                store_cookies(jars, first, clearance.cookies, first.url)
            if clearance.user_agent:
                self._user_agents[gate.key] = clearance.user_agent
            self._shared_clearances[gate.key] = identity
            self.stats.inc_value("captcha/fleet/clearance_used")
            # Another process's pass, maybe stale by now: what comes back after it says
            # nothing about the gate's reach, nor is it this process's wasted solve.
            gate.borrowed = True
            return
        try:
            cookies = await self._pass_here(gate)
            if cookies:
                await fleet.put_clearance(identity, cookies, self._user_agents.get(gate.key),
                                          CLEARANCE_SHARED_FOR)
                self.stats.inc_value("captcha/fleet/clearance_shared")
        finally:
            await fleet.release_gate(identity)

    async def _pass_here(self, gate: Gate) -> tuple[SolutionCookie, ...]:
        """Solve and hand the answer to the site; the session cookies the pass set."""
        for _ in range(EXPIRED_RESOLVES):
            challenge = await self._with_inputs(gate)
            solution = await self._solution(gate, challenge)
            # A paused crawl posts nothing; the token may not survive the pause.
            if not await self.control.wait_unpaused():
                raise _Closing()
            if not expired(challenge, solution, asyncio.get_running_loop().time()):
                break
            self.stats.inc_value("captcha/token_expired")
            logger.info("Captcha token for %s expired before it could be posted: solving again",
                        challenge.page_url)
        else:
            raise CaptchaError(TOKEN_EXPIRED, f"{EXPIRED_RESOLVES} solutions expired before they could be posted",
                               Reaction.RESCHEDULE)
        first = gate.first
        if solution.cookies:
            # A clearance: it goes into the request's cookiejar, for every later request of the session.
            jars = cookie_jars(self.crawler)
            if jars is None:
                raise CaptchaError(NO_SUBMIT_PATH, "the solution is a cookie and COOKIES_ENABLED is False",
                                   Reaction.DROP)
            self.stats.inc_value("captcha/cookies_set", store_cookies(jars, first, solution.cookies,
                                                                       challenge.page_url))
        if solution.user_agent and (solution.cookies or gate.scope == SESSION):
            # The clearance is bound to the browser that earned it.
            self._user_agents[gate.key] = solution.user_agent
            if len(self._user_agents) > MAX_REMEMBERED:
                del self._user_agents[next(iter(self._user_agents))]  # the oldest session
        if gate.scope == REQUEST:
            # The spider asked to get through this form: the submission, with the
            # token, is the follow-up request and its response goes to the callback.
            gate.waiting.remove(first)
            submission = token_post(challenge, solution, first, follow_redirects=True)
            meta = {**first.meta, **submission.meta, META_SWITCH: False}
            self.stats.inc_value("captcha/released")
            gate.released += 1
            self._crawl(submission.replace(callback=first.callback, errback=first.errback,
                                           cb_kwargs=first.cb_kwargs, meta=meta))
            return ()
        page = gate.scope != SESSION
        if solution.cookies:
            # A clearance: nothing to post. The page itself, asked again with it, says.
            check = identity_request(first.url, first, dont_redirect=not page, handle_httpstatus_all=not page)
            if self._user_agents.get(gate.key):
                check.headers["User-Agent"] = self._user_agents[gate.key]
        elif can_post(challenge):
            check = token_post(challenge, solution, first, follow_redirects=page)
        else:
            raise CaptchaError(NO_SUBMIT_PATH, "the challenge is in no form the token could be posted with",
                               Reaction.DROP)
        response = await self._download(check)
        if self._still_challenged(response, challenge):
            self.stats.inc_value("captcha/token_rejected")
            if gate.solver is not None:
                # (The Cloudflare page's two modes are reported, where at all, as the mode used.)
                reported = challenge.kind if challenge.kind != "cloudflare_challenge" else (
                    "cloudflare_cookie" if solution.cookies else "cloudflare_token")
                await gate.solver.report_incorrect(solution, reported)
            raise CaptchaError(TOKEN_REJECTED, "the site showed the challenge again after the answer",
                               Reaction.RESCHEDULE)
        if page and any(r is first for r in gate.waiting):
            # Where the site sent us after the answer is the page: it goes to the request
            # that showed the challenge (the other requests for this page fetch it again).
            # (One downloaded outside the scheduler is not waiting here: it fetches
            # the page itself once the gate is decided.)
            gate.waiting.remove(first)
            ticket = secrets.token_hex(8)
            self._deliveries[ticket] = response
            self.stats.inc_value("captcha/released")
            gate.released += 1
            self._reissue([first.replace(meta={**first.meta, META_DELIVER: ticket})], passed=gate)
        return solution.cookies or set_cookies(response, challenge.page_url)

    async def _with_inputs(self, gate: Gate) -> Challenge:
        """The challenge with what the task needs fetched through the crawl itself
        (same cookiejar, proxy, user agent): the captcha image, a fresh GeeTest pair."""
        challenge, first = gate.challenge, gate.first
        extra: dict[str, str] = {}
        if challenge.kind == "image" and challenge.param("image_url"):
            image = await self._download(identity_request(challenge.param("image_url") or "", first))
            body = image.body
            if image.status != 200 or not body or body.lstrip()[:1] == b"<":
                raise CaptchaError("IMAGE_UNAVAILABLE", f"the captcha image answered HTTP {image.status} "
                                   f"with {len(body)} bytes", Reaction.RESCHEDULE)
            extra["image_body"] = base64.b64encode(body).decode("ascii")
        elif challenge.kind == "geetest" and challenge.param("version") != "4" and challenge.param("register_url"):
            # A GeeTest v3 challenge is good for one solve: ask the site for a fresh one.
            reply = await self._download(identity_request(challenge.param("register_url") or "", first))
            try:
                pair = json.loads(reply.body)
                gt, fresh = str(pair["gt"]), str(pair["challenge"])
            except (ValueError, KeyError, TypeError):
                raise CaptchaError("GEETEST_UNAVAILABLE", f"the GeeTest register URL answered HTTP {reply.status} "
                                   "without gt and challenge", Reaction.RESCHEDULE) from None
            extra["challenge"] = fresh
            challenge = dataclasses.replace(challenge, sitekey=gt)
        elif challenge.kind == "cloudflare_challenge" and gate.page is not None:
            extra["html_base64"] = base64.b64encode(gate.page).decode("ascii")
        if not extra:
            return challenge
        kept = tuple((k, v) for k, v in challenge.params if k not in extra)
        return dataclasses.replace(challenge, params=kept + tuple(sorted(extra.items())))

    @staticmethod
    def _still_challenged(response: Response, challenge: Challenge) -> bool:
        if not isinstance(response, TextResponse):
            return False
        return any(c.kind == challenge.kind
                   for c in detect(response.body, url=response.url, status=response.status,
                                   headers=response.headers, blocking_only=True))

    async def _solution(self, gate: Gate, challenge: Challenge, identity: Identity | None = None) -> Solution:
        if not await self.control.wait_unpaused():
            raise _Closing()
        budget = self.config.budget
        fleet = self.control.fleet
        # What this solve may cost, set aside against the budget while it runs (across
        # the fleet, when there is one), so that solves under way together cannot go over.
        available = self.pool.available() or self.pool.solvers
        reserve = max((self.accounting.estimate(s.provider, challenge) or 0.0) for s in available)
        # (Unknown prices: the solve is held only against a budget already spent.)
        reserve = max(reserve, self._last_cost, 1e-9)
        if not await fleet.reserve(reserve, budget):
            logger.critical("CAPTCHA_BUDGET=%g %s is spent: no more solves (%.4f spent here)", budget or 0,
                            CURRENCY, fleet.spent_here)
            self.control.close_spider("captcha_budget_exhausted")
            raise _Closing()
        if identity is None:
            identity = identity_for(gate.first, challenge, self.config.use_proxy)
        charged = 0.0
        started = asyncio.get_running_loop().time()
        try:
            solution, gate.solver = await self.pool.solve(challenge, identity)
        except CaptchaError as exc:
            provider = getattr(exc, "provider", None)
            gate.solver = next((s for s in self.pool.solvers if s.provider == provider), gate.solver)
            self.accounting.failed(challenge, provider or self.pool.primary.provider,
                                   asyncio.get_running_loop().time() - started, exc.code)
            if exc.code == SOLVE_TIMEOUT:
                charged = reserve  # the task may still be solved, and charged, at the service
            raise
        else:
            gate.solutions += 1
            cost = self.accounting.record_solved(gate.first, challenge, solution, gate.solver.provider)
            charged = cost if cost is not None else reserve
            if cost:
                self._last_cost = cost
            return solution
        finally:
            await fleet.settle(reserve, charged)
            self.sync_call_stats()

    async def _download(self, request: Request) -> Response:
        return await self.crawler.engine.download_async(request)

    # ------------------------------------------------------------- outcomes

    def _close_gate(self, gate: Gate, *, proceed: bool) -> None:
        self.book.close(gate)
        gate.decide(proceed)

    def _passed(self, gate: Gate) -> None:
        self._close_gate(gate, proceed=True)
        if gate.scope != REQUEST and not gate.borrowed:
            # Until a page on this host comes back clean, this pass cleared nothing.
            self._count_fruitless(gate)
        if gate.scope == SESSION and not gate.borrowed:
            self.book.scope(gate.key, gate.challenge).passed()
        released = gate.all_waiting()
        self.stats.inc_value("captcha/released", len(released))
        self.journal.gate_closed(id(gate), "passed", released=gate.released + len(released))
        self._reissue(gate.waiting, passed=gate)
        # Other URLs that showed it while its reach was unknown: what they show now
        # tells whether the pass cleared them (session) or each needs its own (page).
        self._reissue(gate.tentative, passed=gate, evidence=True)

    def _reissue(self, requests: list[Request], *, count_retry: bool = False, passed: Gate | None = None,
                 evidence: bool = False, solved: bool = False) -> None:
        """Send ``requests`` again; ``solved``/``passed``: a solve was paid for them."""
        for request in requests:
            meta = dict(request.meta)
            meta.pop(META_SENT, None)
            if count_retry:
                meta[META_RETRIES] = meta.get(META_RETRIES, 0) + 1
            if solved or passed is not None:
                meta[META_SOLVES] = meta.get(META_SOLVES, 0) + 1
            if passed is not None and not passed.borrowed and (passed.scope == SESSION or evidence):
                meta[META_AFTER] = list(passed.cid)
            self._crawl(_as_sent_again(request, meta))

    def _crawl(self, request: Request) -> None:
        try:
            if self.parked is not None:
                self.parked.crawl(request)  # and out of the journal
            else:
                self.crawler.engine.crawl(request)
        except RuntimeError:  # the spider has closed: nothing can take it any more
            self.stats.inc_value("captcha/abandoned")
            logger.warning("Could not re-issue %s: the spider has closed", request.url)

    def _fail_gate(self, gate: Gate, exc: CaptchaError, reaction: Reaction) -> None:
        self._close_gate(gate, proceed=False)
        if exc.code == TOKEN_REJECTED:
            # A paid solve that cleared nothing, like a pass that cleared nothing.
            self._count_fruitless(gate)
        met, others = gate.split(exc)
        dropped = self._fail(met, exc, reaction, solved=gate.solutions > 0)
        self.journal.gate_closed(id(gate), exc.code, released=len(met) - dropped + len(others), dropped=dropped)
        if others:
            self.stats.inc_value("captcha/gate/refetched", len(others))
            self._reissue(others)

    def _fail(self, requests: list[Request], exc: CaptchaError, reaction: Reaction, *, solved: bool = False) -> int:
        """Reschedule or drop ``requests`` as ``reaction`` says; how many were dropped."""
        if reaction is Reaction.MISCONFIGURED and exc.code not in self._warned:
            self._warned.add(exc.code)
            logger.error("Captcha configuration problem %s: %s. %s", exc.code, exc.description,
                         rule_for(exc.code).advice)
        retry: list[Request] = []
        drop: list[Request] = []
        for request in requests:
            (retry if reaction is Reaction.RESCHEDULE and self.retries_left(request) else drop).append(request)
        if retry:
            self.accounting.rescheduled(exc.code, len(retry))
            logger.info("Captcha %s: rescheduling %d request(s)", exc.code, len(retry))
            self._reissue(retry, count_retry=True, solved=solved)
        for request in drop:
            reason = self.announce_drop(request, exc, reaction)
            meta = {**request.meta, META_DROP: [exc.code, reason]}
            self._crawl(request.replace(dont_filter=True, meta=meta))
        return len(drop)

    def _drop_now(self, request: Request, exc: CaptchaError) -> CaptchaDropped:
        reason = self.announce_drop(request, exc, Reaction.DROP)
        return CaptchaDropped(exc.code, reason, request.url)

    def retries_left(self, request: Request) -> bool:
        return self.accounting.retries_left(request)

    def announce_drop(self, request: Request, exc: CaptchaError, reaction: Reaction) -> str:
        return self.accounting.announce_drop(request, exc, reaction)

    def _hand_back(self, gate: Gate) -> None:
        """Closing while paused: the gate's requests go back to the scheduler (and JOBDIR)."""
        waiting = gate.all_waiting()
        gate.waiting, gate.tentative = [], []
        self._close_gate(gate, proceed=False)
        self.journal.gate_closed(id(gate), "handed_back", released=len(waiting))
        if waiting:
            self.stats.inc_value("captcha/handed_back", len(waiting))
            self._reissue(waiting)

    def _hand_back_all(self) -> None:
        for gate in self.book:
            self._hand_back(gate)


def _as_sent_again(request: Request, meta: dict[str, Any]) -> Request:
    """A copy of ``request`` to send again, holding no proxy credential Scrapy derives anew.

    HttpProxyMiddleware sets an environment proxy (and its credentials, as a header) on
    every request it sends; a copy that went through it once carries them, and may be
    written to a JOBDIR queue. Without them, the middleware sets them again.
    """
    headers = request.headers.copy()
    if meta.pop("_scheme_proxy", None):
        meta.pop("proxy", None)
        meta.pop("_auth_proxy", None)
        headers.pop(b"Proxy-Authorization", None)
    return request.replace(dont_filter=True, meta=meta, headers=headers)


def crawl_solver(crawler: Any) -> CaptchaMiddleware:
    """The crawl's own solver: its providers (failover), budget, stats and signals.

    For ``PageMethod(solve_page, solver=crawl_solver(self.crawler))`` in a spider:
    solves made with it count like every other solve of the crawl.
    """
    middleware = getattr(crawler, "_captcha_middleware", None)
    if middleware is None:
        raise RuntimeError("scrapy-captcha is not enabled in this crawl: add ADDONS = {'scrapy_captcha.Addon': 500}")
    return middleware
