"""Session gates across a fleet: crawlers sharing one account through a real redis-server
pay for a session gate once; the others use its clearance."""

from __future__ import annotations

import secrets

import pytest_twisted
import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerRunner

from .crawling import CatalogSpider, CrawlRecord, settings_for

ITEMS = 20


class Items(CatalogSpider):
    async def start(self):
        for i in range(1, ITEMS + 1):
            yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item, errback=self.failed,
                                 cb_kwargs={"from_page": 0}, meta={"mine": "kept"})


async def fleet_crawls(sandbox, redis_url: str, n: int, **extra) -> list[CrawlRecord]:
    namespace = "test-" + secrets.token_hex(4)
    runs = []
    for _ in range(n):
        record = CrawlRecord()
        runner = CrawlerRunner(settings_for(sandbox, CAPTCHA_REDIS_URL=redis_url, CAPTCHA_REDIS_NAMESPACE=namespace,
                                            **extra))
        crawler = runner.create_crawler(Items)
        crawler.signals.connect(record.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(record.spider_closed, signal=signals.spider_closed)
        runs.append((record, crawler, runner.crawl(crawler, start_url=sandbox.site_url, record=record)))
    for record, crawler, done in runs:
        await done
        record.stats = crawler.stats.get_stats()
    return [record for record, _, _ in runs]


@pytest_twisted.ensureDeferred
async def test_three_crawlers_pay_for_one_session_gate(sandbox, redis_server):
    sandbox.reset(service={"latency": 1.5}, site={"items": ITEMS})
    records = await fleet_crawls(sandbox, redis_server.url, 3)
    for record in records:
        assert record.ids == list(range(1, ITEMS + 1)) and record.errbacks == []
    assert sandbox.state()["calls"]["createTask"] == 1
    used = sum(r.stats.get("captcha/fleet/clearance_used", 0) for r in records)
    shared = sum(r.stats.get("captcha/fleet/clearance_shared", 0) for r in records)
    assert shared == 1 and used == 2


@pytest_twisted.ensureDeferred
async def test_a_clearance_the_site_no_longer_honours_is_withdrawn(sandbox, redis_server):
    """Sessions good for 5 pages: a shared clearance goes stale; nobody keeps reusing it."""
    sandbox.reset(service={"latency": 0.5}, site={"items": ITEMS, "session_pages": 5})
    records = await fleet_crawls(sandbox, redis_server.url, 2, CONCURRENT_REQUESTS=2)
    for record in records:
        assert record.ids == list(range(1, ITEMS + 1))
    created = sandbox.state()["calls"]["createTask"]
    # 40 pages at 5 a session: about 8 sessions for the pair, never one solve per request.
    assert 2 <= created <= 20


@pytest_twisted.ensureDeferred
async def test_redis_unreachable_is_one_warning_and_nothing_is_lost(sandbox, caplog):
    import logging

    caplog.set_level(logging.WARNING)
    sandbox.reset(service={"latency": 0.5}, site={"items": ITEMS})
    records = await fleet_crawls(sandbox, "redis://127.0.0.1:9/0", 1)
    assert records[0].ids == list(range(1, ITEMS + 1))
    warned = [r for r in caplog.records if "redis" in r.getMessage().lower() and r.levelno == logging.WARNING]
    assert len(warned) == 1
