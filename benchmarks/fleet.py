"""Fleet mode: 4 processes vs 1 process on one sandbox account, with and without the Redis fleet.

    python benchmarks/fleet.py [SERVICE_URL SITE_URL]

Without URLs it starts its own sandbox. It always starts its own
``redis-server`` (a free loopback port, no persistence). Every worker is a
real OS process running a real :class:`~scrapy_captcha.Solver` against the
sandbox's emulated service over HTTP (and aiohttp against the demo site for
the session gate); the fleet columns coordinate through
:class:`~scrapy_captcha.fleet.Fleet`. The columns without a fleet keep the
controls one process has on its own: its own budget (reserved before each
createTask), its own task limit, its own pause and account checks.

Phases, each measured from the sandbox's own log and counters:

1. session gate: every process fetches item pages behind the demo site's
   session gate (same host, no proxy, same user agent): solves paid for the gate;
2. task limit: each process wants 8 solves at once, limit 4: the peak of tasks
   open at the service (from createTask to the result, per the service's log);
3. budget: each process wants 12 solves of 0.002 on a budget of 0.02:
   spent minus budget;
4. pause: the balance runs out while each process solves now and then (one
   task every 1.5 s, staggered): seconds from the first ERROR_ZERO_BALANCE
   anywhere to every process paused; getBalance calls per minute over 12 s of
   pause (check interval 2 s); then a top-up: seconds to every process resumed.
5. parked-request journal (in this process): what journaling a parked request
   costs (park, then release, in bursts as the middleware parks them), beside
   what scrapy-redis's own queue costs per request (push and pop), with the
   same requests and the same Redis.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

KEY = "bench-fleet-account-key-0001"
PROVIDER = "sandbox"
LIMIT = 4
BUDGET = 0.02
COST = 0.002
CHECK_INTERVAL = 2.0
PAUSED_WINDOW = 12.0
USER_AGENT = "bench-fleet-browser/1.0"
MODES = (("one", 1, False), ("many", 4, False), ("fleet", 4, True))


# ------------------------------------------------------------------ worker


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class LocalControls:
    """What one process does on its own."""

    def __init__(self) -> None:
        self.spent = self.reserved = 0.0
        self.paused = asyncio.Event()
        self.paused_at: float | None = None

    async def reserve(self, amount: float, budget: float) -> bool:
        if self.spent + self.reserved + amount > budget + 1e-9:
            return False
        self.reserved += amount
        return True

    async def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual

    async def usage(self) -> float:
        return self.spent + self.reserved

    async def acquire(self) -> Any:
        return None  # the solver's own limiter (max_concurrent_tasks) keeps this process's limit

    def release(self, slot: Any, ok: bool) -> None:
        pass

    async def pause(self, code: str) -> None:
        if self.paused_at is None:
            self.paused_at = time.time()
        self.paused.set()

    async def wait_resumed(self, check: Any) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            ok, _ = await check()
            if ok:
                return

    async def gate(self, identity_parts: tuple[str, str], solve_gate: Any) -> tuple[str, Any]:
        return "solved", await solve_gate()

    async def close(self) -> None:
        pass


class FleetControls(LocalControls):
    """The same, through the fleet."""

    def __init__(self, fleet: Any) -> None:
        super().__init__()
        self.fleet = fleet

        def on_state(state: Any) -> None:
            if state.provider == PROVIDER and state.paused:
                if self.paused_at is None:
                    self.paused_at = time.time()
                self.paused.set()

        fleet.on_state(on_state)

    async def reserve(self, amount: float, budget: float) -> bool:
        return await self.fleet.reserve(amount, budget)

    async def settle(self, reserved: float, actual: float) -> None:
        await self.fleet.settle(reserved, actual)

    async def usage(self) -> float:
        spent, reserved = await self.fleet.usage()
        return spent + reserved

    async def acquire(self) -> Any:
        return await self.fleet.acquire_slot(PROVIDER, LIMIT)

    def release(self, slot: Any, ok: bool) -> None:
        self.fleet.release_slot(slot, succeeded=ok)

    async def pause(self, code: str) -> None:
        await super().pause(code)
        await self.fleet.pause(PROVIDER, code, "met by this process")

    async def wait_resumed(self, check: Any) -> None:
        await self.fleet.watch_account(PROVIDER, check, interval=CHECK_INTERVAL)

    async def gate(self, identity_parts: tuple[str, str], solve_gate: Any) -> tuple[str, Any]:
        identity = self.fleet.identity_key(identity_parts[0], None, identity_parts[1])
        clearance = await self.fleet.clearance_or_claim(identity, claim_ttl=60, wait=60)
        if clearance is not None:
            return "shared", clearance.cookies
        try:
            cookies = await solve_gate()
            await self.fleet.put_clearance(identity, cookies, identity_parts[1], ttl=600)
        finally:
            await self.fleet.release_gate(identity)
        return "solved", cookies

    async def close(self) -> None:
        await self.fleet.close()


async def worker(mode: str, index: int, service: str, site: str, redis_url: str) -> None:
    import aiohttp

    from scrapy_captcha import Challenge, Solver
    from scrapy_captcha.model import CaptchaError, SolutionCookie
    from scrapy_captcha.sandbox import DEMO_SITEKEY

    if mode == "fleet":
        from scrapy_captcha.fleet import Fleet

        controls: LocalControls = FleetControls(await Fleet.connect(redis_url, api_key=KEY, lease_ttl=3.0))
    else:
        controls = LocalControls()
    solver = Solver(PROVIDER, api_key=KEY, api_url=service, max_concurrent_tasks=LIMIT, first_poll=0.2,
                    poll_interval=0.2)
    loop = asyncio.get_running_loop()
    host = site.split("://", 1)[1]

    def challenge(n: int) -> Challenge:
        return Challenge(kind="recaptcha_v2", sitekey=DEMO_SITEKEY, page_url=f"{site}/item/{n}", blocking=True)

    async def solve(n: int, budget: float | None = None) -> bool:
        """One createTask under the controls; False when the budget refused it."""
        if budget is not None and not await controls.reserve(COST, budget):
            return False
        slot = await controls.acquire()
        ok = False
        try:
            solution = await solver.solve(challenge(n))
            ok = True
        finally:
            controls.release(slot, ok)
            if budget is not None:
                await controls.settle(
                    COST, solution.cost if ok and solution.cost is not None else (0.0 if not ok else COST))
        return True

    spent_before = 0.0
    emit(ready=index)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        phase = command["phase"]
        if phase == "quit":
            break
        if phase == "gate":
            outcomes = []
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             headers={"User-Agent": USER_AGENT}) as http:
                for n in range(1 + index * 3, 4 + index * 3):
                    async with http.get(f"{site}/item/{n}") as page:
                        await page.read()
                        gated = page.status == 403
                    if gated:
                        async def solve_gate(n: int = n) -> list[Any]:
                            solution = await solver.solve(challenge(n))
                            async with http.post(f"{site}/captcha/verify", allow_redirects=False,
                                                 data={"continue": f"/item/{n}",
                                                       "g-recaptcha-response": solution.token}) as passed:
                                return [SolutionCookie(k, m.value) for k, m in passed.cookies.items()]

                        how, cookies = await controls.gate((host, USER_AGENT), solve_gate)
                        http.cookie_jar.update_cookies({c.name: c.value for c in cookies})
                        outcomes.append(how)
                    async with http.get(f"{site}/item/{n}") as page:
                        assert page.status == 200, page.status
            emit(phase=phase, outcomes=outcomes)
        elif phase == "limit":
            await asyncio.gather(*(solve(i) for i in range(8)))
            # The budget phase's budget comes on top of what was spent before it. Read now:
            # nothing reserves money in this phase, so every process reads the same figure.
            spent_before = await controls.usage()
            emit(phase=phase)
        elif phase == "budget":
            budget = spent_before + BUDGET
            done = await asyncio.gather(*(solve(i, budget) for i in range(12)))
            emit(phase=phase, solves=sum(done))
        elif phase == "pause":
            await asyncio.sleep(0.375 * index)  # staggered: each process solves now and then
            error_at = None
            while not controls.paused.is_set():
                try:
                    await solve(1)
                except CaptchaError as exc:
                    if exc.code != "ERROR_ZERO_BALANCE":
                        raise
                    error_at = time.time()
                    await controls.pause(exc.code)
                    break
                try:
                    await asyncio.wait_for(controls.paused.wait(), 1.5)
                except asyncio.TimeoutError:
                    pass
            emit(phase=phase, event="paused", error_at=error_at, paused_at=controls.paused_at)
            checks = [0]

            async def check(checks: list[int] = checks) -> tuple[bool, str]:
                checks[0] += 1
                try:
                    balance = await solver.balance()
                except CaptchaError as exc:
                    return False, exc.code
                # (Not "> 0": a balance under the price of one task is still ERROR_ZERO_BALANCE.)
                return balance >= COST, f"balance {balance:g}"

            await controls.wait_resumed(check)
            emit(phase=phase, event="resumed", resumed_at=time.time(), checks=checks[0])
    await solver.close()
    await controls.close()


# ------------------------------------------------------------------ parent


def control(url: str, path: str, data: Any = None) -> Any:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url + path, data=body, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        raise SystemExit("redis-server is not installed (scripts/ensure-redis.sh installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


class Workers:
    def __init__(self, mode: str, count: int, service: str, site: str, redis_url: str):
        self.procs = [subprocess.Popen([sys.executable, __file__, "worker", mode, str(i), service, site, redis_url],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                      for i in range(count)]
        for proc in self.procs:
            self.read(proc)

    def read(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"a worker died (exit {proc.wait()})")
        return json.loads(line)

    def send(self, **command: Any) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()

    def collect(self) -> list[dict[str, Any]]:
        return [self.read(proc) for proc in self.procs]

    def close(self) -> None:
        try:
            self.send(phase="quit")
        except OSError:
            pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def peak_open_tasks(log: list[dict[str, Any]]) -> int:
    """Most tasks open at once at the service: from createTask to the last result call for it."""
    spans: dict[Any, list[float]] = {}
    for entry in log:
        task_id = entry.get("taskId")
        if entry["endpoint"] == "createTask" and task_id is not None:
            spans[task_id] = [entry["t"], entry["t"]]
        elif entry["endpoint"] == "getTaskResult" and task_id in spans:
            spans[task_id][1] = entry["t"]
    edges = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()],
                   key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def run_mode(mode: str, count: int, service: str, site: str, redis_url: str) -> dict[str, Any]:
    workers = Workers(mode, count, service, site, redis_url)
    out: dict[str, Any] = {"processes": count, "fleet": mode == "fleet"}
    try:
        control(service, "/_sandbox/reset", {"latency": 0.5, "balance": 100})
        control(site, "/_sandbox/site/reset", {"items": 60})
        workers.send(phase="gate")
        gate = workers.collect()
        out["gate_solves"] = control(service, "/_sandbox/state")["calls"].get("createTask", 0)
        out["gate_shared"] = sum(r["outcomes"].count("shared") for r in gate)

        control(service, "/_sandbox/reset", {"latency": 1.0, "balance": 100})
        workers.send(phase="limit")
        workers.collect()
        out["peak_tasks"] = peak_open_tasks(control(service, "/_sandbox/log"))

        control(service, "/_sandbox/reset", {"latency": 0.5, "balance": 100, "cost": COST})
        workers.send(phase="budget")
        budget = workers.collect()
        out["budget_solves"] = sum(r["solves"] for r in budget)
        out["overshoot"] = round(control(service, "/_sandbox/state")["spent"] - BUDGET, 6)

        control(service, "/_sandbox/reset", {"latency": 0.5, "balance": 5 * COST + COST / 2, "cost": COST})
        workers.send(phase="pause")
        paused = workers.collect()
        first_error = min(r["error_at"] for r in paused if r["error_at"] is not None)
        out["to_all_paused"] = round(max(r["paused_at"] for r in paused) - first_error, 3)
        window_start = time.time()
        time.sleep(PAUSED_WINDOW)
        window_end = time.time()
        balance_calls = sum(1 for e in control(service, "/_sandbox/log")
                            if e["endpoint"] == "getBalance" and window_start <= e["t"] <= window_end)
        out["balance_per_minute"] = round(balance_calls * 60 / (window_end - window_start), 1)
        topped_up = time.time()
        control(service, "/_sandbox/config", {"balance": 100})
        resumed = workers.collect()
        out["to_all_resumed"] = round(max(r["resumed_at"] for r in resumed) - topped_up, 3)
    finally:
        workers.close()
    return out


JOURNAL_REQUESTS = 2000
JOURNAL_BURST = 50


async def journal_cost(redis_url: str, rounds: int = 3) -> dict[str, Any]:
    """Microseconds and Redis calls per request, best of ``rounds`` after a warm-up: the journal
    (park + release) beside scrapy-redis's queue (push + pop)."""
    import scrapy

    from scrapy_captcha.fleet import Fleet
    from scrapy_captcha.fleet.parked import ParkedRequests

    class Shop(scrapy.Spider):
        name = "bench_journal"

        def parse_item(self, response: Any, n: int) -> None:
            pass

    spider = Shop()
    requests = [scrapy.Request(f"https://shop.example/item/{n}", callback=spider.parse_item, cb_kwargs={"n": n},
                               meta={"cookiejar": n % 4, "captcha_retries": 0}) for n in range(JOURNAL_REQUESTS)]
    fleet = await Fleet.connect(redis_url, api_key=KEY + "-journal", lease_ttl=10.0)
    parked = ParkedRequests(fleet, "bench", spider, lambda request: None)
    writes = [0]
    write = fleet.write_parked

    async def counted(*args: Any, **kw: Any) -> Any:
        writes[0] += 1
        return await write(*args, **kw)

    fleet.write_parked = counted  # type: ignore[method-assign]

    async def settled() -> None:
        while parked._writer is not None and not parked._writer.done():
            await asyncio.sleep(0)

    async def one_round(batch: list[Any]) -> tuple[float, float, int]:
        started = time.perf_counter()
        for first in range(0, len(batch), JOURNAL_BURST):
            for request in batch[first:first + JOURNAL_BURST]:
                parked.add(request)
            await asyncio.sleep(0)  # the rest of the crawl's loop turn
        await settled()
        parked_at = time.perf_counter()
        stored = int(await fleet._client.memory_usage(fleet.keys.parked("bench", fleet.process_id), samples=0) or 0)
        for first in range(0, len(batch), JOURNAL_BURST):
            for request in batch[first:first + JOURNAL_BURST]:
                parked.crawl(request.replace())
            await asyncio.sleep(0)
        await settled()
        return parked_at - started, time.perf_counter() - parked_at, stored

    out: dict[str, Any] = {}
    try:
        await one_round(requests[:200])  # warm-up: imports, script loading, connections
        times = []
        for _ in range(rounds):
            writes[0] = 0
            for request in requests:
                request.meta.pop("_captcha_parked", None)
            times.append(await one_round(requests))
        out = {"journal_park_us": min(t[0] for t in times) / JOURNAL_REQUESTS * 1e6,
               "journal_release_us": min(t[1] for t in times) / JOURNAL_REQUESTS * 1e6,
               "journal_writes_per_1000": writes[0] * 1000 / (2 * JOURNAL_REQUESTS),
               "journal_bytes": times[-1][2] / JOURNAL_REQUESTS}
    finally:
        await fleet.close()
    try:
        import redis as sync_redis
        from scrapy_redis.queue import PriorityQueue
    except ImportError:
        return out
    server = sync_redis.Redis.from_url(redis_url)
    queue = PriorityQueue(server=server, spider=spider, key="bench-journal:%(spider)s:requests")
    pushes, pops = [], []
    try:
        for request in requests[:200]:
            queue.push(request)
        while queue.pop() is not None:
            pass
        for _ in range(rounds):
            started = time.perf_counter()
            for request in requests:
                queue.push(request)
            pushed_at = time.perf_counter()
            while queue.pop() is not None:
                pass
            pushes.append(pushed_at - started)
            pops.append(time.perf_counter() - pushed_at)
    finally:
        queue.clear()
        server.close()
    out.update(queue_push_us=min(pushes) / JOURNAL_REQUESTS * 1e6, queue_pop_us=min(pops) / JOURNAL_REQUESTS * 1e6)
    return out


