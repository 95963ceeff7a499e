"""Image captchas: an <img> whose URL says captcha, next to a text input named like one, in one form."""

from __future__ import annotations

import re

from .candidate import Candidate
from .page import Page

KINDS = ("image",)
MARKERS = (b"captcha",)
_FIELD = re.compile(r"^(?:.*[_-])?captcha(?:[_-]?(?:\d+|code|text|input|value|answer|response))?$", re.I)
_SRC = re.compile(r"captcha", re.I)
_TOKEN_FIELDS = {"g-recaptcha-response", "h-captcha-response", "cf-turnstile-response"}


def find(page: Page) -> list[Candidate]:
    found = []
    for form in page.forms:
        inputs = [el for el in form.iter("input")
                  if (el.get("type") or "text").lower() == "text"
                  and _FIELD.match(el.get("name") or "") and el.get("name") not in _TOKEN_FIELDS]
        images = [img for img in form.iter("img") if _SRC.search(img.get("src") or "")]
        if inputs and images:
            found.append(Candidate(
                kind="image", sitekey=None, element=images[0],
                response_fields=(inputs[0].get("name"),),
                params={"image_url": page.absolute(images[0].get("src"))},
                evidence=[f"<img src=…captcha…> beside input name={inputs[0].get('name')}"],
            ))
        elif inputs or images:
            page.note("a captcha-like image or field without its pair in the same form: not an image captcha")
    return found
