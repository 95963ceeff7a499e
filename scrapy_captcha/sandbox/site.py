"""Demo site: a paginated catalog behind a reCAPTCHA v2 interstitial.

The gate is what real sites serve (spec/captcha-markup.md): status 403, a
challenge title, ``div.g-recaptcha`` in the page's only form, Google's script
tag, a noscript fallback. ``POST /captcha/verify`` checks the token the way
siteverify does and sets a session cookie good for ``session_pages`` pages
(0 = the whole visit).

Site shapes (config), for crawls that must learn a gate's scope:

- ``session_gate`` (default True): the interstitial stands in front of every
  catalog page until passed; ``gate_after: N`` starts it only after the
  site's N-th request (as rate limits do), and a pass lifts it.
- ``page_gated_items``: item pages that each carry their own captcha, whatever
  the session: a pass for one page is a pass for that page only.
- ``/search/{n}``: every search page carries its own captcha (another sitekey).

Control: ``GET/POST /_sandbox/site`` (config), ``GET /_sandbox/site/state``.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import browser_pages, kinds
from .tokens import DEMO_KEYS, DEMO_SECRET, DEMO_SITEKEY, DEMO_SITEKEY_2, TokenAuthority

SESSION_COOKIE = "sbx_session"
#: A well-formed key that no demo site registered.
BAD_SITEKEY = "6LcUNREGISTEREDkeyNobodyKnowsAbout-00000"
PER_PAGE = 10


def default_site_config() -> dict[str, Any]:
    return {
        "items": 60,
        "gate_status": 403,
        "session_pages": 0,
        "gate_variant": "checkbox",  # checkbox | invisible | explicit
        "sitekey": DEMO_SITEKEY,
        "page_delay": 0.0,  # seconds each page takes, like a real server
        # Items whose page always shows a widget with a key Google does not know
        # (a broken page): solving it can only fail with ERROR_RECAPTCHA_INVALID_SITEKEY.
        "bad_key_items": [],
        "session_gate": True,
        "gate_after": 0,
        "page_gated_items": [],
    }


@dataclass
class SiteState:
    authority: TokenAuthority
    config: dict[str, Any] = field(default_factory=default_site_config)
    sessions: dict[str, int] = field(default_factory=dict)  # id -> pages left (-1 = unlimited)
    #: pass id -> paths passed (page-gated pages).
    page_passes: dict[str, set[str]] = field(default_factory=dict)
    counters: dict[str, int] = field(
        default_factory=lambda: {"pages": 0, "gates": 0, "page_gates": 0, "verified": 0, "refused": 0,
                                 "requests": 0}
    )
    #: Every token the browser pages verified (see browser_pages.py).
    browser_log: list[dict[str, Any]] = field(default_factory=list)


def _item(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"Sandbox item {i:03d}", "price": f"{(i * 37) % 200 + 9.99:.2f}", "sku": f"SBX-{i:05d}"}


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><a href="/">Sandbox Store</a>
<form class="search" action="/search" method="GET"><input type="search" name="q" placeholder="Search"></form>
</header><main>{main}</main><footer>&copy; Sandbox Store</footer></body></html>"""

_GATE_WIDGET = {
    "checkbox": '<div class="g-recaptcha" data-sitekey="{key}" data-callback="onPass"></div>\n'
    '<button type="submit">Continue</button>',
    "invisible": '<button class="g-recaptcha btn" data-sitekey="{key}" data-callback="onSubmit" '
    'data-action="submit">Continue</button>',
    "explicit": '<div id="recaptcha-box"></div>\n<button type="submit">Continue</button>\n'
    "<script>var onloadCallback = function() {{ grecaptcha.render('recaptcha-box', "
    "{{'sitekey' : '{key}', 'theme' : 'light'}}); }};</script>",
}

_GATE = """<!DOCTYPE html>
<html lang="en" dir="ltr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verify you are human</title>
<script src="https://www.google.com/recaptcha/api.js{script_query}" async defer></script>
<script>function onPass(t) {{ document.getElementById('captcha-form').submit(); }}
function onSubmit(t) {{ document.getElementById('captcha-form').submit(); }}</script>
</head><body><div class="wrapper">
<h1>One more step</h1>
<p>Please complete the security check to access <b>{host}</b>.</p>{error}
<form id="captcha-form" action="/captcha/verify" method="POST">
<input type="hidden" name="continue" value="{path}">{scope_field}
{widget}
<noscript><iframe src="https://www.google.com/recaptcha/api/fallback?k={key}" frameborder="0"
 scrolling="no" style="width: 302px; height:422px;"></iframe>
<textarea id="g-recaptcha-response" name="g-recaptcha-response" class="g-recaptcha-response"></textarea></noscript>
</form>
<p class="ray">Ray ID: {ray}</p></div></body></html>"""


PASS_COOKIE = "sbx_pass"


