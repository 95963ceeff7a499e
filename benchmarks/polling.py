"""Polls and added latency per solve: the learned poll plan vs the SDKs' fixed timers.

Plain asyncio against the sandbox speaking as yescaptcha (first poll >= 3 s,
3 s between polls). "Added latency" is the time from the task being ready
(the sandbox logs each task's latency) to the solver having the token.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import urllib.request

from scrapy_captcha import Challenge, Solver
from scrapy_captcha.sandbox import DEMO_SITEKEY


def control(url: str, path: str, data=None):
    req = urllib.request.Request(url + path, data=None if data is None else json.dumps(data).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return json.loads(reply.read())


async def fixed_timer(service: str, challenge: Challenge, first: float, every: float):
    """The official SDKs' loop: createTask, then getTaskResult on a fixed timer."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
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


async def run(service: str, site: str, mode: str, n: int, parallel: int, warmup: int):
    challenge = Challenge(kind="recaptcha_v2", sitekey=DEMO_SITEKEY, page_url=site + "/")
    gate = asyncio.Semaphore(parallel)
    results = []
    async with Solver("yescaptcha", api_key="k", api_url=service) as solver:
        async def one(i: int):
            async with gate:
                if mode == "learned":
                    s = await solver.solve(challenge)
                    results.append((i, s.task_id, s.polls, s.elapsed))
                else:
                    first, every = {"yescaptcha-sdk": (3, 3), "capsolver-sdk": (1, 1),
                                    "anticaptcha-sdk": (3, 1.5), "capmonster-sdk": (1, 2)}[mode]
                    task_id, polls, elapsed = await fixed_timer(service, challenge, first, every)
                    results.append((i, task_id, polls, elapsed))
        await asyncio.gather(*(one(i) for i in range(n)))
    latency = {e["taskId"]: e["latency"] for e in control(service, "/_sandbox/log") if "latency" in e}
    kept = [r for r in results if r[0] >= warmup]
    polls = statistics.mean(r[2] for r in kept)
    added = statistics.mean(r[3] - latency[r[1]] for r in kept)
    return polls, added


def main() -> None:
    service, site, workload = sys.argv[1:4]
    if workload == "steady":
        control(service, "/_sandbox/reset", {"latency": 10.0, "balance": 1000})
        args = dict(n=80, parallel=4, warmup=48)
    else:
        control(service, "/_sandbox/reset", {"latency_range": [5, 60], "balance": 1000})
        args = dict(n=45, parallel=15, warmup=15)
    rows = {}
    modes = os.environ.get("POLL_MODES", "learned,yescaptcha-sdk,capsolver-sdk").split(",")
    for mode in modes:
        control(service, "/_sandbox/reset", {"latency": 10.0, "balance": 1000} if workload == "steady"
                else {"latency_range": [5, 60], "balance": 1000})
        rows[mode] = asyncio.run(run(service, site, mode, **args))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
