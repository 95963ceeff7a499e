"""The request that hands a solution to the site: the challenge's form, posted with the token.

A token is only ever sent to the origin that showed the challenge.
"""

from __future__ import annotations

import json
from http.cookiejar import Cookie
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import FormRequest

from .meta import META_SWITCH
from .model import CaptchaError, Challenge, Reaction, Solution, SolutionCookie
from .service.errors import CROSS_ORIGIN_SUBMIT, NO_SUBMIT_PATH

#: Meta a token post carries whatever the gate.
_POST_META = {
    META_SWITCH: False,
    # A token is single use: posting it again cannot succeed.
    "dont_retry": True,
    # The challenge page is not content; neither is the answer to a token post.
    "dont_cache": True,
    # Where robots.txt itself is behind the gate, RobotsTxtMiddleware would hold
    # this post until robots.txt arrives, which waits for this post.
    "dont_obey_robotstxt": True,
}
#: Meta of the original request the post must share (same session, same exit IP).
IDENTITY_META = ("cookiejar", "proxy", "download_slot", "bindaddress")
#: Seconds a token is accepted after it was issued (siteverify's rules). Kinds
#: whose solution is a clearance cookie are not listed: the cookie carries its own.
TOKEN_TTL = {"recaptcha_v2": 120.0, "recaptcha_v3": 120.0, "hcaptcha": 120.0, "turnstile": 300.0,
             "funcaptcha": 120.0, "geetest": 120.0, "friendly_captcha": 600.0, "mtcaptcha": 120.0}


def expired(challenge: Challenge, solution: Solution, now: float) -> bool:
    """Whether ``solution`` is too old to post (``now`` and ``solution.received``: loop time)."""
    ttl = TOKEN_TTL.get(challenge.kind)
    return ttl is not None and solution.received > 0 and now - solution.received > ttl


def same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.hostname, x.port) == (y.scheme, y.hostname, y.port)


def answer_fields(challenge: Challenge, solution: Solution) -> list[tuple[str, str]]:
    """The form fields that carry ``solution``: the token in each response field,
    or, for GeeTest, the several fields its answer is made of."""
    if challenge.kind == "geetest":
        try:
            fields = json.loads(solution.token)
        except ValueError:
            fields = None
        if isinstance(fields, dict) and fields:
            return [(str(k), str(v)) for k, v in fields.items()]
    return [(name, solution.token) for name in challenge.response_fields]


def can_post(challenge: Challenge) -> bool:
    return challenge.form is not None and (bool(challenge.response_fields) or challenge.kind == "geetest")


def token_post(challenge: Challenge, solution: Solution, request: Request, *, follow_redirects: bool) -> Request:
    """The form post carrying ``solution`` for ``challenge``, as ``request``'s session sends it.

    ``follow_redirects``: False for a session gate (the post's own answer says
    whether the gate passed; the original request is sent again after), True
    for a page gate (where the site sends us after the post is the page).
    """
    form = challenge.form
    answer = answer_fields(challenge, solution)
    if form is None or not answer:
        raise CaptchaError(NO_SUBMIT_PATH, "the challenge is in no form the token could be posted with",
                           Reaction.DROP)
    if not same_origin(challenge.page_url, form.action):
        raise CaptchaError(CROSS_ORIGIN_SUBMIT, f"the form posts to {urlsplit(form.action).netloc}, "
                           f"not {urlsplit(challenge.page_url).netloc}", Reaction.DROP)
    names = {name for name, _ in answer}
    formdata = [(k, v) for k, v in form.fields if k not in names] + answer
    meta: dict[str, object] = dict(_POST_META)
    if not follow_redirects:
        meta.update(dont_redirect=True, handle_httpstatus_all=True)
    for key in IDENTITY_META:
        if key in request.meta:
            meta[key] = request.meta[key]
    headers: dict[str, str | bytes] = {"Referer": challenge.page_url}
    if solution.user_agent:
        headers["User-Agent"] = solution.user_agent
    auth = request.headers.get(b"Proxy-Authorization")
    if auth:
        # HttpProxyMiddleware moved the proxy's credentials from meta["proxy"] to this
        # header on the original request: the post goes out through the same proxy.
        headers["Proxy-Authorization"] = auth
    return FormRequest(form.action, method=form.method, formdata=formdata, headers=headers, meta=meta,
                       dont_filter=True, priority=request.priority)


def identity_request(url: str, request: Request, **meta: Any) -> Request:
    """A GET of ``url`` as ``request``'s session sends it (same cookiejar, proxy, user agent):
    the captcha image, a fresh GeeTest challenge, the page again with a clearance."""
    headers = {}
    agent = request.headers.get(b"User-Agent")
    if agent:
        headers["User-Agent"] = agent
    auth = request.headers.get(b"Proxy-Authorization")
    if auth:
        headers["Proxy-Authorization"] = auth
    own = {**_POST_META, "handle_httpstatus_all": True, **meta}
    for key in IDENTITY_META:
        if key in request.meta:
            own[key] = request.meta[key]
    return Request(url, headers=headers, meta=own, dont_filter=True, priority=request.priority)


def store_cookies(jars: Any, request: Request, cookies: tuple[SolutionCookie, ...], page_url: str) -> int:
    """Put a solution's cookies into ``request``'s cookiejar (Scrapy's CookiesMiddleware
    ``jars``); a cookie with no domain belongs to the page's host. Returns how many."""
    jar = jars[request.meta.get("cookiejar")]
    host = urlsplit(page_url).hostname or ""
    for c in cookies:
        domain = (c.domain or host).strip()
        jar.jar.set_cookie(Cookie(
            0, c.name, c.value, None, False, domain, bool(c.domain), domain.startswith("."),
            c.path or "/", True, False, None, False, None, None, {},
        ))
    return len(cookies)


def cookie_jars(crawler: Any) -> Any:
    """Scrapy's cookie jars (CookiesMiddleware), or None when cookies are off."""
    return next((mw.jars for mw in crawler.engine.downloader.middleware.middlewares if hasattr(mw, "jars")), None)


def set_cookies(response: Any, page_url: str) -> tuple[SolutionCookie, ...]:
    """The cookies a response set (its Set-Cookie headers), as a solution's cookies:
    what a session gate's pass gave, to share with the other processes of a fleet."""
    from .service.protocol import parse_set_cookie

    host = urlsplit(page_url).hostname
    out = []
    for raw in response.headers.getlist(b"Set-Cookie"):
        cookie = parse_set_cookie(raw.decode("latin-1"))
        if cookie is not None:
            out.append(cookie if cookie.domain else SolutionCookie(cookie.name, cookie.value, host, cookie.path))
    return tuple(out)
