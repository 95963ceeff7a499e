"""hCaptcha: widgets, explicit render, rendered iframes, JSON API replies, enterprise."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from .candidate import Candidate, js_option, merge, with_class
from .page import Page

KINDS = ("hcaptcha",)
SITEKEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MARKERS = (b"hcaptcha", b"h-captcha")
FIELD = "h-captcha-response"
_RENDER = re.compile(r"hcaptcha\.render\(\s*(?P<target>[^,{)]{1,200}?)\s*,\s*\{(?P<opts>[^}]{0,2000})\}", re.S)
_SCRIPT_URL = re.compile(r"""https?://[\w.-]*hcaptcha\.com/1/api\.js[^'"\s<>]*""")


def _script(page: Page) -> tuple[bool, bool, str | None]:
    """(enterprise, compat_off, endpoint host) from the api.js URL, in a tag or only in a JS string."""
    urls = [s for s in page.script_srcs if "hcaptcha.com/1/api.js" in s]
    urls += _SCRIPT_URL.findall("\n".join(page.scripts))
    enterprise, compat_off, host = False, False, None
    for url in urls:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        host = host or parts.hostname
        if parts.hostname != "js.hcaptcha.com" or "endpoint" in query:
            enterprise = True  # e.g. cloudflare.hcaptcha.com/1/api.js?endpoint=…
        if (query.get("recaptchacompat") or [""])[0] == "off":
            compat_off = True
    return enterprise, compat_off, host


def find(page: Page) -> list[Candidate]:
    found: list[Candidate] = []
    data = page.json
    if isinstance(data, dict) and (data.get("captcha_service") == "hcaptcha" or "captcha_sitekey" in data):
        key = str(data.get("captcha_sitekey") or "")
        if SITEKEY.fullmatch(key):
            required = "captcha-required" in str(data.get("captcha_key", ""))
            params = {"rqtoken": str(data["captcha_rqtoken"])} if data.get("captcha_rqtoken") else {}
            found.append(Candidate(
                kind="hcaptcha", sitekey=key, rqdata=data.get("captcha_rqdata") or None,
                enterprise=bool(data.get("captcha_rqdata")), response_fields=("captcha_key",),
                params=params, evidence=["JSON API reply with captcha_sitekey"],
                blocking_reason="JSON captcha-required reply" if required else None,
            ))
        return found
    root = page.root
    if root is None:
        return found
    enterprise, compat_off, _ = _script(page)
    fields = (FIELD,) if compat_off else (FIELD, "g-recaptcha-response")
    for el in with_class(root, "h-captcha", tags=("h-captcha",)):
        key = (el.get("data-sitekey") or el.get("site-key") or "").strip()
        if not SITEKEY.fullmatch(key):
            page.note(f"<{el.tag} class=h-captcha> rejected: sitekey {key[:60]!r} is not an hCaptcha key")
            continue
        found.append(Candidate(
            kind="hcaptcha", sitekey=key, element=el,
            invisible=(el.get("data-size") or "").lower() == "invisible",
            response_fields=fields, evidence=[f"<{el.tag} class=h-captcha>"],
        ))
    for script in page.scripts:
        if "hcaptcha" not in script:
            continue
        for match in _RENDER.finditer(script):
            rendered = js_option(match.group("opts"), "sitekey")
            if rendered and SITEKEY.fullmatch(rendered):
                target = page.by_id(match.group("target").strip().strip("'\"").lstrip("#"))
                found.append(Candidate(kind="hcaptcha", sitekey=rendered, element=target, response_fields=fields,
                                       invisible=(js_option(match.group("opts"), "size") or "") == "invisible",
                                       evidence=["hcaptcha.render(...) in inline script"]))
        if not found and _SCRIPT_URL.search(script):
            # The script is loaded on first interaction: the key sits in the loader's config.
            configured = js_option(script, "sitekey")
            if configured and SITEKEY.fullmatch(configured):
                found.append(Candidate(kind="hcaptcha", sitekey=configured, response_fields=fields,
                                       evidence=["api.js URL and sitekey only in inline JS"]))
    for iframe in root.iter("iframe"):
        src = iframe.get("src") or ""
        if "hcaptcha" not in src or "#" not in src:
            continue
        fragment = parse_qs(src.split("#", 1)[1])
        key = (fragment.get("sitekey") or [""])[0]
        if SITEKEY.fullmatch(key):
            found.append(Candidate(kind="hcaptcha", sitekey=key, element=iframe, response_fields=fields,
                                   evidence=["hcaptcha iframe (sitekey in the URL fragment)"]))
    for cand in found:
        cand.enterprise = cand.enterprise or enterprise
    return merge(found)
