"""Pure detection: (body, url, status, headers) -> [Challenge]. One module per vendor.

The no-captcha path is a byte scan for the vendors' markers; the page is
parsed, and a vendor's module run, only when one of its markers is present.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..model import Challenge
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
from .candidate import Candidate
from .page import MAX_PARSE, Page

__all__ = ["detect", "explain", "has_markers", "Page", "KINDS", "SOLVABLE_KINDS"]

# Challenge pages first: a Cloudflare interstitial is reported as such even
# though it also carries Turnstile markers.
VENDORS = (cloudflare, aws_waf, datadome, recaptcha, hcaptcha, turnstile, geetest, funcaptcha,
           friendly_captcha, mtcaptcha, image)
KINDS = tuple(kind for vendor in VENDORS for kind in vendor.KINDS)
#: Kinds the middleware can solve over plain HTTP (token + form).
SOLVABLE_KINDS = frozenset({"recaptcha_v2", "recaptcha_v3", "hcaptcha", "turnstile"})

#: Statuses a site answers with when it shows a challenge instead of content.
BLOCKING_STATUSES = frozenset({403, 405, 429, 503})
CHALLENGE_TITLES = re.compile(
    r"just a moment|are you a robot|are you human|verify you are (a )?human|attention required|"
    r"security check|captcha (check|challenge|verification)|^\s*captcha\s*$|unusual traffic|"
    r"access verification|one more step|checking your browser|please verify",
    re.IGNORECASE,
)
INTERSTITIAL_PATHS = ("/sorry/index", "/sorry/", "/cdn-cgi/challenge-platform/")
_HEADER_VERDICTS = (("cf-mitigated", "challenge"), ("x-amzn-waf-action", "captcha"),
                    ("x-amzn-waf-action", "challenge"))


_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _lower_head(body: bytes | str, headers: Any = None) -> bytes:
    if isinstance(body, str):
        body = body[:MAX_PARSE].encode("utf-8", "ignore")
    head = body[:MAX_PARSE]
    if head.startswith(_WIDE_BOMS) or head[:64].count(0) > 16:
        # UTF-16/32 hides ASCII markers behind NULs: look at the decoded text instead.
        head = Page(head, url="about:blank", headers=headers).text.encode("utf-8", "ignore")
    return head.lower()


# Every vendor marker contains one of these, so a clean page costs a few scans.
_ROOTS = tuple(sorted({root for root in (b"captcha", b"turnstile", b"challenge", b"_cf_chl", b"gokuprops",
                                         b"awswaf", b"geetest", b"arkoselabs", b"just a moment", b"cf-error")}))
assert all(any(root in marker for root in _ROOTS) for vendor in VENDORS for marker in vendor.MARKERS)


def _scan(body: bytes | str, headers: Any = None) -> tuple[bytes, list[Any]]:
    """The lowered head of the body, and the vendors whose markers it holds."""
    low = _lower_head(body, headers)
    roots = [root for root in _ROOTS if root in low]
    if not roots:
        return low, []
    vendors = [vendor for vendor in VENDORS
               if any(marker in low for marker in vendor.MARKERS if any(r in marker for r in roots))]
    return low, vendors


def has_markers(body: bytes | str, headers: Any = None) -> bool:
    """Cheap pre-check: can this body hold any captcha we know?"""
    return bool(_scan(body, headers)[1])


def _analyse(body: bytes | str, url: str, status: int, headers: Any,
             scanned: tuple[bytes, list[Any]] | None = None) -> tuple[list[Challenge], Page]:
    page = Page(body, url=url, status=status, headers=headers)
    page.low, vendors = scanned or _scan(body, headers)
    for name, value in _HEADER_VERDICTS:
        if page.headers.get(name, "").lower() == value:
            extra = cloudflare if name == "cf-mitigated" else aws_waf
            if extra not in vendors:
                vendors.insert(0, extra)
    challenges: list[Challenge] = []
    for vendor in vendors:
        for cand in vendor.find(page):
            challenges.append(_challenge(page, cand))
    return challenges, page


def detect(body: bytes | str, *, url: str, status: int = 200, headers: Any = None,
           blocking_only: bool = False) -> list[Challenge]:
    """Every captcha in the page, each marked ``blocking`` when it replaces the content.

    ``blocking_only``: the caller wants only challenges that replace the content
    (the middleware, unless a request asked for incidental widgets).
    """
    scanned = _scan(body, headers)
    if not scanned[1] and not _header_verdict(headers):
        return []
    challenges = _analyse(body, url, status, headers, scanned)[0]
    return [c for c in challenges if c.blocking] if blocking_only else challenges


def explain(body: bytes | str, *, url: str, status: int = 200, headers: Any = None) -> list[str]:
    """What detection saw and decided, one line per fact (``scrapy-captcha detect --explain``)."""
    scanned = _scan(body, headers)
    vendors = scanned[1]
    lines = [f"markers for: {', '.join(v.__name__.rsplit('.', 1)[1] for v in vendors) or 'none'}"]
    if not vendors and not _header_verdict(headers):
        return lines + ["no vendor marker in the body or headers: page not parsed"]
    challenges, page = _analyse(body, url, status, headers, scanned)
    for ch in challenges:
        lines.append(f"kept {ch.kind} sitekey={ch.sitekey}: " + "; ".join(ch.evidence))
    lines.extend(f"rejected: {note}" for note in page.notes)
    return lines


def _header_verdict(headers: Any) -> bool:
    if not headers:
        return False
    page = Page(b"", url="about:blank", headers=headers)
    return any(page.headers.get(name, "").lower() == value for name, value in _HEADER_VERDICTS)


def _challenge(page: Page, cand: Candidate) -> Challenge:
    form_el = page.form_of(cand.element)
    if form_el is None and len(page.forms) == 1:
        form_el = page.forms[0]
    blocking, why = _blocking(page, cand, form_el)
    return Challenge(
        kind=cand.kind,
        sitekey=cand.sitekey,
        page_url=page.url,
        blocking=blocking,
        enterprise=cand.enterprise,
        invisible=cand.invisible,
        action=cand.action,
        data_s=cand.data_s,
        cdata=cand.cdata,
        chl_page_data=cand.chl_page_data,
        rqdata=cand.rqdata,
        api_domain=cand.api_domain,
        response_fields=cand.response_fields,
        form=page.describe_form(form_el) if form_el is not None else None,
        params=tuple(sorted(cand.params.items())),
        evidence=tuple(cand.evidence) + (why,),
    )


def _blocking(page: Page, cand: Candidate, form: Any) -> tuple[bool, str]:
    """Is the content the spider asked for replaced by the challenge?"""
    if cand.blocking_reason:
        return True, f"blocking: {cand.blocking_reason}"
    for name, value in _HEADER_VERDICTS:
        if page.headers.get(name, "").lower() == value:
            return True, f"blocking: header {name}: {value}"
    if page.status in BLOCKING_STATUSES:
        return True, f"blocking: HTTP {page.status}"
    path = urlsplit(page.url).path
    if any(path.startswith(p) for p in INTERSTITIAL_PATHS):
        return True, f"blocking: interstitial path {path}"
    if page.title and CHALLENGE_TITLES.search(page.title):
        return True, f"blocking: title {page.title[:60]!r}"
    if form is not None and len(page.forms) == 1 and not page.has_user_inputs(form, cand.response_fields):
        return True, "blocking: the widget is in the page's only form, which asks for nothing else"
    return False, "incidental: the page has content besides the challenge"
