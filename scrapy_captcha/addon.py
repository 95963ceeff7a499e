"""Scrapy add-on: ``ADDONS = {"scrapy_captcha.Addon": 500}`` enables everything."""

from __future__ import annotations

from typing import Any

#: After HttpCompression (590) has decoded the body, before Retry (550) sees a 503.
MIDDLEWARE_PRIORITY = 585
EXTENSION_PRIORITY = 500


class Addon:
    def update_settings(self, settings: Any) -> None:
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", "scrapy_captcha.CaptchaMiddleware", MIDDLEWARE_PRIORITY
        )
        settings.set_in_component_priority_dict(
            "EXTENSIONS", "scrapy_captcha.crawl.CaptchaExtension", EXTENSION_PRIORITY
        )
