"""Cloudflare Turnstile (the widget): div, explicit render, recaptcha compat mode, rendered iframe."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .candidate import Candidate, classes, js_option, merge, with_class
from .page import Page

KINDS = ("turnstile",)
# Production keys start 0x4; Cloudflare's documented test keys start 1x/2x/3x.
SITEKEY = re.compile(r"0x4[0-9A-Za-z_-]{18,30}|[123]x0{20}[0-9A-F]{2}")
MARKERS = (b"turnstile", b"challenges.cloudflare.com")
FIELD = "cf-turnstile-response"
_RENDER = re.compile(r"turnstile\.render\(\s*(?P<target>[^,{)]{1,200}?)\s*,\s*\{(?P<opts>[^}]{0,2000})\}", re.S)
# …/turnstile/if/ov2/av0/rcv0/0/<id>/<SITEKEY>/<theme>/<size>[/…]: the key is its own segment.
_IFRAME = re.compile(r"/turnstile/if/(?:[^/]+/)*?(?P<key>0x4[0-9A-Za-z_-]{18,30}|[123]x0{20}[0-9A-F]{2})(?:/|$)")


def find(page: Page) -> list[Candidate]:
    root = page.root
    if root is None:
        return []
    compat = any("challenges.cloudflare.com/turnstile" in s and "compat=recaptcha" in s for s in page.script_srcs)
    found: list[Candidate] = []
    for el in with_class(root, "cf-turnstile", "g-recaptcha"):
        cls = classes(el)
        key = (el.get("data-sitekey") or "").strip()
        if not SITEKEY.fullmatch(key):
            if "cf-turnstile" in cls:
                page.note(f"<{el.tag} class=cf-turnstile> rejected: {key[:60]!r} is not a Turnstile key")
            continue
        in_compat = "g-recaptcha" in cls and "cf-turnstile" not in cls
        field = el.get("data-response-field-name") or ("g-recaptcha-response" if in_compat or compat else FIELD)
        found.append(Candidate(
            kind="turnstile", sitekey=key, element=el,
            action=el.get("data-action") or None, cdata=el.get("data-cdata") or None,
            response_fields=(field,),
            evidence=[f"<{el.tag} class={' '.join(sorted(cls))}>"] + (["recaptcha compat mode"] if in_compat else []),
        ))
    for script in page.scripts:
        if "turnstile" not in script:
            continue
        for match in _RENDER.finditer(script):
            opts = match.group("opts")
            key = js_option(opts, "sitekey")
            if not key or not SITEKEY.fullmatch(key):
                continue
            found.append(Candidate(
                kind="turnstile", sitekey=key,
                element=page.by_id(match.group("target").strip().strip("'\"").lstrip("#")),
                action=js_option(opts, "action"), cdata=js_option(opts, "cData"),
                chl_page_data=js_option(opts, "chlPageData"),
                response_fields=(js_option(opts, "response-field-name") or FIELD,),
                evidence=["turnstile.render(...) in inline script"],
            ))
    for iframe in root.iter("iframe"):
        in_src = _IFRAME.search(urlsplit(iframe.get("src") or "").path)
        if in_src:
            found.append(Candidate(kind="turnstile", sitekey=in_src.group("key"), element=iframe,
                                   response_fields=(FIELD,), evidence=["rendered Turnstile iframe"]))
    return merge(found)
