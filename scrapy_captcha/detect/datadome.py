"""DataDome interstitial (geo.captcha-delivery.com). ``t=bv``: the IP is banned, nothing to solve."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from .candidate import Candidate
from .page import Page

KINDS = ("datadome",)
MARKERS = (b"captcha-delivery.com",)
_DD = re.compile(r"var\s+dd\s*=\s*(\{[^}]*\})", re.S)
_PAIR = re.compile(r"""['"](\w+)['"]\s*:\s*(?:['"]([^'"]*)['"]|(\d+))""")
_URL = re.compile(r"""https?://geo\.captcha-delivery\.com/(?:captcha|interstitial)/\?[^'"\s<>]+""")


def find(page: Page) -> list[Candidate]:
    params: dict[str, str] = {}
    evidence = []
    for script in page.scripts:
        match = _DD.search(script)
        if match:
            params.update({k: v or n for k, v, n in _PAIR.findall(match.group(1))})
            evidence.append("var dd = {...}")
    data = page.json
    urls = _URL.findall(page.text.replace("\\/", "/"))
    if isinstance(data, dict) and isinstance(data.get("url"), str) and "captcha-delivery.com" in data["url"]:
        urls.insert(0, data["url"])
        evidence.append("JSON reply with a captcha-delivery URL")
    if urls:
        query = parse_qs(urlsplit(urls[0]).query)
        params.setdefault("captcha_url", urls[0])
        # The URL names dd's fields differently: initialCid is dd.cid, cid is the cookie.
        for url_name, name in (("initialCid", "cid"), ("cid", "cookie"), ("hash", "hsh"), ("t", "t"), ("s", "s")):
            if query.get(url_name):
                params.setdefault(name, query[url_name][0])
        evidence.append("geo.captcha-delivery.com URL")
    if not evidence:
        return []
    if params.get("t") == "bv":
        evidence.append("t=bv: this IP is banned; no captcha can lift it")
    return [Candidate(kind="datadome", sitekey=params.get("cid"), params=params, evidence=evidence,
                      blocking_reason="DataDome interstitial")]