_VENDOR_PAGES: dict[str, tuple[int, dict[str, str], str]] = {
    "cloudflare": (403, {"cf-mitigated": "challenge"},
                   "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
                   "<script>window._cf_chl_opt={cvId: '3',cType: 'managed',cRay: '8f2b1c3d4e5a6b7c'};</script>"
                   "<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f2b'></script>"
                   "</body></html>"),
    "datadome": (403, {}, "<html><head><title>sandbox</title></head><body><script>var dd={'rt':'c','cid':"
                 "'AHrlqAAAAAMAk9cZ2kUy7lAAfwXzHQ==','t':'fe','host':'geo.captcha-delivery.com'}</script>"
                 "<script src='https://ct.captcha-delivery.com/c.js'></script></body></html>"),
    "aws_waf": (405, {"x-amzn-waf-action": "captcha"},
                '<html><head><script>window.gokuProps = {"key":"AQIDAHjc","iv":"EkQVbw","context":"nX1a"};'
                "</script></head><body><div id='captcha-container'></div></body></html>"),
}


def build_app(state: SiteState) -> web.Application:
    def gate(
        host: str, path: str, error: str = "", sitekey: str | None = None, page_only: bool = False
    ) -> web.Response:
        if not page_only:
            state.counters["gates"] += 1
        cfg = state.config
        variant = cfg["gate_variant"] if cfg["gate_variant"] in _GATE_WIDGET else "checkbox"
        key = html.escape(sitekey or cfg["sitekey"])
        body = _GATE.format(
            script_query="?onload=onloadCallback&render=explicit" if variant == "explicit" else "",
            host=html.escape(host),
            error=f'\n<p class="error">{html.escape(error)}</p>' if error else "",
            path=html.escape(path),
            widget=_GATE_WIDGET[variant].format(key=key),
            scope_field='\n<input type="hidden" name="scope" value="page">' if page_only else "",
            key=key,
            ray=secrets.token_hex(8),
        )
        return web.Response(status=int(cfg["gate_status"]), text=body, content_type="text/html")

    def page_gated(path: str) -> str | None:
        """The sitekey a page-gated path shows, or None."""
        if path.startswith("/search/"):
            return DEMO_SITEKEY_2
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "item" and parts[2].isdigit() and \
                int(parts[2]) in state.config["page_gated_items"]:
            return state.config["sitekey"]
        return None

    def page_passed(request: web.Request, path: str) -> bool:
        return path in state.page_passes.get(request.cookies.get(PASS_COOKIE, ""), ())

    def admitted(request: web.Request) -> bool:
        sid = request.cookies.get(SESSION_COOKIE)
        left = state.sessions.get(sid or "")
        if left is None:
            return False
        if left == 0:
            del state.sessions[sid or ""]
            return False
        if left > 0:
            state.sessions[sid or ""] = left - 1
        return True

    @web.middleware
    async def gatekeeper(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(("/captcha/", "/_sandbox/", "/static/", "/challenge/", "/browser/", "/vendor/")):
            return await handler(request)
        if state.config["page_delay"]:
            await asyncio.sleep(float(state.config["page_delay"]))
        if request.path.startswith(("/open/", "/form/")):
            # Pages outside the gate, for crawls that mix gated and plain pages.
            state.counters["pages"] += 1
            return await handler(request)
        state.counters["requests"] += 1
        if request.match_info.get("i") and int(request.match_info["i"]) in state.config["bad_key_items"]:
            return gate(request.host, request.path_qs, sitekey=BAD_SITEKEY)
        cfg = state.config
        if cfg["session_gate"] and state.counters["requests"] > int(cfg["gate_after"]) and not admitted(request):
            return gate(request.host, request.path_qs)
        own_key = page_gated(request.path)
        if own_key is not None and not page_passed(request, request.path):
            state.counters["page_gates"] += 1
            return gate(request.host, request.path_qs, sitekey=own_key, page_only=True)
        state.counters["pages"] += 1
        return await handler(request)

    def page(title: str, main: str) -> web.Response:
        return web.Response(text=_PAGE.format(title=html.escape(title), main=main), content_type="text/html")

    async def index(request: web.Request) -> web.Response:
        return page("Sandbox Store",
                    '<h1>Welcome</h1><p><a class="catalog" href="/catalog/1">Browse the catalog</a></p>')

    async def catalog(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        total = int(state.config["items"])
        pages = max(1, -(-total // PER_PAGE))
        if not 1 <= n <= pages:
            raise web.HTTPNotFound()
        first = (n - 1) * PER_PAGE + 1
        rows = "".join(
            f'<li class="product"><a href="/item/{i}">{html.escape(_item(i)["name"])}</a></li>'
            for i in range(first, min(total, first + PER_PAGE - 1) + 1)
        )
        nav = f'<a class="next" rel="next" href="/catalog/{n + 1}">Next</a>' if n < pages else ""
        return page(f"Catalog page {n}", f'<h1>Catalog</h1><ul class="products">{rows}</ul><nav>{nav}</nav>')

    async def item(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        if not 1 <= i <= int(state.config["items"]):
            raise web.HTTPNotFound()
        data = _item(i)
        return page(
            data["name"],
            f'<article class="item" data-id="{i}"><h1>{html.escape(data["name"])}</h1>'
            f'<p class="price">{data["price"]}</p><p class="sku">{data["sku"]}</p></article>',
        )

    async def search(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return page(f"Search {n}", f'<section class="results" data-n="{n}"><h1>Results for query {n}</h1>'
                    f'<ol><li>Sandbox item {n:03d}</li></ol></section>')

    async def open_page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return page(f"Open page {n}", f'<article class="open" data-n="{n}"><h1>Open page {n}</h1></article>')

    async def comment_form(request: web.Request) -> web.Response:
        """An ordinary page with a widget in its form: incidental, a fresh token per submission."""
        n = int(request.match_info["n"])
        return page(f"Discussion {n}", f'<article><h1>Discussion {n}</h1><p>Say something nice.</p></article>'
                    f'<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
                    f'<form class="comment" action="/form/submit" method="post"><input type="hidden" name="thread" '
                    f'value="{n}"><textarea name="comment">Nice catalog</textarea>'
                    f'<div class="g-recaptcha" data-sitekey="{html.escape(state.config["sitekey"])}"></div>'
                    f'<button type="submit">Post</button></form>')

    async def comment_submit(request: web.Request) -> web.Response:
        form = await request.post()
        result = state.authority.siteverify(DEMO_SECRET, str(form.get("g-recaptcha-response", "")),
                                            request.url.host or "")
        if not result.get("success"):
            state.counters["refused"] += 1
            raise web.HTTPForbidden(text="captcha failed: " + ",".join(map(str, result["error-codes"])))
        state.counters["verified"] += 1
        thread = html.escape(str(form.get("thread", "")))
        return page("Thanks", f'<p class="thanks" data-thread="{thread}">Comment posted on thread {thread}</p>')

    async def vendor_challenge(request: web.Request) -> web.Response:
        """Interstitials of vendors with no HTTP solving path (for the unsupported-kind policy)."""
        vendor = request.match_info["vendor"]
        if vendor not in _VENDOR_PAGES:
            raise web.HTTPNotFound()
        status, headers, body = _VENDOR_PAGES[vendor]
        return web.Response(status=status, headers=headers, text=body, content_type="text/html")

    async def verify(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("g-recaptcha-response", ""))
        target = str(form.get("continue", "/"))
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # no open redirect
        path = target.split("?", 1)[0]
        own_key = page_gated(path) if form.get("scope") == "page" else None
        secret = DEMO_KEYS.get(own_key, DEMO_SECRET) if own_key else DEMO_SECRET
        result = state.authority.siteverify(secret, token, request.url.host or "")
        if not result.get("success"):
            state.counters["refused"] += 1
            return gate(request.host, target, "The verification failed: " + ", ".join(map(str, result["error-codes"])),
                        sitekey=own_key, page_only=own_key is not None)
        state.counters["verified"] += 1
        if own_key is not None:
            # A page's own captcha: a pass for that page, not a session.
            pass_id = request.cookies.get(PASS_COOKIE) or secrets.token_urlsafe(16)
            state.page_passes.setdefault(pass_id, set()).add(path)
            response = web.HTTPFound(target)
            response.set_cookie(PASS_COOKIE, pass_id, httponly=True, samesite="Lax", path="/")
            raise response
        sid = secrets.token_urlsafe(16)
        pages = int(state.config["session_pages"])
        state.sessions[sid] = pages if pages > 0 else -1
        response = web.HTTPFound(target)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/")
        raise response

    async def control(request: web.Request) -> web.Response:
        if request.method == "POST":
            state.config.update(await request.json())
        return web.json_response(state.config)

    async def control_state(request: web.Request) -> web.Response:
        return web.json_response({**state.counters, "sessions": len(state.sessions)})

    async def control_reset(request: web.Request) -> web.Response:
        state.config = {**default_site_config(), **(await request.json() if request.can_read_body else {})}
        state.sessions.clear()
        state.page_passes.clear()
        state.browser_log.clear()
        for key in state.counters:
            state.counters[key] = 0
        return web.json_response(state.config)

    app = web.Application(middlewares=[gatekeeper])
    app.router.add_get("/", index)
    app.router.add_get(r"/catalog/{n:\d+}", catalog)
    app.router.add_get(r"/item/{i:\d+}", item)
    app.router.add_get(r"/open/{n:\d+}", open_page)
    app.router.add_get(r"/search/{n:\d+}", search)
    browser_pages.add_routes(app, state)
    kinds.add_routes(app, state)  # /challenge/<kind>/..., /_sandbox/ip, /_sandbox/kinds
    app.router.add_get("/challenge/{vendor}", vendor_challenge)
    app.router.add_get(r"/form/{n:\d+}", comment_form)
    app.router.add_post("/form/submit", comment_submit)
    app.router.add_post("/captcha/verify", verify)
    app.router.add_route("*", "/_sandbox/site", control)
    app.router.add_get("/_sandbox/site/state", control_state)
    app.router.add_post("/_sandbox/site/reset", control_reset)
    return app
