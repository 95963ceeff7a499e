"""Friendly Captcha: div.frc-captcha with data-sitekey."""

from __future__ import annotations

from .candidate import Candidate, classes
from .page import Page

KINDS = ("friendly_captcha",)
MARKERS = (b"frc-captcha",)


def find(page: Page) -> list[Candidate]:
    if page.root is None:
        return []
    found = []
    for el in page.root.iter():
        if isinstance(el.tag, str) and "frc-captcha" in classes(el):
            key = (el.get("data-sitekey") or "").strip()
            if key:
                found.append(Candidate(kind="friendly_captcha", sitekey=key, element=el,
                                       response_fields=(el.get("data-solution-field-name") or "frc-captcha-solution",),
                                       evidence=["<div class=frc-captcha>"]))
    return found
