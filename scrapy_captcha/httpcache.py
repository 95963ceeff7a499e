"""Scrapy's HTTP cache, minus challenge pages.

Scrapy's ``HttpCacheMiddleware`` stores whatever the site answered (and the
request's headers, a proxy's credentials among them). A stored
challenge page is served again to the request sent after the gate was passed,
which then meets the challenge again and pays for another solve, forever. This
subclass never stores a challenge page and never serves one from the cache (a
cache filled before the add-on was enabled may hold some), so the request goes
to the site and the real page, once the gate is passed, is what gets cached.
Nor does it write a proxy's credentials into the cache files. The add-on puts
it in place of Scrapy's own (same priority, same settings).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware as ScrapyHttpCacheMiddleware
from scrapy.http import Response, TextResponse

from .detect import detect


def is_challenge(response: Response) -> bool:
    return isinstance(response, TextResponse) and bool(
        detect(response.body, url=response.url, status=response.status, headers=response.headers,
               blocking_only=True))


class HttpCacheMiddleware(ScrapyHttpCacheMiddleware):
    def process_request(self, request: Request, spider: Any = None) -> Request | Response | None:
        cached = super().process_request(request)
        if isinstance(cached, Response) and is_challenge(cached):
            self.stats.inc_value("captcha/httpcache/challenge_skipped")
            return None
        stale = request.meta.get("cached_response")
        if stale is not None and is_challenge(stale):
            # Never "revalidated" into being served either.
            del request.meta["cached_response"]
            self.stats.inc_value("captcha/httpcache/challenge_skipped")
        return cached

    def _cache_response(self, response: Response, request: Request) -> None:
        if is_challenge(response):
            self.stats.inc_value("captcha/httpcache/challenge_not_stored")
            return
        if b"Proxy-Authorization" in request.headers:
            # The cache files keep the request's headers: not the proxy's credentials.
            # (The cache key is the request's fingerprint: method, URL and body.)
            headers = request.headers.copy()
            del headers[b"Proxy-Authorization"]
            request = request.replace(headers=headers)
        super()._cache_response(response, request)
