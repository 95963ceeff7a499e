"""Scrapy add-on: ``ADDONS = {"scrapy_captcha.Addon": 500}`` enables everything."""

from __future__ import annotations

import os
from typing import Any

from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware as ScrapyHttpCacheMiddleware
from scrapy.utils.misc import load_object

from .httpcache import HttpCacheMiddleware

#: After HttpCompression (590) has decoded the body, before Retry (550) sees a 503.
MIDDLEWARE_PRIORITY = 585
EXTENSION_PRIORITY = 500


def offline_suffix_list() -> None:
    """Use tldextract's bundled public suffix list unless the user chose otherwise.

    Scrapy's cookie handling asks tldextract for the list, which fetches it from
    the internet on first use; offline, that is a dozen tracebacks in a user's
    first crawl. tldextract reads the variable when Scrapy's cookie middleware
    module is imported, after add-ons and this middleware are set up.
    """
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


class Addon:
    def update_settings(self, settings: Any) -> None:
        offline_suffix_list()
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", "scrapy_captcha.CaptchaMiddleware", MIDDLEWARE_PRIORITY
        )
        settings.set_in_component_priority_dict(
            "EXTENSIONS", "scrapy_captcha.crawl.CaptchaExtension", EXTENSION_PRIORITY
        )
        # Scrapy's HTTP cache would store challenge pages and serve them again
        # after the gate is passed; ours does not. A project that configured the
        # cache middleware itself keeps its own.
        mentioned = settings.getdict("DOWNLOADER_MIDDLEWARES")
        if not any(_is(path, ScrapyHttpCacheMiddleware) for path in mentioned):
            base = settings.getdict("DOWNLOADER_MIDDLEWARES_BASE")
            if any(_is(path, ScrapyHttpCacheMiddleware) for path in base):
                settings.replace_in_component_priority_dict(
                    "DOWNLOADER_MIDDLEWARES_BASE", ScrapyHttpCacheMiddleware, HttpCacheMiddleware
                )


def _is(path: Any, cls: type) -> bool:
    try:
        return (load_object(path) if isinstance(path, str) else path) is cls
    except (ImportError, AttributeError, NameError, ValueError):
        return False
