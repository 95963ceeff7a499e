"""Fleet mode against a real redis-server: several Fleets in one process, and real OS processes.

The OS-process side runs this module as a script (``python -m tests.test_fleet ROLE ...``):
see :func:`worker` at the bottom.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

try:
    import redis.asyncio as aioredis
except ImportError:  # pragma: no cover - the test extra brings it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("the redis package is not installed (pip install 'scrapy-captcha[redis]')", allow_module_level=True)

import pytest_twisted

from scrapy_captcha.fleet import Fleet, Keys, namespace_for
from scrapy_captcha.fleet.naming import IdentityHasher, check_namespace, safe_part
from scrapy_captcha.model import CaptchaConfigError, SolutionCookie
from scrapy_captcha.polling import PollPlanner

from .crawling import aio

REPO = Path(__file__).resolve().parents[1]
PROVIDER = "sandbox"


def new_key() -> str:
    """An API key per test: a namespace per test, as separate accounts have."""
    return f"fleet-test-key-SECRET-{secrets.token_hex(6)}"


async def join(redis_server: Any, key: str, n: int = 1, **kw: Any) -> list[Fleet]:
    kw.setdefault("lease_ttl", 2.0)
    return [await Fleet.connect(redis_server.url, api_key=key, **kw) for _ in range(n)]


async def leave(*fleets: Fleet) -> None:
    for fleet in fleets:
        await fleet.close()


class Worker:
    """This module run as a script in its own OS process, talking JSON lines on stdout."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.test_fleet", *args], cwd=REPO,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})

    async def line(self, timeout: float = 30.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(loop.run_in_executor(None, self.proc.stdout.readline), timeout)
        if not text:
            raise AssertionError(f"worker exited ({self.proc.wait()}) without answering")
        return json.loads(text)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no goodbye, no lease given back
        self.proc.wait(timeout=10)


# ----------------------------------------------------------------- naming


def test_namespace_and_key_names_carry_no_secret():
    key = "an-api-key-0123456789abcdef"
    namespace = namespace_for(key)
    assert len(namespace) == 16 and int(namespace, 16) >= 0 and key not in namespace
    assert namespace == namespace_for(key) != namespace_for(key + "x")
    keys = Keys(namespace)
    assert keys.members == f"scrapy-captcha:{{{namespace}}}:members"
    assert keys.slots("capsolver").startswith(f"scrapy-captcha:{{{namespace}}}:")
    with pytest.raises(ValueError, match="hash anything else"):
        keys.lease("gate:http://user:pw@proxy:8080")
    with pytest.raises(ValueError, match="must not contain the API key"):
        check_namespace("crawl-" + key, key)
    with pytest.raises(ValueError, match="letters, digits"):
        check_namespace("a{b}")
    with pytest.raises(ValueError):
        safe_part("", "provider name")


def test_identity_key_names_host_proxy_and_user_agent_by_hmac():
    ident = IdentityHasher(b"account-key")
    base = ident("Shop.example", "http://alice:s3cret@10.0.0.1:3128", "UA/1")
    assert base == ident("shop.example", "http://alice:s3cret@10.0.0.1:3128", "UA/1")
    others = {
        ident("other.example", "http://alice:s3cret@10.0.0.1:3128", "UA/1"),
        ident("shop.example", "http://bob:s3cret@10.0.0.1:3128", "UA/1"),  # another sticky session
        ident("shop.example", "http://alice:other@10.0.0.1:3128", "UA/1"),
        ident("shop.example", None, "UA/1"),
        ident("shop.example", "http://alice:s3cret@10.0.0.1:3128", "UA/2"),
        IdentityHasher(b"another-account")("shop.example", "http://alice:s3cret@10.0.0.1:3128", "UA/1"),
    }
    assert base not in others and len(others) == 6
    assert all(c in "0123456789abcdef" for c in base)
    with pytest.raises(ValueError, match="not a proxy URL"):
        ident("shop.example", "ftp://nope", None)


@pytest_twisted.ensureDeferred
async def test_bad_settings_get_clear_errors(redis_server):
    async def scenario():
        with pytest.raises(CaptchaConfigError, match="redis://"):
            await Fleet.connect("http://127.0.0.1:1", api_key=new_key())
        with pytest.raises(ValueError, match="API key"):
            await Fleet.connect(redis_server.url)
        (fleet,) = await join(redis_server, new_key())
        try:
            with pytest.raises(ValueError, match="amount"):
                await fleet.reserve(-1.0, 1.0)
            with pytest.raises(ValueError, match="budget"):
                await fleet.reserve(0.1, float("nan"))
            with pytest.raises(ValueError, match="task limit"):
                await fleet.acquire_slot(PROVIDER, -1)
            with pytest.raises(ValueError, match="provider name"):
                await fleet.pause("a provider/with spaces", "ERROR_ZERO_BALANCE")
            assert fleet.connected and "SECRET" not in repr(fleet)
        finally:
            await fleet.close()

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_redis_credentials_wrong_or_missing_are_a_config_error(redis_server):
    password = "redis-Passw0rd-" + secrets.token_hex(4)
    host = redis_server.url.split("://", 1)[1]

    async def scenario():
        raw = aioredis.from_url(redis_server.url, decode_responses=True)
        await raw.config_set("requirepass", password)
        try:
            with pytest.raises(CaptchaConfigError, match="needs a password") as missing:
                await Fleet.connect(redis_server.url, api_key=new_key())
            with pytest.raises(CaptchaConfigError, match="refused the credentials") as wrong:
                await Fleet.connect(f"redis://:not-{password}@{host}", api_key=new_key())
            fleet = await Fleet.connect(f"redis://:{password}@{host}", api_key=new_key())
            try:
                assert fleet.connected and await fleet.reserve(0.1, 1.0)
                assert password not in repr(fleet) + fleet.url
            finally:
                await fleet.close()
            assert password not in str(missing.value) + str(wrong.value)
        finally:
            authed = aioredis.from_url(f"redis://:{password}@{host}", decode_responses=True)
            await authed.config_set("requirepass", "")
            await authed.aclose()
            await raw.aclose()

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_a_local_fleet_is_one_process_own_controls(caplog):
    caplog.set_level(logging.INFO, logger="scrapy_captcha.fleet")

    async def scenario():
        fleet = Fleet.local(api_key=new_key())
        try:
            assert not fleet.shared and not fleet.connected
            assert [await fleet.reserve(0.002, 0.006) for _ in range(4)] == [True, True, True, False]
            await fleet.settle(0.002, 0.0)  # failed: refunded
            assert await fleet.reserve(0.002, 0.006)
            slots = [await fleet.acquire_slot(PROVIDER, 2) for _ in range(2)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(fleet.acquire_slot(PROVIDER, 2), 0.3)
            fleet.release_slot(slots[0], succeeded=True)
            slots[0] = await asyncio.wait_for(fleet.acquire_slot(PROVIDER, 2), 1)
            await fleet.pause(PROVIDER, "ERROR_ZERO_BALANCE", "no money")
            checks = []

            async def check() -> tuple[bool, str]:
                checks.append(1)
                return len(checks) >= 3, f"check {len(checks)}"

            assert await fleet.watch_account(PROVIDER, check, interval=0.1) == "check 3"
            assert not fleet.paused(PROVIDER)
            await fleet.cooldown(PROVIDER, 5)
            assert 4 < fleet.blocked_for(PROVIDER) <= 5
            identity = fleet.identity_key("shop.example", None, "UA")
            assert await fleet.clearance_or_claim(identity, claim_ttl=5, wait=5) is None
            await fleet.put_clearance(identity, [SolutionCookie("sid", "1")], "UA", ttl=30)
            assert (await fleet.get_clearance(identity)).cookies[0].value == "1"
            fleet.publish_timing(PROVIDER, "recaptcha_v2", 1.0, 2.0)
            for slot in slots:
                fleet.release_slot(slot)
        finally:
            await fleet.close()

    await aio(scenario())
    assert not [r for r in caplog.records if r.name == "scrapy_captcha.fleet"]


# ----------------------------------------------------------------- budget


@pytest_twisted.ensureDeferred
async def test_budget_is_never_exceeded_by_concurrent_reservations(redis_server):
    async def scenario():
        fleets = await join(redis_server, new_key(), 4)
        budget, estimate = 0.05, 0.003
        spent = []

        async def solve(fleet: Fleet) -> None:
            if not await fleet.reserve(estimate, budget):
                return
            await asyncio.sleep(random.uniform(0, 0.03))
            # Some tasks fail (nothing charged), the others cost less than reserved.
            actual = random.choice([0.0, 0.002, 0.0025, estimate])
            spent.append(actual)
            await fleet.settle(estimate, actual)

        try:
            for _ in range(4):
                await asyncio.gather(*(solve(f) for f in fleets for _ in range(15)))
            total, reserved = await fleets[0].usage()
            assert reserved == pytest.approx(0.0, abs=1e-12)
            assert total == pytest.approx(sum(spent))
            assert sum(spent) <= budget + 1e-9
            # Refunds were used again: the budget is spent up to less than one reservation.
            assert sum(spent) > budget - estimate
            assert not await fleets[1].reserve(estimate, budget) or sum(spent) + estimate <= budget + 1e-9
        finally:
            await leave(*fleets)

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_budget_is_shared_by_separate_processes(redis_server):
    key = new_key()
    start_at = time.time() + 3.0
    workers = [Worker("spend", redis_server.url, key, "0.02", "0.002", "15", str(start_at)) for _ in range(3)]
    try:
        results = [await aio(w.line()) for w in workers for _ in range(2)]
    finally:
        for w in workers:
            w.kill()
    done = [r for r in results if "solves" in r]
    assert len(done) == 3
    # 45 attempts on a budget of 10 solves: exactly 10, wherever they ran.
    assert sum(r["solves"] for r in done) == 10
    assert sum(r["spent"] for r in done) == pytest.approx(0.02)


@pytest_twisted.ensureDeferred
async def test_a_dead_process_reservations_stay_counted(redis_server):
    async def scenario():
        key = new_key()
        a, b = await join(redis_server, key, 2, lease_ttl=1.0)
        try:
            assert await a.reserve(0.006, 0.01)
            a._supervisor.cancel()  # a stops renewing its lease: as if killed mid-solve
            await asyncio.sleep(1.3)
            # Its task may still be charged: its reservation now counts as spent.
            assert not await b.reserve(0.005, 0.01)
            assert await b.reserve(0.004, 0.01)
            spent, reserved = await b.usage()
            assert spent == pytest.approx(0.006) and reserved == pytest.approx(0.004)
        finally:
            await leave(a, b)

    await aio(scenario())


# ------------------------------------------------------------- task slots


@pytest_twisted.ensureDeferred
async def test_task_limit_is_fleet_wide(redis_server):
    async def scenario():
        fleets = await join(redis_server, new_key(), 3)
        limit, open_now, peak, done = 4, [0], [0], [0]

        async def task(fleet: Fleet) -> None:
            slot = await fleet.acquire_slot(PROVIDER, limit)
            open_now[0] += 1
            peak[0] = max(peak[0], open_now[0])
            await asyncio.sleep(random.uniform(0.02, 0.08))
            open_now[0] -= 1
            done[0] += 1
            fleet.release_slot(slot, succeeded=True)

        try:
            await asyncio.wait_for(asyncio.gather(*(task(f) for f in fleets for _ in range(8))), 60)
            assert done[0] == 24
            assert peak[0] == limit
            assert await fleets[0].open_tasks(PROVIDER) == 0
        finally:
            await leave(*fleets)

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_a_killed_process_frees_its_slots_within_a_lease(redis_server):
    key, lease = new_key(), 2.0
    holder = Worker("hold", redis_server.url, key, "3", env={"FLEET_LEASE": str(lease)})
    try:
        assert (await aio(holder.line()))["held"] == 3

        async def scenario() -> float:
            (fleet,) = await join(redis_server, key, lease_ttl=lease)
            try:
                assert await fleet.open_tasks(PROVIDER) == 3
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(fleet.acquire_slot(PROVIDER, 3), 0.8)
                holder.kill()
                killed = time.monotonic()
                slot = await asyncio.wait_for(fleet.acquire_slot(PROVIDER, 3), 10)
                freed_after = time.monotonic() - killed
                fleet.release_slot(slot)
                return freed_after
            finally:
                await fleet.close()

        freed_after = await aio(scenario())
    finally:
        holder.kill()
    # Within a lease (plus one look at the fleet's state).
    assert freed_after <= lease + 1.0


@pytest_twisted.ensureDeferred
async def test_lowered_limit_is_shared_and_recovers_slowly(redis_server):
    async def scenario():
        a, b = await join(redis_server, new_key(), 2)
        try:
            held = [await a.acquire_slot(PROVIDER, 6) for _ in range(4)] + [await b.acquire_slot(PROVIDER, 6)
                                                                             for _ in range(2)]
            # ERROR_THREADS_MAXIMUM at b: the account's limit is below the 6 open.
            assert await b.lower_limit(PROVIDER) == 5
            assert await a.task_limit(PROVIDER, 6) == 5
            for slot in held[:2]:
                a.release_slot(slot, succeeded=False)
            await asyncio.sleep(0.1)
            more = await asyncio.wait_for(a.acquire_slot(PROVIDER, 6), 2)  # 5 open: the lowered limit
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.acquire_slot(PROVIDER, 6), 0.7)
            # Five solves in a row, anywhere in the fleet: one more slot.
            for slot in held[2:] + [more]:
                (a if slot in held[2:4] or slot is more else b).release_slot(slot, succeeded=True)
            await asyncio.sleep(0.2)
            assert await b.task_limit(PROVIDER, 6) == 6
        finally:
            await leave(a, b)

    await aio(scenario())


# ------------------------------------------------------- pause and resume


@pytest_twisted.ensureDeferred
async def test_pause_and_resume_reach_every_process_within_a_second(redis_server):
    key = new_key()
    listeners = [Worker("listen", redis_server.url, key) for _ in range(3)]
    try:
        for w in listeners:
            assert "ready" in await aio(w.line())

        async def scenario() -> tuple[float, float]:
            (fleet,) = await join(redis_server, key)
            try:
                paused_at = time.time()
                await fleet.pause(PROVIDER, "ERROR_ZERO_BALANCE", "account balance is zero")
                await asyncio.sleep(1.2)
                resumed_at = time.time()
                await fleet.resume(PROVIDER, "balance 5")
                return paused_at, resumed_at
            finally:
                await fleet.close()

        paused_at, resumed_at = await aio(scenario())
        seen = [[await aio(w.line()) for _ in range(2)] for w in listeners]
    finally:
        for w in listeners:
            w.kill()
    for pause, resume in seen:
        assert pause["paused"] is True and pause["code"] == "ERROR_ZERO_BALANCE"
        assert resume["paused"] is False and resume["reason"] == "balance 5"
        assert 0 <= pause["t"] - paused_at <= 1.0
        assert 0 <= resume["t"] - resumed_at <= 1.0


@pytest_twisted.ensureDeferred
async def test_a_lost_message_is_made_up_by_the_periodic_read(redis_server):
    async def scenario():
        a, b = await join(redis_server, new_key(), 2)
        seen: list[Any] = []
        b.on_state(seen.append)
        try:
            await b._pubsub.unsubscribe(b.keys.events)  # b hears no message from now on
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await a.pause(PROVIDER, "ERROR_KEY_BANNED", "banned")
            while not seen and time.monotonic() - started < 3:
                await asyncio.sleep(0.02)
            assert seen and seen[0].paused and seen[0].code == "ERROR_KEY_BANNED" and seen[0].origin == a.process_id
            assert time.monotonic() - started <= b.refresh_interval + 0.5
            assert len(seen) == 1  # seen by both the read and nothing else: reported once
        finally:
            await leave(a, b)

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_one_process_checks_the_account_and_another_takes_over_when_it_dies(redis_server):
    key, lease, interval = new_key(), 3.0, 0.3
    checker = Worker("check", redis_server.url, key, str(interval), env={"FLEET_LEASE": str(lease)})
    try:
        assert "checking" in await aio(checker.line())

        async def scenario() -> None:
            fleets = await join(redis_server, key, 3, lease_ttl=lease)
            calls: list[str] = []
            balance = [0.0]

            def check_for(fleet: Fleet):
                async def check() -> tuple[bool, str]:
                    calls.append(fleet.process_id)
                    return balance[0] > 0, f"balance {balance[0]:g}"
                return check

            try:
                assert all(f.paused(PROVIDER) for f in fleets)
                watches = [asyncio.ensure_future(f.watch_account(PROVIDER, check_for(f), interval=interval))
                           for f in fleets]
                await asyncio.sleep(2.0)
                assert calls == []  # the worker holds the lease: nobody here asks the service
                checker.kill()
                await asyncio.sleep(lease + 1.5)
                # One of the three took over, alone, within a lease: then one check per interval.
                assert len(set(calls)) == 1
                # (Its lease ends 2/3 to 3/3 of a lease after the kill.)
                assert 1 <= len(calls) <= (lease + 1.5 - lease * 2 / 3) / interval + 1
                balance[0] = 5.0
                reasons = await asyncio.wait_for(asyncio.gather(*watches), 5)
                assert reasons == ["balance 5"] * 3
                assert not any(f.paused(PROVIDER) for f in fleets)
            finally:
                await leave(*fleets)

        await aio(scenario())
    finally:
        checker.kill()


@pytest_twisted.ensureDeferred
async def test_account_checks_while_paused_are_one_process_worth(redis_server):
    async def scenario():
        fleets = await join(redis_server, new_key(), 4)
        calls: list[float] = []

        async def check() -> tuple[bool, str]:
            calls.append(time.monotonic())
            return False, "balance 0"

        try:
            await fleets[0].pause(PROVIDER, "ERROR_ZERO_BALANCE", "no money")
            await asyncio.sleep(0.2)
            watches = [asyncio.ensure_future(f.watch_account(PROVIDER, check, interval=0.25, timeout=3.0))
                       for f in fleets]
            assert await asyncio.wait_for(asyncio.gather(*watches), 10) == [None] * 4
            # One process's worth: 3 s / 0.25 s = 12 checks, not 48.
            assert 4 <= len(calls) <= 13
        finally:
            await leave(*fleets)

    await aio(scenario())


# ------------------------------------------------------------- cooldowns


@pytest_twisted.ensureDeferred
async def test_cooldowns_and_create_holds_are_seen_by_every_process(redis_server):
    async def scenario():
        key = new_key()
        a, b = await join(redis_server, key, 2)
        heard: list[tuple[str, float, str]] = []
        b.on_block(lambda provider, seconds, what: heard.append((provider, seconds, what)))
        try:
            await a.cooldown("capsolver", 30)
            await a.hold_creates("yescaptcha", 3)
            await asyncio.sleep(0.3)
            assert 29 < b.blocked_for("capsolver") <= 30
            assert 2 < b.creates_held_for("yescaptcha") <= 3
            assert b.blocked_for("yescaptcha") == 0 and b.creates_held_for("capsolver") == 0
            assert [(p, w) for p, _, w in heard] == [("capsolver", "calls"), ("yescaptcha", "creates")]
            await a.cooldown("capsolver", 5)  # a shorter block does not shorten the longer one
            await asyncio.sleep(0.8)
            assert b.blocked_for("capsolver") > 28 and len(heard) == 2
            (c,) = await join(redis_server, key)
            try:
                assert c.blocked_for("capsolver") > 27  # a process that joins later knows too
            finally:
                await c.close()
        finally:
            await leave(a, b)

    await aio(scenario())


# --------------------------------------------------------------- timings


@pytest_twisted.ensureDeferred
async def test_poll_timings_are_shared(redis_server):
    async def scenario():
        key = new_key()
        a, b = await join(redis_server, key, 2)
        planners = [PollPlanner(min_first=1.0, interval=1.0) for _ in range(3)]
        try:
            publish_a = await a.share_timings(PROVIDER, planners[0])
            await b.share_timings(PROVIDER, planners[1])
            publish_a("recaptcha_v2", 4.0, 5.0)
            publish_a("recaptcha_v2", 4.4, 5.4)
            a.publish_timing("capsolver", "recaptcha_v2", 1.0, 2.0)  # another provider's: not for this planner
            started = time.monotonic()
            while planners[1].bracket("recaptcha_v2") != (4.4, 5.0) and time.monotonic() - started < 2:
                await asyncio.sleep(0.02)
            assert planners[1].bracket("recaptcha_v2") == (4.4, 5.0)
            assert planners[0].bracket("recaptcha_v2") is None  # its own observations are not echoed
            (c,) = await join(redis_server, key)
            try:
                await c.share_timings(PROVIDER, planners[2])  # joins later: starts warm
                assert planners[2].bracket("recaptcha_v2") == (4.4, 5.0)
                assert [k for k, _, _ in await c.recent_timings("capsolver")] == ["recaptcha_v2"]
            finally:
                await c.close()
        finally:
            await leave(a, b)

    await aio(scenario())


# ------------------------------------------------------------- clearances


@pytest_twisted.ensureDeferred
async def test_a_session_gate_is_solved_once_for_the_fleet(redis_server, sandbox):
    """Three processes' worth of crawlers meet the demo site's session gate: one solve, one clearance."""
    import aiohttp

    from scrapy_captcha import Solver, detect
    from scrapy_captcha.sandbox import DEMO_SITEKEY

    sandbox.reset(service={"latency": 0.6})
    host = sandbox.site_url.split("://", 1)[1]
    user_agent = "fleet-test-browser/1.0"

    async def crawler(fleet: Fleet, n: int) -> str:
        identity = fleet.identity_key(host, None, user_agent)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         headers={"User-Agent": user_agent}) as http:
            async with http.get(f"{sandbox.site_url}/item/{n}") as page:
                body = await page.text()
                assert page.status == 403
            (challenge,) = detect(body, url=f"{sandbox.site_url}/item/{n}", status=403)
            assert challenge.sitekey == DEMO_SITEKEY
            clearance = await fleet.clearance_or_claim(identity, claim_ttl=30, wait=30)
            if clearance is None:
                async with Solver("sandbox", api_key="fleet-sandbox-key", api_url=sandbox.service_url,
                                  first_poll=0.2, poll_interval=0.2) as solver:
                    solution = await solver.solve(challenge)
                async with http.post(f"{sandbox.site_url}/captcha/verify", allow_redirects=False,
                                     data={"continue": f"/item/{n}", "g-recaptcha-response": solution.token}) as passed:
                    assert passed.status == 302
                    cookies = [SolutionCookie(name, morsel.value) for name, morsel in passed.cookies.items()]
                await fleet.put_clearance(identity, cookies, user_agent, ttl=60)
                await fleet.release_gate(identity)
                how = "solved"
            else:
                assert clearance.user_agent == user_agent
                http.cookie_jar.update_cookies({c.name: c.value for c in clearance.cookies})
                how = "shared"
            async with http.get(f"{sandbox.site_url}/item/{n}") as page:
                assert page.status == 200 and 'class="item"' in await page.text()
            return how

    async def scenario() -> list[str]:
        fleets = await join(redis_server, new_key(), 3)
        try:
            return list(await asyncio.gather(*(crawler(f, i + 1) for i, f in enumerate(fleets))))
        finally:
            await leave(*fleets)

    hows = await aio(scenario())
    assert sorted(hows) == ["shared", "shared", "solved"]
    assert sandbox.state()["calls"]["createTask"] == 1
    assert sandbox.site_state()["verified"] == 1


