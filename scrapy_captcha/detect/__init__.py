"""Pure detection: (body, url, status, headers) -> [Challenge]. One module per vendor.

The no-captcha path is a byte scan for vendor markers; the page is parsed
only when a marker is present.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..model import Challenge
from . import recaptcha
from .page import Page

__all__ = ["detect", "Page"]

#: Statuses a site answers with when it shows a challenge instead of content.
BLOCKING_STATUSES = frozenset({403, 405, 429, 503})
CHALLENGE_TITLES = re.compile(
    r"just a moment|are you a robot|verify you are (a )?human|attention required|"
    r"security check|captcha|unusual traffic|access verification",
    re.IGNORECASE,
)
INTERSTITIAL_PATHS = ("/sorry/index", "/sorry/")

_VENDORS = (("recaptcha_v2", recaptcha),)
_MARKERS = tuple(module.MARKER for _, module in _VENDORS)


def has_markers(body: bytes | str) -> bool:
    """Cheap pre-check: can this body hold any captcha we know?"""
    if isinstance(body, str):
        body = body.encode("utf-8", "ignore")
    return any(marker.search(body) for marker in _MARKERS)


def detect(
    body: bytes | str, *, url: str, status: int = 200, headers: Any = None
) -> list[Challenge]:
    """Every captcha in the page, each marked ``blocking`` when it replaces the content."""
    if not has_markers(body):
        return []
    page = Page(body, url=url, status=status, headers=headers)
    challenges = []
    for kind, module in _VENDORS:
        for cand in module.find(page):
            form_el = page.form_of(cand.element)
            if form_el is None and len(page.forms) == 1:
                form_el = page.forms[0]
            blocking, why = _blocking(page, form_el)
            challenges.append(
                Challenge(
                    kind=kind,
                    sitekey=cand.sitekey,
                    page_url=page.url,
                    blocking=blocking,
                    enterprise=cand.enterprise,
                    invisible=cand.invisible,
                    action=cand.action,
                    data_s=cand.data_s,
                    api_domain=cand.api_domain,
                    response_fields=cand.response_fields,
                    form=page.describe_form(form_el) if form_el is not None else None,
                    evidence=tuple(cand.evidence) + (why,),
                )
            )
    return challenges


def _blocking(page: Page, form: Any) -> tuple[bool, str]:
    """Is the content the spider asked for replaced by the challenge?"""
    if page.status in BLOCKING_STATUSES:
        return True, f"blocking: HTTP {page.status}"
    path = urlsplit(page.url).path
    if any(path.startswith(p) for p in INTERSTITIAL_PATHS):
        return True, f"blocking: interstitial path {path}"
    if page.title and CHALLENGE_TITLES.search(page.title):
        return True, f"blocking: title {page.title[:60]!r}"
    if form is not None and len(page.forms) == 1 and not page.has_user_inputs(form):
        return True, "blocking: the widget is in the page's only form, which asks for nothing else"
    return False, "incidental: the page has content besides the challenge"
