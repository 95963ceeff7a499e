"""Demo pages for every kind the providers solve, under ``/challenge/<slug>/``.

Each kind has an ungated index (``/challenge/<slug>/``) linking its items, and
gated item pages (``/challenge/<slug>/<n>``) that show the challenge the way
real sites do (captcha-markup.md) until it is passed, then serve the item
(``<article class="item" data-id=n data-kind=...>``), so crawls can count items.

- Token kinds (reCAPTCHA v2 Enterprise, v3, v3 Enterprise, hCaptcha, Turnstile,
  Arkose, Friendly Captcha, MTCaptcha, GeeTest v3/v4, image captcha): the page's
  form posts to ``/challenge/<slug>/verify``, which checks the answer like the
  vendor's verification API and sets a per-kind session cookie (``sbx_<slug>``).
- Cookie kinds (Cloudflare challenge, DataDome, AWS WAF): the clearance cookie
  itself admits, and only from the IP and user agent it was minted for.

``GET /_sandbox/ip`` tells a client the IP and user agent the site sees (the
emulated service solves "through a proxy" by fetching it). Control:
``GET/POST /_sandbox/kinds`` (config), ``GET /_sandbox/kinds/state``,
``GET /_sandbox/kinds/log``, ``POST /_sandbox/kinds/reset``,
``GET /_sandbox/kinds/pages`` (every page with the parameters detection should find).
"""

from __future__ import annotations

import html
import random
import secrets
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .tokens import (
    DEMO_ARKOSE_KEY,
    DEMO_AWS_KEY,
    DEMO_CF_CHALLENGE_SITEKEY,
    DEMO_FRIENDLY_SITEKEY,
    DEMO_GEETEST_CAPTCHA_ID,
    DEMO_GEETEST_GT,
    DEMO_HCAPTCHA_SITEKEY,
    DEMO_MTCAPTCHA_SITEKEY,
    DEMO_TURNSTILE_SITEKEY,
    DEMO_V2_ENTERPRISE_SITEKEY,
    DEMO_V3_ENTERPRISE_SITEKEY,
    DEMO_V3_SITEKEY,
    TokenAuthority,
)

PREFIX = "/challenge"
#: slug -> the kind the page shows (Challenge.kind names, with the Enterprise flag spelled out).
SLUGS = {
    "recaptcha-v2-enterprise": "recaptcha_v2_enterprise",
    "recaptcha-v3": "recaptcha_v3",
    "recaptcha-v3-enterprise": "recaptcha_v3_enterprise",
    "hcaptcha": "hcaptcha",
    "turnstile": "turnstile",
    "image": "image",
    "geetest-v3": "geetest_v3",
    "geetest-v4": "geetest_v4",
    "aws-waf": "aws_waf",
    "funcaptcha": "funcaptcha",
    "friendly-captcha": "friendly_captcha",
    "mtcaptcha": "mtcaptcha",
    "datadome": "datadome",
    "cloudflare": "cloudflare_challenge",
}
V3_ACTION = "login"
TURNSTILE_ACTION = "signup"
CF_ACTION = "managed"
AWS_PATH = "7d1c2b3a4e5f/8a9b0c1d2e3f/1a2b3c4d5e6f"
AWS_CHALLENGE_JS = f"https://7d1c2b3a4e5f.8a9b0c1d2e3f.us-east-1.token.awswaf.com/{AWS_PATH}/challenge.js"
AWS_CAPTCHA_JS = f"https://7d1c2b3a4e5f.8a9b0c1d2e3f.us-east-1.captcha.awswaf.com/{AWS_PATH}/captcha.js"
IMAGE_ALPHABET = "2345679ACEFHKMNPRTWXY"


def default_kinds_config() -> dict[str, Any]:
    return {
        "items": 30,  # items per kind
        "image_length": 5,
        "v3_min_score": 0.5,
        # The Arkose API subdomain the page loads api.js from (a token for another one is refused).
        "arkose_subdomain": "sandbox-api.arkoselabs.com",
        # DataDome's ``t``: "fe" (solvable) or "bv" (the IP is banned: no captcha can lift it).
        "datadome_t": "fe",
        # Also show the captcha iframe c.js would build (as in a saved DOM), not only the dd object.
        "datadome_iframe": False,
        # Clearance cookies the site binds to the client IP (all of them by default; each is always
        # bound to the host and the user agent).
        "ip_bound": ["cf_clearance", "datadome", "aws-waf-token"],
        # The Turnstile page's data-action (null: none) and whether it issues a fresh data-cdata;
        # its tokens must carry both.
        "turnstile_action": TURNSTILE_ACTION,
        "turnstile_cdata": True,
    }


@dataclass
class KindsState:
    config: dict[str, Any] = field(default_factory=default_kinds_config)
    #: session id -> slug it admits.
    sessions: dict[str, str] = field(default_factory=dict)
    #: image session id -> the text currently drawn for it.
    image_texts: dict[str, str] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)

    def count(self, slug: str, what: str) -> None:
        per = self.counters.setdefault(slug, {"gates": 0, "pages": 0, "verified": 0, "refused": 0})
        per[what] += 1


