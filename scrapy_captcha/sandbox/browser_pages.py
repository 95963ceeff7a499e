"""Demo pages that only a browser can pass, under ``/browser/``.

Their markup loads the vendors' real script URLs; a test (or the example
spider) routes those URLs, and the vendors' widget frames, to the stand-ins
in ``vendor/`` (:func:`route_offline`). Every token reaches the site's
server: ``POST /browser/verify`` names the page and the widget, and the
server checks the token against *that widget's* sitekey, like siteverify,
recording each check in ``state.browser_log`` (``GET /_sandbox/browser/log``).
A token put into the wrong widget is refused: tokens are bound to their sitekey.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .tokens import DEMO_HCAPTCHA_SITEKEY, DEMO_SITEKEY, DEMO_SITEKEY_2, DEMO_TURNSTILE_SITEKEY

#: More demo keys, one per widget of the multi-widget pages (sitekey -> secret).
AUTO_FIRST_SITEKEY = "6LcSANDBOXautoRenderedFirstWidgetKey--03"
AUTO_SECOND_SITEKEY = "6LcSANDBOXautoRenderedSecondWidgetKey-04"
MIXED_RECAPTCHA_SITEKEY = "6LcSANDBOXmixedPageExplicitRenderKey-05"
FRAME_RECAPTCHA_SITEKEY = "6LcSANDBOXsameOriginFrameWidgetKey---06"
CROSS_RECAPTCHA_SITEKEY = "6LcSANDBOXcrossOriginFrameWidgetKey--07"
MIXED_HCAPTCHA_SITEKEY = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
CROSS_HCAPTCHA_SITEKEY = "8e2f3a4b-5c6d-4e7f-8a91-92a3b4c5d6e7"
MIXED_TURNSTILE_SITEKEY = "0x4AAAAAAASandboxMixedKey02"
TOP_TURNSTILE_SITEKEY = "0x4AAAAAAASandboxFramesKey03"
ENTERPRISE_SITEKEY = "6LcSANDBOXenterpriseCheckboxKeyLogin--08"
BROWSER_KEYS = {key: "secret-" + key[-12:] for key in (
    AUTO_FIRST_SITEKEY, AUTO_SECOND_SITEKEY, MIXED_RECAPTCHA_SITEKEY, FRAME_RECAPTCHA_SITEKEY,
    CROSS_RECAPTCHA_SITEKEY, MIXED_HCAPTCHA_SITEKEY, CROSS_HCAPTCHA_SITEKEY, MIXED_TURNSTILE_SITEKEY,
    TOP_TURNSTILE_SITEKEY, ENTERPRISE_SITEKEY)}

#: The vendors' script URLs (scheme and host aside, query ignored), and the stand-in each is routed to.
VENDOR_SCRIPTS = {
    "https://www.google.com/recaptcha/api.js": "recaptcha.js",
    "https://www.google.com/recaptcha/enterprise.js": "recaptcha.js",
    "https://www.recaptcha.net/recaptcha/api.js": "recaptcha.js",
    "https://www.recaptcha.net/recaptcha/enterprise.js": "recaptcha.js",
    "https://js.hcaptcha.com/1/api.js": "hcaptcha.js",
    "https://hcaptcha.com/1/api.js": "hcaptcha.js",
    "https://challenges.cloudflare.com/turnstile/v0/api.js": "turnstile.js",
}
_RELEASE_HOSTS = ("www.gstatic.com", "www.gstatic.cn", "www.recaptcha.net", "www.google.com")
#: What the vendors' widget iframes (anchor/bframe, hCaptcha checkbox/challenge, Turnstile) get here.
WIDGET_FRAME = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>widget</title></head>"
                "<body><div role=\"checkbox\" aria-checked=\"false\">stand-in widget frame</div></body></html>")

CLEARANCE_COOKIE = "cf_clearance"
PAGES = ("xhr", "v3", "hcaptcha", "turnstile", "two", "auto2", "saved", "mixed", "frames", "enterprise", "iframe",
         "cf")

#: page -> widget -> (sitekey, fields the server also checks in siteverify's answer)
WIDGETS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "xhr": {"box": (DEMO_SITEKEY, {})},
    "v3": {"browse": (DEMO_SITEKEY, {"action": "browse"})},
    "hcaptcha": {"login": (DEMO_HCAPTCHA_SITEKEY, {})},
    "turnstile": {"contact": (DEMO_TURNSTILE_SITEKEY, {"action": "login", "cdata": "c-42"})},
    "auto2": {"first": (AUTO_FIRST_SITEKEY, {}), "second": (AUTO_SECOND_SITEKEY, {})},
    "saved": {"first": (AUTO_FIRST_SITEKEY, {}), "second": (AUTO_SECOND_SITEKEY, {})},
    "mixed": {"recaptcha": (MIXED_RECAPTCHA_SITEKEY, {}), "hcaptcha": (MIXED_HCAPTCHA_SITEKEY, {}),
              "turnstile": (MIXED_TURNSTILE_SITEKEY, {"action": "signup"})},
    "frames": {"top": (TOP_TURNSTILE_SITEKEY, {}), "same-origin": (FRAME_RECAPTCHA_SITEKEY, {}),
               "cross-recaptcha": (CROSS_RECAPTCHA_SITEKEY, {}), "cross-hcaptcha": (CROSS_HCAPTCHA_SITEKEY, {})},
    # The action is what solve_page reads and sends; most services take none for v2, so it is not checked.
    "enterprise": {"login": (ENTERPRISE_SITEKEY, {})},
}

# report(): the widget's token to the server; #result-<widget> says how it was judged, and
# #result says "verified" once every widget the page expects was verified.
_POST = """var verdicts = {};
function report(page, widget, token, extra) {
  return fetch('/browser/verify', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(Object.assign({page: page, widget: widget, token: token}, extra || {}))})
    .then(function (r) { return r.json(); })
    .then(function (d) {
      verdicts[widget] = d.success ? 'verified' : 'refused';
      var own = document.getElementById('result-' + widget);
      if (own) own.textContent = verdicts[widget];
      var expected = (document.body.getAttribute('data-widgets') || widget).split(' ');
      var all = expected.map(function (w) { return verdicts[w]; });
      var out = all.indexOf('refused') >= 0 ? 'refused'
        : all.every(function (v) { return v === 'verified'; }) ? 'verified' : 'waiting';
      document.getElementById('result').textContent = out;
    });
}"""


def _doc(title: str, head: str, body: str, widgets: str = "") -> str:
    expected = f' data-widgets="{widgets}"' if widgets else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"{head}<script>{_POST}</script></head><body{expected}>{body}"
            '<p id="result">waiting</p></body></html>')


def _pages(port_other: str) -> dict[str, str]:
    return {
        # A widget rendered by script; its callback posts the token by XHR.
        "xhr": _doc("Sign up", '<script src="https://www.google.com/recaptcha/api.js?onload=onLoad&render=explicit" '
                    'async defer></script>',
                    '<form id="f"><input name="email" value="a@example.com"><div id="box"></div></form><script>'
                    "function onLoad() { grecaptcha.render('box', {sitekey: '%s', callback: function (token) {"
                    " report('xhr', 'box', token); }}); }</script>" % DEMO_SITEKEY),
        # v3: the action exists only in the execute() call.
        "v3": _doc("Browse", f'<script src="https://www.google.com/recaptcha/api.js?render={DEMO_SITEKEY}"></script>',
                   "<main>Products</main><script>grecaptcha.ready(function () {"
                   f" grecaptcha.execute('{DEMO_SITEKEY}', {{action: 'browse'}}).then(function (token) {{"
                   " report('v3', 'browse', token, {action: 'browse'}); }); });</script>"),
        "hcaptcha": _doc("Log in", '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>',
                         f'<form><input name="user" value="demo"><div class="h-captcha" '
                         f'data-sitekey="{DEMO_HCAPTCHA_SITEKEY}" data-callback="onHc">'
                         "</div></form><script>function onHc(token) { report('hcaptcha', 'login', token); }</script>"),
        # Turnstile with action and cData, and a dotted callback name.
        "turnstile": _doc("Contact", '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer>'
                          "</script>",
                          f'<form><textarea name="message">Hello</textarea><div class="cf-turnstile" '
                          f'data-sitekey="{DEMO_TURNSTILE_SITEKEY}" data-action="login"'
                          ' data-cdata="c-42" data-callback="app.onTurnstile"></div></form><script>var app = {'
                          "onTurnstile: function (t) { report('turnstile', 'contact', t, {action: 'login',"
                          " cdata: 'c-42'}); }};</script>"),
        # Two widgets in one form, no callbacks: each token must land in its own widget's field.
        "two": _doc("Two checks", '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
                    '<form id="two" action="/browser/two/verify" method="POST"><input name="name" value="demo">'
                    f'<div class="g-recaptcha" id="first" data-sitekey="{DEMO_SITEKEY}"></div>'
                    f'<div class="g-recaptcha" id="second" data-sitekey="{DEMO_SITEKEY_2}"></div>'
                    '<button id="send" type="submit">Send</button></form>'),
        # Two widgets api.js renders by itself, each with its own data-callback (a comment form
        # and a newsletter box, as on many WordPress pages).
        "auto2": _doc("Article", '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
                      '<article><h1>Article</h1><p>Text.</p></article>'
                      '<form id="comment"><textarea name="comment">Nice</textarea>'
                      f'<div class="g-recaptcha" data-sitekey="{AUTO_FIRST_SITEKEY}" data-callback="onFirst"></div>'
                      '</form><p id="result-first">waiting</p>'
                      '<form id="newsletter"><input name="email" value="a@example.com">'
                      f'<div class="g-recaptcha" data-sitekey="{AUTO_SECOND_SITEKEY}" data-callback="onSecond"></div>'
                      '</form><p id="result-second">waiting</p><script>'
                      "function onFirst(t) { report('auto2', 'first', t); }"
                      "function onSecond(t) { report('auto2', 'second', t); }</script>", widgets="first second"),
        # The same two widgets as a saved page keeps them: rendered markup, no api.js (only the DOM tells).
        "saved": _doc("Article (saved)", "",
                      '<form id="comment">' + _saved_widget(AUTO_FIRST_SITEKEY, "onFirst", 0) + '</form>'
                      '<p id="result-first">waiting</p><form id="newsletter">'
                      + _saved_widget(AUTO_SECOND_SITEKEY, "onSecond", 1) + '</form><p id="result-second">waiting</p>'
                      "<script>function onFirst(t) { report('saved', 'first', t); }"
                      "function onSecond(t) { report('saved', 'second', t); }</script>", widgets="first second"),
        # One widget of each vendor: reCAPTCHA rendered explicitly (its callback a function),
        # hCaptcha and Turnstile rendered by their scripts (callbacks named in data-callback).
        # hCaptcha with recaptchacompat=off, as its docs ask when reCAPTCHA is on the page too.
        "mixed": _doc("Register",
                      '<script src="https://js.hcaptcha.com/1/api.js?recaptchacompat=off" async defer></script>'
                      '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>'
                      '<script src="https://www.google.com/recaptcha/api.js?onload=onRecaptcha&render=explicit"'
                      ' async defer></script>',
                      '<form id="register"><input name="user" value="demo">'
                      '<div id="rc"></div><p id="result-recaptcha">waiting</p>'
                      f'<div class="h-captcha" data-sitekey="{MIXED_HCAPTCHA_SITEKEY}"'
                      ' data-callback="onHcaptcha"></div>'
                      '<p id="result-hcaptcha">waiting</p>'
                      f'<div class="cf-turnstile" data-sitekey="{MIXED_TURNSTILE_SITEKEY}" data-action="signup"'
                      ' data-callback="onTurnstile"></div><p id="result-turnstile">waiting</p></form><script>'
                      "function onRecaptcha() { grecaptcha.render('rc', {sitekey: '%s', callback: function (t) {"
                      " report('mixed', 'recaptcha', t); }}); }"
                      "function onHcaptcha(t) { report('mixed', 'hcaptcha', t); }"
                      "function onTurnstile(t) { report('mixed', 'turnstile', t, {action: 'signup'}); }</script>"
                      % MIXED_RECAPTCHA_SITEKEY, widgets="recaptcha hcaptcha turnstile"),
        # A widget in the page, one in a same-origin iframe, two in a cross-origin iframe.
        "frames": _doc("Partners", '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer>'
                       "</script>",
                       f'<form><div class="cf-turnstile" data-sitekey="{TOP_TURNSTILE_SITEKEY}" data-callback="onTop">'
                       "</div></form>"
                       '<iframe id="same" src="/browser/embed/same" width="420" height="200"></iframe>'
                       f'<iframe id="cross" src="{port_other}/browser/embed/cross" width="420" height="300"></iframe>'
                       "<script>function onTop(t) { report('frames', 'top', t); }</script>", widgets="top"),
        # reCAPTCHA Enterprise, rendered by enterprise.js itself; the action is in the markup.
        "enterprise": _doc("Log in",
                           '<script src="https://www.google.com/recaptcha/enterprise.js" async defer></script>',
                           '<form id="login"><input name="user" value="demo">'
                           f'<div class="g-recaptcha" data-sitekey="{ENTERPRISE_SITEKEY}" data-action="login"'
                           ' data-callback="onLogin"></div></form>'
                           "<script>function onLogin(t) { report('enterprise', 'login', t); }</script>",
                           widgets="login"),
        # A widget inside a cross-origin iframe (the other loopback name).
        "iframe": _doc("Embedded", "", f'<iframe id="embed" src="{port_other}/browser/xhr" width="400" height="300">'
                       "</iframe>"),
    }


def _saved_widget(sitekey: str, callback: str, client: int) -> str:
    """A reCAPTCHA widget as api.js leaves it in the DOM (what a saved page holds)."""
    suffix = f"-{client}" if client else ""
    return (f'<div class="g-recaptcha" data-sitekey="{sitekey}" data-callback="{callback}">'
            '<div style="width: 304px; height: 78px;"><div><iframe title="reCAPTCHA" width="304" height="78" '
            f'src="https://www.google.com/recaptcha/api2/anchor?ar=1&amp;k={sitekey}&amp;hl=en&amp;size=normal"'
            f'></iframe></div><textarea id="g-recaptcha-response{suffix}" name="g-recaptcha-response" '
            'class="g-recaptcha-response" style="display: none;"></textarea></div></div>')


def _embeds() -> dict[str, str]:
    return {
        "same": _doc("Quote", '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
                     f'<form><div class="g-recaptcha" data-sitekey="{FRAME_RECAPTCHA_SITEKEY}" data-callback="onSame">'
                     "</div></form><script>function onSame(t) { report('frames', 'same-origin', t); }</script>",
                     widgets="same-origin"),
        # With reCAPTCHA on the page too, hCaptcha must not take over window.grecaptcha.
        "cross": _doc("Newsletter", '<script src="https://js.hcaptcha.com/1/api.js?recaptchacompat=off" async defer>'
                      "</script>"
                      '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
                      f'<form><div class="g-recaptcha" data-sitekey="{CROSS_RECAPTCHA_SITEKEY}" data-callback="onRc">'
                      f'</div><div class="h-captcha" data-sitekey="{CROSS_HCAPTCHA_SITEKEY}" data-callback="onHc">'
                      "</div></form><script>function onRc(t) { report('frames', 'cross-recaptcha', t); }"
                      "function onHc(t) { report('frames', 'cross-hcaptcha', t); }</script>",
                      widgets="cross-recaptcha cross-hcaptcha"),
    }


def _cf_page(ray: str) -> str:
    return ("<!DOCTYPE html><html><head><title>Just a moment...</title>"
            '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit&onload=chlLoad">'
            "</script></head><body><div id=\"cf-chl-widget\"></div>"
            '<form id="challenge-form" action="/browser/cf/verify" method="POST">'
            '<input type="hidden" name="token" id="cf-token">'
            '<input type="hidden" name="next" value="/browser/cf/content">'
            "</form><script>window._cf_chl_opt={cType: 'managed', cRay: '%s', chlApiSitekey: '%s'};"
            "function chlLoad() { turnstile.render('#cf-chl-widget', {sitekey: '%s', action: 'managed',"
            " cData: 'ray-%s', chlPageData: 'pd-77aa', callback: function (t) {"
            " document.getElementById('cf-token').value = t; document.getElementById('challenge-form').submit(); }}); }"
            "</script></body></html>") % (ray, DEMO_TURNSTILE_SITEKEY, DEMO_TURNSTILE_SITEKEY, ray)


def _stand_in(name: str) -> str:
    # (One name per joinpath: Python 3.10's Traversable takes no more.)
    return resources.files(__package__).joinpath("vendor").joinpath(name).read_text()


def add_routes(app: web.Application, state: Any) -> None:
    clearances: set[str] = set()
    # The demo site registers its widgets' keys with the (emulated) vendor.
    state.authority.keys.update(BROWSER_KEYS)

    def verify(sitekey: str, token: str, host: str) -> dict[str, Any]:
        return state.authority.siteverify(state.authority.keys[sitekey], token, host)

    def other_origin(request: web.Request) -> str:
        host = "localhost" if request.url.host == "127.0.0.1" else "127.0.0.1"
        return f"http://{host}:{request.url.port}"

    async def vendor(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in set(VENDOR_SCRIPTS.values()) | {"recaptcha_release.js"}:
            raise web.HTTPNotFound()
        return web.Response(text=_stand_in(name), content_type="application/javascript")

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pages = _pages(other_origin(request))
        if name not in pages:
            raise web.HTTPNotFound()
        return web.Response(text=pages[name], content_type="text/html")

    async def embed(request: web.Request) -> web.Response:
        embeds = _embeds()
        if request.match_info["name"] not in embeds:
            raise web.HTTPNotFound()
        return web.Response(text=embeds[request.match_info["name"]], content_type="text/html")

    async def browser_verify(request: web.Request) -> web.Response:
        data = await request.json()
        page_name, widget = str(data.get("page")), str(data.get("widget"))
        if widget not in WIDGETS.get(page_name, {}):
            return web.json_response({"success": False, "error-codes": ["unknown-widget"]}, status=400)
        sitekey, checks = WIDGETS[page_name][widget]
        result = verify(sitekey, str(data.get("token", "")), request.url.host or "")
        for name, expected in checks.items():
            if result.get("success") and result.get(name) != expected:
                result = {"success": False, "error-codes": [f"{name}-mismatch"]}
        state.browser_log.append({"page": page_name, "widget": widget, "host": request.url.host, **result})
        return web.json_response(result)

    async def two_verify(request: web.Request) -> web.Response:
        form = await request.post()
        # Every reCAPTCHA textarea is named g-recaptcha-response: values come in widget order.
        tokens = [str(v) for v in form.getall("g-recaptcha-response", [])] + ["", ""]
        first = verify(DEMO_SITEKEY, tokens[0], request.url.host or "")
        second = verify(DEMO_SITEKEY_2, tokens[1], request.url.host or "")
        for widget, result in (("first", first), ("second", second)):
            state.browser_log.append({"page": "two", "widget": widget, "host": request.url.host, **result})
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
        state.browser_log.append({"page": "cf", "widget": "challenge", "host": request.url.host, **result})
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

    async def register_keys(request: web.Request) -> web.Response:
        # Pages served from elsewhere (captured real pages) register their widgets' keys, so the
        # emulated service can solve them; nothing on this site accepts those tokens.
        data = await request.json()
        keys = [str(k) for k in data.get("sitekeys", []) if isinstance(k, str) and 0 < len(k) <= 100]
        for key in keys:
            state.authority.keys.setdefault(key, "secret-" + secrets.token_hex(8))
        return web.json_response({"registered": len(keys)})

    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_get("/browser/cf", cf)
    app.router.add_post("/browser/cf/verify", cf_verify)
    app.router.add_get("/browser/cf/content", cf_content)
    app.router.add_post("/browser/verify", browser_verify)
    app.router.add_post("/browser/two/verify", two_verify)
    app.router.add_get("/browser/embed/{name}", embed)
    app.router.add_get("/_sandbox/browser/log", log)
    app.router.add_post("/_sandbox/browser/keys", register_keys)
    app.router.add_get("/browser/{name}", page)


def script_for(url: str) -> str | None:
    """The stand-in file name for a vendor script URL (scheme, query and fragment ignored), or None."""
    parts = urlsplit(url)
    plain = f"https://{parts.hostname}{parts.path}"
    if plain in VENDOR_SCRIPTS:
        return VENDOR_SCRIPTS[plain]
    if (parts.hostname in _RELEASE_HOSTS and parts.path.startswith("/recaptcha/releases/")
            and parts.path.rsplit("/", 1)[-1].startswith("recaptcha__") and parts.path.endswith(".js")):
        return "recaptcha_release.js"
    return None


def is_widget_frame(url: str) -> bool:
    """Whether ``url`` is one of the vendors' widget iframes (reCAPTCHA anchor/bframe, hCaptcha, Turnstile)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("www.google.com", "www.recaptcha.net", "recaptcha.net", "google.com"):
        return parts.path.startswith(("/recaptcha/api2/", "/recaptcha/enterprise/"))
    if host.endswith("hcaptcha.com"):
        return parts.path.startswith("/captcha/")
    if host == "challenges.cloudflare.com":
        return parts.path.startswith("/cdn-cgi/challenge-platform/")
    return False


