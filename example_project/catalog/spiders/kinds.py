"""Captchas beyond reCAPTCHA, over plain HTTP: the sandbox's page for each kind.

The crawl goes through a proxy (the sandbox runs a real one on loopback, with
credentials): clearance cookies (DataDome, AWS WAF, Cloudflare's challenge page)
are minted for the IP the site sees, so their tasks carry the crawl's proxy
(CAPTCHA_USE_PROXY = "auto"). The image captcha's picture is fetched through the
crawl itself (same cookies, proxy, user agent) and its answer typed into the form.

    scrapy crawl kinds -a start_url=http://127.0.0.1:8976/ -a proxy=http://user:pass@127.0.0.1:8977
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy.http import Response

from .catalog import SANDBOX_SITE

#: Demo page -> what it shows.
PAGES = {
    "datadome": "DataDome (clearance cookie, bound to the proxy's IP and the user agent)",
    "aws-waf": "AWS WAF (aws-waf-token cookie)",
    "cloudflare": "Cloudflare challenge page",
    "image": "image captcha (text typed into the form)",
    "geetest-v4": "GeeTest v4",
    "turnstile": "Turnstile",
    "hcaptcha": "hCaptcha",
}


class KindsSpider(scrapy.Spider):
    name = "kinds"
    custom_settings = {
        # A browser's user agent: DataDome's task needs one, and clearances are bound to it.
        "USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/126.0 Safari/537.36",
    }

    def __init__(self, start_url: str | None = None, proxy: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_url = (start_url or os.environ.get("SANDBOX_SITE_URL") or SANDBOX_SITE).rstrip("/")
        self.proxy = proxy or os.environ.get("SANDBOX_PROXY_URL")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for slug in PAGES:
            meta: dict[str, Any] = {"cookiejar": slug}
            if self.proxy:
                meta["proxy"] = self.proxy
            yield scrapy.Request(f"{self.start_url}/challenge/{slug}/1", callback=self.parse, errback=self.failed,
                                 cb_kwargs={"slug": slug}, meta=meta)

    def parse(self, response: Response, slug: str):
        item = response.css("article.item")
        yield {"page": PAGES[slug], "result": "passed" if item else "not passed", "url": response.url}

    def failed(self, failure):
        slug = failure.request.cb_kwargs.get("slug", "?")
        self.logger.warning("%s: %s", slug, failure.value)
        self.crawler.stats.inc_value("catalog/failed")
        return {"page": PAGES.get(slug, slug), "result": f"dropped: {getattr(failure.value, 'code', failure.value)}",
                "url": failure.request.url}
