"""Async solving: submit, poll, back off. Plain asyncio: no Scrapy, no reactor needed.

    async with Solver("capsolver", api_key="...") as solver:
        solution = await solver.solve(challenge)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .model import CaptchaError, Challenge, Identity, Reaction, Secret, ServiceError, Solution
from .poller import Poller
from .polling import PollPlanner
from .service import protocol
from .service.errors import SOLVE_TIMEOUT, rule_for
from .service.presets import Preset, get_preset
from .transport import Transport

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Called as ``hook(solver, challenge, solution)`` after every solve of every Solver
#: in the process: a crawl counts solves made with solvers it did not create
#: (``PageMethod(solve_page, solver=...)``). See ``CaptchaMiddleware.spider_opened``.
SOLVED_HOOKS: list[Callable[[Solver, Challenge, Solution], None]] = []

#: Longest single wait between repeated calls, whatever the rule says.
MAX_BACKOFF = 60.0
#: Seconds a call made at a solve's deadline may take to answer.
LAST_CALL_GRACE = 1.0


class Solver:
    """Solves challenges with one solving service.

    ``api_key`` falls back to the ``CAPTCHA_API_KEY`` environment variable.
    The key is kept private: it appears in no repr, message or log line.
    """

    def __init__(
        self,
        provider: str = "yescaptcha",
        api_key: str | None = None,
        api_url: str | None = None,
        *,
        timeout: float = 180.0,
        max_concurrent_tasks: int = 0,
        soft_id: str | int | None = None,
        first_poll: float | None = None,
        poll_interval: float | None = None,
        call_timeout: float = 30.0,
        delay_scale: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.preset: Preset = get_preset(provider)
        key = api_key if api_key is not None else os.environ.get("CAPTCHA_API_KEY", "")
        if not key:
            raise ValueError(
                f"no API key for provider {provider!r}: pass api_key= or set CAPTCHA_API_KEY"
            )
        self._key = Secret(key)
        self.api_url = (api_url or self.preset.base_url).rstrip("/")
        self.timeout = float(timeout)
        self.soft_id = soft_id
        self.planner = PollPlanner(
            min_first=self.preset.first_poll if first_poll is None else float(first_poll),
            # Slow enough that a task never meets the service's 120-poll cap before our timeout.
            interval=max(self.preset.poll_interval if poll_interval is None else float(poll_interval),
                         self.timeout / (self.preset.max_polls - 10)),
        )
        self.poller = Poller(self.planner, self._poll_once, max_polls=self.preset.max_polls,
                             on_timeout=self._timed_out, on_too_many=self._too_many_polls)
        self.transport = Transport(self.api_url, timeout=call_timeout)
        self._sleep = sleep
        #: Multiplies every delay the service states (3 s no-slot, 5 min cooldown...):
        #: 1.0 against a real service; emulators and tests shorten them.
        self.delay_scale = float(delay_scale)
        self.limiter = TaskLimiter(max_concurrent_tasks)
        # Set by NO_SLOT_AVAILABLE_BLOCK / rate limits: no task creation before this loop time.
        self._create_not_before = 0.0
        # Set by COOLDOWN codes: no call at all before this loop time.
        self._blocked_until = 0.0
        self.stats: dict[str, int] = {"create": 0, "poll": 0, "balance": 0, "report": 0}
        #: Shared controls of every process of the account (fleet mode), or None.
        self.fleet: Any = None
        #: BACKOFF events by code (each one a delayed repeat of a call).
        self.faults: dict[str, int] = {}

    @property
    def provider(self) -> str:
        return self.preset.name

    def __repr__(self) -> str:
        return f"Solver(provider={self.provider!r}, api_url={self.api_url!r}, key={self._key!r})"

    # ------------------------------------------------------------------ API

    async def solve(self, challenge: Challenge, identity: Identity | None = None) -> Solution:
        """Submit ``challenge`` and wait for its solution.

        ``identity``: the crawl's proxy and user agent, for kinds whose token or
        clearance is bound to them (the task goes out as the proxy variant).

        Raises :class:`ServiceError` / :class:`TransportFault` whose ``reaction``
        says what the caller should do; ``SOLVE_TIMEOUT`` when the task is not
        solved ``timeout`` s after it got a slot (time queued behind
        ``max_concurrent_tasks`` is ours, not the service's, and does not count).
        """
        loop = asyncio.get_running_loop()
        # Services count a task against their limit from create to done.
        await self.limiter.acquire()
        slot = None
        ok = False
        try:
            if self.fleet is not None and self.limiter.ceiling:
                # The limit is the account's, whichever process creates the task.
                slot = await self.fleet.acquire_slot(self.provider, self.limiter.ceiling)
            started = loop.time()
            deadline = started + self.timeout
            task_id, solution = await self._with_backoff(
                protocol.create_task_call(self.preset, self._key.reveal(), challenge, identity=identity,
                                          soft_id=self.soft_id),
                protocol.parse_create_task, challenge, create=True, deadline=deadline,
            )
            self.stats["create"] += 1
            polls = 0
            if solution is None:
                # One future per waiting task; the poller's heap keeps the time.
                solution, polls = await self.poller.wait(task_id, protocol.variant(challenge), loop.time(),
                                                          deadline, challenge)
            ok = True
        finally:
            self.limiter.release()
            if slot is not None:
                self.fleet.release_slot(slot, succeeded=ok)
        self.limiter.succeeded()
        solution = dataclasses.replace(solution, elapsed=loop.time() - started, polls=polls, received=loop.time())
        for hook in SOLVED_HOOKS:
            try:
                hook(self, challenge, solution)
            except Exception:  # bookkeeping must never cost a paid answer
                logger.exception("Captcha: a solved-hook failed; the solution is kept")
        return solution

    async def _poll_once(self, task_id: Any, deadline: float, challenge: Challenge) -> Solution | None:
        self.stats["poll"] += 1
        return await self._with_backoff(
            protocol.task_result_call(self._key.reveal(), task_id), protocol.parse_task_result, task_id,
            challenge, deadline=deadline,
        )

    def _too_many_polls(self, polls: int) -> ServiceError:
        return ServiceError("ERROR_TASK_TIMEOUT", f"still processing after {polls} polls",
                            rule_for("ERROR_TASK_TIMEOUT").reaction)

    def _timed_out(self) -> ServiceError:
        return ServiceError(SOLVE_TIMEOUT, f"not solved within {self.timeout:g}s",
                            rule_for(SOLVE_TIMEOUT).reaction)

    async def balance(self) -> float:
        self.stats["balance"] += 1
        call = protocol.balance_call(self._key.reveal())
        return await self._with_backoff(call, protocol.parse_balance)

    async def report_incorrect(self, solution: Solution, kind: str) -> bool:
        """Tell the service an answer for a ``kind`` challenge was refused. False where the
        dialect has no endpoint for that kind."""
        call = protocol.report_call(self.preset, self._key.reveal(), solution, kind)
        if call is None:
            return False
        self.stats["report"] += 1
        try:
            status, body = await self.transport.post(call)
            protocol.decode(status, body)
        except CaptchaError:
            return False
        return True

    async def close(self) -> None:
        await self.poller.close()
        await self.transport.close()

    async def __aenter__(self) -> Solver:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---------------------------------------------------------------- fleet

    async def join_fleet(self, fleet: Any) -> None:
        """Share cooldowns, creation holds, the task limit and poll timings with the fleet."""
        self.fleet = fleet
        fleet.on_block(self._fleet_block)
        publish = await fleet.share_timings(self.provider, self.planner)
        self.poller.on_observe = publish

    def _fleet_block(self, provider: str, seconds: float, what: str) -> None:
        if provider != self.provider:
            return
        until = asyncio.get_running_loop().time() + seconds
        if what == "calls":
            self._blocked_until = max(self._blocked_until, until)
        else:
            self._create_not_before = max(self._create_not_before, until)

    # ------------------------------------------------------------ internals

    def block(self, seconds: float) -> None:
        """Make no call to the service for ``seconds`` (a cooldown the service asked for)."""
        until = asyncio.get_running_loop().time() + seconds
        self._blocked_until = max(self._blocked_until, until)

    @property
    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - asyncio.get_running_loop().time())

    async def _with_backoff(
        self, call: protocol.Call, parse: Callable[..., T], *args: Any, create: bool = False,
        deadline: float | None = None,
    ) -> T:
        """Make ``call``; on a BACKOFF error wait as the rule says and call again.

        Never repeats a failing call without a delay. When the rule's attempt
        budget is spent the error is raised with reaction DROP; past ``deadline``
        (loop time), ``SOLVE_TIMEOUT``.
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            wait = self._blocked_until - loop.time()
            if create:
                wait = max(wait, self._create_not_before - loop.time())
            if wait > 0:
                if deadline is not None and loop.time() + wait >= deadline:
                    await self._sleep(max(0.0, deadline - loop.time()))
                    raise self._timed_out()
                await self._sleep(wait)
            # A call made at the deadline (the last poll) still gets a moment to answer.
            timeout = None if deadline is None else max(LAST_CALL_GRACE, deadline - loop.time())
            try:
                status, body = await self.transport.post(call, timeout=timeout)
                return parse(status, body, *args)
            except CaptchaError as exc:
                rule = rule_for(exc.code)
                if rule.reaction is Reaction.COOLDOWN:
                    # Every service bans clients that keep calling through a block.
                    self.block(rule.delay * self.delay_scale)
                    if self.fleet is not None:
                        await self.fleet.cooldown(self.provider, rule.delay * self.delay_scale)
                if rule.reaction is not Reaction.BACKOFF:
                    raise
                if deadline is not None and loop.time() >= deadline:
                    raise self._timed_out() from None
                if rule.attempts is not None and attempt >= rule.attempts:
                    exc.reaction = Reaction.DROP
                    raise
                self.faults[exc.code] = self.faults.get(exc.code, 0) + 1
                delay = rule.delay * (2**attempt if rule.exponential else 1)
                delay = min(MAX_BACKOFF, delay) * random.uniform(0.8, 1.2) * self.delay_scale
                if rule.global_wait:
                    self._create_not_before = max(self._create_not_before, loop.time() + delay)
                    if self.fleet is not None:
                        await self.fleet.hold_creates(self.provider, delay)
                if rule.lower_concurrency:
                    self.limiter.lower()
                    if self.fleet is not None:
                        await self.fleet.lower_limit(self.provider)
                attempt += 1
                if deadline is not None and loop.time() + delay >= deadline:
                    await self._sleep(max(0.0, deadline - loop.time()))
                    raise self._timed_out() from None
                await self._sleep(delay)


class TaskLimiter:
    """How many tasks may be open at the service at once (from create to done).

    ``ERROR_THREADS_MAXIMUM`` says the account's real limit is lower than ours:
    the limit drops below what is open now, then climbs back by one after every
    ``recover_after`` solves in a row, up to the configured ceiling.
    """

    def __init__(self, limit: int = 0, *, recover_after: int = 5):
        self.ceiling = limit  # 0 = no limit
        self.limit = limit
        self.open = 0
        self.recover_after = recover_after
        self._streak = 0
        self._queued = 0
        self._changed: asyncio.Condition | None = None
        # Wake-ups under way, held: the loop keeps only a weak reference to a task.
        self._waking: set[asyncio.Future[None]] = set()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def acquire(self) -> None:
        # The fast path takes no lock: most crawls never queue. It yields to
        # anyone already queued, so a queued task is never overtaken.
        if (self.limit and self.open >= self.limit) or self._queued:
            self._queued += 1
            try:
                async with self._condition():
                    await self._condition().wait_for(lambda: not self.limit or self.open < self.limit)
            finally:
                self._queued -= 1
        self.open += 1

    def release(self) -> None:
        self.open -= 1
        if self._changed is not None:
            self._wake_soon()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()

    def lower(self) -> None:
        self.limit = max(1, min(self.limit or self.open, self.open) - 1)
        self._streak = 0

    def succeeded(self) -> None:
        if not self.limit or self.limit == self.ceiling:
            return
        self._streak += 1
        if self._streak >= self.recover_after:
            self._streak = 0
            self.limit += 1
            self._wake_soon()

    def _wake_soon(self) -> None:
        task = asyncio.ensure_future(self._wake())
        self._waking.add(task)
        task.add_done_callback(self._waking.discard)

    async def _wake(self) -> None:
        async with self._condition():
            self._condition().notify_all()
