"""The byte scan: which vendors' markers does the page hold, and where?

Four substring scans (``ROOTS``, at memory speed: fastfind.py) cover every
marker: each marker lies within ``WINDOW`` bytes of a root
(``captcha-delivery.com`` holds ``captcha``; an AWS WAF script URL holds
``captcha`` or ``challenge`` beside ``awswaf``). A root with no vendor's marker
near it (the word "challenge" in an article) is ignored. The form tags are
looked at too: an image captcha need not say "captcha" anywhere.

``detect(blocking_only=True)`` usually stops before this scan (see
``_clearly_content`` in __init__.py).
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
from .page import FORM_CONTEXT, MAX_FORM, MAX_HITS, MAX_PARSE, Page

# Challenge pages first: a Cloudflare interstitial is reported as such even
# though it also carries Turnstile markers.
VENDORS = (cloudflare, aws_waf, datadome, recaptcha, hcaptcha, turnstile, geetest, funcaptcha,
           friendly_captcha, mtcaptcha, image)
ROOTS = (b"captcha", b"challenge", b"arkose", b"turnstile")  # spelled out again in quick_lower
WINDOW = 160
#: Roots closer than this share one look for markers (a config object names "captcha" fifty times).
_CLUSTER_GAP = 2048
_MARKED = tuple(v for v in VENDORS if v is not image)
assert all(m == m.lower() for v in _MARKED for m in v.MARKERS)
_MARKERS_OF = tuple((v, v.MARKERS) for v in _MARKED)
# "captcha" inside one of these words belongs to a vendor, not to an image captcha.
_VENDOR_PREFIX = re.compile(rb"(?:re|h-?|frc-|mt|fun|g)$")
_VENDOR_SUFFIX = re.compile(rb"-delivery|id\b|\.awswaf")


#: Below this size a page gets the quick look of ``quick_lower`` first.
_SMALL = 32 * 1024


def quick_lower(body: bytes | str) -> tuple[bytes | None, bool]:
    """(the lowered body, whether it may hold a marker), in as few steps as a tiny page allows.

    The lowered body is None when the body needs decoding first (str, UTF-16/32).
    """
    if type(body) is not bytes or body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:64].count(0) > 16:
        return None, True
    low = body[:MAX_PARSE].lower()
    if len(low) < _SMALL:
        return low, (b"captcha" in low or b"challenge" in low or b"arkose" in low or b"turnstile" in low
                     or (b"<form" in low and b"<img" in low))
    return low, True


def marked_vendors(page: Page) -> dict[Any, list[int]]:
    """The vendors whose markers sit near a root, with those roots' offsets (cheap: no structure).

    Also keeps the offsets of "captcha" that belong to no vendor's word in
    ``page.generic`` (an image captcha's, perhaps).
    """
    low, hay = page.low, page.hay
    hits: dict[Any, list[int]] = {}
    generic: list[int] = []
    for root in ROOTS:
        if hay.find(root) == -1:
            continue
        cluster: list[int] = []
        for pos in hay.find_all(root, MAX_HITS) + [-1]:
            # Occurrences close together share one look at the markers around them.
            if cluster and (pos == -1 or pos - cluster[-1] > _CLUSTER_GAP):
                window = low[max(0, cluster[0] - WINDOW):cluster[-1] + len(root) + WINDOW]
                for vendor, markers in _MARKERS_OF:
                    if any(marker in window for marker in markers):
                        hits.setdefault(vendor, []).extend(cluster)
                cluster = []
            if pos == -1:
                break
            cluster.append(pos)
            if root == b"captcha" and not (_VENDOR_PREFIX.search(low, max(0, pos - 4), pos)
                                           or _VENDOR_SUFFIX.match(low, pos + 7)):
                generic.append(pos)
    page.generic = generic
    return hits


def vendors_in(page: Page, marked: dict[Any, list[int]] | None = None) -> list[Any]:
    """The vendors whose markers the page holds, in ``VENDORS`` order; fills ``page.hits``."""
    hits = marked_vendors(page) if marked is None else marked
    image_hits = [pos for pos in page.generic if _in_markup(page, pos)] + _picture_forms(page)
    # An image captcha is judged on its form, parsed on its own (image.py): its hits make no island here.
    page.image_hits = image_hits
    if not hits and not image_hits:
        return []
    for vendor, positions in hits.items():
        for needle in getattr(vendor, "NEEDLES", ()):
            positions.extend(page.hay.find_all(needle, MAX_HITS))
        pattern = getattr(vendor, "KEY_PATTERN", None)
        if pattern is not None:
            positions.extend(m.start() for _, m in zip(range(MAX_HITS), pattern.finditer(page.raw), strict=False))
    page.hits = sorted({p for positions in hits.values() for p in positions})
    return [v for v in VENDORS if v in hits or (v is image and image_hits)]


def _in_markup(page: Page, pos: int) -> bool:
    """Not in a script, style, title or comment (a tag attribute of one of them counts)."""
    region = page.region_at(pos)
    return region is None or (pos < region.body and region.tag != b"!--")


def _picture_forms(page: Page) -> list[int]:
    """Forms with a picture in or just above them, a text field, and a word about reading it.

    Found from the ``<form`` tags alone (the page's structure costs a pass):
    most pages have forms, few of them show a picture beside a text field.
    """
    low, n, find = page.low, len(page.low), page.hay.find
    found = []
    for pos in page.form_tags:
        after = pos + 5
        close = find(b"</form", after, after + MAX_FORM)
        end = min(n, after + MAX_FORM) if close == -1 else close
        if find(b"<input", after, end) == -1:
            continue
        before = max(0, pos - FORM_CONTEXT)
        if (find(b"<img", after, end) != -1 or find(b"<img", before, pos) != -1) and (
                any(before <= g < end for g in page.generic) or image.hinted(low[before:end])):
            found.append(pos)
    return [p for p in found if page.region_at(p) is None] if found else []
