"""The Solver over real HTTP against the sandbox's emulated service."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import textwrap

import pytest
import pytest_twisted

from scrapy_captcha import Challenge, Reaction, ServiceError, Solver, TransportFault
from scrapy_captcha.sandbox import DEMO_SITEKEY

from .crawling import aio

KEY = "solver-test-key-SECRET-42"


def challenge(sandbox, sitekey: str = DEMO_SITEKEY) -> Challenge:
    return Challenge(kind="recaptcha_v2", sitekey=sitekey, page_url=sandbox.site_url + "/item/1", blocking=True)


def solver(sandbox, **kw) -> Solver:
    kw.setdefault("first_poll", 0.2)
    kw.setdefault("poll_interval", 0.2)
    return Solver("sandbox", api_key=KEY, api_url=sandbox.service_url, **kw)


async def _solve(sandbox, ch=None, **kw):
    s = solver(sandbox, **kw)
    try:
        return await s.solve(ch or challenge(sandbox)), s
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_solve_create_then_poll(sandbox):
    sandbox.reset(service={"latency": 0.5})
    solution, s = await aio(_solve(sandbox))
    assert solution.token.startswith("03A")
    assert solution.cost == pytest.approx(0.002)
    assert 2 <= solution.polls <= 4
    assert s.stats["create"] == 1 and s.stats["poll"] == solution.polls
    assert sandbox.state()["calls"] == {"createTask": 1, "getTaskResult": solution.polls}


@pytest_twisted.ensureDeferred
async def test_ready_straight_from_create_task_is_not_polled(sandbox):
    sandbox.reset(service={"quirks": ["ready_on_create"]})
    solution, _ = await aio(_solve(sandbox))
    assert solution.polls == 0
    assert sandbox.state()["calls"] == {"createTask": 1}


@pytest_twisted.ensureDeferred
async def test_idle_status_means_processing(sandbox):
    sandbox.reset(service={"latency": 0.8, "quirks": ["idle", "string_numbers"]})
    solution, _ = await aio(_solve(sandbox))
    assert solution.token and solution.cost == pytest.approx(0.002)
    statuses = sandbox.log()
    assert statuses[0]["endpoint"] == "createTask"


@pytest_twisted.ensureDeferred
async def test_http_400_and_401_bodies_are_read(sandbox):
    sandbox.reset(service={"quirks": ["http_status"], "keys": {KEY: "ERROR_KEY_DENIED_ACCESS"}})
    with pytest.raises(ServiceError) as info:
        await aio(_solve(sandbox))
    assert info.value.code == "ERROR_KEY_DENIED_ACCESS"
    assert info.value.reaction is Reaction.PAUSE
    assert KEY not in str(info.value) and KEY not in repr(info.value)


@pytest_twisted.ensureDeferred
async def test_string_balance(sandbox):
    sandbox.reset(service={"balance": 12.5, "quirks": ["string_numbers"]})
    s = solver(sandbox)
    try:
        assert await aio(s.balance()) == 12.5
    finally:
        await aio(s.close())


@pytest_twisted.ensureDeferred
async def test_overall_solve_timeout(sandbox):
    sandbox.reset(service={"latency": 30})
    with pytest.raises(ServiceError) as info:
        await aio(_solve(sandbox, timeout=1.0))
    assert info.value.code == "SOLVE_TIMEOUT"
    assert info.value.reaction is Reaction.RESCHEDULE


@pytest_twisted.ensureDeferred
async def test_one_session_is_reused(sandbox):
    s = solver(sandbox)
    try:
        await aio(s.solve(challenge(sandbox)))
        session = s.transport._session
        await aio(s.solve(challenge(sandbox)))
        assert s.transport._session is session
        assert s.transport.calls == sandbox.state()["calls"]["createTask"] + sandbox.state()["calls"]["getTaskResult"]
    finally:
        await aio(s.close())


@pytest_twisted.ensureDeferred
async def test_5xx_and_garbage_are_retried_with_growing_delays(sandbox):
    sandbox.configure(rules=[
        {"endpoint": "createTask", "http_status": 502, "body": "<html>bad gateway</html>", "times": 1},
        {"endpoint": "createTask", "http_status": 200, "body": "<html>not json</html>", "times": 1},
    ])
    solution, _ = await aio(_solve(sandbox))
    assert solution.token
    creates = [e["t"] for e in sandbox.log() if e["endpoint"] == "createTask"]
    assert len(creates) == 3
    gaps = [b - a for a, b in itertools.pairwise(creates)]
    # base 1 s then 2 s, each with +-20 % jitter: never repeated without a delay
    assert gaps[0] >= 0.8 and gaps[1] >= 1.6


@pytest_twisted.ensureDeferred
async def test_no_slot_waits_3_seconds(sandbox):
    sandbox.configure(rules=[{"endpoint": "createTask", "error": "ERROR_NO_SLOT_AVAILABLE", "times": 1}])
    await aio(_solve(sandbox))
    creates = [e["t"] for e in sandbox.log() if e["endpoint"] == "createTask"]
    assert creates[1] - creates[0] >= 2.4


@pytest_twisted.ensureDeferred
async def test_bad_request_backs_off_once_then_drops(sandbox):
    sandbox.configure(rules=[{"endpoint": "createTask", "error": "ERROR_BAD_REQUEST", "times": -1}])
    with pytest.raises(ServiceError) as info:
        await aio(_solve(sandbox))
    assert info.value.reaction is Reaction.DROP
    assert sandbox.state()["calls"]["createTask"] == 2


@pytest_twisted.ensureDeferred
async def test_connection_refused_is_a_transport_fault(sandbox):
    s = Solver("sandbox", api_key=KEY, api_url="http://127.0.0.1:9", timeout=2.5)
    try:
        with pytest.raises((TransportFault, ServiceError)) as info:
            await aio(s.solve(challenge(sandbox)))
    finally:
        await aio(s.close())
    # retried with delays until the overall timeout
    assert info.value.code in ("TRANSPORT_ERROR", "SOLVE_TIMEOUT")


def test_solver_needs_a_key_and_hides_it(monkeypatch):
    monkeypatch.delenv("CAPTCHA_API_KEY", raising=False)
    with pytest.raises(ValueError, match="CAPTCHA_API_KEY"):
        Solver("capsolver")
    monkeypatch.setenv("CAPTCHA_API_KEY", "from-env-SECRET")
    s = Solver("capsolver")
    assert "from-env-SECRET" not in repr(s) and "from-env-SECRET" not in str(vars(s))


def test_plain_asyncio_without_scrapy_or_a_reactor(sandbox):
    script = textwrap.dedent(f"""
        import asyncio, sys
        from scrapy_captcha import Challenge, Solver

        async def main():
            ch = Challenge(kind="recaptcha_v2", sitekey={DEMO_SITEKEY!r}, page_url={sandbox.site_url!r} + "/")
            async with Solver("sandbox", api_key="k", api_url={sandbox.service_url!r},
                              first_poll=0.2, poll_interval=0.2) as solver:
                solution = await solver.solve(ch)
                balance = await solver.balance()
            return solution, balance

        solution, balance = asyncio.run(main())
        assert solution.token.startswith("03A"), solution
        assert "twisted.internet.reactor" not in sys.modules
        print("ok", balance)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


