"""The poll planner: first polls land where tasks become ready."""

from __future__ import annotations

import pytest_twisted

from scrapy_captcha import Challenge, Solver
from scrapy_captcha.polling import PollPlanner
from scrapy_captcha.sandbox import DEMO_SITEKEY

from .crawling import aio


def simulate(planner: PollPlanner, ready: float, solves: int) -> list[int]:
    """Polls per solve for tasks that are always ready after ``ready`` seconds."""
    counts = []
    for _ in range(solves):
        first = planner.first_poll("k")
        t, polls, last_miss = first, 1, None
        while t < ready:
            last_miss = t
            t += planner.interval
            polls += 1
        planner.observe("k", first, t, last_miss)
        counts.append(polls)
    return counts


def test_seeded_then_learned():
    planner = PollPlanner(min_first=3.0, interval=3.0, seeds={"k": 15.0})
    assert planner.first_poll("k") == 15.0
    assert planner.first_poll("other") == 3.0  # no seed: the provider's floor


def test_converges_to_one_poll_just_after_the_ready_time():
    planner = PollPlanner(min_first=1.0, interval=3.0, seeds={"k": 4.0})
    counts = simulate(planner, ready=10.0, solves=30)
    # one poll per solve after warm-up; a re-probe every 50 hits costs at most one miss
    assert sum(counts[-20:]) <= 21
    assert 10.0 <= planner.estimate("k") <= 10.0 + 2 * planner.margin


def test_follows_a_service_that_gets_slower_or_faster():
    planner = PollPlanner(min_first=1.0, interval=3.0)
    simulate(planner, ready=10.0, solves=20)
    simulate(planner, ready=14.0, solves=20)
    assert 14.0 <= planner.estimate("k") <= 14.5
    simulate(planner, ready=8.0, solves=250)
    assert 8.0 <= planner.estimate("k") <= 8.5


def test_never_earlier_than_the_providers_floor():
    planner = PollPlanner(min_first=3.0, interval=3.0)
    simulate(planner, ready=0.5, solves=50)
    assert planner.first_poll("k") == 3.0


async def _solves(sandbox, n):
    ch = Challenge(kind="recaptcha_v2", sitekey=DEMO_SITEKEY, page_url=sandbox.site_url + "/")
    async with Solver("sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2,
                      poll_interval=0.5, timeout=30) as solver:
        return [(await solver.solve(ch)).polls for _ in range(n)]


@pytest_twisted.ensureDeferred
async def test_polls_per_solve_on_a_fixed_latency_service(sandbox):
    sandbox.reset(service={"latency": 1.5})
    polls = await aio(_solves(sandbox, 14))
    assert polls[0] >= 3  # the floor (0.2 s) is far below 1.5 s: learning
    assert polls[-4:] == [1, 1, 1, 1]
    assert sandbox.state()["calls"]["getTaskResult"] == sum(polls)


def test_poll_interval_keeps_clear_of_the_120_poll_cap():
    solver = Solver("sandbox", api_key="k", timeout=600)
    assert solver.planner.interval * (solver.preset.max_polls - 1) > solver.timeout


def test_spread_workloads_start_at_the_low_end():
    import random

    rnd = random.Random(7)
    planner = PollPlanner(min_first=3.0, interval=3.0, seeds={"k": 15.0})
    for _ in range(40):
        ready = rnd.uniform(5, 60)
        first = planner.first_poll("k")
        t, last_miss = first, None
        while t < ready:
            last_miss, t = t, t + planner.interval
        planner.observe("k", first, t, last_miss)
    assert 5.0 <= planner.first_poll("k") <= 15.0
