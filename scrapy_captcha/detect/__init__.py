"""Pure detection: (body, url, status, headers) -> [Challenge]. One module per vendor.

A page costs a few byte scans (``scan.py``) unless one of them finds a
vendor's marker; then only the islands around the markers are parsed
(``page.py``) and the vendors whose markers were seen run over them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..model import Challenge
from . import aws_waf, cloudflare, datadome, geetest, image
from .candidate import Candidate
from .page import MAX_PARSE, Page
from .scan import VENDORS, marked_vendors, quick_lower, vendors_in

__all__ = ["detect", "explain", "has_markers", "Page", "KINDS", "SOLVABLE_KINDS", "MAX_PARSE"]

KINDS = tuple(kind for vendor in VENDORS for kind in vendor.KINDS)
#: Kinds the middleware can solve over plain HTTP (token + form).
SOLVABLE_KINDS = frozenset({"recaptcha_v2", "recaptcha_v3", "hcaptcha", "turnstile"})

#: Statuses a site answers with when it shows a challenge instead of content.
BLOCKING_STATUSES = frozenset({403, 405, 429, 503})
#: What a challenge page's title says (lower-cased; plain substrings: a regex costs more here).
CHALLENGE_TITLE_WORDS = (
    "just a moment", "are you a robot", "are you human", "verify you are human", "verify you are a human",
    "attention required", "security check", "captcha check", "captcha challenge", "captcha verification",
    "unusual traffic", "access verification", "one more step", "checking your browser", "please verify",
    "ddos protection", "bot check", "bot verification", "bot protection", "访客验证", "人机验证", "安全验证",
)


def challenge_title(title: str) -> bool:
    low = title.lower()
    return (any(word in low for word in CHALLENGE_TITLE_WORDS) or low.strip() == "captcha"
            or ("please wait" in low and "seconds" in low))


INTERSTITIAL_PATHS = ("/sorry/index", "/sorry/", "/cdn-cgi/challenge-platform/")
_HEADER_VERDICTS = (("cf-mitigated", "challenge"), ("x-amzn-waf-action", "captcha"),
                    ("x-amzn-waf-action", "challenge"))
_VERDICT_HEADERS = ("cf-mitigated", "x-amzn-waf-action")
#: Larger than any Cloudflare, DataDome or AWS WAF page served without its status or header.
CHALLENGE_PAGE_SIZE = 32 * 1024
#: How much of the page's only form the quick verdict parses first.
_FORM_GLANCE = 8 * 1024
#: Below this size a page is lowered and scanned for every marker first (cheap for small pages).
_LOWER_FIRST = 32 * 1024
#: Vendors whose own markers say the page is a challenge, whatever it looks like.
_SELF_BLOCKING = (cloudflare, aws_waf, datadome)


def _header_verdict(page: Page) -> str | None:
    if not page.may_have_header(_VERDICT_HEADERS):
        return None
    for name, value in _HEADER_VERDICTS:
        if page.headers.get(name, "").lower() == value:
            return f"header {name}: {value}"
    return None


def _vendors(page: Page, marked: dict[Any, list[int]] | None = None) -> list[Any]:
    vendors = vendors_in(page, marked)
    verdict = _header_verdict(page)
    if verdict:
        extra = cloudflare if verdict.startswith("header cf-") else aws_waf
        if extra not in vendors:
            vendors.insert(0, extra)
    return vendors


def has_markers(body: bytes | str, headers: Any = None) -> bool:
    """Cheap pre-check: can this body hold any captcha we know?"""
    return bool(vendors_in(Page(body, url="about:blank", headers=headers)))


def _page_signal(page: Page) -> str | None:
    """A reason, from the page alone, to call a challenge on it blocking."""
    verdict = _header_verdict(page)
    if verdict:
        return verdict
    if page.status in BLOCKING_STATUSES:
        return f"HTTP {page.status}"
    path = urlsplit(page.url).path
    if any(path.startswith(p) for p in INTERSTITIAL_PATHS):
        return f"interstitial path {path}"
    if page.title and challenge_title(page.title):
        return f"title {page.title[:60]!r}"
    return None


def _clearly_content(page: Page) -> bool:
    """No challenge on this page can be blocking: it is the content asked for.

    Decided before any vendor runs, from what ``_blocking`` looks at, so a page
    that is clearly content costs a few substring scans. A challenge is
    blocking only (a) through a page-level signal (status, header, title,
    path), (b) through a vendor that says so itself (``_SELF_BLOCKING``, each of
    which finds nothing without its ``REQUIRES`` substring or its header; an
    hCaptcha JSON reply), or (c) by sitting in the page's only form when that
    form asks for nothing else.

    (b) is looked for on every page but a large one served 2xx with no
    challenge header: Cloudflare, DataDome and AWS WAF serve their pages with
    403/405/429/503 or a header, and those pages are small. Scanning every
    large page for them would cost the crawl more than the rest of this
    verdict (``detect()`` without ``blocking_only`` still finds them anywhere).

    (c): a challenge names at most one field a person types into (an image
    captcha's answer, or reCAPTCHA v1's; GeeTest's three are set aside), and
    only one that could hold a picture's text (``image.could_be_answer``): an
    only form with two such fields, or one that could not be an answer (an
    e-mail, a password, a textarea), always asks for something else.
    """
    if page.raw[:64].lstrip().startswith((b"{", b"[")):
        return False
    if _page_signal(page):
        return False
    if not (200 <= page.status < 300 and len(page.raw) > CHALLENGE_PAGE_SIZE) and any(
            needle in page.raw_hay for vendor in _SELF_BLOCKING for needle in vendor.REQUIRES):
        return False
    if page.has_one_form:
        # Often a look at the form's beginning says enough: parsing is left to right, so a field
        # found there is in the whole form too (an ASP.NET page is one 100 KB form).
        for size in (_FORM_GLANCE, None):
            form = page.only_form_head(size)
            fields = [] if form is None else page.user_input_fields(form, geetest.V3_FIELDS)
            if len(fields) >= 2 or not all(image.could_be_answer(el) for el in fields):
                break
        else:
            return False
    return True


def _analyse(page: Page, vendors: list[Any]) -> list[Challenge]:
    found = [cand for vendor in vendors for cand in vendor.find(page)]
    return [_challenge(page, cand) for cand in _fold_challenge_widget(found)]


def _fold_challenge_widget(found: list[Candidate]) -> list[Candidate]:
    """A Cloudflare challenge page's own Turnstile widget is the challenge, not a second captcha."""
    page_challenge = next((c for c in found if c.kind == "cloudflare_challenge"), None)
    if page_challenge is None:
        return found
    kept = []
    for cand in found:
        if cand.kind == "turnstile" and page_challenge.sitekey in (None, cand.sitekey):
            page_challenge.sitekey = page_challenge.sitekey or cand.sitekey
            for name in ("action", "cdata", "chl_page_data"):
                if getattr(page_challenge, name) is None:
                    setattr(page_challenge, name, getattr(cand, name))
            page_challenge.evidence.append("its Turnstile widget: " + "; ".join(cand.evidence))
            continue
        kept.append(cand)
    return kept


def detect(body: bytes | str, *, url: str, status: int = 200, headers: Any = None,
           blocking_only: bool = False) -> list[Challenge]:
    """Every captcha in the page, each marked ``blocking`` when it replaces the content.

    ``blocking_only``: the caller wants only challenges that replace the content
    (the middleware, unless a request asked for incidental widgets); a page
    that is clearly the content asked for then costs only the byte scan.
    """
    if blocking_only and type(body) is bytes and len(body) >= _LOWER_FIRST:
        # Decided on the bytes as they are: lowering a large page costs as much as the verdict.
        page = Page(body, url=url, status=status, headers=headers)
        if _clearly_content(page):
            return []
    else:
        low, maybe = quick_lower(body)
        page = Page(body, url=url, status=status, headers=headers, low=low)
        if not maybe and not page.may_have_header(_VERDICT_HEADERS):
            return []
        if blocking_only and _clearly_content(page):
            return []
    vendors = _vendors(page, marked_vendors(page))
    if not vendors:
        return []
    challenges = _analyse(page, vendors)
    return [c for c in challenges if c.blocking] if blocking_only else challenges


def explain(body: bytes | str, *, url: str, status: int = 200, headers: Any = None) -> list[str]:
    """What detection saw and decided, one line per fact (``scrapy-captcha detect --explain``)."""
    page = Page(body, url=url, status=status, headers=headers)
    vendors = _vendors(page)
    lines = [f"markers for: {', '.join(v.__name__.rsplit('.', 1)[1] for v in vendors) or 'none'}"]
    if not vendors:
        if cloudflare.hard_block(page):
            lines.append("Cloudflare hard block (access denied / 10xx): not solvable, not a challenge")
        return lines + ["no vendor marker in the body or headers: page not parsed"]
    lines.append(f"parsed {len(page.islands)} island(s), {sum(e - s for s, e, _ in page.islands)} "
                 f"of {len(page.raw)} bytes")
    for ch in _analyse(page, vendors):
        lines.append(f"kept {ch.kind} sitekey={ch.sitekey}: " + "; ".join(ch.evidence))
    lines.extend(f"rejected: {note}" for note in page.notes)
    return lines


def _challenge(page: Page, cand: Candidate) -> Challenge:
    form_el = page.form_of(cand.element)
    if form_el is None:
        form_el = page.only_form
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
    signal = _page_signal(page)
    if signal:
        return True, f"blocking: {signal}"
    if form is not None and page.has_one_form:
        only = page.only_form  # the page's one form, read as the quick verdict reads it
        if only is not None and not page.has_user_inputs(only, cand.response_fields):
            return True, "blocking: the widget is in the page's only form, which asks for nothing else"
    return False, "incidental: the page has content besides the challenge"
