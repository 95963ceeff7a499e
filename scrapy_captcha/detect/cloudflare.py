"""Cloudflare's challenge page ("Just a moment..."), as opposed to its widget (turnstile.py).

Three generations: the managed/JS challenge (``window._cf_chl_opt`` and the
challenge-platform orchestrate script, header ``cf-mitigated: challenge``),
and the legacy "I'm Under Attack" JS challenge of 2015-2021 (a 503 with
``#challenge-form`` posting ``jschl_vc``/``jschl_answer`` to
``/cdn-cgi/l/chk_jschl``) which older stacks and mirrors still serve.

Not challenges: the ``jsd/main.js`` beacon on ordinary pages, and hard blocks
(Access denied, error 1020) which no token lifts. The legacy captcha page
(``/cdn-cgi/l/chk_captcha``, "Attention Required!") is reported as the
reCAPTCHA/hCaptcha it shows, whose token its form posts.
"""

from __future__ import annotations

from .candidate import Candidate, js_option
from .page import Page

KINDS = ("cloudflare_challenge",)
MARKERS = (b"_cf_chl", b"challenge-platform", b"cf-challenge", b"challenge-form", b"jschl", b"cf-error-details",
           b"cf-browser-verification")
NEEDLES = (b"_cf_chl_opt", b"jschl")
#: Every challenge page carries one of these as written (``window._cf_chl_opt`` since 2021, the
#: ``jschl_vc`` field before): without one, or the header, find() finds nothing. (Long needles
#: with rare endings: the quick verdict looks for them in every page.)
REQUIRES = (b"_cf_chl_opt", b"jschl_vc")
_HARD_BLOCK = (b"cf-error-details", b"error code", b"access denied", b"sorry, you have been blocked")
_LEGACY = (b"/cdn-cgi/l/chk_jschl", b"jschl_vc", b"jschl_answer")
# The Turnstile options the challenge page's script carries, when the page has them
# (``_cf_chl_opt`` of managed challenges with a widget: chlApiSitekey, chlApiAction,
# chlApicData, chlApiChlPageData; older pages: chlPageData).
_OPTIONS = (("sitekey", "chlApiSitekey"), ("action", "chlApiAction"), ("cdata", "chlApicData"),
            ("cdata", "chlApiCData"), ("chl_page_data", "chlApiChlPageData"), ("chl_page_data", "chlPageData"))


def hard_block(page: Page) -> bool:
    """A Cloudflare block page (access denied, error 10xx): nothing to solve."""
    return b"cloudflare" in page.hay and any(marker in page.hay for marker in _HARD_BLOCK)


def find(page: Page) -> list[Candidate]:
    low = page.hay
    header = page.headers.get("cf-mitigated", "").lower()
    required = header == "challenge" or any(needle in page.raw_hay for needle in REQUIRES)
    opt = required and b"_cf_chl_opt" in low
    orchestrate = required and b"/cdn-cgi/challenge-platform/" in low and b"/orchestrate/" in low
    legacy = required and any(marker in low for marker in _LEGACY)
    if header != "challenge" and not (opt or orchestrate or legacy):
        if b"/cdn-cgi/challenge-platform/scripts/jsd/main.js" in low:
            page.note("Cloudflare jsd/main.js beacon: an ordinary page, not a challenge")
        elif hard_block(page):
            page.note("Cloudflare hard block (access denied / 10xx): not solvable, not a challenge")
        return []
    evidence = [e for e, on in (("header cf-mitigated: challenge", header == "challenge"),
                                ("window._cf_chl_opt", opt), ("challenge-platform orchestrate script", orchestrate),
                                ("legacy IUAM JS challenge (jschl_vc, /cdn-cgi/l/chk_jschl)", legacy),
                                ("#challenge-form", b"challenge-form" in low or b"challenge-running" in low)) if on]
    script = next((s for s in page.scripts if "_cf_chl_opt" in s), "")
    params = {name: value for name in ("cType", "cRay", "cZone") if (value := js_option(script, name))}
    if "cRay" not in params and page.headers.get("cf-ray"):
        params["cRay"] = page.headers["cf-ray"].split("-")[0]
    options: dict[str, str] = {}
    for field, name in _OPTIONS:
        value = js_option(script, name)
        if value and field not in options:
            options[field] = value
    return [Candidate(
        kind="cloudflare_challenge",
        sitekey=options.get("sitekey"),
        action=options.get("action"),
        cdata=options.get("cdata"),
        chl_page_data=options.get("chl_page_data"),
        # The page's Turnstile posts its token under Turnstile's field (token mode);
        # a page with no Turnstile key is passed by a clearance cookie only.
        response_fields=("cf-turnstile-response",) if options.get("sitekey") else (),
        params=params,
        evidence=evidence,
        blocking_reason="Cloudflare challenge page",
    )]
