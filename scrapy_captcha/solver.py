"""Async solving: submit, poll, back off. Plain asyncio: no Scrapy, no reactor needed.

    async with Solver("capsolver", api_key="...") as solver:
        solution = await solver.solve(challenge)
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any, Awaitable, Callable, TypeVar

from .model import CaptchaError, Challenge, Reaction, Secret, ServiceError, Solution
from .service import protocol
from .service.errors import SOLVE_TIMEOUT, rule_for
from .service.presets import Preset, get_preset
from .transport import Transport

T = TypeVar("T")

#: Longest single wait between repeated calls, whatever the rule says.
MAX_BACKOFF = 60.0


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
        self.first_poll = self.preset.first_poll if first_poll is None else float(first_poll)
        self.poll_interval = (
            self.preset.poll_interval if poll_interval is None else float(poll_interval)
        )
        self.transport = Transport(self.api_url, timeout=call_timeout)
        self._sleep = sleep
        self._limit = max_concurrent_tasks
        self._semaphore: asyncio.Semaphore | None = None
        # Set by NO_SLOT_AVAILABLE_BLOCK / rate limits: no task creation before this loop time.
        self._create_not_before = 0.0
        self.stats: dict[str, int] = {"create": 0, "poll": 0, "balance": 0, "report": 0}

    @property
    def provider(self) -> str:
        return self.preset.name

    def __repr__(self) -> str:
        return f"Solver(provider={self.provider!r}, api_url={self.api_url!r}, key={self._key!r})"

    # ------------------------------------------------------------------ API

    async def solve(self, challenge: Challenge) -> Solution:
        """Submit ``challenge`` and wait for its solution.

        Raises :class:`ServiceError` / :class:`TransportFault` whose ``reaction``
        says what the caller should do; ``SOLVE_TIMEOUT`` after ``timeout`` s.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await asyncio.wait_for(self._solve_in_slot(challenge, started), self.timeout)
        except asyncio.TimeoutError:
            raise ServiceError(
                SOLVE_TIMEOUT, f"not solved within {self.timeout:g}s", rule_for(SOLVE_TIMEOUT).reaction
            ) from None

    async def balance(self) -> float:
        self.stats["balance"] += 1
        call = protocol.balance_call(self._key.reveal())
        return await self._with_backoff(call, protocol.parse_balance)

    async def report_incorrect(self, solution: Solution) -> bool:
        """Tell the service a token was refused. False where the dialect has no endpoint."""
        call = protocol.report_call(self.preset, self._key.reveal(), solution.task_id)
        if call is None or solution.task_id is None:
            return False
        self.stats["report"] += 1
        try:
            status, body = await self.transport.post(call)
            protocol.decode(status, body)
        except CaptchaError:
            return False
        return True

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Solver:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------ internals

    def _slot(self) -> asyncio.Semaphore | _NoLimit:
        if not self._limit:
            return _NO_LIMIT
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._limit)
        return self._semaphore

    async def _solve_in_slot(self, challenge: Challenge, started: float) -> Solution:
        # Services count a task against their limit from create to done.
        async with self._slot():
            return await self._solve(challenge, started)

    async def _solve(self, challenge: Challenge, started: float) -> Solution:
        loop = asyncio.get_running_loop()
        call = protocol.create_task_call(self.preset, self._key.reveal(), challenge, soft_id=self.soft_id)
        task_id, solution = await self._with_backoff(call, protocol.parse_create_task, create=True)
        self.stats["create"] += 1
        polls = 0
        if solution is None:
            poll = protocol.task_result_call(self._key.reveal(), task_id)
            await self._sleep(self.first_poll)
            while True:
                polls += 1
                self.stats["poll"] += 1
                solution = await self._with_backoff(
                    poll, lambda status, body: protocol.parse_task_result(status, body, task_id)
                )
                if solution is not None:
                    break
                if polls >= self.preset.max_polls:
                    raise ServiceError(
                        "ERROR_TASK_TIMEOUT", f"still processing after {polls} polls",
                        rule_for("ERROR_TASK_TIMEOUT").reaction,
                    )
                await self._sleep(self.poll_interval)
        return Solution(
            token=solution.token,
            task_id=solution.task_id,
            cost=solution.cost,
            user_agent=solution.user_agent,
            raw=solution.raw,
            elapsed=loop.time() - started,
            polls=polls,
        )

    async def _with_backoff(
        self, call: protocol.Call, parse: Callable[[int, bytes], T], *, create: bool = False
    ) -> T:
        """Make ``call``; on a BACKOFF error wait as the rule says and call again.

        Never repeats a failing call without a delay. When the rule's attempt
        budget is spent the error is raised with reaction DROP.
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            if create and self._create_not_before > loop.time():
                await self._sleep(self._create_not_before - loop.time())
            try:
                status, body = await self.transport.post(call)
                return parse(status, body)
            except CaptchaError as exc:
                rule = rule_for(exc.code)
                if rule.reaction is not Reaction.BACKOFF:
                    raise
                if rule.attempts is not None and attempt >= rule.attempts:
                    exc.reaction = Reaction.DROP
                    raise
                delay = rule.delay * (2**attempt if rule.exponential else 1)
                delay = min(MAX_BACKOFF, delay) * random.uniform(0.8, 1.2)
                if rule.global_wait:
                    self._create_not_before = max(self._create_not_before, loop.time() + delay)
                attempt += 1
                await self._sleep(delay)


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: Any) -> None:
        return None


_NO_LIMIT = _NoLimit()

__all__ = ["Solver", "ServiceError"]
