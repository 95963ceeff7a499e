"""Demo pages that only a browser can pass, under ``/browser/``.

Their markup loads the vendors' real script URLs; a test (or the example
spider) routes those URLs to the stand-ins served under ``/vendor/``.
Every token reaches ``POST /browser/verify`` (or a form endpoint), which
checks it like siteverify and records it in ``state.browser_log``.
"""

from __future__ import annotations

import html
import secrets
from importlib import resources
from typing import Any

from aiohttp import web

from .tokens import DEMO_HCAPTCHA_SITEKEY, DEMO_KEYS, DEMO_SITEKEY, DEMO_SITEKEY_2, DEMO_TURNSTILE_SITEKEY

#: The vendors' script URLs, and the stand-in each is routed to.
VENDOR_SCRIPTS = {
    "https://www.google.com/recaptcha/api.js": "recaptcha.js",
    "https://www.google.com/recaptcha/enterprise.js": "recaptcha.js",
    "https://js.hcaptcha.com/1/api.js": "hcaptcha.js",
    "https://challenges.cloudflare.com/turnstile/v0/api.js": "turnstile.js",
}
CLEARANCE_COOKIE = "cf_clearance"
PAGES = ("xhr", "v3", "hcaptcha", "turnstile", "two", "iframe", "cf")

_POST = """function report(page, kind, token, extra) {
  return fetch('/browser/verify', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(Object.assign({page: page, kind: kind, token: token}, extra || {}))})
    .then(function (r) { return r.json(); })
    .then(function (d) { document.getElementById('result').textContent = d.success ? 'verified' : 'refused'; });
}"""


def _doc(title: str, head: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"{head}<script>{_POST}</script></head><body>{body}"
            '<p id="result">waiting</p></body></html>')


def _pages(port_other: str) -> dict[str, str]:
    return {
        # A widget rendered by script; its callback posts the token by XHR.
        "xhr": _doc("Sign up", '<script src="https://www.google.com/recaptcha/api.js?onload=onLoad&render=explicit" '
                    'async defer></script>',
                    '<form id="f"><input name="email" value="a@example.com"><div id="box"></div></form><script>'
                    "function onLoad() { grecaptcha.render('box', {sitekey: '%s', callback: function (token) {"
                    " report('xhr', 'recaptcha', token); }}); }</script>" % DEMO_SITEKEY),
        # v3: the action exists only in the execute() call.
        "v3": _doc("Browse", f'<script src="https://www.google.com/recaptcha/api.js?render={DEMO_SITEKEY}"></script>',
                   "<main>Products</main><script>grecaptcha.ready(function () {"
                   f" grecaptcha.execute('{DEMO_SITEKEY}', {{action: 'browse'}}).then(function (token) {{"
                   " report('v3', 'recaptcha', token, {action: 'browse'}); }); });</script>"),
        "hcaptcha": _doc("Log in", '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>',
                         f'<form><input name="user" value="demo"><div class="h-captcha" '
                         f'data-sitekey="{DEMO_HCAPTCHA_SITEKEY}" data-callback="onHc">'
                         "</div></form><script>function onHc(token) { report('hcaptcha', 'hcaptcha', token); }</script>"),
        # Turnstile with action and cData, and a dotted callback name.
        "turnstile": _doc("Contact", '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer>'
                          "</script>",
                          f'<form><textarea name="message">Hello</textarea><div class="cf-turnstile" '
                          f'data-sitekey="{DEMO_TURNSTILE_SITEKEY}" data-action="login"'
                          ' data-cdata="c-42" data-callback="app.onTurnstile"></div></form><script>var app = {'
                          "onTurnstile: function (t) { report('turnstile', 'turnstile', t, {action: 'login',"
                          " cdata: 'c-42'}); }};</script>"),
        # Two widgets in one form: each token must land in its own widget's field.
        "two": _doc("Two checks", '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
                    '<form id="two" action="/browser/two/verify" method="POST"><input name="name" value="demo">'
                    f'<div class="g-recaptcha" id="first" data-sitekey="{DEMO_SITEKEY}"></div>'
                    f'<div class="g-recaptcha" id="second" data-sitekey="{DEMO_SITEKEY_2}"></div>'
                    '<button id="send" type="submit">Send</button></form>'),
        # A widget inside a cross-origin iframe (the other loopback name).
        "iframe": _doc("Embedded", "", f'<iframe id="embed" src="{port_other}/browser/xhr" width="400" height="300">'
                       "</iframe>"),
    }


def _cf_page(ray: str) -> str:
    return ("<!DOCTYPE html><html><head><title>Just a moment...</title>"
            '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit&onload=chlLoad">'
            "</script></head><body><div id=\"cf-chl-widget\"></div>"
            '<form id="challenge-form" action="/browser/cf/verify" method="POST">'
            '<input type="hidden" name="token" id="cf-token"><input type="hidden" name="next" value="/browser/cf/content">'
            "</form><script>window._cf_chl_opt={cType: 'managed', cRay: '%s', chlApiSitekey: '%s'};"
            "function chlLoad() { turnstile.render('#cf-chl-widget', {sitekey: '%s', action: 'managed',"
            " cData: 'ray-%s', chlPageData: 'pd-77aa', callback: function (t) {"
            " document.getElementById('cf-token').value = t; document.getElementById('challenge-form').submit(); }}); }"
            "</script></body></html>") % (ray, DEMO_TURNSTILE_SITEKEY, DEMO_TURNSTILE_SITEKEY, ray)


