"""Pages only a browser can pass, through scrapy-playwright.

- The Cloudflare-style interstitial is handled by the middleware on its own:
  the request is rendered again with the init script, solved in the page, and
  the callback receives the page behind it. Its clearance cookie then serves
  a plain-HTTP request (CAPTCHA_BROWSER_COOKIES).
- Pages whose widget sits in an ordinary form are solved because the spider
  asks: PageMethod(solve_page, solver=crawl_solver(crawler)) (the crawl's own
  providers, budget and stats: every solve counts).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy_playwright.page import PageMethod

from scrapy_captcha import crawl_solver
from scrapy_captcha.browser import add_init_script, solve_page
from scrapy_captcha.sandbox.browser_pages import chromium_launch_options, route_offline

from .catalog import SANDBOX_SITE

HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
WIDGET_PAGES = ("xhr", "v3", "hcaptcha", "turnstile", "iframe")


async def result_in_any_frame(page: Any, timeout: float = 20.0) -> str:
    """Wait until some frame's #result says how the site judged the token (frames may be cross-origin)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for frame in page.frames:
            text = await frame.evaluate("() => (document.getElementById('result') || {}).textContent || ''")
            if text and text != "waiting":
                return text
        await asyncio.sleep(0.1)
    return "timeout"


async def prepare(page: Any, request: Any) -> None:
    """Page init: the sandbox's offline routing, and the init script that captures render calls."""
    await route_offline(page)
    await add_init_script(page)


class BrowserCatalogSpider(scrapy.Spider):
    name = "browser_catalog"
    custom_settings = {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
        "CAPTCHA_BROWSER_COOKIES": True,
        "CONCURRENT_REQUESTS": 4,
    }

    def __init__(self, start_url: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_url = (start_url or os.environ.get("SANDBOX_SITE_URL") or SANDBOX_SITE).rstrip("/")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        solver = crawl_solver(self.crawler)
        yield scrapy.Request(f"{self.start_url}/browser/cf", callback=self.parse_protected, meta={
            "playwright": True,
            "playwright_page_init_callback": "scrapy_captcha.sandbox.browser_pages.offline_page_init",
        })
        for name in WIDGET_PAGES:
            yield scrapy.Request(f"{self.start_url}/browser/{name}", callback=self.parse_widget_page,
                                 cb_kwargs={"name": name}, meta={
                "playwright": True,
                "playwright_page_init_callback": "catalog.spiders.browser_catalog.prepare",
                "playwright_page_methods": [
                    PageMethod("wait_for_load_state", "load"),
                    PageMethod("wait_for_timeout", 300),  # let the widget scripts render
                    PageMethod(solve_page, solver=solver),
                    PageMethod(result_in_any_frame),
                ],
            })

    def parse_protected(self, response):
        yield {"page": "cf", "result": response.css("h1::text").get(), "url": response.url}
        yield scrapy.Request(f"{self.start_url}/browser/cf/content", callback=self.parse_plain, dont_filter=True)

    def parse_plain(self, response):
        yield {"page": "cf (plain HTTP, clearance cookie)", "result": response.css("h1::text").get(),
               "url": response.url}

    def parse_widget_page(self, response, name):
        methods = response.meta["playwright_page_methods"]
        solved = methods[2].result
        yield {"page": name, "result": methods[-1].result, "url": response.url,
               "widgets": [f"{r.kind} -> {', '.join(r.fields) or r.callback}" for r in solved]}


