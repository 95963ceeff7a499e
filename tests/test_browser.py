"""solve_page in real Chromium (system package), loopback only: every browser demo page."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any, Awaitable, Callable

import pytest
import pytest_twisted

from scrapy_captcha import Reaction, ServiceError, Solver
from scrapy_captcha.browser import add_init_script, solve_page
from scrapy_captcha.sandbox.browser_pages import chromium_launch_options, route_offline

from .crawling import aio

if os.environ.get("CI") == "true":
    import playwright.async_api as playwright  # in CI these tests run, never skip
else:
    playwright = pytest.importorskip("playwright.async_api")


def browser_log(sandbox) -> list[dict[str, Any]]:
    with urllib.request.urlopen(sandbox.site_url + "/_sandbox/browser/log", timeout=10) as reply:
        return json.loads(reply.read())


async def in_page(sandbox, path: str, body: Callable[[Any, Solver], Awaitable[Any]]) -> Any:
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(**chromium_launch_options())
        try:
            context = await browser.new_context()
            await route_offline(context)
            await add_init_script(context)
            page = await context.new_page()
            await page.goto(sandbox.site_url + path)
            async with Solver("sandbox", api_key="browser-key", api_url=sandbox.service_url, first_poll=0.2,
                              poll_interval=0.3, timeout=30) as solver:
                return await body(page, solver)
        finally:
            await browser.close()


async def solve_and_wait(page, solver, selector="#result", text="verified", frame=None):
    await page.wait_for_load_state("load")
    results = await solve_page(page, solver)
    target = frame(page) if frame else page
    await target.wait_for_function(
        "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent.includes(t)",
        arg=[selector, text], timeout=15000)
    return results


@pytest.mark.parametrize(("path", "kind", "callback"), [
    ("/browser/xhr", "recaptcha_v2", "function"),         # rendered by script, anonymous callback posts by XHR
    ("/browser/v3", "recaptcha_v3", "execute promise"),   # the action lives only in execute()
    ("/browser/hcaptcha", "hcaptcha", "onHc"),
    ("/browser/turnstile", "turnstile", "app.onTurnstile"),  # action + cData, dotted callback name
])
@pytest_twisted.ensureDeferred
async def test_single_widget_pages(sandbox, path, kind, callback):
    results = await aio(in_page(sandbox, path, solve_and_wait))
    assert [(r.kind, r.solved, r.callback) for r in results] == [(kind, True, callback)]
    log = browser_log(sandbox)
    assert [entry["success"] for entry in log] == [True]  # the token reached the site exactly once
    assert sandbox.state()["calls"]["createTask"] == 1


@pytest_twisted.ensureDeferred
async def test_two_widgets_in_one_form_each_get_their_own_token(sandbox):
    async def body(page, solver):
        await page.wait_for_selector("#second textarea", state="attached")
        results = await solve_page(page, solver)
        await page.click("#send")
        await page.wait_for_selector("#outcome")
        return results, await page.text_content("#outcome")

    results, outcome = await aio(in_page(sandbox, "/browser/two", body))
    assert outcome == "both verified", browser_log(sandbox)
    # Each token went into its own widget's textarea (same name, widget order): swapped,
    # the site would have refused both (tokens are bound to their sitekey).
    assert [(r.sitekey[-2:], r.fields) for r in results] == [("01", ["g-recaptcha-response"]),
                                                             ("02", ["g-recaptcha-response"])]
    assert [(e["widget"], e["success"]) for e in browser_log(sandbox)] == [("first", True), ("second", True)]


@pytest_twisted.ensureDeferred
async def test_widget_in_a_cross_origin_iframe(sandbox):
    def frame(page):
        return next(f for f in page.frames if "/browser/xhr" in f.url)

    async def body(page, solver):
        await page.wait_for_function("document.getElementById('embed').contentWindow !== null")
        await frame(page).wait_for_function("window.__scrapyCaptcha && window.__scrapyCaptcha.widgets.length > 0")
        return await solve_and_wait(page, solver, frame=frame)

    results = await aio(in_page(sandbox, "/browser/iframe", body))
    assert [(r.kind, r.solved) for r in results] == [("recaptcha_v2", True)]
    assert "localhost" in results[0].frame_url  # the other origin
    assert [(e["host"], e["success"]) for e in browser_log(sandbox)] == [("localhost", True)]


@pytest_twisted.ensureDeferred
async def test_cloudflare_style_interstitial_with_cdata_and_page_data(sandbox):
    async def body(page, solver):
        await page.wait_for_function("window.__scrapyCaptcha && window.__scrapyCaptcha.widgets.length > 0")
        results = await solve_page(page, solver)
        await page.wait_for_selector("article.protected", timeout=15000)
        cookies = {c["name"] for c in await page.context.cookies()}
        return results, cookies, page.url

    results, cookies, url = await aio(in_page(sandbox, "/browser/cf", body))
    assert [(r.kind, r.solved) for r in results] == [("turnstile", True)]
    assert "cf_clearance" in cookies and url.endswith("/browser/cf/content")
    assert [e["success"] for e in browser_log(sandbox)] == [True]


@pytest_twisted.ensureDeferred
async def test_an_unsolvable_answer_raises_with_its_reaction(sandbox):
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "error": "ERROR_CAPTCHA_UNSOLVABLE", "times": 1}])

    async def body(page, solver):
        await page.wait_for_selector(".h-captcha textarea", state="attached")
        with pytest.raises(ServiceError) as info:
            await solve_page(page, solver)
        return info.value

    error = await aio(in_page(sandbox, "/browser/hcaptcha", body))
    assert error.code == "ERROR_CAPTCHA_UNSOLVABLE" and error.reaction is Reaction.RESCHEDULE
    assert browser_log(sandbox) == []


# ---------------------------------------------------------------- scrapy-playwright

import scrapy  # noqa: E402

from .crawling import crawl  # noqa: E402


async def offline_page(page, request):
    """Page init callback: vendor script URLs to the stand-ins, nothing leaves loopback."""
    await route_offline(page)


def playwright_settings(**extra):
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    return {"DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
            "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(), "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "CONCURRENT_REQUESTS": 4, **extra}


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_page_method(sandbox):
    from scrapy_playwright.page import PageMethod

    got = []

    class Spider(scrapy.Spider):
        name = "pm"

        def __init__(self, start_url, record, **kw):
            super().__init__(**kw)
            self.start_url, self.record = start_url, record

        async def start(self):
            solver = Solver("sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2, poll_interval=0.3)
            yield scrapy.Request(self.start_url + "/browser/turnstile", callback=self.parse, meta={
                "playwright": True,
                "playwright_page_init_callback": "tests.test_browser.prepare_offline_with_init_script",
                "playwright_page_methods": [
                    PageMethod("wait_for_selector", ".cf-turnstile input", state="attached"),
                    PageMethod(solve_page, solver=solver),
                    PageMethod("wait_for_function", "document.getElementById('result').textContent === 'verified'"),
                ]})

        def parse(self, response):
            got.append(response.css("#result::text").get())

    await crawl(sandbox, Spider, **playwright_settings())
    assert got == ["verified"]
    assert [e["success"] for e in browser_log(sandbox)] == [True]


async def prepare_offline_with_init_script(page, request):
    await route_offline(page)
    await add_init_script(page)


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_automatic_challenge_and_cookies_for_plain_http(sandbox):
    pages, solved = [], []

    class Spider(scrapy.Spider):
        name = "auto"

        def __init__(self, start_url, record, **kw):
            super().__init__(**kw)
            self.start_url, self.record = start_url, record

        @classmethod
        def from_crawler(cls, crawler, *args, **kwargs):
            from scrapy_captcha import signals as captcha_signals

            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(lambda request, challenge, solution, **kw: solved.append(challenge.kind),
                                    signal=captcha_signals.captcha_solved, weak=False)
            return spider

        async def start(self):
            yield scrapy.Request(self.start_url + "/browser/cf", callback=self.parse, meta={
                "playwright": True, "playwright_page_init_callback": "tests.test_browser.offline_page"})

        def parse(self, response):
            pages.append(("browser", response.url, response.css("h1::text").get()))
            # The next request is plain HTTP: it passes with the clearance cookie the browser earned.
            yield scrapy.Request(self.start_url + "/browser/cf/content", callback=self.plain, dont_filter=True)

        def plain(self, response):
            pages.append(("http", response.status, response.css("h1::text").get()))

    record = await crawl(sandbox, Spider, **playwright_settings(CAPTCHA_BROWSER_COOKIES=True))
    assert pages == [("browser", f"{sandbox.site_url}/browser/cf/content", "Clearance granted"),
                     ("http", 200, "Clearance granted")]
    assert record.stats["captcha/browser/rerendered"] == 1
    assert record.stats["captcha/solved/turnstile"] == 1
    # The same bookkeeping as plain-HTTP solves: the signal, and every solve-time stat.
    assert solved == ["turnstile"]
    assert record.stats["captcha/solve_time/max"] > 0
    assert [e["success"] for e in browser_log(sandbox)] == [True]


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_two_widgets_then_submit(sandbox):
    from scrapy_playwright.page import PageMethod

    got = []

    class Spider(scrapy.Spider):
        name = "two"

        def __init__(self, start_url, record, **kw):
            super().__init__(**kw)
            self.start_url, self.record = start_url, record

        async def start(self):
            self.solver = Solver("sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2,
                                 poll_interval=0.3)
            yield scrapy.Request(self.start_url + "/browser/two", callback=self.parse, meta={
                "playwright": True,
                "playwright_page_init_callback": "tests.test_browser.prepare_offline_with_init_script",
                "playwright_page_methods": [
                    PageMethod("wait_for_selector", "#second textarea", state="attached"),
                    PageMethod(solve_page, solver=self.solver),
                    PageMethod("click", "#send"),
                    PageMethod("wait_for_selector", "#outcome"),
                ]})

        def parse(self, response):
            got.append(response.css("#outcome::text").get())

    await crawl(sandbox, Spider, **playwright_settings())
    assert got == ["both verified"]
    assert [e["success"] for e in browser_log(sandbox)] == [True, True]


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_unsolvable_is_rescheduled_then_dropped(sandbox):
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "error": "ERROR_CAPTCHA_UNSOLVABLE", "times": -1}])
    failures, signalled = [], []

    class Spider(scrapy.Spider):
        name = "unsolvable"

        def __init__(self, start_url, record, **kw):
            super().__init__(**kw)
            self.start_url, self.record = start_url, record

        @classmethod
        def from_crawler(cls, crawler, *args, **kwargs):
            from scrapy_captcha import signals as captcha_signals

            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(lambda request, code, reason, **kw: signalled.append(code),
                                    signal=captcha_signals.captcha_dropped, weak=False)
            return spider

        async def start(self):
            yield scrapy.Request(self.start_url + "/browser/cf", callback=self.parse, errback=self.failed, meta={
                "playwright": True, "playwright_page_init_callback": "tests.test_browser.offline_page"})

        def parse(self, response):
            raise AssertionError("the challenge cannot have passed")

        def failed(self, failure):
            failures.append(failure.value)

    record = await crawl(sandbox, Spider, **playwright_settings(CAPTCHA_MAX_RETRIES=1))
    assert [getattr(f, "code", None) for f in failures] == ["ERROR_CAPTCHA_UNSOLVABLE"]
    assert signalled == ["ERROR_CAPTCHA_UNSOLVABLE"]  # same signal as HTTP gates
    assert record.stats["captcha/rescheduled/ERROR_CAPTCHA_UNSOLVABLE"] == 1
    assert record.stats["captcha/dropped/ERROR_CAPTCHA_UNSOLVABLE"] == 1
    assert browser_log(sandbox) == []
