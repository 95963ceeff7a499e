"""The transport: loaded only when a crawl first calls the service."""

from __future__ import annotations

import subprocess
import sys


def test_a_crawl_that_meets_no_captcha_does_not_load_the_http_client_or_the_report():
    # Importing the add-on is part of every crawl's start; aiohttp and the report's
    # charts are a tenth of a second a crawl with no captcha should not pay for.
    code = (
        "import sys, scrapy_captcha, scrapy_captcha.addon, scrapy_captcha.middleware, scrapy_captcha.crawl\n"
        "print(sorted(m for m in ('aiohttp', 'scrapy_captcha.report') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
