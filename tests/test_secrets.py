"""Secret hygiene: a recognisable API key and proxy credentials, through every path.

Every crawl here runs with DEBUG logging, the HTTP cache, a JOBDIR, the status line,
the report and (when a redis-server is available) fleet mode, through a real loopback
proxy with credentials. Afterwards every place a secret could leak is scanned: log
records (messages, arguments, exception texts), stats, the reprs of everything the
crawl hands out (failures, challenges, solutions), the JOBDIR and cache files, the
report, Redis keys and values, and every request sent towards the target site. And a
token never goes to an origin other than the one that showed its challenge.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_twisted
import scrapy
from aiohttp import web
from scrapy import signals
from scrapy.crawler import CrawlerRunner

from scrapy_captcha import signals as captcha_signals
from scrapy_captcha.sandbox import DEMO_SITEKEY

from .conftest import SandboxProcess
from .crawling import CrawlRecord, aio, settings_for

KEY = "sk-LEAKCANARY-" + secrets.token_hex(6)
PROXY_LOGIN = "pxuser-CANARY"
PROXY_PASSWORD = "pxpass-CANARY-" + secrets.token_hex(4)
#: Each secret as text, and the proxy's credentials as a Basic header carries them.
SECRETS = (KEY, PROXY_LOGIN, PROXY_PASSWORD,
           base64.b64encode(f"{PROXY_LOGIN}:{PROXY_PASSWORD}".encode()).decode())
ITEMS = 6


class Recorder:
    """A downloader middleware next to the downloader: what actually leaves for the site."""

    sent: list[tuple[str, dict[bytes, list[bytes]], bytes]] = []

    def process_request(self, request, spider=None):
        headers = {k: list(v) for k, v in request.headers.items() if k.lower() != b"proxy-authorization"}
        self.sent.append((request.url, headers, request.body))


class Everything:
    """What one crawl exposed: logs, stats, objects handed to the spider and to signal handlers."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self.objects: list[Any] = []
        self.tokens: list[tuple[str, str]] = []  # (token, page url it was solved for)

    def scan(self, where: str, text: str) -> None:
        for secret in SECRETS:
            assert secret not in text, f"{secret[:8]}... leaked into {where}"


class Capture(logging.Handler):
    def __init__(self, into: Everything):
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.records.append(record)


class Items(scrapy.Spider):
    """Its requests name no proxy: the crawl's proxy (with credentials) comes from the
    environment, as deployments set it, so no credential is the spider's own data."""

    name = "secrets"

    def __init__(self, site: str, everything: Everything, record: CrawlRecord, **kw: Any):
        super().__init__(**kw)
        self.site, self.everything, self.record = site, everything, record

    async def start(self):
        for i in range(1, ITEMS + 1):
            yield scrapy.Request(f"{self.site}/item/{i}", callback=self.item, errback=self.failed)
        for slug in ("datadome", "image"):
            yield scrapy.Request(f"{self.site}/challenge/{slug}/1", callback=self.item, errback=self.failed,
                                 meta={"cookiejar": slug})

    def item(self, response):
        self.record.pages.append(response.url)

    def failed(self, failure):
        self.record.errbacks.append(failure)
        self.everything.objects.append(failure)


@pytest.fixture(scope="module")
def proxied() -> Iterator[SandboxProcess]:
    box = SandboxProcess("--proxy-port", "0", "--proxy-login", PROXY_LOGIN,
                         env={"SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD": PROXY_PASSWORD})
    yield box
    box.stop()


def proxy_url(box: SandboxProcess) -> str:
    return f"http://{PROXY_LOGIN}:{PROXY_PASSWORD}@{box.proxy_url.split('://', 1)[1]}"