def render_journal(cost: dict[str, Any]) -> str:
    lines = [f"parked-request journal: {JOURNAL_REQUESTS} requests parked and released in bursts of "
             f"{JOURNAL_BURST} per loop turn (Redis on loopback, best of 3)",
             f"   {'':<46}{'per request':>14}{'Redis calls/1000':>18}",
             f"   {'journal: park (seal + write)':<46}{cost['journal_park_us']:>11.0f} us"
             f"{cost['journal_writes_per_1000']:>18.1f}",
             f"   {'journal: release (remove)':<46}{cost['journal_release_us']:>11.0f} us"]
    if "queue_push_us" in cost:
        lines += [f"   {'scrapy-redis queue: push':<46}{cost['queue_push_us']:>11.0f} us{1000:>18.1f}",
                  f"   {'scrapy-redis queue: pop':<46}{cost['queue_pop_us']:>11.0f} us{1000:>18.1f}"]
        own = cost["journal_park_us"] + cost["journal_release_us"]
        lines.append(f"   journal / queue (park+release vs push+pop): "
                     f"{own / (cost['queue_push_us'] + cost['queue_pop_us']):.2f}x")
    lines.append(f"   Redis memory per parked request: {cost['journal_bytes']:.0f} bytes (sealed)")
    return "\n".join(lines)


