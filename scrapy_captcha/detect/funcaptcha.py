"""Arkose Labs / FunCaptcha: public key in the api.js path, or a legacy div#funcaptcha."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .candidate import Candidate
from .page import Page

KINDS = ("funcaptcha",)
MARKERS = (b"arkoselabs", b"funcaptcha")
PUBLIC_KEY = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", re.I)
_API = re.compile(r"/v2/(?P<key>[0-9A-Fa-f-]{36})/api\.js")


def find(page: Page) -> list[Candidate]:
    found = []
    for src in page.script_srcs:
        match = _API.search(src)
        if match and PUBLIC_KEY.fullmatch(match.group("key")):
            host = urlsplit(src).hostname
            found.append(Candidate(kind="funcaptcha", sitekey=match.group("key").upper(), api_domain=host,
                                   response_fields=("fc-token",), evidence=[f"Arkose api.js on {host}"]))
    root = page.root
    if root is not None:
        for el in root.xpath("//*[@id='funcaptcha' or @data-pkey]"):
            key = (el.get("data-pkey") or "").strip()
            if PUBLIC_KEY.fullmatch(key):
                found.append(Candidate(kind="funcaptcha", sitekey=key.upper(), element=el,
                                       response_fields=("fc-token",), evidence=["<div id=funcaptcha data-pkey>"]))
    return found