async def run(box: SandboxProcess, tmp_path: Path, everything: Everything, **settings: Any) -> CrawlRecord:
    record = CrawlRecord()
    Recorder.sent = []
    handler = Capture(everything)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    saved = {name: os.environ.get(name) for name in ("http_proxy", "no_proxy")}
    os.environ["http_proxy"] = proxy_url(box)
    os.environ.pop("no_proxy", None)
    try:
        runner = CrawlerRunner(settings_for(
            box, CAPTCHA_API_KEY=KEY, LOG_LEVEL="DEBUG", JOBDIR=str(tmp_path / "job"), HTTPCACHE_ENABLED=True,
            HTTPCACHE_DIR=str(tmp_path / "cache"), CAPTCHA_REPORT=str(tmp_path / "report.html"),
            LOGSTATS_INTERVAL=0.3, CAPTCHA_DELAY_SCALE=0.01, CAPTCHA_PAUSE_CHECK_INTERVAL=0.3,
            CAPTCHA_MAX_RETRIES=1, CAPTCHA_HTTP_TIMEOUT=2,
            DOWNLOADER_MIDDLEWARES={f"{__name__}.Recorder": 999}, **settings))
        crawler = runner.create_crawler(Items)
        crawler.signals.connect(record.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(record.spider_closed, signal=signals.spider_closed)

        def solved(request, challenge, solution, **kw):
            everything.objects += [challenge, solution, request]
            everything.tokens.append((solution.token, challenge.page_url))

        def dropped(request, code, reason, **kw):
            everything.objects.append((request, code, reason))

        crawler.signals.connect(solved, signal=captcha_signals.captcha_solved, weak=False)
        crawler.signals.connect(dropped, signal=captcha_signals.captcha_dropped, weak=False)
        await runner.crawl(crawler, site=box.site_url, everything=everything, record=record)
        record.stats = crawler.stats.get_stats()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return record


def check(everything: Everything, record: CrawlRecord, tmp_path: Path, redis_url: str | None = None) -> None:
    for r in everything.records:
        text = r.getMessage()
        if r.exc_info:
            text += logging.Formatter().formatException(r.exc_info)
        everything.scan(f"log record {r.name}", text)
    everything.scan("stats", repr(record.stats))
    for thing in everything.objects:
        everything.scan(f"repr of {type(thing).__name__}", repr(thing))
        everything.scan(f"str of {type(thing).__name__}", str(thing))
        value = getattr(thing, "value", None)
        if value is not None:
            everything.scan("exception", repr(value) + str(value))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret[:8]}... leaked into {path.relative_to(tmp_path)}"
    for url, headers, body in Recorder.sent:
        everything.scan(f"a request to {url}", url + repr(headers) + body.decode("latin-1"))
    # A token only ever travels to the origin that showed its challenge.
    for token, page in everything.tokens:
        origin = urlsplit(page)[:2]
        for url, headers, body in Recorder.sent:
            if token in body.decode("latin-1") or token in url or token.encode() in repr(headers).encode():
                assert urlsplit(url)[:2] == origin, f"a token for {page} went to {url}"


@pytest_twisted.ensureDeferred
async def test_solves_clearances_and_images_through_a_proxy_leak_nothing(proxied, tmp_path):
    proxied.reset(site={"items": ITEMS, "session_pages": 3})
    everything = Everything()
    record = await run(proxied, tmp_path, everything)
    assert record.stats.get("captcha/solved", 0) >= 3 and len(record.pages) >= ITEMS, \
        [str(f.value) for f in record.errbacks]
    assert (tmp_path / "report.html").exists() and any(r.getMessage().startswith("Captcha: ")
                                                       for r in everything.records)
    check(everything, record, tmp_path)