@pytest_twisted.ensureDeferred
async def test_a_refused_token_is_reported_where_the_dialect_has_an_endpoint(sandbox):
    # The sandbox speaks capsolver's dialect strictly under /capsolver: /feedbackTask
    # with result.invalid; a report to an endpoint the kind does not have is refused there.
    s = Solver("capsolver", api_key=KEY, api_url=sandbox.service_url + "/capsolver", first_poll=0.2,
               poll_interval=0.2)
    try:
        solution = await aio(s.solve(challenge(sandbox)))
        assert await aio(s.report_incorrect(solution, "recaptcha_v2")) is True
    finally:
        await aio(s.close())
    assert sandbox.state()["calls"]["report"] == 1
    yes = solver(sandbox)
    assert await aio(yes.report_incorrect(solution, "recaptcha_v2")) is False  # yescaptcha documents none
    await aio(yes.close())
    anti = Solver("anticaptcha", api_key=KEY, api_url=sandbox.service_url + "/anticaptcha")
    assert await aio(anti.report_incorrect(solution, "turnstile")) is False  # anti-captcha has none for it
    await aio(anti.close())


async def _limiter_story():
    from scrapy_captcha.solver import TaskLimiter

    limiter = TaskLimiter(4, recover_after=2)
    entered = []

    async def task(n, hold):
        async with limiter:
            entered.append(n)
            await asyncio.sleep(hold)
        limiter.succeeded()

    first = [asyncio.ensure_future(task(n, 0.2)) for n in range(4)]
    await asyncio.sleep(0.05)
    assert limiter.open == 4
    limiter.lower()  # ERROR_THREADS_MAXIMUM with 4 open
    assert limiter.limit == 3
    waiting = asyncio.ensure_future(task(9, 0))
    await asyncio.sleep(0.05)
    assert 9 not in entered  # over the lowered limit: waits
    await asyncio.gather(*first, waiting)
    assert 9 in entered
    history = [limiter.limit]
    for n in range(4):
        await task(10 + n, 0)
        history.append(limiter.limit)
    return history


