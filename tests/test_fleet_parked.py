"""The parked-request journal (scrapy_captcha/fleet/parked.py) against a real redis-server.

Real Scrapy requests, real Fleets, a real process killed with SIGKILL; the
engine's ``crawl`` is a list that collects what would be re-queued. Crawls
with scrapy-redis: tests/test_fleet_crawl.py. This module also runs as a
script: a process that parks requests and waits to be killed (see
:func:`holder`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest_twisted
import scrapy

from scrapy_captcha.fleet import Fleet, namespace_for
from scrapy_captcha.fleet.parked import META_PARKED, ParkedRequests
from scrapy_captcha.meta import META_SENT, META_SOLVES

from .crawling import aio
from .test_fleet import aioredis, new_key  # (skips this module as it skips that one without redis)

REPO = Path(__file__).resolve().parents[1]
GROUP = "journal-test"
PROXY_AUTH = "Basic " + base64.b64encode(b"alice:s3cret-proxy-pw").decode()


class JournalSpider(scrapy.Spider):
    name = "journal_test"

    def parse_item(self, response: Any, n: int) -> None:
        pass

    def failed(self, failure: Any) -> None:
        pass


def parked_request(spider: JournalSpider, n: int) -> scrapy.Request:
    """A request as the middleware parks it: spider callbacks, meta of its own and of ours, a proxy login."""
    return scrapy.Request(
        f"https://shop.example/item/{n}", callback=spider.parse_item, errback=spider.failed, cb_kwargs={"n": n},
        meta={"mine": n, "proxy": "http://proxy.example:3128", META_SENT: 1234.5, META_SOLVES: 1},
        headers={"Proxy-Authorization": PROXY_AUTH}, priority=3,
    )


async def settled(*journals: ParkedRequests) -> None:
    """Until every journal's writes are done."""
    for _ in range(200):
        if not any(j._writer is not None and not j._writer.done() for j in journals):
            return
        await asyncio.sleep(0.01)


async def dump(url: str, key: str) -> dict[str, Any]:
    raw = aioredis.from_url(url, decode_responses=True)
    try:
        out: dict[str, Any] = {}
        async for name in raw.scan_iter(f"scrapy-captcha:{{{namespace_for(key)}}}:*"):
            kind = await raw.type(name)
            out[name] = (await raw.hgetall(name) if kind == "hash" else await raw.smembers(name) if kind == "set"
                         else await raw.zrange(name, 0, -1) if kind == "zset" else await raw.get(name)
                         if kind == "string" else kind)
        return out
    finally:
        await raw.aclose()


def journal_keys(keys: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in keys.items() if ":parked:" in k}


