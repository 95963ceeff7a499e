"""Cloudflare's challenge page ("Just a moment..."), as opposed to its widget (turnstile.py).

Not challenges: the ``jsd/main.js`` beacon on ordinary pages, and hard blocks
(Access denied, error 1020, "Attention Required!") which no token lifts.
"""

from __future__ import annotations

import re

from .candidate import Candidate, js_option
from .page import Page

KINDS = ("cloudflare_challenge",)
# cf-error-details: only so --explain can say a hard block is not a challenge.
MARKERS = (b"_cf_chl", b"challenge-platform", b"cf-challenge", b"just a moment", b"cf-error-details")
_HARD_BLOCK = re.compile(rb"error code:? ?10(?:06|07|08|09|10|12|20)|cf-error-details|access denied|"
                         rb"sorry, you have been blocked")


def find(page: Page) -> list[Candidate]:
    low = page.low
    header = page.headers.get("cf-mitigated", "").lower()
    opt = b"_cf_chl_opt" in low
    orchestrate = b"/cdn-cgi/challenge-platform/" in low and b"/orchestrate/" in low
    form = b"challenge-form" in low or b"challenge-running" in low
    if header != "challenge" and not (opt or orchestrate):
        if b"/cdn-cgi/challenge-platform/scripts/jsd/main.js" in low:
            page.note("Cloudflare jsd/main.js beacon: an ordinary page, not a challenge")
        elif b"cloudflare" in low and _HARD_BLOCK.search(low):
            page.note("Cloudflare hard block (access denied / 10xx): not solvable, not a challenge")
        return []
    evidence = [e for e, on in (("header cf-mitigated: challenge", header == "challenge"),
                                ("window._cf_chl_opt", opt), ("challenge-platform orchestrate script", orchestrate),
                                ("#challenge-form", form)) if on]
    script = next((s for s in page.scripts if "_cf_chl_opt" in s), "")
    params = {name: value for name in ("cType", "cRay", "cZone") if (value := js_option(script, name))}
    return [Candidate(
        kind="cloudflare_challenge",
        sitekey=js_option(script, "chlApiSitekey"),
        chl_page_data=js_option(script, "chlPageData"),
        params=params,
        evidence=evidence,
        blocking_reason="Cloudflare challenge page",
    )]