__all__ = ["VENDOR_SCRIPTS", "PAGES", "WIDGETS", "BROWSER_KEYS", "add_routes", "script_for", "is_widget_frame",
           "chromium_launch_options", "route_offline", "offline_page_init"]


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


async def route_offline(
    target: Any, documents: Mapping[str, tuple[int, Mapping[str, str], bytes]] | None = None
) -> None:
    """Route a Playwright page or context: the vendors' script URLs get the sandbox
    stand-ins, their widget iframes a blank stand-in, loopback goes through,
    anything else is aborted (no internet).

    ``documents`` maps exact URLs to ``(status, headers, body)`` served for
    them (GET only): captured pages shown at their real address, without a server.
    """
    served = dict(documents or {})

    async def handle(route: Any) -> None:
        request = route.request
        url = request.url
        name = script_for(url)
        if name is not None:
            await route.fulfill(status=200, body=_stand_in(name), content_type="application/javascript")
        elif is_widget_frame(url):
            await route.fulfill(status=200, body=WIDGET_FRAME, content_type="text/html")
        elif url.split("#", 1)[0] in served and request.method == "GET":
            status, headers, body = served[url.split("#", 1)[0]]
            await route.fulfill(status=status, headers=dict(headers), body=body)
        elif urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1") or url.startswith(("data:", "about:")):
            await route.continue_()
        else:
            await route.abort()

    await target.route("**/*", handle)


async def offline_page_init(page: Any, request: Any) -> None:
    """scrapy-playwright page init callback for the sandbox: see :func:`route_offline`."""
    await route_offline(page)