@pytest.mark.parametrize("fault", [
    {"error": "ERROR_ZERO_BALANCE", "times": 1},  # pause, balance checks, resume
    {"error": "ERROR_CAPTCHA_UNSOLVABLE", "times": 2},  # reschedule
    {"error": "ERROR_RECAPTCHA_INVALID_SITEKEY", "times": 2},  # drop into the errback
    {"error": "ERROR_KEY_TEMP_BLOCKED", "times": 1},  # cooldown
    {"http_status": 502, "body": f"<html>upstream said {KEY[:4]}</html>", "times": 2},  # transport fault
    {"error": "ERROR_INVALID_TASK_DATA", "times": 1},  # misconfigured, the loud ERROR line
])
@pytest_twisted.ensureDeferred
async def test_every_error_reaction_leaks_nothing(proxied, tmp_path, fault):
    proxied.reset(site={"items": ITEMS})
    proxied.configure(rules=[{"endpoint": "createTask", **fault}])
    everything = Everything()
    record = await run(proxied, tmp_path, everything)
    check(everything, record, tmp_path)


@pytest_twisted.ensureDeferred
async def test_a_pause_that_ends_the_crawl_with_a_jobdir_leaks_nothing(proxied, tmp_path):
    proxied.reset(service={"keys": {KEY: "ERROR_KEY_BANNED"}}, site={"items": ITEMS})
    everything = Everything()
    record = await run(proxied, tmp_path, everything, CAPTCHA_PAUSE_TIMEOUT=1.0)
    assert record.reason == "captcha_error_key_banned"
    assert any((tmp_path / "job").rglob("*"))  # requests handed back to the JOBDIR queue
    check(everything, record, tmp_path)


@pytest_twisted.ensureDeferred
async def test_fleet_mode_leaks_nothing_into_redis(proxied, tmp_path, redis_server):
    import redis

    proxied.reset(site={"items": ITEMS})
    everything = Everything()
    record = await run(proxied, tmp_path, everything, CAPTCHA_REDIS_URL=redis_server.url)
    check(everything, record, tmp_path)
    client = redis.Redis.from_url(redis_server.url)
    try:
        for key in client.scan_iter("*"):
            everything.scan("a Redis key", key.decode("latin-1"))
            kind = client.type(key).decode()
            read = {"string": client.get, "hash": client.hgetall,
                    "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                    "list": lambda k: client.lrange(k, 0, -1), "set": client.smembers}.get(kind)
            if read is not None:
                everything.scan(f"the Redis value of {key!r}", repr(read(key)))
    finally:
        client.close()


async def _cross_origin_site(site_url: str) -> tuple[web.AppRunner, str]:
    """A page whose captcha form posts to another origin (the demo site): its token must not go there."""
    async def gate(request: web.Request) -> web.Response:
        return web.Response(status=403, content_type="text/html", text=(
            "<html><head><title>Verify you are human</title>"
            '<script src="https://www.google.com/recaptcha/api.js" async defer></script></head><body>'
            f'<form action="{site_url}/captcha/verify" method="POST"><input type="hidden" name="continue" value="/">'
            f'<div class="g-recaptcha" data-sitekey="{DEMO_SITEKEY}"></div><button>Go</button></form></body></html>'))

    app = web.Application()
    app.router.add_get("/{tail:.*}", gate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest_twisted.ensureDeferred
async def test_a_token_never_goes_to_another_origin(proxied, tmp_path):
    proxied.reset()
    runner, origin = await aio(_cross_origin_site(proxied.site_url))
    try:
        Recorder.sent = []
        record = CrawlRecord()

        class One(scrapy.Spider):
            name = "cross"

            async def start(self):
                yield scrapy.Request(origin + "/page", callback=self.parse, errback=self.failed)

            def parse(self, response):
                record.pages.append(response.url)

            def failed(self, failure):
                record.errbacks.append(failure)

        crawler_runner = CrawlerRunner(settings_for(proxied, CAPTCHA_API_KEY=KEY,
                                                    DOWNLOADER_MIDDLEWARES={f"{__name__}.Recorder": 999}))
        await crawler_runner.crawl(One)
    finally:
        await aio(runner.cleanup())
    (failure,) = record.errbacks
    assert failure.value.code == "CROSS_ORIGIN_SUBMIT"
    # Solved (the service was paid) but the token never left for the other origin.
    assert not [url for url, _, _ in Recorder.sent if url.startswith(proxied.site_url)]
