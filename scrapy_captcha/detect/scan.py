"""The byte scan every response pays: which vendors' markers does the page hold, and where?

Four substring scans (``ROOTS``) cover every marker: each marker lies within
``WINDOW`` bytes of a root (``captcha-delivery.com`` holds ``captcha``, an AWS
WAF script URL holds ``captcha`` or ``challenge`` beside ``awswaf``). A root
seen with no vendor's marker near it (the word "challenge" in an article) is
ignored. A fifth scan looks for forms that show a picture and ask for text:
an image captcha need not say "captcha" anywhere.
"""

from __future__ import annotations

import re
from typing import Any

from . import (
    aws_waf,
    cloudflare,
    datadome,
    friendly_captcha,
    funcaptcha,
    geetest,
    hcaptcha,
    image,
    mtcaptcha,
    recaptcha,
    turnstile,
)
from .page import FORM_CONTEXT, MAX_HITS, Page

# Challenge pages first: a Cloudflare interstitial is reported as such even
# though it also carries Turnstile markers.
VENDORS = (cloudflare, aws_waf, datadome, recaptcha, hcaptcha, turnstile, geetest, funcaptcha,
           friendly_captcha, mtcaptcha, image)
ROOTS = (b"captcha", b"challenge", b"arkose", b"turnstile")
WINDOW = 160
_MARKED = tuple(v for v in VENDORS if v is not image)
assert all(m == m.lower() for v in _MARKED for m in v.MARKERS)
_MARKER_RE = re.compile(b"|".join(re.escape(m) for v in _MARKED for m in sorted(v.MARKERS, key=len, reverse=True)))
_VENDOR_OF = {m: v for v in _MARKED for m in v.MARKERS}
# "captcha" inside one of these words belongs to a vendor, not to an image captcha.
_VENDOR_WORD = re.compile(rb"(?:re|h-?|frc-|mt|fun|g)captcha|captcha-delivery|captchaid|captcha\.awswaf")
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-.")


def _word_around(low: bytes, pos: int, length: int) -> bytes:
    start, end = pos, pos + length
    while start > 0 and pos - start < 24 and low[start - 1] in _WORD_CHARS:
        start -= 1
    while end < len(low) and end - pos < 40 and low[end] in _WORD_CHARS:
        end += 1
    return low[start:end]


def scan(page: Page) -> list[Any]:
    """The vendors whose markers the page holds, in ``VENDORS`` order; fills ``page.hits``."""
    low = page.low
    hits: dict[Any, list[int]] = {}
    generic: list[int] = []
    for root in ROOTS:
        pos = low.find(root)
        seen = 0
        while pos != -1 and seen < MAX_HITS:
            seen += 1
            window = _MARKER_RE.findall(low, max(0, pos - WINDOW), pos + len(root) + WINDOW)
            for marker in window:
                hits.setdefault(_VENDOR_OF[marker], []).append(pos)
            if root == b"captcha" and not _VENDOR_WORD.search(_word_around(low, pos, 7)):
                generic.append(pos)
            pos = low.find(root, pos + len(root))
    image_hits = [pos for pos in generic if _in_markup(page, pos)] + _picture_forms(page)
    if image_hits:
        hits[image] = image_hits
    for vendor, positions in hits.items():
        for needle in getattr(vendor, "NEEDLES", ()):
            positions.extend(_all(low, needle))
        pattern = getattr(vendor, "KEY_PATTERN", None)
        if pattern is not None:
            positions.extend(m.start() for _, m in zip(range(MAX_HITS), pattern.finditer(page.raw)))
    page.hits = sorted({p for positions in hits.values() for p in positions})
    return [v for v in VENDORS if v in hits]


def _all(low: bytes, needle: bytes) -> list[int]:
    found = []
    pos = low.find(needle)
    while pos != -1 and len(found) < MAX_HITS:
        found.append(pos)
        pos = low.find(needle, pos + len(needle))
    return found


def _in_markup(page: Page, pos: int) -> bool:
    """Not in a script, style, title or comment (a tag attribute of one of them counts)."""
    region = page.region_at(pos)
    return region is None or (pos < region.body and region.tag != b"!--")


def _picture_forms(page: Page) -> list[int]:
    """Forms with a picture in or just above them, a text field, and a word about reading it."""
    low = page.low
    found = []
    pos = low.find(b"<form")
    while pos != -1 and len(found) < MAX_HITS:
        close = low.find(b"</form", pos)
        end = len(low) if close == -1 else close
        before = max(0, pos - FORM_CONTEXT)
        if (low.find(b"<img", before, end) != -1 and low.find(b"<input", pos, end) != -1
                and image.hinted(low[before:end])):
            found.append(pos)
        pos = low.find(b"<form", end)
    return [p for p in found if page.region_at(p) is None]
