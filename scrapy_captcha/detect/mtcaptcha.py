"""MTCaptcha: ``mtcaptchaConfig = {"sitekey": "MTPublic-…"}``."""

from __future__ import annotations

import re

from .candidate import Candidate
from .page import Page

KINDS = ("mtcaptcha",)
MARKERS = (b"mtcaptcha",)
_KEY = re.compile(r"""['"]?sitekey['"]?\s*:\s*['"](?P<key>MTPublic-[0-9A-Za-z]{6,40})['"]""")


def find(page: Page) -> list[Candidate]:
    for script in page.scripts:
        if "mtcaptchaConfig" in script:
            match = _KEY.search(script)
            if match:
                return [Candidate(kind="mtcaptcha", sitekey=match.group("key"),
                                  response_fields=("mtcaptcha-verifiedtoken",), evidence=["mtcaptchaConfig"])]
    return []