def render(results: dict[str, dict[str, Any]]) -> str:
    names = {"one": "1 process", "many": "4, no fleet", "fleet": "4, fleet"}
    rows = [
        ("solves per session gate (target 1)", "gate_solves", "{:d}"),
        ("budget overshoot, spent - budget (target 0)", "overshoot", "{:.3f}"),
        (f"peak tasks open at the service (limit {LIMIT})", "peak_tasks", "{:d}"),
        ("first ZERO_BALANCE -> all paused (<= 1 s)", "to_all_paused", "{:.2f}s"),
        ("getBalance calls/min while paused", "balance_per_minute", "{:.1f}"),
        ("top-up -> all resumed", "to_all_resumed", "{:.2f}s"),
    ]
    results = {mode: row for mode, row in results.items() if mode in names}
    lines = [f"fleet mode: 4 processes vs 1 on one sandbox account (task limit {LIMIT}, budget {BUDGET:g} = "
             f"{BUDGET / COST:.0f} solves, account check every {CHECK_INTERVAL:g} s)",
             f"   {'':<46}" + "".join(f"{names[m]:>14}" for m in results)]
    for label, key, fmt in rows:
        lines.append(f"   {label:<46}" + "".join(f"{fmt.format(r[key]):>14}" for r in results.values()))
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        mode, index, service, site, redis_url = sys.argv[2:7]
        asyncio.run(worker(mode, int(index), service, site, redis_url))
        return 0
    box = None
    if len(sys.argv) >= 3:
        service, site = sys.argv[1:3]
    else:
        box = subprocess.Popen([sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
                                "--site-port", "0"], stdout=subprocess.PIPE, text=True)
        assert box.stdout is not None
        urls = json.loads(box.stdout.readline())
        service, site = urls["service_url"], urls["site_url"]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    redis_proc, redis_url = start_redis(workdir)
    results: dict[str, dict[str, Any]] = {}
    try:
        for mode, count, _ in MODES:
            results[mode] = run_mode(mode, count, service, site, redis_url)
        results["journal"] = asyncio.run(journal_cost(redis_url))
    finally:
        redis_proc.terminate()
        redis_proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        if box is not None:
            box.terminate()
            box.wait()
    print(render(results))
    print()
    print(render_journal(results["journal"]))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
