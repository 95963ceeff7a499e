"""The HTTP cache with the add-on: challenge pages are never stored or served, real pages are.

Real crawls against the sandbox with Scrapy's filesystem cache on disk.
"""

from __future__ import annotations

import logging

import pytest_twisted
import scrapy

from scrapy_captcha.middleware import CHALLENGE_LOOP_GATES

from .crawling import CatalogSpider, crawl

ITEMS = 6


class Items(CatalogSpider):
    async def start(self):
        for i in range(1, ITEMS + 1):
            yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item, errback=self.failed,
                                 cb_kwargs={"from_page": 0}, meta={"mine": "kept"})


def cache(tmp_path) -> dict:
    return {"HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(tmp_path / "cache"), "CONCURRENT_REQUESTS": 2}


@pytest_twisted.ensureDeferred
async def test_challenge_pages_are_not_cached_and_the_real_pages_are(sandbox, tmp_path):
    sandbox.reset(site={"items": ITEMS})
    first = await crawl(sandbox, Items, **cache(tmp_path))
    assert first.ids == list(range(1, ITEMS + 1)) and first.reason == "finished"
    assert sandbox.state()["calls"]["createTask"] <= 2
    assert first.stats["captcha/httpcache/challenge_not_stored"] >= 1
    pages = sandbox.site_state()["pages"]
    # Again, from the cache: the real pages were stored, nothing is solved or fetched.
    again = await crawl(sandbox, Items, **cache(tmp_path))
    assert again.ids == list(range(1, ITEMS + 1))
    assert sandbox.state()["calls"]["createTask"] <= 2
    assert sandbox.site_state()["pages"] == pages
    assert again.stats["httpcache/hit"] == ITEMS and "captcha/detected" not in again.stats


@pytest_twisted.ensureDeferred
async def test_a_cache_filled_with_challenge_pages_before_is_not_served(sandbox, tmp_path):
    """The cache was filled by a crawl without the add-on: every entry is a challenge page."""
    sandbox.reset(site={"items": ITEMS})
    await crawl(sandbox, Items, ADDONS={}, HTTPCACHE_ALLOW_ALL=True, HTTPCACHE_IGNORE_HTTP_CODES=[],
                **cache(tmp_path))
    assert sandbox.site_state()["gates"] == ITEMS  # stored, one per item
    record = await crawl(sandbox, Items, **cache(tmp_path))
    assert record.ids == list(range(1, ITEMS + 1)) and record.errbacks == []
    assert record.stats["captcha/httpcache/challenge_skipped"] >= ITEMS
    assert sandbox.state()["calls"]["createTask"] <= 2


class ReplayingMiddleware:
    """A stale cache or proxy in front of the site: it serves, for each URL, the first
    response it ever saw (without Scrapy's "cached" flag)."""

    seen: dict[str, scrapy.http.Response] = {}

    def process_request(self, request, spider=None):
        stale = self.seen.get(request.url)
        return stale.replace(request=request) if stale is not None else None

    def process_response(self, request, response, spider=None):
        self.seen.setdefault(response.url, response)
        return response


@pytest_twisted.ensureDeferred
async def test_a_replayed_challenge_is_not_solved_round_and_round(sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="scrapy_captcha")
    ReplayingMiddleware.seen = {}
    sandbox.reset(site={"items": ITEMS})
    record = await crawl(sandbox, Items, CONCURRENT_REQUESTS=2,
                         DOWNLOADER_MIDDLEWARES={f"{__name__}.ReplayingMiddleware": 950})
    assert record.reason == "finished"
    dropped = {f.value.code for f in record.errbacks}
    assert dropped == {"CHALLENGE_LOOP"} and len(record.errbacks) == ITEMS
    # Bounded: a few solves for the whole host (then every request meeting it is
    # dropped at once), not one per replay.
    assert sandbox.state()["calls"]["createTask"] <= CHALLENGE_LOOP_GATES + 4
    warned = [r.getMessage() for r in caplog.records if "CHALLENGE_LOOP" in r.getMessage()]
    assert warned and all("stale challenge page" in w for w in warned)


@pytest_twisted.ensureDeferred
async def test_scrapys_own_cache_without_the_add_on_swap_is_bypassed_once(sandbox, tmp_path):
    """Wired by hand (no add-on), Scrapy's own cache serves a stored challenge: the
    middleware fetches that page fresh instead of solving the stale one."""
    sandbox.reset(site={"items": ITEMS})
    settings = cache(tmp_path)
    await crawl(sandbox, Items, ADDONS={}, HTTPCACHE_IGNORE_HTTP_CODES=[], **settings)
    record = await crawl(sandbox, Items, ADDONS={},
                         DOWNLOADER_MIDDLEWARES={"scrapy_captcha.CaptchaMiddleware": 585}, **settings)
    assert record.ids == list(range(1, ITEMS + 1))
    assert record.stats["captcha/httpcache/challenge_refetched"] >= 1