@pytest_twisted.ensureDeferred
async def test_a_failed_gate_solve_hands_the_claim_on(redis_server):
    async def scenario():
        a, b = await join(redis_server, new_key(), 2)
        identity = a.identity_key("shop.example", None, "UA")
        try:
            assert await a.clearance_or_claim(identity, claim_ttl=30, wait=5) is None  # a solves
            waiting = asyncio.ensure_future(b.clearance_or_claim(identity, claim_ttl=30, wait=5))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # b waits for a's solve instead of paying
            await a.release_gate(identity)  # a's solve failed: no clearance
            assert await asyncio.wait_for(waiting, 2) is None  # b holds the claim now: b solves
            assert await b.leader("gate:" + identity) == b.process_id
            await b.put_clearance(identity, [SolutionCookie("cf_clearance", "v1", "shop.example")], "UA", ttl=30)
            clearance = await a.get_clearance(identity)
            assert clearance is not None and clearance.cookies[0].value == "v1" and 29 <= clearance.expires_in <= 30
            await a.drop_clearance(identity)  # the site refused it
            assert await b.get_clearance(identity) is not None  # (b's own copy until it learns)
        finally:
            await leave(a, b)

    await aio(scenario())


# ----------------------------------------------------------------- outage


@pytest_twisted.ensureDeferred
async def test_redis_outage_falls_back_with_one_warning_and_rejoins(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="scrapy_captcha.fleet")

    async def scenario() -> None:
        key = new_key()
        a, b = await join(redis_server, key, 2)
        budget = 0.02
        try:
            assert await a.reserve(0.004, budget)
            await a.settle(0.004, 0.004)
            slots = [await a.acquire_slot(PROVIDER, 4)]
            await asyncio.sleep(0.7)  # both have seen the fleet since
            redis_server.kill()
            await asyncio.sleep(0.2)

            # Local control: each keeps to half of what was left (0.016 / 2), and half the task limit.
            a_ok = [await a.reserve(0.002, budget) for _ in range(6)]
            b_ok = [await b.reserve(0.002, budget) for _ in range(6)]
            assert a_ok == [True] * 4 + [False] * 2 and b_ok == [True] * 4 + [False] * 2
            for _ in range(2):
                await a.settle(0.002, 0.002)
            slots.append(await asyncio.wait_for(a.acquire_slot(PROVIDER, 4), 1))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.acquire_slot(PROVIDER, 4), 0.6)
            b_slots = [await asyncio.wait_for(b.acquire_slot(PROVIDER, 4), 1) for _ in range(2)]
            await a.pause(PROVIDER, "ERROR_ZERO_BALANCE", "met while Redis was away")
            await a.cooldown("capsolver", 60)
            a.publish_timing(PROVIDER, "hcaptcha", 2.0, 3.0)
            identity = a.identity_key("shop.example", None, "UA")
            assert await a.claim_gate(identity, 30)  # local control: solve it here
            await a.put_clearance(identity, [SolutionCookie("sid", "x")], "UA", ttl=60)
            assert await a.lead("account-check:" + PROVIDER)  # every process checks for itself
            assert not a.connected and not b.connected

            redis_server.start()  # back, and empty
            started = time.monotonic()
            while not (a.connected and b.connected) and time.monotonic() - started < 10:
                await asyncio.sleep(0.1)
            assert a.connected and b.connected
            await asyncio.sleep(0.3)

            # What each did meanwhile is in Redis again: spending, reservations, slots, pause, cooldown...
            spent, reserved = await b.usage()
            assert spent == pytest.approx(0.008) and reserved == pytest.approx(0.012)
            assert await b.open_tasks(PROVIDER) == 4
            assert (await b.state(PROVIDER)).paused and b.paused(PROVIDER)
            assert b.blocked_for("capsolver") > 55
            assert [k for k, _, _ in await b.recent_timings(PROVIDER)] == ["hcaptcha"]
            assert (await b.get_clearance(identity)) is not None
            # ... and the fleet works as one again.
            await b.resume(PROVIDER, "balance 3")
            await asyncio.sleep(0.5)
            assert not a.paused(PROVIDER)
            for slot in slots:
                a.release_slot(slot)
            for slot in b_slots:
                b.release_slot(slot)
        finally:
            await leave(a, b)

    await aio(scenario())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "scrapy_captcha.fleet"]
    assert len(warnings) == 2  # one per process, whatever each did during the outage
    assert all("local control" in r.getMessage() for r in warnings)
    assert sum("rejoined" in r.getMessage() for r in caplog.records) == 2


