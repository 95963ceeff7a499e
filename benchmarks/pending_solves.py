"""Does a pending solve starve the crawl? One scenario per run (see run.py).

8 gated pages (each its own gate: separate cookiejars, so 8 solves) among 400
plain pages, CONCURRENT_REQUESTS=8, against the sandbox on loopback. Prints
JSON: seconds until the last plain page was scraped, and until the end.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import scrapy  # noqa: E402
from scrapy.crawler import CrawlerProcess  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))

PLAIN, GATED = 400, 8


class Mixed(scrapy.Spider):
    name = "mixed"

    def __init__(self, site: str, gated: int, **kw):
        super().__init__(**kw)
        self.site, self.gated = site, int(gated)
        self.t0 = time.monotonic()
        self.last_plain = 0.0
        self.plain = self.gated_done = 0

    async def start(self):
        self.t0 = time.monotonic()
        for n in range(self.gated):
            yield scrapy.Request(f"{self.site}/item/{n + 1}", callback=self.on_gated, priority=1,
                                 meta={"cookiejar": n})
        for n in range(PLAIN):
            yield scrapy.Request(f"{self.site}/open/{n}", callback=self.on_plain)

    def on_plain(self, response):
        self.plain += 1
        self.last_plain = time.monotonic() - self.t0

    def on_gated(self, response):
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
    process.crawl(Mixed, site=site, gated=0 if scenario == "none" else GATED)
    process.start()


if __name__ == "__main__":
    main()
