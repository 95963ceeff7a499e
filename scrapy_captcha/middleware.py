"""Downloader middleware: response -> detect -> solve -> submit -> re-issue the original request.

Pending solves are kept off the crawl's concurrency budget. Scrapy counts a
request against CONCURRENT_REQUESTS for the whole middleware chain, so
awaiting a 30-120 s solve in ``process_response`` would take one slot per
pending solve. Instead ``process_response`` *parks* the request: it returns
the request object to the engine, and our ``request_scheduled`` handler
vetoes it, so the download finishes at once and its slot is free. The solve,
the form submission and the re-issue run in one asyncio task per *gate*
(host, cookiejar, proxy); other requests that meet the same gate while it is
being solved wait on it instead of paying again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import FormRequest, Response, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.reactor import is_asyncio_reactor_installed

from . import signals as captcha_signals
from .crawl import CrawlControl
from .detect import SOLVABLE_KINDS, detect, explain, has_markers
from .in_page import BROWSER_KINDS, InPageSolves
from .meta import META_DROP, META_RETRIES, META_SWITCH
from .model import CaptchaConfigError, CaptchaDropped, CaptchaError, Challenge, Reaction, Solution
from .service.errors import CROSS_ORIGIN_SUBMIT, NO_SUBMIT_PATH, TOKEN_REJECTED, rule_for
from .settings import CaptchaSettings
from .solver import Solver

logger = logging.getLogger(__name__)

#: (host, cookiejar, proxy), plus id(request) for a request's own widget.
GateKey = tuple[Any, ...]


class _Closing(Exception):
    """The crawl is closing while paused: hand the gate's requests back."""


@dataclass(eq=False)
class Gate:
    """One challenge being passed, and the requests that wait for it."""

    key: GateKey
    challenge: Challenge
    first: Request
    waiting: list[Request] = field(default_factory=list)
    #: id(request) -> (kind, sitekey) of the challenge it showed; absent when
    #: it was held back unsent and showed nothing.
    shown: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    #: The solver that answered last (the one to report a bad token to, or to watch).
    solver: Solver | None = None
    #: A gate many requests share (an interstitial) vs one request's own widget
    #: (``meta["captcha"] = True`` on a form: a fresh token per submission).
    shared: bool = True
    #: None until decided, then whether its requests may proceed.
    passed: bool | None = None
    #: Made only when a request downloaded outside the scheduler (engine.download)
    #: has to wait here: most gates never need one.
    _decided: asyncio.Future[bool] | None = None

    def decided(self) -> asyncio.Future[bool]:
        """Resolves to :attr:`passed` once the gate is decided."""
        if self._decided is None:
            self._decided = asyncio.get_running_loop().create_future()
            if self.passed is not None:
                self._decided.set_result(self.passed)
        return self._decided

    def decide(self, proceed: bool) -> None:
        if self.passed is None:
            self.passed = proceed
            if self._decided is not None and not self._decided.done():
                self._decided.set_result(proceed)

    def split(self, exc: CaptchaError) -> tuple[list[Request], list[Request]]:
        """(requests that share the failure ``exc``, requests to fetch again).

        The service being unreachable or overloaded is everyone's fate. A failure
        of this task (bad sitekey, unsolvable, nowhere to post the token) is only
        the fate of requests that showed the same challenge: one held back unsent,
        or whose page showed another sitekey, has not met it.
        """
        if rule_for(exc.code).reaction is Reaction.BACKOFF:
            return list(self.waiting), []
        mine = (self.challenge.kind, self.challenge.sitekey)
        same = [r for r in self.waiting if self.shown.get(id(r)) == mine]
        return same, [r for r in self.waiting if self.shown.get(id(r)) != mine]


def gate_key(request: Request) -> GateKey:
    parts = urlsplit(request.url)
    return (parts.netloc.lower(), request.meta.get("cookiejar"), request.meta.get("proxy"))