def add_routes(app: web.Application, state: Any) -> None:
    clearances: set[str] = set()

    def verify(kind_key: str, token: str, host: str) -> dict[str, Any]:
        return state.authority.siteverify(DEMO_KEYS[kind_key], token, host)

    def other_origin(request: web.Request) -> str:
        host = "localhost" if request.url.host == "127.0.0.1" else "127.0.0.1"
        return f"http://{host}:{request.url.port}"

    async def vendor(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in set(VENDOR_SCRIPTS.values()):
            raise web.HTTPNotFound()
        text = resources.files(__package__).joinpath("vendor", name).read_text()
        return web.Response(text=text, content_type="application/javascript")

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pages = _pages(other_origin(request))
        if name not in pages:
            raise web.HTTPNotFound()
        return web.Response(text=pages[name], content_type="text/html")

    async def browser_verify(request: web.Request) -> web.Response:
        data = await request.json()
        key = {"recaptcha": DEMO_SITEKEY, "hcaptcha": DEMO_HCAPTCHA_SITEKEY,
               "turnstile": DEMO_TURNSTILE_SITEKEY}.get(str(data.get("kind")), DEMO_SITEKEY)
        result = verify(key, str(data.get("token", "")), request.url.host or "")
        for name in ("action", "cdata"):
            if result.get("success") and data.get(name) and result.get(name) != data[name]:
                result = {"success": False, "error-codes": [f"{name}-mismatch"]}
        state.browser_log.append({"page": data.get("page"), "host": request.url.host, **result})
        return web.json_response(result)

    async def two_verify(request: web.Request) -> web.Response:
        form = await request.post()
        # Every reCAPTCHA textarea is named g-recaptcha-response: values come in widget order.
        tokens = [str(v) for v in form.getall("g-recaptcha-response", [])] + ["", ""]
        first = verify(DEMO_SITEKEY, tokens[0], request.url.host or "")
        second = verify(DEMO_SITEKEY_2, tokens[1], request.url.host or "")
        for widget, result in (("first", first), ("second", second)):
            state.browser_log.append({"page": "two", "widget": widget, **result})
        ok = first.get("success") and second.get("success")
        return web.Response(text=_doc("Result", "", f'<p id="outcome">{"both verified" if ok else "refused"}</p>'),
                            content_type="text/html", status=200 if ok else 403)

    async def cf(request: web.Request) -> web.Response:
        if request.cookies.get(CLEARANCE_COOKIE) in clearances:
            raise web.HTTPFound("/browser/cf/content")
        return web.Response(status=403, text=_cf_page(secrets.token_hex(8)), content_type="text/html",
                            headers={"cf-mitigated": "challenge"})

    async def cf_verify(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        result = verify(DEMO_TURNSTILE_SITEKEY, str(form.get("token", "")), request.url.host or "")
        if result.get("success") and (result.get("action") != "managed" or result.get("chl_page_data") != "pd-77aa"
                                      or not str(result.get("cdata", "")).startswith("ray-")):
            result = {"success": False, "error-codes": ["challenge-parameters-mismatch"]}
        state.browser_log.append({"page": "cf", **result})
        if not result.get("success"):
            return web.Response(status=403, text=_cf_page(secrets.token_hex(8)), content_type="text/html",
                                headers={"cf-mitigated": "challenge"})
        clearance = secrets.token_urlsafe(24)
        clearances.add(clearance)
        response = web.HTTPFound(str(form.get("next") or "/browser/cf/content"))
        response.set_cookie(CLEARANCE_COOKIE, clearance, httponly=True, path="/")
        raise response

    async def cf_content(request: web.Request) -> web.Response:
        if request.cookies.get(CLEARANCE_COOKIE) not in clearances:
            return web.Response(status=403, text=_cf_page(secrets.token_hex(8)), content_type="text/html",
                                headers={"cf-mitigated": "challenge"})
        return web.Response(text=_doc("Protected", "", '<article class="protected"><h1>Clearance granted</h1>'
                                      "<p>The page behind the challenge.</p></article>"), content_type="text/html")

    async def log(request: web.Request) -> web.Response:
        return web.json_response(state.browser_log)

    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_get("/browser/cf", cf)
    app.router.add_post("/browser/cf/verify", cf_verify)
    app.router.add_get("/browser/cf/content", cf_content)
    app.router.add_post("/browser/verify", browser_verify)
    app.router.add_post("/browser/two/verify", two_verify)
    app.router.add_get("/_sandbox/browser/log", log)
    app.router.add_get("/browser/{name}", page)


def script_for(url: str) -> str | None:
    """The stand-in file name for a vendor script URL (query ignored), or None."""
    return VENDOR_SCRIPTS.get(url.split("?", 1)[0])


__all__ = ["VENDOR_SCRIPTS", "PAGES", "add_routes", "script_for", "chromium_launch_options", "route_offline"]


def chromium_launch_options() -> dict[str, Any]:
    """Launch options for a loopback-only Chromium: the system one where present."""
    import os

    options: dict[str, Any] = {"args": ["--no-sandbox", "--disable-background-networking",
                                        "--disable-component-update", "--disable-sync"]}
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(path):
            options["executable_path"] = path
            break
    return options


async def route_offline(target: Any) -> None:
    """Route a Playwright page or context: the vendors' script URLs get the sandbox
    stand-ins, loopback goes through, anything else is aborted (no internet)."""
    from urllib.parse import urlsplit

    async def handle(route: Any) -> None:
        url = route.request.url
        name = script_for(url)
        if name is not None:
            body = resources.files(__package__).joinpath("vendor", name).read_text()
            await route.fulfill(status=200, body=body, content_type="application/javascript")
        elif urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1") or url.startswith(("data:", "about:")):
            await route.continue_()
        else:
            await route.abort()

    await target.route("**/*", handle)


async def offline_page_init(page: Any, request: Any) -> None:
    """scrapy-playwright page init callback for the sandbox: see :func:`route_offline`."""
    await route_offline(page)
