"""GeeTest v3 (initGeetest: gt + challenge) and v4 (initGeetest4: captchaId).

v3's ``challenge`` is single-use and usually fetched by the page's JS from
the site's own endpoint (``/api/register?t=...``, ``captcha/register``), which
answers ``{"gt": ..., "challenge": ...}``: that URL is ``register_url``, so a
fresh pair can be fetched for each solve. Keys passed as JS variables
(``captchaId: captchaId``) are looked up in the same script.
"""

from __future__ import annotations

import re

from .candidate import Candidate, js_option
from .page import Page

KINDS = ("geetest",)
MARKERS = (b"geetest", b"gcaptcha4")
NEEDLES = (b"initgeetest", b"captchaid")
_V4 = re.compile(r"initGeetest4\s*\(\s*\{(?P<opts>[^}]{0,2000})\}", re.S)
_V3 = re.compile(r"initGeetest\s*\(\s*\{(?P<opts>[^}]{0,2000})\}", re.S)
_ID = re.compile(r"[0-9a-f]{32}")
_OPTION = re.compile(r"""['"]?%s['"]?\s*:\s*(?P<value>[A-Za-z_$][\w$.]{0,80})""")
# URL literals the page's JS requests for a fresh gt/challenge pair.
# (Bounded: a URL is short, and unbounded lazy runs backtrack without end on a long string.)
_REGISTER = re.compile(r"""(['"`])(?P<url>(?:https?:)?[\w./:-]{0,200}?/[\w./-]{0,200}?"""
                       r"""(?:register|geetest|gt3?|captcha)[\w./-]{0,200}(?:\?[^'"`\s]{0,500})?)\1""", re.I)
# The fields GeeTest's own server SDKs read a v3 result from, when the page's form has them.
V3_FIELDS = ("geetest_challenge", "geetest_validate", "geetest_seccode")
_NOT_REGISTER = re.compile(r"\.(?:js|css|png|jpg|gif|svg)(?:\?|$)|validate|verify|/login|static\.geetest\.com", re.I)


def _resolve(script: str, opts: str, name: str) -> str | None:
    """An option's value: a string literal, or a variable assigned a 32-hex literal in the script."""
    literal = js_option(opts, name)
    if literal:
        return literal if _ID.fullmatch(literal) else None
    match = re.search(_OPTION.pattern % re.escape(name), opts)
    if not match:
        return None
    variable = match.group("value").rsplit(".", 1)[-1]
    assigned = re.search(r"""\b%s['"]?\s*[:=]\s*['"](?P<id>[0-9a-f]{32})['"]""" % re.escape(variable), script)
    return assigned.group("id") if assigned else None


def _register_url(page: Page, script: str) -> str | None:
    urls = [m.group("url") for m in _REGISTER.finditer(script) if not _NOT_REGISTER.search(m.group("url"))]
    urls.sort(key=lambda u: "register" not in u.lower())
    return page.absolute(urls[0]) if urls else None


def find(page: Page) -> list[Candidate]:
    found = []
    for script in page.scripts:
        for match in _V4.finditer(script):
            key = _resolve(script, match.group("opts"), "captchaId")
            if key:
                params = {"version": "4"}
                api_server = js_option(match.group("opts"), "apiServer") or js_option(match.group("opts"), "api_server")
                if api_server:
                    params["api_server"] = api_server
                found.append(Candidate(kind="geetest", sitekey=key, params=params,
                                       evidence=["initGeetest4({captchaId})"]))
            else:
                page.note("initGeetest4 without a captchaId the page names")
        for match in _V3.finditer(script):
            opts = match.group("opts")
            gt = _resolve(script, opts, "gt")
            params = {"version": "3"}
            challenge = js_option(opts, "challenge")
            if challenge:
                params["challenge"] = challenge
            api_server = js_option(opts, "api_server")
            if api_server:
                params["api_server"] = api_server
            register = _register_url(page, script)
            if register:
                params["register_url"] = register
            evidence = "initGeetest({gt, challenge})" + ("" if gt else ": gt comes from an XHR, not the HTML")
            fields = V3_FIELDS if all(f.encode() in page.hay for f in V3_FIELDS) else ()
            found.append(Candidate(kind="geetest", sitekey=gt, params=params, response_fields=fields,
                                   evidence=[evidence] + ([f"register endpoint {register}"] if register else [])))
    return found
