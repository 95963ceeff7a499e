"""Run real Scrapy crawls (CrawlerRunner on the asyncio reactor) and collect what happened."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerRunner
from twisted.internet.defer import Deferred

API_KEY = "test-key-0123456789-SECRET"


def aio(awaitable: Awaitable[Any]) -> Deferred:
    """Await an asyncio awaitable from a pytest-twisted coroutine test."""
    return Deferred.fromFuture(asyncio.ensure_future(awaitable))


class CatalogSpider(scrapy.Spider):
    name = "test_catalog"
    custom_settings: dict[str, Any] = {}

    def __init__(self, start_url: str, record: CrawlRecord, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_url = start_url
        self.record = record

    async def start(self):
        yield scrapy.Request(self.start_url + "/catalog/1", callback=self.parse, errback=self.failed,
                             cb_kwargs={"page": 1}, meta={"mine": "kept"})

    def parse(self, response, page):
        self.record.pages.append((page, response.meta.get("mine")))
        for href in response.css("li.product a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_item, errback=self.failed,
                                  cb_kwargs={"from_page": page}, meta={"mine": "kept"})
        nxt = response.css("nav a.next::attr(href)").get()
        if nxt:
            yield response.follow(nxt, callback=self.parse, errback=self.failed,
                                  cb_kwargs={"page": page + 1}, meta={"mine": "kept"})

    def parse_item(self, response, from_page):
        assert response.meta.get("mine") == "kept"
        yield {"id": int(response.css("article.item::attr(data-id)").get()), "from_page": from_page}

    def failed(self, failure):
        self.record.errbacks.append(failure)


@dataclass
class CrawlRecord:
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)
    errbacks: list[Any] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def item_scraped(self, item: Any, **kwargs: Any) -> None:
        self.items.append(dict(item))

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.reason = reason

    @property
    def ids(self) -> list[int]:
        return sorted(i["id"] for i in self.items)


def settings_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return {
        "ADDONS": {"scrapy_captcha.Addon": 500},
        "CAPTCHA_PROVIDER": "sandbox",
        "CAPTCHA_API_URL": sandbox.service_url,
        "CAPTCHA_API_KEY": API_KEY,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "DEBUG",
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        **extra,
    }


async def crawl(sandbox: Any, spider_cls: type = CatalogSpider, **settings: Any) -> CrawlRecord:
    record = CrawlRecord()
    runner = CrawlerRunner(settings_for(sandbox, **settings))
    crawler = runner.create_crawler(spider_cls)
    # Bound methods: the signal dispatcher holds receivers weakly.
    crawler.signals.connect(record.item_scraped, signal=signals.item_scraped)
    crawler.signals.connect(record.spider_closed, signal=signals.spider_closed)
    await runner.crawl(crawler, start_url=sandbox.site_url, record=record)
    record.stats = crawler.stats.get_stats()
    return record


def task_spans(log: list[dict[str, Any]]) -> dict[Any, list[float]]:
    """task id -> [createTask time, time of the last result call for it]."""
    spans: dict[Any, list[float]] = {}
    for entry in log:
        task = entry.get("taskId")
        if entry["endpoint"] == "createTask" and task is not None:
            spans[task] = [entry["t"], entry["t"]]
        elif entry["endpoint"] == "getTaskResult" and task in spans:
            spans[task][1] = entry["t"]
    return spans


def peak_open(spans: dict[Any, list[float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()])
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak
