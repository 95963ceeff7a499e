"""The status line at LOGSTATS_INTERVAL: real crawls against the sandbox."""

from __future__ import annotations

import logging
import re

import pytest_twisted
import scrapy

from .crawling import CatalogSpider, crawl


class Plain(CatalogSpider):
    async def start(self):
        for n in range(30):
            yield scrapy.Request(f"{self.start_url}/open/{n}", callback=self.parse_item, cb_kwargs={"from_page": 0})

    def parse_item(self, response, from_page):
        self.record.pages.append(response.url)


def status_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Captcha: ")]


@pytest_twisted.ensureDeferred
async def test_one_status_line_per_interval_says_how_the_captcha_side_is_doing(sandbox, caplog):
    caplog.set_level(logging.INFO, logger="scrapy_captcha")
    sandbox.reset(service={"latency": 1.5}, site={"session_pages": 5})
    await crawl(sandbox, LOGSTATS_INTERVAL=0.5, CAPTCHA_BUDGET=1.0, CONCURRENT_REQUESTS=4)
    lines = status_lines(caplog)
    assert lines, "no status line"
    last = lines[-1]
    assert re.search(r"\d+ pending; solved \d+ \(\+\d+\), dropped 0 \(\+0\), rescheduled 0 \(\+0\)", last)
    assert re.search(r"spent \d+\.\d{4} USD \(\+\d+\.\d{4}\), budget left 0\.9\d+", last)
    assert "mean solve" in last and "sandbox ok" in last
    assert any(" pending" in line and not line.startswith("Captcha: 0 pending") for line in lines)


@pytest_twisted.ensureDeferred
async def test_quiet_when_no_captcha_was_met_and_off_with_the_setting(sandbox, caplog):
    caplog.set_level(logging.INFO, logger="scrapy_captcha")
    await crawl(sandbox, Plain, LOGSTATS_INTERVAL=0.2, DOWNLOAD_DELAY=0.05)
    assert status_lines(caplog) == []
    caplog.clear()
    sandbox.reset(service={"latency": 1.0})
    await crawl(sandbox, LOGSTATS_INTERVAL=0.3, CAPTCHA_STATUS=False)
    assert status_lines(caplog) == []
