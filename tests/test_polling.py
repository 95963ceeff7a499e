"""When to poll: the planner's grid and the poller's heap, on a virtual clock.

The clock is an asyncio loop whose time jumps to the next timer, so every
figure here (polls, seconds past ready) is exact and no test waits.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
from typing import Any

import pytest
import pytest_twisted

from scrapy_captcha import Challenge, Solver
from scrapy_captcha.model import CaptchaError, Solution
from scrapy_captcha.poller import MAX_IN_FLIGHT, Poller
from scrapy_captcha.polling import PROBE_RATIO, PollPlanner
from scrapy_captcha.sandbox import DEMO_SITEKEY

from .crawling import aio


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """Time moves only when nothing is ready to run: straight to the next timer."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def _run_once(self) -> None:  # type: ignore[override]
        if not self._ready and self._scheduled:
            self._now = max(self._now, self._scheduled[0].when())
        super()._run_once()


class Service:
    """Tasks ready a fixed time after creation; polls counted; ready times logged."""

    def __init__(self, min_first: float = 3.0, interval: float = 3.0):
        self.loop = asyncio.get_running_loop()
        self.planner = PollPlanner(min_first=min_first, interval=interval)
        self.poller = Poller(self.planner, self._poll, max_polls=120,
                             on_timeout=lambda: CaptchaError("SOLVE_TIMEOUT"),
                             on_too_many=lambda n: CaptchaError("ERROR_TASK_TIMEOUT"))
        self.ready_at: dict[int, float] = {}
        self.in_flight = self.max_in_flight = 0
        self._ids = iter(range(10**9))

    async def _poll(self, task_id: int, deadline: float, context: object) -> Solution | None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.001)  # the round trip
        self.in_flight -= 1
        return Solution(token="t") if self.loop.time() >= self.ready_at[task_id] else None

    async def solve(self, ready: float) -> tuple[int, float]:
        """(polls, seconds from ready to answer) for one task that takes ``ready`` s."""
        task_id = next(self._ids)
        created = self.loop.time()
        self.ready_at[task_id] = created + ready
        _, polls = await self.poller.wait(task_id, "k", created, created + 180)
        return polls, self.loop.time() - (created + ready)

    async def batch(self, ready: float, n: int, concurrent: bool) -> list[tuple[int, float]]:
        if concurrent:
            return list(await asyncio.gather(*(self.solve(ready) for _ in range(n))))
        return [await self.solve(ready) for _ in range(n)]


def run(scenario: Any) -> Any:
    """Run ``scenario()`` on a virtual clock (in a thread of its own: the test
    process's reactor already runs an asyncio loop in this one)."""
    out: dict[str, Any] = {}

    def main() -> None:
        loop = VirtualClockLoop()
        try:
            out["result"] = loop.run_until_complete(scenario())
        except BaseException as exc:  # handed to the test below
            out["error"] = exc
        finally:
            loop.close()

    worker = threading.Thread(target=main)
    worker.start()
    worker.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


@pytest.mark.parametrize("warmup_concurrent", [True, False])
@pytest.mark.parametrize("measured_concurrent", [True, False])
def test_steady_workload_after_five_solves(warmup_concurrent, measured_concurrent):
    """yescaptcha's timing (first poll >= 3 s, 3 s apart), 10 s solves: after five
    solves, at most 3 polls and 0.3 s added per solve; never an interval late."""
    async def scenario():
        service = Service()
        cold = await service.batch(10.0, 5, warmup_concurrent)
        measured = await service.batch(10.0, 5, measured_concurrent)
        return cold, measured

    cold, measured = run(scenario)
    assert all(0 <= late <= 3.0 for _, late in cold + measured)
    assert max(polls for polls, _ in measured) <= 3
    assert statistics.mean(late for _, late in measured) <= 0.3


def test_the_cold_solve_waits_at_most_one_interval():
    for ready in (2.0, 3.5, 7.9, 10.0, 33.3, 90.0):
        async def scenario(ready: float = ready):
            return await Service().batch(ready, 1, False)

        (_, late), = run(scenario)
        assert late <= 3.0, ready