@pytest_twisted.ensureDeferred
async def test_a_process_started_while_redis_is_down_joins_later(redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="scrapy_captcha.fleet")

    async def scenario() -> None:
        key = new_key()
        redis_server.kill()
        try:
            (a,) = await join(redis_server, key)
            try:
                assert not a.connected
                assert await a.reserve(0.01, 0.01)  # alone and knowing nothing: the whole budget
                await a.settle(0.01, 0.01)
                slot = await asyncio.wait_for(a.acquire_slot(PROVIDER, 2), 1)
            finally:
                redis_server.start()
            started = time.monotonic()
            while not a.connected and time.monotonic() - started < 10:
                await asyncio.sleep(0.1)
            assert a.connected
            (b,) = await join(redis_server, key)
            try:
                assert await b.usage() == (pytest.approx(0.01), 0.0)
                assert not await b.reserve(0.001, 0.01)
                assert await b.open_tasks(PROVIDER) == 1
            finally:
                a.release_slot(slot)
                await leave(a, b)
        finally:
            if redis_server.proc.poll() is not None:
                redis_server.start()

    await aio(scenario())
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


# --------------------------------------------------------------- secrets


@pytest_twisted.ensureDeferred
async def test_no_api_key_or_proxy_credential_reaches_redis(redis_server):
    key = new_key()
    proxy = "http://proxyuser-sess42:pr0xyPassw0rd@127.0.0.1:3128"
    secrets_ = [key, "pr0xyPassw0rd", "proxyuser-sess42"]

    async def scenario() -> tuple[dict[str, Any], list[str]]:
        raw = aioredis.from_url(redis_server.url, decode_responses=True)
        heard: list[str] = []
        listener = raw.pubsub()
        await listener.psubscribe("scrapy-captcha:*")

        async def listen() -> None:
            while True:
                message = await listener.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message:
                    heard.append(f"{message['channel']} {message['data']}")

        listening = asyncio.ensure_future(listen())
        a, b = await join(redis_server, key, 2)
        try:
            assert await a.reserve(0.003, 1.0)
            await a.settle(0.003, 0.002)
            slot = await b.acquire_slot(PROVIDER, 3)
            await b.lower_limit(PROVIDER)
            b.release_slot(slot, succeeded=True)
            await a.pause(PROVIDER, "ERROR_KEY_BANNED", f"the service says key {key} is banned")
            await a.cooldown(PROVIDER, 10)
            await a.hold_creates(PROVIDER, 10)
            a.publish_timing(PROVIDER, "recaptcha_v2", 3.0, 4.0)
            identity = a.identity_key("127.0.0.1:8976", proxy, "UA/1")
            assert await a.claim_gate(identity, 10)
            await a.put_clearance(identity, [SolutionCookie("sbx_session", "abc")], "UA/1", ttl=30)
            assert await b.lead("account-check:" + PROVIDER)
            await asyncio.sleep(0.6)
            dump: dict[str, Any] = {}
            async for name in raw.scan_iter(match="*", count=1000):
                kind = await raw.type(name)
                if kind == "string":
                    dump[name] = await raw.get(name)
                elif kind == "hash":
                    dump[name] = await raw.hgetall(name)
                elif kind == "zset":
                    dump[name] = await raw.zrange(name, 0, -1, withscores=True)
                elif kind == "list":
                    dump[name] = await raw.lrange(name, 0, -1)
                else:
                    dump[name] = await raw.dump(name)
            return dump, heard
        finally:
            await leave(a, b)
            listening.cancel()
            await listener.aclose() if hasattr(listener, "aclose") else await listener.close()
            await raw.aclose() if hasattr(raw, "aclose") else await raw.close()

    dump, heard = await aio(scenario())
    mine = {k: v for k, v in dump.items() if k.startswith(f"scrapy-captcha:{{{namespace_for(key)}}}:")}
    assert any(":pauses" in k for k in mine) and any(":clearance:" in k for k in mine) and heard
    text = json.dumps(dump, default=repr) + "\n".join(heard)
    for secret in secrets_:
        assert secret not in text
    assert "<api key>" in text  # the pause reason named the key: scrubbed


