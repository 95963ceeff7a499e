"""Sites whose gates change scope, one scenario per run: python scopes.py SHAPE MODE SERVICE SITE.

SHAPE after50  200 item pages; the site starts gating every page after its 50th
               request (as rate limits do) and stops once a gate is passed.
SHAPE mixed    180 item pages and 20 search pages, interleaved: every search page
               carries its own captcha; everything else is session-gated after
               the site's 50th request.
MODE none (no captchas), plugin (scrapy-captcha), naive (await in process_response).
CONCURRENT_REQUESTS=8, no cookiejar meta. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, os.path.dirname(__file__))

import scrapy
from scrapy.crawler import CrawlerProcess


class Shape(scrapy.Spider):
    name = "scopes"

    def __init__(self, site: str, shape: str, **kw):
        super().__init__(**kw)
        self.site, self.shape = site, shape
        self.items = self.searches = 0

    async def start(self):
        if self.shape == "after50":
            for i in range(1, 201):
                yield scrapy.Request(f"{self.site}/item/{i}", callback=self.item)
        else:
            for i in range(1, 181):
                yield scrapy.Request(f"{self.site}/item/{i}", callback=self.item)
                if i % 9 == 0:
                    yield scrapy.Request(f"{self.site}/search/{i // 9}", callback=self.search)

    def item(self, response):
        assert response.css("article.item")
        self.items += 1

    def search(self, response):
        assert response.css("section.results")
        self.searches += 1


def main() -> None:
    shape, mode, service, site = sys.argv[1:5]
    settings = {
        "CONCURRENT_REQUESTS": 8, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False, "ROBOTSTXT_OBEY": False,
        "CAPTCHA_API_URL": service, "CAPTCHA_PROVIDER": "sandbox",
    }
    if mode == "plugin":
        settings["ADDONS"] = {"scrapy_captcha.Addon": 500}
    elif mode == "naive":
        settings["DOWNLOADER_MIDDLEWARES"] = {"naive.AwaitingMiddleware": 585}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(Shape)
    t0 = time.monotonic()
    process.crawl(crawler, site=site, shape=shape)
    process.start()
    stats = crawler.stats.get_stats()
    print(json.dumps({"seconds": time.monotonic() - t0, "items": crawler.spider.items,
                      "searches": crawler.spider.searches,
                      "held_back": stats.get("captcha/held_back", 0),
                      "scope": {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("captcha/scope/")}}),
          flush=True)


if __name__ == "__main__":
    main()
