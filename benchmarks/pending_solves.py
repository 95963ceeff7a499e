"""Per-page gates on one host: do pending solves hold the rest of the host back? One scenario per run.

8 item pages that each carry their own reCAPTCHA (the site's ``page_gated_items``)
among 400 plain pages, all on one host, no cookiejar meta, CONCURRENT_REQUESTS=8,
against the sandbox on loopback. ORDER=first (default) requests the 8 gated pages
first (priority 1), ORDER=mixed spreads them among the plain ones. Prints JSON:
seconds until the last plain page was scraped, until the end, and what arrived.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import scrapy
from scrapy.crawler import CrawlerProcess

sys.path.insert(0, os.path.dirname(__file__))

PLAIN, GATED = 400, 8


class Mixed(scrapy.Spider):
    name = "mixed"

    def __init__(self, site: str, order: str, **kw):
        super().__init__(**kw)
        self.site, self.order = site, order
        self.t0 = time.monotonic()
        self.last_plain = 0.0
        self.plain = self.gated_done = 0

    async def start(self):
        self.t0 = time.monotonic()
        gated = [scrapy.Request(f"{self.site}/item/{n + 1}", callback=self.on_gated,
                                priority=1 if self.order == "first" else 0) for n in range(GATED)]
        plain = [scrapy.Request(f"{self.site}/open/{n}", callback=self.on_plain) for n in range(PLAIN)]
        if self.order == "first":
            requests = gated + plain
        else:
            step = PLAIN // GATED
            requests = [r for i in range(GATED) for r in (plain[i * step:(i + 1) * step] + [gated[i]])]
        for request in requests:
            yield request

    def on_plain(self, response):
        self.plain += 1
        self.last_plain = time.monotonic() - self.t0

    def on_gated(self, response):
        assert response.css("article.item")
        self.gated_done += 1

    def closed(self, reason):
        print(json.dumps({"last_plain": self.last_plain, "total": time.monotonic() - self.t0,
                          "plain": self.plain, "gated": self.gated_done}), flush=True)


def main() -> None:
    scenario, service, site = sys.argv[1:4]
    settings = {
        "CONCURRENT_REQUESTS": 8, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False, "ROBOTSTXT_OBEY": False,
        "CAPTCHA_API_URL": service, "CAPTCHA_PROVIDER": "sandbox",
    }
    if scenario == "plugin":
        settings["ADDONS"] = {"scrapy_captcha.Addon": 500}
    elif scenario == "naive":
        settings["DOWNLOADER_MIDDLEWARES"] = {"naive.AwaitingMiddleware": 585}
    elif scenario == "sync":
        settings["DOWNLOADER_MIDDLEWARES"] = {"naive.SyncSDKMiddleware": 585}
    process = CrawlerProcess(settings)
    process.crawl(Mixed, site=site, order=os.environ.get("ORDER", "first"))
    process.start()


if __name__ == "__main__":
    main()
