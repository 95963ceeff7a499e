"""Polls and added latency per solve: the learned poll grid vs the SDKs' fixed timers.

One MODE per run (learned | fixed3 | fixed1), each against its own in-process
sandbox speaking as yescaptcha (first poll >= 3 s, 3 s between polls), plain
asyncio. Phases, on one solver:

1. cold: one solve of 10 s on a fresh solver;
2. steady: 5 concurrent warm-up solves of 10 s, then 5 measured one after another;
3. shift: the service gets faster (4 s); 5 solves one after another, each reported.

"Added" is the time from the task being ready (the sandbox logs each task's
latency) to the token in hand. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys

import aiohttp

from scrapy_captcha import Challenge, Solver
from scrapy_captcha.sandbox import DEMO_SITEKEY, Sandbox


async def fixed_timer(http: aiohttp.ClientSession, service: str, challenge: Challenge, first: float,
                      every: float) -> tuple[str, int, float]:
    """The official SDKs' loop: createTask, then getTaskResult on a fixed timer."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with http.post(service + "/createTask", json={"clientKey": "k", "task": {
            "type": "NoCaptchaTaskProxyless", "websiteURL": challenge.page_url,
            "websiteKey": challenge.sitekey}}) as reply:
        task_id = (await reply.json())["taskId"]
    polls = 0
    await asyncio.sleep(first)
    while True:
        polls += 1
        async with http.post(service + "/getTaskResult", json={"clientKey": "k", "taskId": task_id}) as reply:
            body = await reply.json()
        if body.get("status") == "ready":
            return task_id, polls, loop.time() - t0
        await asyncio.sleep(every)


async def main(mode: str) -> dict:
    async with Sandbox(service_port=0, site_port=0) as box:
        state = box.service_state
        challenge = Challenge(kind="recaptcha_v2", sitekey=DEMO_SITEKEY, page_url=box.site_url + "/")
        solver = Solver("yescaptcha", api_key="k", api_url=box.service_url)
        http = aiohttp.ClientSession()

        async def one() -> tuple[int, float]:
            if mode == "learned":
                s = await solver.solve(challenge)
                task_id, polls, elapsed = s.task_id, s.polls, s.elapsed
            else:
                every = 3.0 if mode == "fixed3" else 1.0
                task_id, polls, elapsed = await fixed_timer(http, box.service_url, challenge, every, every)
            latency = next(e["latency"] for e in state.log if e.get("taskId") == task_id)
            return polls, elapsed - latency

        try:
            state.config["latency"] = 10.0
            cold = await one()
            await asyncio.gather(*(one() for _ in range(5)))
            steady = [await one() for _ in range(5)]
            state.config["latency"] = 4.0
            shift = [await one() for _ in range(5)]
        finally:
            await solver.close()
            await http.close()
    return {
        "cold": cold,
        "steady": (statistics.mean(p for p, _ in steady), statistics.mean(a for _, a in steady)),
        "shift": shift,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
