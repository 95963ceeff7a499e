"""Friendly Captcha: div.frc-captcha with data-sitekey (and data-puzzle-endpoint when the site names its own)."""

from __future__ import annotations

import re

from .candidate import Candidate, with_class
from .page import Page

KINDS = ("friendly_captcha",)
MARKERS = (b"frc-captcha", b"friendlycaptcha", b"friendly-captcha")
# The widget script the page loads (some providers load it to solve: capmonster's apiGetLib).
_SCRIPT = re.compile(r"""<script[^>]+src\s*=\s*["']"""
                     r"""(?P<url>[^"']*(?:friendly-challenge|friendlycaptcha)[^"']*\.js[^"']*)""", re.I)


def find(page: Page) -> list[Candidate]:
    if page.root is None:
        return []
    found = []
    script = _SCRIPT.search(page.text)
    for el in with_class(page.root, "frc-captcha"):
        key = (el.get("data-sitekey") or "").strip()
        if key:
            params = {}
            endpoint = (el.get("data-puzzle-endpoint") or "").strip()
            if endpoint:
                params["puzzle_endpoint"] = page.absolute(endpoint)
            if script:
                params["script_url"] = page.absolute(script.group("url"))
            found.append(Candidate(kind="friendly_captcha", sitekey=key, element=el,
                                   response_fields=(el.get("data-solution-field-name") or "frc-captcha-solution",),
                                   params=params, evidence=["<div class=frc-captcha>"]))
    return found