# -- markup ---------------------------------------------------------------------------------


def _doc(title: str, head: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"{head}</head><body>{body}</body></html>")


def _gate(slug: str, path: str, widget: str, head: str = "", *, title: str = "Security check",
          error: str = "", submit: str = "Continue", extra_fields: str = "", form_id: str = "captcha-form") -> str:
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return _doc(title, head, f'<div class="wrapper"><h1>One more step</h1>'
                f"<p>Please complete the security check to continue.</p>{message}"
                f'<form id="{form_id}" action="{PREFIX}/{slug}/verify" method="POST">'
                f'<input type="hidden" name="continue" value="{html.escape(path)}">{extra_fields}{widget}'
                f'<button type="submit">{submit}</button></form></div>')


def _item(slug: str, n: int) -> str:
    kind = SLUGS[slug]
    return _doc(f"Item {n}", "", f'<main><article class="item" data-id="{n}" data-kind="{kind}">'
                f"<h1>Sandbox item {n:03d}</h1><p class=\"price\">{(n * 37) % 200 + 9.99:.2f}</p>"
                f'<p class="sku">SBX-{kind.upper()}-{n:05d}</p></article></main>')


def _index(slug: str, items: int) -> str:
    links = "".join(f'<li><a href="{PREFIX}/{slug}/{n}">Item {n}</a></li>' for n in range(1, items + 1))
    return _doc(f"{slug} catalog", "", f'<main><h1>{slug}</h1><ul class="products">{links}</ul></main>')


# -- image captcha: a PNG drawn in pure Python ---------------------------------------------

_GLYPHS = {
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "##.##", "#...#"),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
}
assert set(_GLYPHS) == set(IMAGE_ALPHABET)


def render_png(text: str, *, scale: int = 3, rng: random.Random | None = None) -> bytes:
    """``text`` drawn as a noisy grayscale PNG (each call differs: jitter and noise are random)."""
    rng = rng or random.Random(secrets.randbits(64))
    margin = 6
    width = margin * 2 + len(text) * 6 * scale
    height = margin * 2 + 7 * scale + 4
    pixels = [[rng.randint(200, 255) for _ in range(width)] for _ in range(height)]
    for index, char in enumerate(text):
        left = margin + index * 6 * scale
        top = margin + rng.randint(0, 4)
        for row, bits in enumerate(_GLYPHS[char]):
            for col, bit in enumerate(bits):
                if bit == "#":
                    for dy in range(scale):
                        for dx in range(scale):
                            pixels[top + row * scale + dy][left + col * scale + dx] = rng.randint(10, 70)
    for _ in range(3):  # strike-through lines, like every image captcha
        y, slope = rng.randint(0, height - 1), rng.uniform(-0.3, 0.3)
        for x in range(width):
            yy = int(y + slope * x)
            if 0 <= yy < height:
                pixels[yy][x] = rng.randint(60, 120)
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# -- the routes --------------------------------------------------------------------------------