class Holder:
    """This module as a script: a process that parks ``n`` requests, then waits to be killed."""

    def __init__(self, url: str, key: str, n: int):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.test_fleet_parked", url, key, str(n)], cwd=REPO,
                                     stdout=subprocess.PIPE, text=True)

    async def ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline),
                                      30)
        assert line, f"the holder exited ({self.proc.wait()})"
        return json.loads(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest_twisted.ensureDeferred
async def test_a_killed_process_parked_requests_are_requeued_once_by_one_survivor(redis_server):
    key = new_key()
    holder = Holder(redis_server.url, key, 40)

    async def scenario() -> tuple[list[list[scrapy.Request]], dict[str, Any], dict[str, Any], JournalSpider]:
        spider = JournalSpider()
        fleets = [await Fleet.connect(redis_server.url, api_key=key, lease_ttl=2.0) for _ in range(3)]
        requeued: list[list[scrapy.Request]] = [[] for _ in fleets]
        journals = [ParkedRequests(f, GROUP, spider, requeued[i].append) for i, f in enumerate(fleets)]
        try:
            held = await holder.ready()
            assert held["parked"] == 40
            before = await dump(redis_server.url, key)
            # While the holder lives, nobody takes its requests; each survivor knows they are there.
            assert [await j.sweep() for j in journals] == [0, 0, 0]
            assert [j.elsewhere for j in journals] == [40, 40, 40]
            holder.kill()
            deadline = time.monotonic() + 15
            while not any(requeued) and time.monotonic() < deadline:
                # Every survivor looks at once, again and again: one step in Redis decides.
                await asyncio.gather(*(j.sweep() for j in journals))
                await asyncio.sleep(0.05)
            await settled(*journals)
            await asyncio.gather(*(j.sweep() for j in journals))
            assert [j.elsewhere for j in journals] == [0, 0, 0]
            return requeued, before, await dump(redis_server.url, key), spider
        finally:
            holder.kill()
            for fleet in fleets:
                await fleet.close()

    requeued, before, after, spider = await aio(scenario())
    # Exactly once across the fleet: one survivor took the whole journal in one step.
    assert sorted(len(r) for r in requeued) == [0, 0, 40]
    requests = [r for rs in requeued for r in rs]
    assert sorted(r.cb_kwargs["n"] for r in requests) == list(range(40))
    request = next(r for r in requests if r.cb_kwargs["n"] == 7)
    # As the spider made it: callbacks resolved on this process's spider by name, meta, headers, priority.
    assert request.callback == spider.parse_item and request.errback == spider.failed
    assert request.url == "https://shop.example/item/7" and request.priority == 3
    assert request.meta["mine"] == 7 and request.meta[META_SOLVES] == 1
    assert request.headers[b"Proxy-Authorization"] == PROXY_AUTH.encode()
    # Minus what named the dead process's memory; past the dupefilter, which saw it already.
    assert META_SENT not in request.meta and META_PARKED not in request.meta
    assert request.dont_filter
    # The journal held nothing readable: no URL, no proxy login, no key, no cookie of the site.
    journal = journal_keys(before)
    assert len(journal) == 1 and len(next(iter(journal.values()))) == 40
    text = json.dumps(before, default=sorted)
    for secret in ("shop.example", "alice", PROXY_AUTH, "s3cret", key, "proxy.example"):
        assert secret not in text
    # Survivors re-queued and removed: no journal left (the index SET goes with the last entry).
    assert not journal_keys(after) and not [k for k in after if ":parked-index:" in k]


@pytest_twisted.ensureDeferred
async def test_one_write_per_loop_turn_and_leaving_removes(redis_server):
    key = new_key()

    async def scenario() -> None:
        spider = JournalSpider()
        fleet = await Fleet.connect(redis_server.url, api_key=key, lease_ttl=2.0)
        crawled: list[scrapy.Request] = []
        parked = ParkedRequests(fleet, GROUP, spider, crawled.append)
        writes: list[tuple[int, int]] = []
        write = fleet.write_parked

        async def counted(group: str, puts: dict[str, str], removes: Any, **kw: Any) -> Any:
            removes = list(removes)
            writes.append((len(puts), len(removes)))
            return await write(group, puts, removes, **kw)

        fleet.write_parked = counted  # type: ignore[method-assign]
        try:
            requests = [parked_request(spider, n) for n in range(100)]
            for request in requests:
                parked.add(request)
            parked.add(requests[0])  # parked again (moved to another gate): still one entry
            await settled(parked)
            assert writes == [(100, 0)]
            # What leaves in one loop turn is one write: the middleware re-issues copies.
            for request in requests[:60]:
                parked.crawl(request.replace(meta=dict(request.meta)))
            await settled(parked)
            assert writes == [(100, 0), (0, 60)] and len(crawled) == 60
            assert all(META_PARKED not in r.meta for r in crawled)
            # Parked and released before the write went out: never written at all.
            fresh = parked_request(spider, 500)
            parked.add(fresh)
            parked.crawl(fresh.replace())
            # A callback that is no spider method cannot be journaled (nor kept by scrapy-redis's queue).
            parked.add(scrapy.Request("https://shop.example/lambda", callback=lambda response: None))
            await settled(parked)
            assert len(writes) == 2 and parked.held == 40
            journal = journal_keys(await dump(redis_server.url, key))
            assert [len(v) for v in journal.values()] == [40]
        finally:
            await fleet.close()

    await aio(scenario())


@pytest_twisted.ensureDeferred
async def test_a_process_cut_off_longer_than_a_lease_does_not_reissue_what_others_took(redis_server, caplog):
    key = new_key()

    async def scenario() -> tuple[list[scrapy.Request], list[scrapy.Request], ParkedRequests]:
        spider = JournalSpider()
        cut_off = await Fleet.connect(redis_server.url, api_key=key, lease_ttl=1.0)
        other = await Fleet.connect(redis_server.url, api_key=key, lease_ttl=1.0)
        mine: list[scrapy.Request] = []
        theirs: list[scrapy.Request] = []
        a = ParkedRequests(cut_off, GROUP, spider, mine.append)
        b = ParkedRequests(other, GROUP, spider, theirs.append)
        try:
            requests = [parked_request(spider, n) for n in range(5)]
            for request in requests:
                a.add(request)
            await settled(a)
            # Its heartbeat stops (a stalled loop, a network partition): its lease runs out.
            cut_off._supervisor.cancel()
            deadline = time.monotonic() + 10
            while not theirs and time.monotonic() < deadline:
                await b.sweep()
                await asyncio.sleep(0.1)
            await settled(b)
            assert len(theirs) == 5
            # Back: its next write says which were taken; those are not re-issued here.
            late = parked_request(spider, 99)
            a.add(late)
            await settled(a)
            for request in requests:
                a.crawl(request.replace())
            a.crawl(late.replace())
            return mine, theirs, a
        finally:
            await cut_off.close()
            await other.close()

    mine, theirs, _ = await aio(scenario())
    assert [r.cb_kwargs["n"] for r in mine] == [99]
    assert sorted(r.cb_kwargs["n"] for r in theirs) == list(range(5))
    assert sum("re-queued 5 requests parked here" in r.getMessage() for r in caplog.records) == 1


@pytest_twisted.ensureDeferred
async def test_the_journal_is_written_whole_again_after_redis_comes_back_empty(redis_server):
    key = new_key()

    async def scenario() -> None:
        spider = JournalSpider()
        fleet = await Fleet.connect(redis_server.url, api_key=key, lease_ttl=2.0)
        parked = ParkedRequests(fleet, GROUP, spider, [].append)
        try:
            requests = [parked_request(spider, n) for n in range(6)]
            for request in requests[:4]:
                parked.add(request)
            await settled(parked)
            redis_server.kill()
            # While Redis is away: parked, released; nothing written, nothing lost here.
            for request in requests[4:]:
                parked.add(request)
            parked.crawl(requests[0].replace())
            await settled(parked)
            redis_server.start()
            deadline = time.monotonic() + 10
            while not fleet.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert fleet.connected
            await parked.sweep()
            await settled(parked)
            journal = journal_keys(await dump(redis_server.url, key))
            assert [len(v) for v in journal.values()] == [5]
        finally:
            await fleet.close()

    await aio(scenario())


# ------------------------------------------------------------------ the holder process


async def holder(url: str, key: str, count: int) -> None:
    fleet = await Fleet.connect(url, api_key=key, lease_ttl=2.0)
    spider = JournalSpider()
    parked = ParkedRequests(fleet, GROUP, spider, lambda request: None)
    for n in range(count):
        parked.add(parked_request(spider, n))
    await settled(parked)
    print(json.dumps({"parked": parked.held, "process": fleet.process_id}), flush=True)
    await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    asyncio.run(holder(sys.argv[1], sys.argv[2], int(sys.argv[3])))
