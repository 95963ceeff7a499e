"""The request that hands a solution to the site: the challenge's form, posted with the token.

A token is only ever sent to the origin that showed the challenge.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import FormRequest

from .meta import META_SWITCH
from .model import CaptchaError, Challenge, Reaction, Solution
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


def token_post(challenge: Challenge, solution: Solution, request: Request, *, follow_redirects: bool) -> Request:
    """The form post carrying ``solution`` for ``challenge``, as ``request``'s session sends it.

    ``follow_redirects``: False for a session gate (the post's own answer says
    whether the gate passed; the original request is sent again after), True
    for a page gate (where the site sends us after the post is the page).
    """
    form = challenge.form
    if form is None or not challenge.response_fields:
        raise CaptchaError(NO_SUBMIT_PATH, "the challenge is in no form the token could be posted with",
                           Reaction.DROP)
    if not same_origin(challenge.page_url, form.action):
        raise CaptchaError(CROSS_ORIGIN_SUBMIT,
                           f"the form posts to {urlsplit(form.action).netloc}, not {urlsplit(challenge.page_url).netloc}",
                           Reaction.DROP)
    fields = challenge.response_fields
    formdata = [(k, v) for k, v in form.fields if k not in fields] + [(name, solution.token) for name in fields]
    meta: dict[str, object] = dict(_POST_META)
    if not follow_redirects:
        meta.update(dont_redirect=True, handle_httpstatus_all=True)
    for key in IDENTITY_META:
        if key in request.meta:
            meta[key] = request.meta[key]
    headers = {"Referer": challenge.page_url}
    if solution.user_agent:
        headers["User-Agent"] = solution.user_agent
    return FormRequest(form.action, method=form.method, formdata=formdata, headers=headers, meta=meta,
                       dont_filter=True, priority=request.priority)
