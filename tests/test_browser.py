"""solve_page in real Chromium (system package), loopback only.

The demo pages load the vendors' real script URLs, routed to the sandbox's
stand-ins, which keep widget state where the real scripts do; the site's
server verifies every token against the widget it belongs to. Each page runs
with the init script (installed before navigation) and without it (as
``PageMethod(solve_page)`` users run it, after the page loaded).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from scrapy_captcha import Reaction, ServiceError, Solver
from scrapy_captcha.browser import add_init_script, find_widgets, solve_page, wait_for_widgets
from scrapy_captcha.detect import detect
from scrapy_captcha.sandbox import browser_pages as bp
from scrapy_captcha.sandbox.browser_pages import chromium_launch_options, route_offline
from scrapy_captcha.sandbox.tokens import DEMO_SITEKEY, DEMO_SITEKEY_2, DEMO_TURNSTILE_SITEKEY

from .crawling import aio

if os.environ.get("CI") == "true":
    import playwright.async_api as playwright  # in CI these tests run, never skip
else:
    playwright = pytest.importorskip("playwright.async_api")

MODES = [pytest.param(True, id="init-script"), pytest.param(False, id="no-init-script")]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def browser_log(sandbox) -> list[dict[str, Any]]:
    return _get(sandbox.site_url + "/_sandbox/browser/log")


async def log_when(sandbox, entries: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The site's verification log once it holds ``entries`` entries (or at the timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        log = await asyncio.to_thread(browser_log, sandbox)
        if len(log) >= entries or loop.time() > deadline:
            return log
        await asyncio.sleep(0.1)


async def in_page(sandbox, path: str, body: Callable[[Any, Solver], Awaitable[Any]], *, init: bool = True) -> Any:
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(**chromium_launch_options())
        try:
            context = await browser.new_context()
            await route_offline(context)
            if init:
                await add_init_script(context)
            page = await context.new_page()
            await page.goto(sandbox.site_url + path)
            async with Solver("sandbox", api_key="browser-key", api_url=sandbox.service_url, first_poll=0.2,
                              poll_interval=0.3, timeout=30) as solver:
                return await body(page, solver)
        finally:
            await browser.close()


async def rendered(page, count: int, timeout: float = 10.0) -> list[Any]:
    """Wait until ``count`` widgets in the page and its frames can take a token."""
    return [w for w in await wait_for_widgets(page, count, timeout=timeout) if not w.reason]


async def response_of(page, result) -> str | None:
    """What the vendor's own API answers for this widget: grecaptcha/hcaptcha/turnstile.getResponse(id);
    for markup no vendor script rendered, the value of its response field (each one's own)."""
    frame = next(f for f in page.frames if f.url == result.frame_url)
    if result.widget_id is None:
        return await frame.evaluate(
            "key => document.querySelector(`[data-sitekey='${key}'] textarea[name=g-recaptcha-response]`).value",
            result.sitekey)
    api = {"recaptcha_v2": "grecaptcha", "hcaptcha": "hcaptcha", "turnstile": "turnstile"}[result.kind]
    return await frame.evaluate(
        "([api, id]) => { const g = window[api];"
        " const o = (g && g.enterprise && g.enterprise.getResponse) ? g.enterprise : g;"
        " return o.getResponse(api === 'grecaptcha' ? Number(id) : id); }", [api, result.widget_id])


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


# Each page's widgets: (frame path, kind, sitekey, fields, callback solve_page calls, the site's name for it).
MULTI = {
    # The case: api.js renders both itself, each names its own data-callback.
    "auto2": [("/browser/auto2", "recaptcha_v2", bp.AUTO_FIRST_SITEKEY, {"g-recaptcha-response"}, "onFirst", "first"),
              ("/browser/auto2", "recaptcha_v2", bp.AUTO_SECOND_SITEKEY, {"g-recaptcha-response"}, "onSecond",
               "second")],
    # The same as a saved page holds them, without api.js: found from the DOM alone, each numbered apart.
    "saved": [("/browser/saved", "recaptcha_v2", bp.AUTO_FIRST_SITEKEY, {"g-recaptcha-response"}, "onFirst", "first"),
              ("/browser/saved", "recaptcha_v2", bp.AUTO_SECOND_SITEKEY, {"g-recaptcha-response"}, "onSecond",
               "second")],
    # One vendor each: reCAPTCHA rendered explicitly with a function callback, the others by their scripts.
    "mixed": [("/browser/mixed", "recaptcha_v2", bp.MIXED_RECAPTCHA_SITEKEY, {"g-recaptcha-response"}, "function",
               "recaptcha"),
              ("/browser/mixed", "hcaptcha", bp.MIXED_HCAPTCHA_SITEKEY, {"h-captcha-response"}, "onHcaptcha",
               "hcaptcha"),
              ("/browser/mixed", "turnstile", bp.MIXED_TURNSTILE_SITEKEY, {"cf-turnstile-response"}, "onTurnstile",
               "turnstile")],
    # reCAPTCHA Enterprise rendered by enterprise.js, its action in data-action.
    "enterprise": [("/browser/enterprise", "recaptcha_v2", bp.ENTERPRISE_SITEKEY, {"g-recaptcha-response"}, "onLogin",
                    "login")],
    # The page, a same-origin iframe, and a cross-origin iframe (the other loopback name) with two vendors.
    "frames": [("/browser/frames", "turnstile", bp.TOP_TURNSTILE_SITEKEY, {"cf-turnstile-response"}, "onTop", "top"),
               ("/browser/embed/same", "recaptcha_v2", bp.FRAME_RECAPTCHA_SITEKEY, {"g-recaptcha-response"}, "onSame",
                "same-origin"),
               ("/browser/embed/cross", "recaptcha_v2", bp.CROSS_RECAPTCHA_SITEKEY, {"g-recaptcha-response"}, "onRc",
                "cross-recaptcha"),
               ("/browser/embed/cross", "hcaptcha", bp.CROSS_HCAPTCHA_SITEKEY,
                {"h-captcha-response"}, "onHc", "cross-hcaptcha")],
}


@pytest.mark.parametrize("init", MODES)
@pytest.mark.parametrize("name", sorted(MULTI))
@pytest_twisted.ensureDeferred
async def test_several_widgets_each_get_their_own_token_field_and_callback(sandbox, name, init):
    expected = MULTI[name]

    async def body(page, solver):
        await rendered(page, len(expected))
        results = await solve_page(page, solver)
        log = await log_when(sandbox, len(expected))
        answers = [await response_of(page, r) for r in results]
        return results, answers, log

    results, answers, log = await aio(in_page(sandbox, f"/browser/{name}", body, init=init))
    got = sorted((r.frame_url.split(":", 2)[2].split("/", 1)[1], r.kind, r.sitekey, frozenset(r.fields), r.callback)
                 for r in results)
    assert got == sorted(("/".join(path.split("/")[1:]), kind, key, frozenset(fields), callback)
                         for path, kind, key, fields, callback, _ in expected)
    assert all(r.solved and not r.reason for r in results)
    # What the service was asked: enterprise only for enterprise.js, the action where the page has one.
    assert [r.challenge.enterprise for r in results] == [name == "enterprise"] * len(results)
    if name == "enterprise":
        assert (results[0].challenge.action, results[0].challenge.page_url) == ("login", results[0].frame_url)
    # Each widget's own token, where the vendor's API reads it, and no two alike.
    tokens = [r.solution.token for r in results]
    assert answers == tokens and len(set(tokens)) == len(tokens)
    # The site verified each widget's token against that widget's key: once each, all accepted.
    assert sorted((e["widget"], e["success"]) for e in log) == sorted((w[-1], True) for w in expected), log
    assert sandbox.state()["calls"]["createTask"] == len(expected)  # nothing bought twice
    if name == "frames":
        hosts = {e["widget"]: e["host"] for e in log}
        assert hosts["cross-recaptcha"] == hosts["cross-hcaptcha"] == "localhost" != hosts["top"]


@pytest.mark.parametrize("init", MODES)
@pytest_twisted.ensureDeferred
async def test_two_widgets_in_one_form_each_get_their_own_token(sandbox, init):
    async def body(page, solver):
        await rendered(page, 2)
        results = await solve_page(page, solver)
        answers = [await response_of(page, r) for r in results]
        await page.click("#send")
        await page.wait_for_selector("#outcome")
        return results, answers, await page.text_content("#outcome")

    results, answers, outcome = await aio(in_page(sandbox, "/browser/two", body, init=init))
    assert outcome == "both verified", browser_log(sandbox)
    assert [(r.sitekey, r.widget_id, r.fields) for r in results] == [(DEMO_SITEKEY, "0", ["g-recaptcha-response"]),
                                                                     (DEMO_SITEKEY_2, "1", ["g-recaptcha-response"])]
    assert answers == [r.solution.token for r in results]
    assert [(e["widget"], e["success"]) for e in browser_log(sandbox)] == [("first", True), ("second", True)]


@pytest_twisted.ensureDeferred
async def test_swapped_tokens_are_refused(sandbox):
    """The check the page tests rely on: a token in the other widget's field does not pass."""
    async def body(page, solver):
        await rendered(page, 2)
        await solve_page(page, solver)
        await page.evaluate("() => { const [a, b] = document.querySelectorAll('textarea[name=g-recaptcha-response]');"
                            " [a.value, b.value] = [b.value, a.value]; }")
        await page.click("#send")
        await page.wait_for_selector("#outcome")
        return await page.text_content("#outcome")

    assert await aio(in_page(sandbox, "/browser/two", body, init=False)) == "refused"
    assert [(e["widget"], e["success"], e["error-codes"]) for e in browser_log(sandbox)] == [
        ("first", False, ["invalid-input-secret"]), ("second", False, ["invalid-input-secret"])]


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
async def test_explicit_turnstile_without_the_init_script(sandbox):
    """Without the init script, the sitekey of an explicitly rendered Turnstile shows only in its iframe's
    URL (the iframe sits in a closed shadow root); the token goes into the widget's own input, but the
    function passed to turnstile.render is out of reach: the result says no callback was called."""
    async def body(page, solver):
        await rendered(page, 1)
        results = await solve_page(page, solver)
        return results, [await response_of(page, r) for r in results], page.url

    results, answers, url = await aio(in_page(sandbox, "/browser/cf", body, init=False))
    assert [(r.kind, r.sitekey, r.solved, r.fields, r.callback) for r in results] == [
        ("turnstile", DEMO_TURNSTILE_SITEKEY, True, ["cf-turnstile-response"], None)]
    assert answers == [results[0].solution.token]
    assert url.endswith("/browser/cf") and browser_log(sandbox) == []


@pytest_twisted.ensureDeferred
async def test_v3_without_the_init_script_is_reported_not_bought(sandbox):
    """Without the init script the page's execute() is answered by Google itself (a bot's score, refused
    here); solve_page reports the v3 client and buys nothing."""
    async def body(page, solver):
        await page.wait_for_function("document.getElementById('result').textContent === 'refused'")
        return await solve_page(page, solver)

    results = await aio(in_page(sandbox, "/browser/v3", body, init=False))
    assert [(r.kind, r.sitekey, r.widget_id, r.solved) for r in results] == [
        ("recaptcha_v3", DEMO_SITEKEY, "100000", False)]
    assert results[0].reason
    assert sandbox.state()["calls"].get("createTask", 0) == 0


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


# ---------------------------------------------------------------- the stand-ins


@pytest_twisted.ensureDeferred
async def test_stand_ins_keep_widget_state_where_the_real_scripts_do(sandbox):
    """What the tests above lean on: auto-rendering bypasses the public render(), reCAPTCHA's client
    state sits under minified keys that change per load, v3 clients count from 100000, hCaptcha marks
    its iframes, Turnstile hides its iframe in a closed shadow root."""
    shape = ("() => { const c = window.___grecaptcha_cfg.clients;"
             " return {ids: Object.keys(c), keys: Object.keys(c[0]).sort().join(','),"
             " areas: Array.from(document.querySelectorAll('textarea[name=g-recaptcha-response]')).map(t => t.id),"
             " recorded: window.__scrapyCaptcha.widgets.length}; }")

    async def body(page, solver):
        await rendered(page, 2)
        first = await page.evaluate(shape)
        await page.reload()
        await rendered(page, 2)
        second = await page.evaluate(shape)
        await page.goto(sandbox.site_url + "/browser/mixed")
        await rendered(page, 3)
        mixed = await page.evaluate(
            "() => ({hc: document.querySelectorAll('iframe[data-hcaptcha-widget-id]').length,"
            " hcAreas: Array.from(document.querySelectorAll('.h-captcha textarea'))"
            ".map(t => t.id.split('-').slice(0, 3).join('-')),"
            " tsFramesInDom: document.querySelectorAll('.cf-turnstile iframe').length,"
            " tsInput: document.querySelector('.cf-turnstile input').id.replace(/-[0-9a-z]{5}_/, '-X_'),"
            " recorded: window.__scrapyCaptcha.widgets.map(w => w.vendor)})")
        ts_frames = [f.url for f in page.frames if "/turnstile/if/" in f.url]
        await page.goto(sandbox.site_url + "/browser/v3")
        v3 = await page.evaluate("() => Object.keys(window.___grecaptcha_cfg.clients)")
        return first, second, mixed, ts_frames, v3

    first, second, mixed, ts_frames, v3 = await aio(in_page(sandbox, "/browser/auto2", body))
    assert first["ids"] == ["0", "1"] and first["areas"] == ["g-recaptcha-response", "g-recaptcha-response-1"]
    assert first["recorded"] == 0  # api.js rendered them without its public render()
    assert first["keys"] != second["keys"]  # minified names differ between loads
    assert mixed["hc"] == 1 and mixed["hcAreas"] == ["h-captcha-response"]  # recaptchacompat=off
    assert mixed["tsFramesInDom"] == 0 and len(ts_frames) == 1 and bp.MIXED_TURNSTILE_SITEKEY in ts_frames[0]
    assert mixed["tsInput"] == "cf-chl-widget-X_response"
    assert mixed["recorded"] == ["recaptcha"]  # only the explicit render went through the public API
    assert v3 == ["100000"]


# ---------------------------------------------------------------- real-world pages

REALWORLD = Path(os.environ.get("SCRAPY_CAPTCHA_REALWORLD")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "realworld")
BROWSER_KINDS = {"recaptcha_v2", "recaptcha_v3", "hcaptcha", "turnstile"}
#: Captured pages whose widget exists in the live page offline (with the vendor scripts routed to
#: the stand-ins and everything else aborted), by file-name prefix. Left out: pages whose widget is
#: drawn by a script we abort (Cloudflare's cf.challenge.js, jQuery-dependent plugins), rendered on a
#: click, or that navigate away (a consent redirect); detect() still finds those statically.
REALWORLD_SAMPLE = {
    "023": "hCaptcha gate page, auto-rendered",
    "024": "reCAPTCHA v3 gate: execute(key, {action}) on load (init script only: without it Google answers)",
    "028": "Jetpack share form, auto-rendered v2",
    "030": "Contact Form 7 v3, execute on load",
    "047": "site-wide v3 (render=KEY), no execute yet",
    "057": "saved DOM: rendered invisible anchor iframe and textarea, no api.js",
    "067": "comment form, auto-rendered v2",
    "071": "Joomla: explicit render by a plugin script that is not there (unrendered markup)",
    "073": "unquoted attributes, data-size=compact, auto-rendered",
    "074": "protocol-relative api.js URL",
    "077": "saved DOM: rendered bubble and textarea, no api.js",
    "078": "invisible, data-badge=inline, data-callback",
    "081": "explicit render, size invisible",
    "083": "explicit render into an element id",
    "084": "two explicit renders (login, registration) with one key, api.js loaded twice",
    "096": "v3 client and an explicit v2 render of the same key",
    "097": "hCaptcha markup without its script",
    "098": "Turnstile markup without its script",
}


def _realworld_cases() -> list[dict[str, Any]]:
    if not (REALWORLD / "manifest.json").exists():
        if os.environ.get("CI") == "true":
            raise AssertionError(f"the real-world corpus is missing at {REALWORLD} (set SCRAPY_CAPTCHA_REALWORLD)")
        pytest.skip(f"no real-world corpus at {REALWORLD}")
    cases = [c for c in json.loads((REALWORLD / "manifest.json").read_text()) if c["file"][:3] in REALWORLD_SAMPLE]
    assert len(cases) == len(REALWORLD_SAMPLE)
    return cases


@pytest.mark.parametrize("init", MODES)
@pytest_twisted.ensureDeferred
async def test_real_world_pages_solve_page_finds_what_detect_finds(sandbox, init):
    cases = _realworld_cases()
    if not init:
        cases = [c for c in cases if c["file"][:3] != "024"]
    bodies = {c["file"]: (REALWORLD / "pages" / c["file"]).read_bytes() for c in cases}
    detected = {c["file"]: [ch for ch in detect(bodies[c["file"]], url=c["url"], status=c["status"],
                                                headers=c.get("headers"))
                            if ch.kind in BROWSER_KINDS and ch.sitekey] for c in cases}
    # The emulated vendor learns these pages' keys, so the emulated service can solve them.
    keys = sorted({ch.sitekey for found in detected.values() for ch in found})
    request = urllib.request.Request(sandbox.site_url + "/_sandbox/browser/keys", method="POST",
                                     data=json.dumps({"sitekeys": keys}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()  # noqa: ASYNC210 (set-up, before the browser starts)

    async def one(browser, solver, case: dict[str, Any]) -> list[str]:
        name = case["file"]
        context = await browser.new_context()
        try:
            await route_offline(context, documents={
                case["url"]: (case["status"], {"Content-Type": "text/html"}, bodies[name])})
            if init:
                await add_init_script(context)
            page = await context.new_page()
            await page.goto(case["url"], wait_until="domcontentloaded")
            await _showing(page, {ch.sitekey for ch in detected[name]})
            results = await solve_page(page, solver)
            return await _compare(page, case, detected[name], results)
        finally:
            await context.close()

    async def run() -> list[str]:
        async with playwright.async_playwright() as p, Solver(
                "sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2, poll_interval=0.3) as solver:
            browser = await p.chromium.launch(**chromium_launch_options())
            lanes = asyncio.Semaphore(3)  # a few pages at a time: the machine has 2 cores

            async def lane(case: dict[str, Any]) -> list[str]:
                async with lanes:
                    return await one(browser, solver, case)

            try:
                found = await asyncio.gather(*(lane(case) for case in cases))
            finally:
                await browser.close()
        return [problem for problems in found for problem in problems]

    problems = await aio(run())
    assert problems == []


async def _showing(page, sitekeys: set[str], timeout: float = 5.0) -> None:
    """Wait (bounded) until the live page shows a widget for each of ``sitekeys``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not sitekeys <= {w.sitekey for w in await find_widgets(page)}:
        await asyncio.sleep(0.1)


async def _compare(page, case: dict[str, Any], detected: list[Any], results: list[Any]) -> list[str]:
    name = case["file"]
    kinds: dict[str, set[str]] = {}
    for ch in detected:
        kinds.setdefault(ch.sitekey, set()).add(ch.kind)
    for exp in case["expect"]:
        for answer in [exp, *exp.get("alt", [])]:
            if answer.get("sitekey"):
                kinds.setdefault(answer["sitekey"], set()).add(answer["kind"])
    problems = []
    for ch in detected:
        if not any(r.sitekey == ch.sitekey and r.kind in kinds[ch.sitekey] for r in results):
            problems.append(f"{name}: detect() found {ch.kind} {ch.sitekey}, solve_page did not: {results}")
    for r in results:
        if r.kind not in kinds.get(r.sitekey or "", set()):
            problems.append(f"{name}: solve_page found {r.kind} {r.sitekey} that the page does not hold")
        if r.solved and r.widget_id is not None and r.kind != "recaptcha_v3":
            try:
                answer = await response_of(page, r)
            except Exception as exc:  # the widget's callback submitted its form: the page moved on
                if r.callback is None or "navigation" not in str(exc):
                    problems.append(f"{name}: widget {r.widget_id} unreadable: {exc}")
                continue
            if answer != r.solution.token:
                problems.append(f"{name}: widget {r.widget_id} answers {answer!r}, not its own token")
        if r.solved and not r.fields and r.callback is None:
            problems.append(f"{name}: {r.kind} solved with nowhere to put the token")
    tokens = [r.solution.token for r in results if r.solved]
    if len(set(tokens)) != len(tokens):
        problems.append(f"{name}: a token was reused")
    return problems


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


@pytest_twisted.ensureDeferred
async def test_scrapy_playwright_page_method_without_init_script(sandbox):
    """The issue's case: PageMethod(solve_page) with no init script, two widgets api.js rendered itself."""
    from scrapy_playwright.page import PageMethod

    got = []

    class Spider(scrapy.Spider):
        name = "pm_noinit"

        def __init__(self, start_url, record, **kw):
            super().__init__(**kw)
            self.start_url, self.record = start_url, record

        async def start(self):
            self.solver = Solver("sandbox", api_key="k", api_url=sandbox.service_url, first_poll=0.2,
                                 poll_interval=0.3)
            yield scrapy.Request(self.start_url + "/browser/auto2", callback=self.parse, meta={
                "playwright": True,
                "playwright_page_init_callback": "tests.test_browser.offline_page",
                "playwright_page_methods": [
                    PageMethod("wait_for_function",
                               "document.querySelectorAll('textarea[name=g-recaptcha-response]').length === 2"),
                    PageMethod(solve_page, solver=self.solver),
                    PageMethod("wait_for_function", "document.getElementById('result').textContent === 'verified'"),
                ]})

        def parse(self, response):
            got.append([response.css(f"#result-{w}::text").get() for w in ("first", "second")])

    await crawl(sandbox, Spider, **playwright_settings())
    assert got == [["verified", "verified"]]
    assert sorted((e["widget"], e["success"]) for e in browser_log(sandbox)) == [("first", True), ("second", True)]