class CaptchaMiddleware:
    def __init__(self, crawler: Any, config: CaptchaSettings, solvers: list[Solver] | None = None):
        self.crawler = crawler
        self.config = config
        self.stats = crawler.stats
        self._solvers = solvers
        self.control = CrawlControl.of(crawler)
        self.control.before_close.append(self._hand_back_all)
        self._gates: dict[GateKey, Gate] = {}
        self._vetoed: dict[int, Gate] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._warned: set[Any] = set()
        self.in_page = InPageSolves(self)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CaptchaMiddleware:
        config = CaptchaSettings.from_settings(crawler.settings)
        if not config.enabled:
            raise NotConfigured("CAPTCHA_ENABLED is False")
        if not is_asyncio_reactor_installed():
            raise CaptchaConfigError(
                "scrapy-captcha needs Twisted's asyncio reactor: set TWISTED_REACTOR = "
                "'twisted.internet.asyncioreactor.AsyncioSelectorReactor' (Scrapy's default since 2.13)"
            )
        mw = cls(crawler, config)
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(mw.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    @property
    def solvers(self) -> list[Solver]:
        """One solver per configured provider, in failover order (made on first use)."""
        if self._solvers is None:
            self._solvers = [
                Solver(
                    provider,
                    api_key=self.config.api_key.reveal(),
                    api_url=self.config.api_urls.get(provider),
                    timeout=self.config.solve_timeout,
                    max_concurrent_tasks=self.config.max_concurrent_tasks,
                    call_timeout=self.config.http_timeout,
                    delay_scale=self.config.delay_scale,
                )
                for provider in self.config.providers
            ]
        return self._solvers

    # ------------------------------------------------------------ Scrapy API

    def process_request(self, request: Request, spider: Any = None) -> Awaitable[None] | Request | None:
        drop = request.meta.get(META_DROP)
        if drop:
            code, reason = drop
            raise CaptchaDropped(code, reason, request.url)
        gate = self._vetoed.pop(id(request), None)
        if gate is not None:
            # Parked, but downloaded outside the scheduler (engine.download):
            # it cannot be re-issued later, so it waits here for its gate.
            gate.waiting.remove(request)
            return self._wait_direct(request, gate)
        if self._gates and self.config.hold_back and request.meta.get(META_SWITCH) is not False:
            gate = self._gates.get(gate_key(request))
            if gate is not None and gate.shared:
                # Its host is showing a gate that is being solved: sending it now
                # would only fetch the gate page again. It waits, unsent.
                self.stats.inc_value("captcha/held_back")
                return self._hold(request, gate)
        return None

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response | Request:
        switch = request.meta.get(META_SWITCH)
        if switch is False or not isinstance(response, TextResponse):
            return response
        challenges = detect(
            response.body, url=response.url, status=response.status, headers=response.headers,
            blocking_only=switch is not True,
        )
        if not challenges:
            if logger.isEnabledFor(logging.DEBUG) and has_markers(response.body, response.headers):
                for line in explain(response.body, url=response.url, status=response.status,
                                    headers=response.headers):
                    logger.debug("Captcha detection on %s: %s", response.url, line)
            return response
        for challenge in challenges:
            logger.debug("Captcha candidate on %s: %s %s: %s", response.url, challenge.kind,
                         challenge.sitekey, "; ".join(challenge.evidence))
        wanted = [c for c in challenges if c.blocking or switch is True]
        if not wanted:
            self.stats.inc_value("captcha/incidental")
            return response
        # A page may show several: take one we can solve over HTTP first.
        challenge = min(wanted, key=lambda c: c.kind not in SOLVABLE_KINDS)
        self.stats.inc_value("captcha/detected")
        self.stats.inc_value(f"captcha/detected/{challenge.kind}")
        if request.meta.get("playwright") and challenge.kind in BROWSER_KINDS:
            return self.in_page.handle(request, response, challenge)
        if challenge.kind not in SOLVABLE_KINDS:
            return self._unsupported(request, response, challenge)
        return self._park(request, challenge)

    def _unsupported(self, request: Request, response: Response, challenge: Challenge) -> Response:
        reason = f"unsupported_{challenge.kind}"
        if self.config.unsupported == "pass":
            self.stats.inc_value(f"captcha/passed/{reason}")
            return response
        self.stats.inc_value(f"captcha/dropped/{reason}")
        logger.warning("Dropped %s: captcha %s has no solving path here (%s); set "
                       "CAPTCHA_UNSUPPORTED = 'pass' to receive such pages", request.url, challenge.kind,
                       "; ".join(challenge.evidence))
        self.crawler.signals.send_catch_log(captcha_signals.captcha_dropped, request=request,
                                            code=reason, reason=reason)
        raise CaptchaDropped(reason, reason, request.url)

    def request_scheduled(self, request: Request, spider: Any = None) -> None:
        if self._vetoed.pop(id(request), None) is not None:
            raise IgnoreRequest("parked until its captcha gate is passed")

    def spider_idle(self, spider: Any = None) -> None:
        if self._gates or self._tasks:
            raise DontCloseSpider("captcha solves pending")

    async def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        parked = sum(len(g.waiting) for g in self._gates.values())
        if parked:
            logger.warning("%d requests were still waiting for a captcha when the spider closed", parked)
            self.stats.inc_value("captcha/abandoned", parked)
        for task in list(self._tasks):
            task.cancel()
        self.sync_call_stats()
        for solver in self._solvers or []:
            await solver.close()

    # -------------------------------------------------------------- parking

    def _park(self, request: Request, challenge: Challenge) -> Request:
        shared = challenge.blocking
        key = gate_key(request) if shared else (*gate_key(request), id(request))
        gate = self._gates.get(key)
        if gate is None:
            gate = Gate(key, challenge, request, shared=shared)
            self._gates[key] = gate
            task = asyncio.ensure_future(self._decide_gate(gate))
            self._tasks.add(task)
        else:
            self.stats.inc_value("captcha/gate/joined")
        self.stats.inc_value("captcha/parked")
        gate.shown[id(request)] = (challenge.kind, challenge.sitekey)
        return self._hold(request, gate)

    def _hold(self, request: Request, gate: Gate) -> Request:
        """Keep ``request`` on ``gate``, outside the scheduler and the downloader."""
        gate.waiting.append(request)
        self._vetoed[id(request)] = gate
        return request

    async def _wait_direct(self, request: Request, gate: Gate) -> None:
        if not await asyncio.shield(gate.decided()):
            raise CaptchaDropped("GATE_FAILED", "its captcha gate was not passed", request.url)

    def sync_call_stats(self) -> None:
        totals: dict[str, int] = {}
        for solver in self._solvers or []:
            for name, count in solver.stats.items():
                totals[f"captcha/api_calls/{name}"] = totals.get(f"captcha/api_calls/{name}", 0) + count
            for code, count in solver.faults.items():
                totals[f"captcha/backoff/{code}"] = totals.get(f"captcha/backoff/{code}", 0) + count
        for key, value in totals.items():
            self.stats.set_value(key, value)

    async def _decide_gate(self, gate: Gate) -> None:
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
                if await self.control.hold(exc, gate.solver or self.solvers[0]):
                    self._close_gate(gate, proceed=True)
                    self._reissue(gate.waiting, count_retry=False)
                else:
                    self._hand_back(gate)
                return
            self._fail_gate(gate, exc, reaction)
        except Exception as exc:  # a bug here must not lose the requests
            logger.exception("Unexpected error while passing a captcha gate")
            self._fail_gate(gate, CaptchaError("INTERNAL_ERROR", repr(exc)), Reaction.RESCHEDULE)
        else:
            self._close_gate(gate, proceed=True)
            self.stats.inc_value("captcha/released", len(gate.waiting))
            self._reissue(gate.waiting, count_retry=False)
        finally:
            # (Here rather than a done callback: one object less per pending gate.)
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _pass(self, gate: Gate) -> None:
        solution = await self._solution(gate)
        submission = self._submission(gate, solution)
        if not gate.shared:
            # The spider asked to get through this form: the submission, with the
            # token, is the follow-up request and its response goes to the callback.
            first = gate.first
            gate.waiting.remove(first)
            meta = {**first.meta, **submission.meta, META_SWITCH: False}
            for key in ("dont_redirect", "handle_httpstatus_all"):
                if key not in first.meta:
                    meta.pop(key, None)
            self._crawl(submission.replace(callback=first.callback, errback=first.errback,
                                           cb_kwargs=first.cb_kwargs, meta=meta))
            return
        response = await self._download(submission)
        if self._still_challenged(response, gate.challenge):
            self.stats.inc_value("captcha/token_rejected")
            assert gate.solver is not None
            await gate.solver.report_incorrect(solution)
            raise CaptchaError(TOKEN_REJECTED, "the site showed the challenge again after the token",
                               Reaction.RESCHEDULE)

    @staticmethod
    def _still_challenged(response: Response, challenge: Challenge) -> bool:
        if not isinstance(response, TextResponse):
            return False
        return any(c.blocking and c.kind == challenge.kind
                   for c in detect(response.body, url=response.url, status=response.status,
                                   headers=response.headers))

    def _close_gate(self, gate: Gate, *, proceed: bool) -> None:
        if self._gates.get(gate.key) is gate:
            del self._gates[gate.key]
        for request in gate.waiting:
            self._vetoed.pop(id(request), None)
        gate.decide(proceed)

    async def _solution(self, gate: Gate) -> Solution:
        challenge = gate.challenge
        if not await self.control.wait_unpaused():
            raise _Closing()
        budget = self.config.budget
        if budget is not None and self.stats.get_value("captcha/cost", 0.0) >= budget:
            logger.critical("CAPTCHA_BUDGET=%g is spent: no more solves", budget)
            self.control.close_spider("captcha_budget_exhausted")
            raise _Closing()
        try:
            solution = await self._solve(gate)
        finally:
            self.sync_call_stats()
        self.record_solved(gate.first, challenge, solution)
        return solution

    def record_solved(self, request: Request, challenge: Challenge, solution: Solution) -> None:
        """Stats, the INFO line and the ``captcha_solved`` signal for one solved task."""
        self.stats.inc_value("captcha/solved")
        self.stats.inc_value(f"captcha/solved/{challenge.kind}")
        self.stats.inc_value("captcha/solve_time/total", solution.elapsed, start=0.0)
        self.stats.max_value("captcha/solve_time/max", solution.elapsed)
        if solution.cost is not None:
            self.stats.inc_value("captcha/cost", solution.cost, start=0.0)
        logger.info(
            "Solved %s on %s in %.1fs (%d polls%s)", challenge.kind, challenge.page_url,
            solution.elapsed, solution.polls,
            f", cost {solution.cost:g}" if solution.cost is not None else "",
        )
        self.crawler.signals.send_catch_log(
            captcha_signals.captcha_solved, request=request, challenge=challenge, solution=solution
        )

    async def _solve(self, gate: Gate) -> Solution:
        """Solve with the first provider that can; MISCONFIGURED moves on to the next."""
        solvers = self.solvers
        for i in range(len(solvers)):
            # (An index, not enumerate(): a live iterator per pending solve is
            # more for the garbage collector to walk.)
            solver = gate.solver = solvers[i]
            try:
                return await solver.solve(gate.challenge)
            except CaptchaError as exc:
                rule = rule_for(exc.code)
                last = i == len(solvers) - 1
                if rule.reaction is not Reaction.MISCONFIGURED or rule.pause_all or last:
                    raise
                if (solver.provider, exc.code) not in self._warned:
                    self._warned.add((solver.provider, exc.code))
                    logger.warning("Captcha provider %s cannot solve %s (%s): trying %s",
                                   solver.provider, gate.challenge.kind, exc.code, solvers[i + 1].provider)
                self.stats.inc_value(f"captcha/failover/{solver.provider}/{exc.code}")
        raise AssertionError("unreachable: the last provider raises")

    def _submission(self, gate: Gate, solution: Solution) -> Request:
        challenge, first = gate.challenge, gate.first
        form = challenge.form
        if form is None or not challenge.response_fields:
            raise CaptchaError(NO_SUBMIT_PATH, "the challenge is in no form the token could be posted with",
                               Reaction.DROP)
        page, target = urlsplit(challenge.page_url), urlsplit(form.action)
        if (page.scheme, page.hostname, page.port) != (target.scheme, target.hostname, target.port):
            # A token is only ever sent to the origin that showed the challenge.
            raise CaptchaError(CROSS_ORIGIN_SUBMIT, f"the form posts to {target.netloc}, not {page.netloc}",
                               Reaction.DROP)
        fields = challenge.response_fields
        formdata = [(k, v) for k, v in form.fields if k not in fields] + [(name, solution.token) for name in fields]
        meta = {
            META_SWITCH: False,
            "dont_redirect": True,
            # A token is single use: posting it again cannot succeed.
            "dont_retry": True,
            "handle_httpstatus_all": True,
            "dont_cache": True,
            # Where robots.txt itself is behind the gate, RobotsTxtMiddleware would
            # hold this post until robots.txt arrives, which waits for this post.
            "dont_obey_robotstxt": True,
        }
        for key in ("cookiejar", "proxy", "download_slot"):
            if key in first.meta:
                meta[key] = first.meta[key]
        headers = {"Referer": challenge.page_url}
        if solution.user_agent:
            headers["User-Agent"] = solution.user_agent
        return FormRequest(
            form.action, method=form.method, formdata=formdata, headers=headers, meta=meta,
            dont_filter=True, priority=first.priority,
        )

    async def _download(self, request: Request) -> Response:
        engine = self.crawler.engine
        if hasattr(engine, "download_async"):
            return await engine.download_async(request)
        return await maybe_deferred_to_future(engine.download(request))  # Scrapy < 2.14

    # ------------------------------------------------------------- outcomes

    def _reissue(self, requests: list[Request], *, count_retry: bool) -> None:
        for request in requests:
            meta = dict(request.meta)
            if count_retry:
                meta[META_RETRIES] = meta.get(META_RETRIES, 0) + 1
            self._crawl(request.replace(dont_filter=True, meta=meta))

    def _crawl(self, request: Request) -> None:
        try:
            self.crawler.engine.crawl(request)
        except RuntimeError:  # the spider has closed: nothing can take it any more
            self.stats.inc_value("captcha/abandoned")
            logger.warning("Could not re-issue %s: the spider has closed", request.url)

    def _fail_gate(self, gate: Gate, exc: CaptchaError, reaction: Reaction) -> None:
        self._close_gate(gate, proceed=False)
        met, others = gate.split(exc)
        self._fail(met, exc, reaction)
        if others:
            self.stats.inc_value("captcha/gate/refetched", len(others))
            self._reissue(others, count_retry=False)

    def _fail(self, requests: list[Request], exc: CaptchaError, reaction: Reaction) -> None:
        if reaction is Reaction.MISCONFIGURED and exc.code not in self._warned:
            self._warned.add(exc.code)
            logger.error("Captcha configuration problem %s: %s. %s", exc.code, exc.description,
                         rule_for(exc.code).advice)
        retry: list[Request] = []
        drop: list[Request] = []
        for request in requests:
            (retry if reaction is Reaction.RESCHEDULE and self.retries_left(request) else drop).append(request)
        if retry:
            self.stats.inc_value(f"captcha/rescheduled/{exc.code}", len(retry))
            logger.info("Captcha %s: rescheduling %d request(s)", exc.code, len(retry))
            self._reissue(retry, count_retry=True)
        for request in drop:
            reason = self.announce_drop(request, exc, reaction)
            meta = {**request.meta, META_DROP: [exc.code, reason]}
            self._crawl(request.replace(dont_filter=True, meta=meta))

    def retries_left(self, request: Request) -> bool:
        """Whether a RESCHEDULE may send ``request`` again (``CAPTCHA_MAX_RETRIES``)."""
        return request.meta.get(META_RETRIES, 0) < self.config.max_retries

    def announce_drop(self, request: Request, exc: CaptchaError, reaction: Reaction) -> str:
        """Stats, the WARNING line and the signal for a dropped request; the reason given."""
        reason = exc.description or exc.code
        if reaction is Reaction.RESCHEDULE:
            reason = f"{reason} (after {self.config.max_retries} retries)"
        self.stats.inc_value(f"captcha/dropped/{exc.code}")
        logger.warning("Dropped %s: captcha %s: %s", request.url, exc.code, reason)
        self.crawler.signals.send_catch_log(
            captcha_signals.captcha_dropped, request=request, code=exc.code, reason=reason
        )
        return reason

    def _hand_back(self, gate: Gate) -> None:
        """Closing while paused: the gate's requests go back to the scheduler (and JOBDIR)."""
        waiting = list(gate.waiting)
        gate.waiting.clear()
        self._close_gate(gate, proceed=False)
        if waiting:
            self.stats.inc_value("captcha/handed_back", len(waiting))
            self._reissue(waiting, count_retry=False)

    def _hand_back_all(self) -> None:
        for gate in list(self._gates.values()):
            self._hand_back(gate)
