"""DataDome block page (captcha-delivery.com). ``t=bv``: the IP is banned, nothing to solve.

The providers' DataDome tasks take ``captchaUrl``: the URL of the captcha
iframe the page's ``c.js`` would open. The page carries it whole only in the
JSON variant (``{"url": ...}``); the HTML variant carries the ``dd`` object it
is built from. Built here the way both providers document it:
2captcha (https://2captcha.com/api-docs/datadome-slider-captcha: "captchaUrl:
the value of the src attribute of the captcha iframe") and CapSolver
(https://docs.capsolver.com/en/guide/captcha/datadome.html, whose example is
``https://geo.captcha-delivery.com/captcha/?initialCid=...&hash=...&cid=...
&t=fe&referer=https%3A%2F%2F...&s=40070&e=...``):

    https://<dd.host>/captcha/?initialCid=<dd.cid>&hash=<dd.hsh>&cid=<datadome cookie>
        &t=<dd.t>&referer=<page URL, encoded>&s=<dd.s>&e=<dd.e>

``cid`` is the ``datadome`` cookie the block response sets (else ``dd.cookie``).
``dd.rt == 'i'`` is the device-check interstitial (``/interstitial/``, with
``b``; CapSolver's DatadomeSliderTask takes it too).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

from .candidate import Candidate
from .page import Page

KINDS = ("datadome",)
MARKERS = (b"captcha-delivery.com",)
#: Without it find() finds nothing (the block page's script and captcha both come from there).
REQUIRES = (b"captcha-delivery",)
_DD = re.compile(r"\bdd\s*=\s*(\{[^}]*\})", re.S)
_PAIR = re.compile(r"""['"]?(\w+)['"]?\s*:\s*(?:['"]([^'"]*)['"]|(\d+))""")
_URL = re.compile(r"""https?://[\w.-]*captcha-delivery\.com/(?:captcha|interstitial)/\?[^'"\s<>\\]+""")
_COOKIE = re.compile(r"(?:^|[;,]\s*)datadome=([^;,\s]+)")


def _cookie(page: Page) -> str | None:
    for header in page.header_values.get("set-cookie", []):
        match = _COOKIE.search(header)
        if match:
            return match.group(1)
    return None


def build_url(dd: dict[str, str], page_url: str, cookie: str | None) -> str | None:
    """The captcha URL from the page's ``dd`` object (see the module docstring)."""
    if not dd.get("cid") or not dd.get("hsh"):
        return None
    host = dd.get("host") or "geo.captcha-delivery.com"
    interstitial = dd.get("rt") == "i"
    query = [("initialCid", dd["cid"]), ("hash", dd["hsh"])]
    if cookie:
        query.append(("cid", cookie))
    if dd.get("t") and not interstitial:
        query.append(("t", dd["t"]))
    query.append(("referer", page_url))
    for name in ("s", "e") + (("b",) if interstitial else ()):
        if dd.get(name):
            query.append((name, dd[name]))
    if interstitial:
        query.append(("dm", "cd"))
    path = "interstitial" if interstitial else "captcha"
    return f"https://{host}/{path}/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query)


def find(page: Page) -> list[Candidate]:
    if not any(needle in page.raw_hay for needle in REQUIRES):
        return []
    dd: dict[str, str] = {}
    evidence = []
    for script in page.scripts:
        match = _DD.search(script)
        if match:
            dd.update({k: v or n for k, v, n in _PAIR.findall(match.group(1))})
            evidence.append("var dd = {...}")
    urls: list[str] = []
    data = page.json
    if isinstance(data, dict) and isinstance(data.get("url"), str) and "captcha-delivery.com" in data["url"]:
        urls.append(data["url"])
        evidence.append("JSON reply with a captcha-delivery URL")
    if page.root is not None:
        for el in page.root.iter("iframe"):
            if "captcha-delivery.com" in (el.get("src") or ""):
                urls.append(el.get("src"))
        for script in page.scripts:
            urls += _URL.findall(script.replace("\\/", "/"))
    if not evidence and not urls:
        return []
    params: dict[str, str] = {}
    cookie = _cookie(page) or dd.get("cookie")
    if urls:
        params["captcha_url"] = urls[0]
        query = parse_qs(urlsplit(urls[0]).query)
        # The URL names dd's fields differently: initialCid is dd.cid, cid is the cookie.
        for url_name, name in (("initialCid", "cid"), ("t", "t")):
            if query.get(url_name):
                params[name] = query[url_name][0]
        evidence.append("captcha-delivery.com URL")
    else:
        built = build_url(dd, page.url, cookie)
        if built:
            params["captcha_url"] = built
            evidence.append("captcha URL built from dd")
    for name in ("cid", "t"):
        if dd.get(name):
            params.setdefault(name, dd[name])
    if params.get("t") == "bv":
        evidence.append("t=bv: this IP is banned; no captcha can lift it")
    return [Candidate(kind="datadome", sitekey=params.get("cid"), params=params, evidence=evidence,
                      blocking_reason="DataDome block page")]