def add_routes(app: web.Application, state: Any) -> KindsState:
    """Wire the kinds' pages into the demo site app. ``state`` is the site's SiteState
    (its ``authority`` is shared with the emulated service)."""
    kinds = KindsState()
    authority: TokenAuthority = state.authority

    def ip_of(request: web.Request) -> str:
        return request.remote or ""

    def ua_of(request: web.Request) -> str:
        return request.headers.get("User-Agent", "")

    def host_of(request: web.Request) -> str:
        return request.url.host or ""

    def note(request: web.Request, slug: str, ok: bool, reason: str = "") -> None:
        kinds.count(slug, "verified" if ok else "refused")
        kinds.log.append({"kind": SLUGS[slug], "slug": slug, "via": "verify", "ok": ok, "reason": reason,
                          "ip": ip_of(request), "host": host_of(request)})

    def cookie_refused(request: web.Request, slug: str, reason: str) -> None:
        """A clearance cookie was presented and did not admit (wrong IP, user agent, host...)."""
        kinds.log.append({"kind": SLUGS[slug], "slug": slug, "via": "cookie", "ok": False, "reason": reason,
                          "ip": ip_of(request), "host": host_of(request)})

    def admitted(request: web.Request, slug: str) -> bool:
        return kinds.sessions.get(request.cookies.get(f"sbx_{slug}", "")) == slug

    def safe_target(value: Any, slug: str) -> str:
        target = str(value or "")
        if not target.startswith(f"{PREFIX}/{slug}/") or target.startswith("//"):
            target = f"{PREFIX}/{slug}/"  # no open redirect
        return target

    def pass_through(slug: str, target: str) -> web.Response:
        sid = secrets.token_urlsafe(16)
        kinds.sessions[sid] = slug
        response = web.Response(status=302, headers={"Location": target})
        response.set_cookie(f"sbx_{slug}", sid, httponly=True, samesite="Lax", path=f"{PREFIX}/{slug}/")
        return response

    def html_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", headers=headers)

    def item_number(request: web.Request) -> int:
        n = int(request.match_info["n"])
        if not 1 <= n <= int(kinds.config["items"]):
            raise web.HTTPNotFound()
        return n

    # ---- gates of the token kinds -------------------------------------------------------------

    def token_gate(slug: str, request: web.Request, error: str = "", path: str | None = None) -> web.Response:
        kinds.count(slug, "gates")
        path = path or request.path_qs
        if slug == "recaptcha-v2-enterprise":
            body = _gate(slug, path, f'<div class="g-recaptcha" data-sitekey="{DEMO_V2_ENTERPRISE_SITEKEY}"></div>',
                         '<script src="https://recaptcha.net/recaptcha/enterprise.js" async defer></script>',
                         error=error)
        elif slug in ("recaptcha-v3", "recaptcha-v3-enterprise"):
            key, script, call = ((DEMO_V3_SITEKEY, "api.js", "grecaptcha") if slug == "recaptcha-v3" else
                                 (DEMO_V3_ENTERPRISE_SITEKEY, "enterprise.js", "grecaptcha.enterprise"))
            body = _gate(slug, path, '<input type="hidden" name="g-recaptcha-response" id="g-recaptcha-response">',
                         f'<script src="https://www.google.com/recaptcha/{script}?render={key}"></script>'
                         f"<script>{call}.ready(function () {{ {call}.execute('{key}', {{action: '{V3_ACTION}'}})"
                         ".then(function (token) { document.getElementById('g-recaptcha-response').value = token; "
                         "}); });</script>", error=error, title="Log in", submit="Log in", form_id="login")
        elif slug == "hcaptcha":
            body = _gate(slug, path, f'<div class="h-captcha" data-sitekey="{DEMO_HCAPTCHA_SITEKEY}"></div>',
                         '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>', error=error)
        elif slug == "turnstile":
            cdata_attribute = ""
            if kinds.config["turnstile_cdata"]:
                cdata = "c-" + secrets.token_hex(8)
                authority.issue("turnstile-cdata", cdata, host_of(request))
                cdata_attribute = f' data-cdata="{cdata}"'
            action = kinds.config["turnstile_action"]
            action_attribute = f' data-action="{html.escape(action)}"' if action else ""
            body = _gate(slug, path, f'<div class="cf-turnstile" data-sitekey="{DEMO_TURNSTILE_SITEKEY}"'
                         f"{action_attribute}{cdata_attribute}></div>",
                         '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>',
                         error=error, title="Sign up", submit="Sign up")
        elif slug == "funcaptcha":
            blob = secrets.token_urlsafe(24)
            authority.issue("arkose", blob, host_of(request))
            sub = kinds.config["arkose_subdomain"]
            body = _gate(slug, path, '<input type="hidden" name="fc-token" id="fc-token"><div id="arkose"></div>',
                         f'<script src="https://{sub}/v2/{DEMO_ARKOSE_KEY}/api.js" data-callback="setupEnforcement" '
                         "async defer></script><script>function setupEnforcement(enforcement) { enforcement.setConfig("
                         f"{{selector: '#arkose', data: {{blob: '{blob}'}}, onCompleted: function (response) {{ "
                         "document.getElementById('fc-token').value = response.token; }}); }</script>",
                         error=error, title="Create your account", submit="Sign up", form_id="signup")
        elif slug == "friendly-captcha":
            body = _gate(slug, path, f'<div class="frc-captcha" data-sitekey="{DEMO_FRIENDLY_SITEKEY}"></div>',
                         '<script type="module" src="https://cdn.jsdelivr.net/npm/friendly-challenge@0.9.12/'
                         'widget.module.min.js" async defer></script>', error=error, title="Contact us", submit="Send")
        elif slug == "mtcaptcha":
            body = _gate(slug, path, '<div class="mtcaptcha"></div>',
                         f'<script>var mtcaptchaConfig = {{"sitekey": "{DEMO_MTCAPTCHA_SITEKEY}", "lang": "en"}};'
                         "(function () { var s = document.createElement('script'); s.async = true; "
                         "s.src = 'https://service.mtcaptcha.com/mtcv1/client/mtcaptcha.min.js'; "
                         "document.head.appendChild(s); })();</script>", error=error)
        elif slug == "geetest-v3":
            fields = "".join(f'<input type="hidden" name="geetest_{n}">' for n in ("challenge", "validate", "seccode"))
            body = _gate(slug, path, fields + '<div id="captcha-box"></div>',
                         '<script src="https://static.geetest.com/static/tools/gt.js"></script>'
                         f"<script>var geetestRegister = '{PREFIX}/geetest-v3/register';"
                         "function loadCaptcha() { var xhr = new XMLHttpRequest();"
                         " xhr.open('GET', geetestRegister + '?t=' + Date.now()); xhr.onload = function () {"
                         " var data = JSON.parse(xhr.responseText);"
                         " initGeetest({gt: data.gt, challenge: data.challenge,"
                         " offline: !data.success, new_captcha: data.new_captcha, product: 'popup'},"
                         " function (captchaObj) { captchaObj.appendTo('#captcha-box'); }); }; xhr.send(); }"
                         " loadCaptcha();</script>", error=error, title="Log in", submit="Log in", form_id="login")
        elif slug == "geetest-v4":
            fields = "".join(f'<input type="hidden" name="{n}">' for n in
                             ("captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output"))
            body = _gate(slug, path, fields + '<div id="captcha-box"></div>',
                         '<script src="https://static.geetest.com/v4/gt4.js"></script>'
                         f"<script>initGeetest4({{captchaId: '{DEMO_GEETEST_CAPTCHA_ID}', product: 'bind'}}, "
                         "function (captcha) { captcha.onSuccess(function () { var r = captcha.getValidate(); "
                         "for (var k in r) { document.getElementsByName(k)[0].value = r[k]; } }); });</script>",
                         error=error, title="Log in", submit="Log in", form_id="login")
        elif slug == "image":
            return image_gate(request, error, path)
        else:
            raise web.HTTPNotFound()
        return html_response(body, 403)

    def image_gate(request: web.Request, error: str = "", path: str = "") -> web.Response:
        kinds.count("image", "gates")
        isid = request.cookies.get("sbx_img") or secrets.token_urlsafe(16)
        length = int(kinds.config["image_length"])
        kinds.image_texts[isid] = "".join(random.choice(IMAGE_ALPHABET) for _ in range(length))
        widget = (f'<p><img src="{PREFIX}/image/captcha.png?r={secrets.token_hex(4)}" alt="captcha" '
                  'width="102" height="37"></p><label for="captcha_code">Type the characters</label>'
                  '<input type="text" name="captcha_code" id="captcha_code" autocomplete="off">')
        response = html_response(_gate("image", path, widget, error=error), 403)
        response.set_cookie("sbx_img", isid, httponly=True, samesite="Lax", path=f"{PREFIX}/image/")
        return response

    async def token_page(request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        n = item_number(request)
        if admitted(request, slug):
            kinds.count(slug, "pages")
            return html_response(_item(slug, n))
        return token_gate(slug, request)

    def check_token(slug: str, form: Any, request: web.Request) -> str | None:
        """None when the posted answer passes, else why not."""
        host = host_of(request)
        if slug in ("recaptcha-v2-enterprise", "recaptcha-v3", "recaptcha-v3-enterprise", "hcaptcha"):
            field_names = ("h-captcha-response", "g-recaptcha-response") if slug == "hcaptcha" else (
                "g-recaptcha-response",)
            token = next((str(form.get(n)) for n in field_names if form.get(n)), "")
            sitekey = {"recaptcha-v2-enterprise": DEMO_V2_ENTERPRISE_SITEKEY, "recaptcha-v3": DEMO_V3_SITEKEY,
                       "recaptcha-v3-enterprise": DEMO_V3_ENTERPRISE_SITEKEY, "hcaptcha": DEMO_HCAPTCHA_SITEKEY}[slug]
            result, minted = authority.redeem(token, host, sitekey=sitekey, kind=SLUGS[slug])
            if minted is None:
                return ",".join(result["error-codes"])
            if slug.startswith("recaptcha-v3"):
                if minted.action != V3_ACTION:
                    return "action-mismatch"
                if (minted.score or 0.0) < float(kinds.config["v3_min_score"]):
                    return "score-too-low"
            return None
        if slug == "turnstile":
            result, minted = authority.redeem(str(form.get("cf-turnstile-response", "")), host,
                                              sitekey=DEMO_TURNSTILE_SITEKEY, kind="turnstile")
            if minted is None:
                return ",".join(result["error-codes"])
            if kinds.config["turnstile_action"] and minted.action != kinds.config["turnstile_action"]:
                return "action-mismatch"
            if kinds.config["turnstile_cdata"] and (
                    not minted.cdata or authority.consume("turnstile-cdata", minted.cdata) is None):
                return "cdata-mismatch"
            return None
        if slug == "funcaptcha":
            result, minted = authority.redeem(str(form.get("fc-token", "")), host, sitekey=DEMO_ARKOSE_KEY,
                                              kind="funcaptcha")
            if minted is None:
                return ",".join(result["error-codes"])
            if minted.extra.get("api_subdomain") != kinds.config["arkose_subdomain"]:
                return "api-subdomain-mismatch"
            blob = minted.extra.get("blob") or ""
            if authority.consume("arkose", blob) is None:
                return "blob-mismatch"
            return None
        if slug in ("friendly-captcha", "mtcaptcha"):
            name, key = (("frc-captcha-solution", DEMO_FRIENDLY_SITEKEY) if slug == "friendly-captcha" else
                         ("mtcaptcha-verifiedtoken", DEMO_MTCAPTCHA_SITEKEY))
            result, minted = authority.redeem(str(form.get(name, "")), host, sitekey=key, kind=SLUGS[slug])
            return None if minted is not None else ",".join(result["error-codes"])
        if slug == "geetest-v3":
            challenge, validate, seccode = (str(form.get(f"geetest_{n}", "")) for n in
                                            ("challenge", "validate", "seccode"))
            return authority.verify_geetest_v3(challenge, validate, seccode, host)
        if slug == "geetest-v4":
            fields = {n: str(form.get(n, "")) for n in
                      ("captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output")}
            if fields["captcha_id"] != DEMO_GEETEST_CAPTCHA_ID:
                return "captcha_id-mismatch"
            return authority.verify_geetest_v4(fields, host)
        if slug == "image":
            isid = request.cookies.get("sbx_img", "")
            expected = kinds.image_texts.pop(isid, None)  # one answer per image, right or wrong
            answer = str(form.get("captcha_code", "")).strip().upper()
            if expected is None:
                return "no-image-session"
            return None if answer == expected else "wrong-answer"
        return "unknown-kind"

    async def verify(request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        if slug not in SLUGS or slug in ("aws-waf", "datadome", "cloudflare"):
            raise web.HTTPNotFound()
        form = await request.post()
        target = safe_target(form.get("continue"), slug)
        reason = check_token(slug, form, request)
        note(request, slug, reason is None, reason or "")
        if reason is not None:
            return token_gate(slug, request, "The verification failed: " + reason, target)
        return pass_through(slug, target)

    async def image(request: web.Request) -> web.Response:
        text = kinds.image_texts.get(request.cookies.get("sbx_img", ""))
        if text is None:
            # Served only within the cookie session that loaded the form.
            raise web.HTTPForbidden(text="no captcha session")
        data = render_png(text)
        authority.register_image(data, text)
        return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "no-store"})

    async def geetest_register(request: web.Request) -> web.Response:
        challenge = secrets.token_hex(16)
        authority.issue("geetest", challenge, host_of(request), gt=DEMO_GEETEST_GT)
        return web.json_response({"success": 1, "gt": DEMO_GEETEST_GT, "challenge": challenge, "new_captcha": True})

    # ---- cookie kinds ------------------------------------------------------------------------------

    def clearance_ok(request: web.Request, cookie: str) -> str | None:
        return authority.check_clearance(cookie, request.cookies.get(cookie, ""), host_of(request), ip_of(request),
                                         ua_of(request), check_ip=cookie in kinds.config["ip_bound"])

    async def aws_page(request: web.Request) -> web.Response:
        n = item_number(request)
        reason = clearance_ok(request, "aws-waf-token")
        if reason is None:
            kinds.count("aws-waf", "pages")
            return html_response(_item("aws-waf", n))
        kinds.count("aws-waf", "gates")
        if request.cookies.get("aws-waf-token"):
            cookie_refused(request, "aws-waf", reason)
        iv, context = secrets.token_urlsafe(12), secrets.token_urlsafe(96)
        authority.issue("aws", context, host_of(request), key=DEMO_AWS_KEY, iv=iv)
        props = f'{{"key":"{DEMO_AWS_KEY}","iv":"{iv}","context":"{context}"}}'
        body = _doc("", f"<script>window.awsWafCookieDomainList = [];window.gokuProps = {props};</script>"
                    f'<script src="{AWS_CHALLENGE_JS}" defer></script><script src="{AWS_CAPTCHA_JS}" defer></script>',
                    '<div id="captcha-container"></div><noscript><h1>JavaScript is disabled</h1>In order to continue, '
                    "you need to verify that you're not a robot by solving a CAPTCHA puzzle.</noscript>"
                    "<script>window.addEventListener('load', function () { const container = "
                    "document.querySelector('#captcha-container'); CaptchaScript.renderCaptcha(container, "
                    "async (voucher) => { await ChallengeScript.submitCaptcha(voucher); window.location.reload(true); "
                    "}); });</script>")
        return html_response(body, 405, {"x-amzn-waf-action": "captcha"})

    async def aws_voucher(request: web.Request) -> web.Response:
        """What ``<token domain>/…/verify`` does for a captcha voucher: trade it for the cookie."""
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON {captcha_voucher, existing_token} expected")
        issued = authority.consume("voucher", str(data.get("captcha_voucher", "")))
        ok = issued is not None and issued.hostname == host_of(request) and \
            issued.data.get("existing_token") == data.get("existing_token")
        note(request, "aws-waf", ok, "" if ok else "unknown-voucher")
        if not ok:
            raise web.HTTPForbidden(text="invalid voucher")
        token = authority.mint_clearance("aws-waf-token", host_of(request), ip_of(request), ua_of(request))
        response = web.json_response({"token": token})
        response.set_cookie("aws-waf-token", token, path="/", samesite="Lax")
        return response

    async def datadome_page(request: web.Request) -> web.Response:
        n = item_number(request)
        reason = clearance_ok(request, "datadome")
        if reason is None:
            kinds.count("datadome", "pages")
            return html_response(_item("datadome", n))
        kinds.count("datadome", "gates")
        host = host_of(request)
        cookie = request.cookies.get("datadome", "")
        if reason != "unknown-clearance":
            cookie_refused(request, "datadome", reason)
        if not authority.lookup("datadome-cookie", cookie):
            cookie = secrets.token_urlsafe(72).replace("-", "~")
            authority.issue("datadome-cookie", cookie, host)
        cid, hsh, e = secrets.token_urlsafe(24) + "==", secrets.token_hex(15).upper(), secrets.token_hex(32)
        authority.issue("datadome", cid, host, cookie=cookie, hsh=hsh)
        frame = datadome_url(cid, hsh, cookie, e, str(request.url), kinds.config["datadome_t"])
        body = ('<html lang="en"><head><title>' + html.escape(host) + "</title>"
                "<style>#cmsg{animation: A 1.5s;}@keyframes A{0%{opacity:0;}99%{opacity:0;}100%{opacity:1;}}</style>"
                '</head><body style="margin:0"><p id="cmsg">Please enable JS and disable any ad blocker</p>'
                f"<script data-cfasync=\"false\">var dd={{'rt':'c','cid':'{cid}','hsh':'{hsh}',"
                f"'t':'{kinds.config['datadome_t']}','s':40070,'e':'{e}','host':'geo.captcha-delivery.com'}}</script>"
                '<script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script>'
                + (f'<iframe src="{html.escape(frame)}" '
                   'title="DataDome CAPTCHA" width="100%" height="100%" style="height:100vh;" frameborder="0" '
                   'border="0" scrolling="yes"></iframe>' if kinds.config["datadome_iframe"] else "")
                + "</body></html>")
        response = html_response(body, 403, {"X-DataDome": "protected", "X-DD-B": "1"})
        response.set_cookie("datadome", cookie, max_age=31536000, path="/", samesite="Lax")
        return response

    def cloudflare_challenge(request: web.Request) -> web.Response:
        kinds.count("cloudflare", "gates")
        host = host_of(request)
        ray = secrets.token_hex(8)
        cdata, page_data, md = f"ray-{ray}", secrets.token_urlsafe(48), secrets.token_urlsafe(32)
        authority.issue("cloudflare", cdata, host, chl_page_data=page_data)
        action = f"{request.path}?__cf_chl_f_tk={secrets.token_urlsafe(16)}"
        body = _doc("Just a moment...", '<meta name="robots" content="noindex,nofollow">',
                    f'<div class="main-wrapper" role="main"><div class="main-content"><h1 class="zone-name-title h1">'
                    f'{html.escape(host)}</h1><h2 class="h2" id="challenge-running">Verifying you are human. This may '
                    'take a few seconds.</h2><div id="cf-chl-widget"></div>'
                    f'<form id="challenge-form" action="{html.escape(action)}" method="POST" '
                    'enctype="application/x-www-form-urlencoded">'
                    f'<input type="hidden" name="md" value="{md}">'
                    '<input type="hidden" name="cf-turnstile-response" id="cf-chl-response"></form></div></div>'
                    f"<script>(function(){{window._cf_chl_opt={{cvId: '3',cZone: '{html.escape(host)}',"
                    f"cType: 'managed',cRay: '{ray}',cH: '{secrets.token_urlsafe(24)}',"
                    f"chlApiSitekey: '{DEMO_CF_CHALLENGE_SITEKEY}',chlApiMode: 'managed',chlApiAction: '{CF_ACTION}',"
                    f"chlApiCData: '{cdata}',chlPageData: '{page_data}',cFPWv: 'b',md: '{md}'}};"
                    "var cpo = document.createElement('script');"
                    f"cpo.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray={ray}';"
                    "document.getElementsByTagName('head')[0].appendChild(cpo);}());</script>"
                    f"<script>function chlLoad() {{ turnstile.render('#cf-chl-widget', {{sitekey: "
                    f"'{DEMO_CF_CHALLENGE_SITEKEY}', action: '{CF_ACTION}', cData: '{cdata}', "
                    f"chlPageData: '{page_data}', callback: function (t) {{ "
                    "document.getElementById('cf-chl-response').value = t; "
                    "document.getElementById('challenge-form').submit(); }}); }</script>"
                    '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js?onload=chlLoad&render=explicit"'
                    " async defer></script>")
        return html_response(body, 403, {"cf-mitigated": "challenge", "Server": "cloudflare", "CF-RAY": f"{ray}-AMS"})

    async def cloudflare_page(request: web.Request) -> web.Response:
        n = item_number(request)
        reason = clearance_ok(request, "cf_clearance")
        if reason is None:
            kinds.count("cloudflare", "pages")
            return html_response(_item("cloudflare", n))
        if request.cookies.get("cf_clearance"):
            cookie_refused(request, "cloudflare", reason)
        return cloudflare_challenge(request)

    async def cloudflare_post(request: web.Request) -> web.Response:
        """The challenge form's post: a Turnstile token for the page's own parameters buys cf_clearance."""
        item_number(request)
        if "__cf_chl_f_tk" not in request.query:
            return await cloudflare_page(request)
        form = await request.post()
        host = host_of(request)
        result, minted = authority.redeem(str(form.get("cf-turnstile-response", "")), host,
                                          sitekey=DEMO_CF_CHALLENGE_SITEKEY, kind="turnstile")
        reason = None if minted else ",".join(result["error-codes"])
        if minted is not None:
            issued = authority.consume("cloudflare", minted.cdata or "")
            if minted.action != CF_ACTION:
                reason = "action-mismatch"
            elif issued is None or issued.hostname != host:
                reason = "cdata-mismatch"
            elif issued.data.get("chl_page_data") != minted.chl_page_data:
                reason = "chl-page-data-mismatch"
            elif minted.user_agent != ua_of(request):
                # The clearance is bound to the browser that solved it: come back with its user agent.
                reason = "user-agent-mismatch"
        note(request, "cloudflare", reason is None, reason or "")
        if reason is not None:
            return cloudflare_challenge(request)
        clearance = authority.mint_clearance("cf_clearance", host, ip_of(request), ua_of(request))
        response = web.Response(status=302, headers={"Location": request.path})
        response.set_cookie("cf_clearance", clearance, httponly=True, path="/", samesite="None")
        return response

    # ---- index, control ---------------------------------------------------------------------------

    async def index(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if slug not in SLUGS:
            raise web.HTTPNotFound()
        return html_response(_index(slug, int(kinds.config["items"])))

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"ip": ip_of(request), "user_agent": ua_of(request)})

    async def control(request: web.Request) -> web.Response:
        if request.method == "POST":
            kinds.config.update(await request.json())
        return web.json_response(kinds.config)

    async def control_state(request: web.Request) -> web.Response:
        return web.json_response({"counters": kinds.counters, "sessions": len(kinds.sessions),
                                  "verified": sum(c["verified"] for c in kinds.counters.values()),
                                  "refused": sum(c["refused"] for c in kinds.counters.values())})

    async def control_log(request: web.Request) -> web.Response:
        return web.json_response(kinds.log)

    async def control_reset(request: web.Request) -> web.Response:
        kinds.config = {**default_kinds_config(), **(await request.json() if request.can_read_body else {})}
        kinds.sessions.clear()
        kinds.image_texts.clear()
        kinds.counters.clear()
        kinds.log.clear()
        return web.json_response(kinds.config)

    async def pages(request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        return web.json_response([{**entry, "url": base + entry["path"]} for entry in catalog()])

    def route(method: str, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        app.router.add_route(method, PREFIX + path, handler)

    token_slugs = "|".join(s for s in SLUGS if s not in ("aws-waf", "datadome", "cloudflare"))
    route("GET", "/image/captcha.png", image)
    route("GET", "/geetest-v3/register", geetest_register)
    route("POST", "/aws-waf/verify", aws_voucher)
    route("GET", r"/aws-waf/{n:\d+}", aws_page)
    route("GET", r"/datadome/{n:\d+}", datadome_page)
    route("GET", r"/cloudflare/{n:\d+}", cloudflare_page)
    route("POST", r"/cloudflare/{n:\d+}", cloudflare_post)
    route("GET", "/{slug:" + token_slugs + r"}/{n:\d+}", token_page)
    route("POST", "/{slug:" + token_slugs + "}/verify", verify)
    route("GET", "/{slug}/", index)
    app.router.add_get("/_sandbox/ip", whoami)
    app.router.add_route("*", "/_sandbox/kinds", control)
    app.router.add_get("/_sandbox/kinds/state", control_state)
    app.router.add_get("/_sandbox/kinds/log", control_log)
    app.router.add_post("/_sandbox/kinds/reset", control_reset)
    app.router.add_get("/_sandbox/kinds/pages", pages)
    return kinds


def catalog() -> list[dict[str, Any]]:
    """Every gated page with what detection should report for it (Challenge fields and params)."""
    p = PREFIX
    return [
        {"slug": "recaptcha-v2-enterprise", "path": f"{p}/recaptcha-v2-enterprise/1", "status": 403,
         "expect": {"kind": "recaptcha_v2", "enterprise": True, "sitekey": DEMO_V2_ENTERPRISE_SITEKEY,
                    "api_domain": "recaptcha.net", "response_fields": ["g-recaptcha-response"], "blocking": True}},
        {"slug": "recaptcha-v3", "path": f"{p}/recaptcha-v3/1", "status": 403,
         "expect": {"kind": "recaptcha_v3", "enterprise": False, "sitekey": DEMO_V3_SITEKEY, "action": V3_ACTION,
                    "response_fields": ["g-recaptcha-response"], "blocking": True}},
        {"slug": "recaptcha-v3-enterprise", "path": f"{p}/recaptcha-v3-enterprise/1", "status": 403,
         "expect": {"kind": "recaptcha_v3", "enterprise": True, "sitekey": DEMO_V3_ENTERPRISE_SITEKEY,
                    "action": V3_ACTION, "response_fields": ["g-recaptcha-response"], "blocking": True}},
        {"slug": "hcaptcha", "path": f"{p}/hcaptcha/1", "status": 403,
         "expect": {"kind": "hcaptcha", "sitekey": DEMO_HCAPTCHA_SITEKEY,
                    "response_fields": ["h-captcha-response", "g-recaptcha-response"], "blocking": True}},
        {"slug": "turnstile", "path": f"{p}/turnstile/1", "status": 403,
         "expect": {"kind": "turnstile", "sitekey": DEMO_TURNSTILE_SITEKEY, "action": TURNSTILE_ACTION,
                    "cdata": "c-<16 hex, fresh per view>", "response_fields": ["cf-turnstile-response"],
                    "blocking": True}},
        {"slug": "image", "path": f"{p}/image/1", "status": 403,
         "expect": {"kind": "image", "response_fields": ["captcha_code"], "blocking": True,
                    "params": {"image_url": f"<site>{p}/image/captcha.png?r=<fresh>"}},
         "note": "the image is served only with the sbx_img cookie the form page set"},
        {"slug": "geetest-v3", "path": f"{p}/geetest-v3/1", "status": 403,
         "expect": {"kind": "geetest", "sitekey": None, "blocking": True,
                    "params": {"version": "3", "register_url": f"<site>{p}/geetest-v3/register"}},
         "note": "GET register_url gives {gt, challenge}: one fresh challenge per solve; the form posts "
                 "geetest_challenge/geetest_validate/geetest_seccode"},
        {"slug": "geetest-v4", "path": f"{p}/geetest-v4/1", "status": 403,
         "expect": {"kind": "geetest", "sitekey": DEMO_GEETEST_CAPTCHA_ID, "blocking": True,
                    "params": {"version": "4"}},
         "note": "the form posts captcha_id/lot_number/pass_token/gen_time/captcha_output"},
        {"slug": "aws-waf", "path": f"{p}/aws-waf/1", "status": 405,
         "expect": {"kind": "aws_waf", "sitekey": DEMO_AWS_KEY, "blocking": True,
                    "params": {"iv": "<fresh>", "context": "<fresh>", "challenge_script": AWS_CHALLENGE_JS,
                               "captcha_script": AWS_CAPTCHA_JS}},
         "note": "admits with an aws-waf-token cookie bound to IP+UA; vouchers trade at POST "
                 f"{p}/aws-waf/verify"},
        {"slug": "funcaptcha", "path": f"{p}/funcaptcha/1", "status": 403,
         "expect": {"kind": "funcaptcha", "sitekey": DEMO_ARKOSE_KEY, "api_domain": "sandbox-api.arkoselabs.com",
                    "response_fields": ["fc-token"], "blocking": True,
                    "params": {"api_subdomain": "sandbox-api.arkoselabs.com", "data": "<fresh blob>"}},
         "note": "send data as the JSON string {\"blob\": \"...\"}"},
        {"slug": "friendly-captcha", "path": f"{p}/friendly-captcha/1", "status": 403,
         "expect": {"kind": "friendly_captcha", "sitekey": DEMO_FRIENDLY_SITEKEY,
                    "response_fields": ["frc-captcha-solution"], "blocking": True}},
        {"slug": "mtcaptcha", "path": f"{p}/mtcaptcha/1", "status": 403,
         "expect": {"kind": "mtcaptcha", "sitekey": DEMO_MTCAPTCHA_SITEKEY,
                    "response_fields": ["mtcaptcha-verifiedtoken"], "blocking": True}},
        {"slug": "datadome", "path": f"{p}/datadome/1", "status": 403,
         "expect": {"kind": "datadome", "sitekey": "<dd.cid, fresh>", "blocking": True,
                    "params": {"cid": "<dd.cid>", "t": "fe",
                               "captcha_url": "https://geo.captcha-delivery.com/captcha/?initialCid=<dd.cid>"
                                              "&hash=<dd.hsh>&cid=<datadome cookie>&t=fe&referer=<page URL>"
                                              "&s=40070&e=<dd.e>"}},
         "note": "the 403 sets the datadome cookie the URL's cid must carry; admits with a datadome clearance "
                 "bound to IP+UA"},
        {"slug": "cloudflare", "path": f"{p}/cloudflare/1", "status": 403,
         "expect": {"kind": "cloudflare_challenge", "sitekey": DEMO_CF_CHALLENGE_SITEKEY, "action": CF_ACTION,
                    "cdata": "ray-<cRay>", "chl_page_data": "<fresh>", "blocking": True,
                    "response_fields": ["cf-turnstile-response"],
                    "params": {"cType": "managed", "cRay": "<fresh>", "cZone": "<host>"}},
         "note": "token mode: POST the Turnstile token to the form's action with the solver's user agent; "
                 "cookie mode: cf_clearance bound to IP+UA"},
    ]


def datadome_url(cid: str, hsh: str, cookie: str, e: str, page_url: str, t: str = "fe") -> str:
    """The captcha URL DataDome's c.js builds from the page's dd object and the datadome cookie."""
    return (f"https://geo.captcha-delivery.com/captcha/?initialCid={quote(cid, safe='')}&hash={hsh}"
            f"&cid={quote(cookie, safe='')}&t={t}&referer={quote(page_url, safe='')}&s=40070&e={e}")


def challenge_url(slug: str, n: int = 1) -> str:
    """The path of a gated page (for tests and the demo)."""
    if slug not in SLUGS:
        raise ValueError(f"unknown kind page {slug!r}; one of: {', '.join(SLUGS)}")
    return f"{PREFIX}/{slug}/{n}"


__all__ = ["add_routes", "catalog", "challenge_url", "datadome_url", "render_png", "KindsState", "SLUGS", "PREFIX",
           "default_kinds_config"]
