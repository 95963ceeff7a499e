"""Arkose Labs / FunCaptcha: public key in the api.js path, or a legacy div#funcaptcha.

What the providers' FunCaptcha tasks take besides the public key:
``api_subdomain``, the host the page loads Arkose's script from
(``client-api.arkoselabs.com``, a company's own ``<name>-api.arkoselabs.com``,
or the legacy ``data-surl``/``surl``), and ``data``, the ``blob`` some sites
pass (``data: {blob: ...}`` in the setup call, ``data[blob]=`` in a URL),
kept as the JSON text ``{"blob": "..."}`` the providers ask for.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import lxml.etree

from .candidate import Candidate, js_option
from .page import Page

KINDS = ("funcaptcha",)
MARKERS = (b"arkoselabs", b"funcaptcha", b"arkose")
NEEDLES = (b"data-pkey", b"fc-token", b"arkoselabs", b"funcaptcha")
PUBLIC_KEY = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", re.I)
_API = re.compile(r"/v2/(?P<key>[0-9A-Fa-f-]{36})/api\.js")
_API_URL = re.compile(r"""https://(?P<host>[\w.-]+)/v2/(?P<key>[0-9A-Fa-f-]{36})/api\.js[^'"\s<>]*""")
_LEGACY_DIV = lxml.etree.XPath("//*[@id='funcaptcha' or @data-pkey]")
_BLOB = re.compile(r"""\bblob['"]?\s*:\s*(['"])(?P<blob>[^'"]{8,4000})\1|data\[blob\]=(?P<query>[^&'"\s<>]{8,4000})""")


def _host(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url if "//" in url else "https://" + url).hostname
    return host or None


def _blob(page: Page) -> str | None:
    for text in page.scripts + page.script_srcs:
        match = _BLOB.search(text)
        if match:
            blob = match.group("blob") or unquote(match.group("query"))
            return json.dumps({"blob": blob})
    return None


def find(page: Page) -> list[Candidate]:
    found = []
    surl = None
    srcs = list(page.script_srcs)
    for script in page.scripts:
        srcs += [m.group() for m in _API_URL.finditer(script.replace("\\/", "/"))]
        surl = surl or js_option(script, "surl")
    for src in srcs:
        match = _API.search(src)
        if match and PUBLIC_KEY.fullmatch(match.group("key")):
            host = urlsplit(src).hostname
            found.append(Candidate(kind="funcaptcha", sitekey=match.group("key").upper(), api_domain=host,
                                   response_fields=("fc-token",), params={"api_subdomain": host} if host else {},
                                   evidence=[f"Arkose api.js on {host}"]))
    root = page.root
    if root is not None:
        for el in _LEGACY_DIV(root):
            key = (el.get("data-pkey") or "").strip()
            if PUBLIC_KEY.fullmatch(key):
                host = _host(el.get("data-surl") or surl)
                found.append(Candidate(kind="funcaptcha", sitekey=key.upper(), element=el, api_domain=host,
                                       response_fields=("fc-token",),
                                       params={"api_subdomain": host} if host else {},
                                       evidence=["<div id=funcaptcha data-pkey>"]))
    if found:
        blob = _blob(page)
        for cand in found:
            if blob:
                cand.params["data"] = blob
            key = (cand.sitekey or "").lower()
            query = parse_qs(urlsplit(next((s for s in srcs if key and key in s.lower()), "")).query)
            if "surl" in query and "api_subdomain" not in cand.params:
                cand.params["api_subdomain"] = _host(query["surl"][0]) or ""
    return found
