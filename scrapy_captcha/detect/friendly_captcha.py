"""Friendly Captcha: div.frc-captcha with data-sitekey (and data-puzzle-endpoint when the site names its own)."""

from __future__ import annotations

from .candidate import Candidate, with_class
from .page import Page

KINDS = ("friendly_captcha",)
MARKERS = (b"frc-captcha", b"friendlycaptcha", b"friendly-captcha")


def find(page: Page) -> list[Candidate]:
    if page.root is None:
        return []
    found = []
    for el in with_class(page.root, "frc-captcha"):
        key = (el.get("data-sitekey") or "").strip()
        if key:
            endpoint = (el.get("data-puzzle-endpoint") or "").strip()
            found.append(Candidate(kind="friendly_captcha", sitekey=key, element=el,
                                   response_fields=(el.get("data-solution-field-name") or "frc-captcha-solution",),
                                   params={"puzzle_endpoint": page.absolute(endpoint)} if endpoint else {},
                                   evidence=["<div class=frc-captcha>"]))
    return found
