from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy.http import Response

#: Where `scrapy-captcha sandbox` serves the demo site by default.
SANDBOX_SITE = "http://127.0.0.1:8976/"


class CatalogSpider(scrapy.Spider):
    """Scrapes every item of a paginated catalog (the sandbox demo site by default)."""

    name = "catalog"

    def __init__(self, start_url: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_url = start_url or os.environ.get("SANDBOX_SITE_URL") or SANDBOX_SITE

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.start_url, callback=self.parse, errback=self.failed)

    def parse(self, response: Response, **kwargs: Any):
        yield from response.follow_all(css="a.catalog, nav a.next", callback=self.parse, errback=self.failed)
        yield from response.follow_all(css="li.product a", callback=self.parse_item, errback=self.failed)

    def parse_item(self, response: Response):
        item = response.css("article.item")
        yield {
            "id": int(item.attrib["data-id"]),
            "name": item.css("h1::text").get(),
            "price": float(item.css("p.price::text").get()),
            "sku": item.css("p.sku::text").get(),
            "url": response.url,
        }

    def failed(self, failure):
        self.logger.warning("Request failed: %s", failure.value)
        self.crawler.stats.inc_value("catalog/failed")