# ---------------------------------------------------------------- workers


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def worker(argv: list[str]) -> None:
    role, url, key = argv[:3]
    lease = float(os.environ.get("FLEET_LEASE", "2.0"))
    fleet = await Fleet.connect(url, api_key=key, lease_ttl=lease)
    if role == "hold":
        count = int(argv[3])
        slots = [await fleet.acquire_slot(PROVIDER, count) for _ in range(count)]
        emit(held=len(slots))
        await asyncio.sleep(3600)  # until killed
    elif role == "listen":
        changes: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        fleet.on_state(lambda state: changes.put_nowait((time.time(), state)))
        emit(ready=fleet.process_id)
        for _ in range(2):
            at, state = await asyncio.wait_for(changes.get(), 60)
            emit(t=at, paused=state.paused, code=state.code, reason=state.reason)
    elif role == "spend":
        budget, cost, attempts, start_at = float(argv[3]), float(argv[4]), int(argv[5]), float(argv[6])
        emit(ready=fleet.process_id)
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def solve() -> int:
            if not await fleet.reserve(cost, budget):
                return 0
            await asyncio.sleep(random.uniform(0, 0.05))
            await fleet.settle(cost, cost)
            return 1

        solves = sum(await asyncio.gather(*(solve() for _ in range(attempts))))
        emit(solves=solves, spent=fleet.spent_here)
    elif role == "check":
        interval = float(argv[3])
        await fleet.pause(PROVIDER, "ERROR_ZERO_BALANCE", "no money")

        async def check() -> tuple[bool, str]:
            return False, "balance 0"

        assert await fleet.lead("account-check:" + PROVIDER)
        emit(checking=fleet.process_id)
        await fleet.watch_account(PROVIDER, check, interval=interval)  # until killed
    await fleet.close()


if __name__ == "__main__":
    asyncio.run(worker(sys.argv[1:]))