def test_a_shift_to_faster_solves_is_followed_within_three_solves():
    async def scenario():
        service = Service()
        await service.batch(10.0, 5, True)
        await service.batch(10.0, 5, False)
        return await service.batch(4.0, 6, False)

    after = run(scenario)
    assert all(late <= 3.0 for _, late in after)
    assert all(polls <= 3 and late <= 0.3 for polls, late in after[2:])


def test_a_shift_to_slower_solves_stays_within_one_interval():
    async def scenario():
        service = Service()
        await service.batch(4.0, 5, True)
        return await service.batch(20.0, 8, False)

    after = run(scenario)
    assert all(late <= 3.0 for _, late in after)
    # Probes narrow the bracket to a fraction of the interval, then stop (a probe
    # that misses costs a whole interval).
    assert after[-1][1] <= 3.0 / PROBE_RATIO + 0.05


def test_spread_and_jittered_workloads_are_never_an_interval_late():
    rng = random.Random(7)

    async def scenario():
        service = Service()
        out = []
        for _ in range(10):
            out += await asyncio.gather(*(service.solve(rng.uniform(5, 60)) for _ in range(4)))
            out += await asyncio.gather(*(service.solve(10 + rng.uniform(0, 0.5)) for _ in range(4)))
        return out

    results = run(scenario)
    assert max(late for _, late in results) <= 3.0


def test_never_earlier_than_the_providers_floor_nor_closer_than_its_interval():
    planner = PollPlanner(min_first=3.0, interval=3.0)
    for _ in range(30):
        age, _ = planner.first_poll("k")
        assert age >= 3.0
        planner.observe("k", None, age)
    assert planner.first_poll("k")[0] == 3.0
    assert planner.lowest_grid_point(10.2) == pytest.approx(4.2)
    assert planner.lowest_grid_point(2.0) == 3.0


def test_cold_cohort_phases_spread_over_one_interval():
    planner = PollPlanner(min_first=3.0, interval=3.0)
    ages = sorted(planner.first_poll("k", cohort_size=5, index=i)[0] for i in range(5))
    assert ages == pytest.approx([3.0, 3.6, 4.2, 4.8, 5.4])


def test_a_burst_of_cold_tasks_waits_for_the_scouts():
    """5,000 tasks at once: ten scouts poll the grid; the rest ask once the first answers."""
    async def scenario():
        service = Service(min_first=1.0, interval=1.0)
        results = await service.batch(14.5, 2000, True)
        return service, results

    service, results = run(scenario)
    polls = [p for p, _ in results]
    assert sum(polls) <= 2000 * 2 + 10 * 15
    assert service.max_in_flight <= MAX_IN_FLIGHT


def test_a_cancelled_wait_stops_polling():
    async def scenario():
        service = Service()
        created = service.loop.time()
        service.ready_at[1] = created + 10
        future = service.poller.wait(1, "k", created, created + 180)
        await asyncio.sleep(4.0)
        future.cancel()
        await asyncio.sleep(30)
        return service.poller.pending

    assert run(scenario) == 0


def test_the_deadline_ends_polling_with_a_timeout():
    async def scenario():
        service = Service()
        created = service.loop.time()
        service.ready_at[1] = created + 100
        with pytest.raises(CaptchaError) as caught:
            await service.poller.wait(1, "k", created, created + 20)
        return caught.value.code, service.loop.time() - created

    code, waited = run(scenario)
    assert code == "SOLVE_TIMEOUT" and waited == pytest.approx(20, abs=0.01)


async def _solves(sandbox, n: int) -> list[int]:
    ch = Challenge(kind="recaptcha_v2", sitekey=DEMO_SITEKEY, page_url=sandbox.site_url + "/")
    async with Solver("sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2,
                      poll_interval=0.3) as solver:
        return [(await solver.solve(ch)).polls for _ in range(n)]


@pytest_twisted.ensureDeferred
async def test_polls_per_solve_on_a_fixed_latency_service(sandbox):
    """The real solver against the sandbox: few polls once the ready time is learned."""
    sandbox.reset(service={"latency": 1.0})
    polls = await aio(_solves(sandbox, 8))
    assert max(polls[-3:]) <= 3
    assert sandbox.state()["calls"]["getTaskResult"] == sum(polls)


def test_poll_interval_keeps_clear_of_the_120_poll_cap():
    solver = Solver("capmonster", api_key="k", timeout=600)
    assert solver.planner.interval * (solver.preset.max_polls - 1) > solver.timeout