@pytest_twisted.ensureDeferred
async def test_threads_maximum_lowers_the_task_limit_and_it_recovers_slowly():
    history = await aio(_limiter_story())
    # 5 successes after lowering (4 first + the waiter): back to 4 = the ceiling, then it stays
    assert history[0] in (3, 4) and history[-1] == 4 and max(history) == 4


async def _queue_story():
    from scrapy_captcha.solver import TaskLimiter

    limiter = TaskLimiter(1)
    order = []

    async def task(n):
        await limiter.acquire()
        order.append(n)
        await asyncio.sleep(0.05)
        limiter.release()

    tasks = [asyncio.ensure_future(task(n)) for n in range(3)]
    await asyncio.sleep(0.07)  # 0 done, 1 entered, 2 queued
    tasks.append(asyncio.ensure_future(task(3)))  # a newcomer does not overtake 2
    await asyncio.gather(*tasks)
    return order, limiter.open


@pytest_twisted.ensureDeferred
async def test_queued_tasks_keep_their_turn():
    order, still_open = await aio(_queue_story())
    assert order == [0, 1, 2, 3] and still_open == 0


@pytest_twisted.ensureDeferred
async def test_time_queued_behind_the_task_limit_is_not_solve_time(sandbox):
    # Each solve takes ~1 s at the service; the second waits ~1 s for the one slot.
    # Its own solve still fits the 1.6 s timeout, so it is not timed out.
    sandbox.reset(service={"latency": 1.0})
    s = solver(sandbox, timeout=1.6, max_concurrent_tasks=1)
    try:
        first, second = await aio(asyncio.gather(s.solve(challenge(sandbox)), s.solve(challenge(sandbox))))
    finally:
        await aio(s.close())
    assert first.token and second.token
    assert s.limiter.open == 0


@pytest_twisted.ensureDeferred
async def test_the_last_poll_lands_on_the_deadline(sandbox):
    # Polls every 5 s would first ask at 5 s; with a 2 s timeout the one poll is at 2 s,
    # when the 1.5 s task is ready: the budget is used, not thrown away.
    sandbox.reset(service={"latency": 1.5})
    solution, _ = await aio(_solve(sandbox, timeout=2.0, first_poll=5.0, poll_interval=5.0))
    assert solution.token and solution.polls == 1
