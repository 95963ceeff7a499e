"""reCAPTCHA v2 (checkbox, invisible, explicit render, rendered iframes).

Markup variants are listed in spec/captcha-markup.md; the numbers in the
comments refer to that list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import lxml.html

from .page import Page

SITEKEY = re.compile(r"6L[0-9A-Za-z_-]{38}")
MARKER = re.compile(rb"recaptcha|grecaptcha|ginput_recaptcha", re.IGNORECASE)
RESPONSE_FIELD = "g-recaptcha-response"

# grecaptcha.render('el', {'sitekey': '6L…', …}) — keys quoted or not, either quote.
_RENDER = re.compile(
    r"grecaptcha(?P<ent>\.enterprise)?\.render\(\s*(?P<target>[^,{)]{1,200}?)\s*,\s*\{(?P<opts>[^}]{0,2000})\}",
    re.S,
)
_OPT = r"""['"]?{name}['"]?\s*:\s*['"](?P<v>[^'"]{{1,200}})['"]"""
_TARGET_ID = re.compile(r"""^\s*['"]#?(?P<id>[\w:.-]{1,100})['"]\s*$""")
_RECAPTCHA_HOSTS = ("www.google.com", "google.com", "www.recaptcha.net", "recaptcha.net")


@dataclass
class Candidate:
    sitekey: str
    element: lxml.html.HtmlElement | None = None
    invisible: bool = False
    enterprise: bool = False
    action: str | None = None
    data_s: str | None = None
    api_domain: str | None = None
    response_fields: tuple[str, ...] = (RESPONSE_FIELD,)
    evidence: list[str] = field(default_factory=list)


def _opt(opts: str, name: str) -> str | None:
    match = re.search(_OPT.format(name=re.escape(name)), opts)
    return match.group("v") if match else None


def _classes(el: lxml.html.HtmlElement) -> set[str]:
    return set((el.get("class") or el.get("classname") or "").split())


def _script_info(page: Page) -> tuple[bool, str | None]:
    """(enterprise, api_domain) from the reCAPTCHA script tag(s)."""
    enterprise, domain = False, None
    for src in page.script_srcs:
        parts = urlsplit(src)
        if parts.hostname in _RECAPTCHA_HOSTS and "/recaptcha/" in parts.path:
            domain = domain or parts.hostname
            if parts.path.endswith("/enterprise.js"):
                enterprise = True
    return enterprise, domain


def find(page: Page) -> list[Candidate]:
    root = page.root
    if root is None:
        return []
    enterprise, api_domain = _script_info(page)
    found: list[Candidate] = []

    # 1-3, 11: widget containers and bound buttons
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        classes = _classes(el)
        if not classes & {"g-recaptcha", "ginput_recaptcha"}:
            continue
        key = (el.get("data-sitekey") or "").strip()
        evidence = [f"<{el.tag} class={' '.join(sorted(classes))}>"]
        if not SITEKEY.fullmatch(key):
            # 6: an empty div.g-recaptcha with the key on a <script data-sitekey>
            for script in root.iter("script"):
                alt = (script.get("data-sitekey") or "").strip()
                if SITEKEY.fullmatch(alt):
                    key = alt
                    evidence.append("sitekey from <script data-sitekey>")
                    break
            else:
                continue
        bound = el.tag in ("button", "input") and (el.get("type") or "").lower() != "hidden"
        found.append(
            Candidate(
                sitekey=key,
                element=el,
                invisible=bound or (el.get("data-size") or "").lower() == "invisible",
                action=el.get("data-action") or None,
                data_s=el.get("data-s") or None,
                evidence=evidence + (["bound to a button"] if bound else []),
            )
        )

    # 4: explicit render from inline JS
    for script in page.scripts:
        if "render" not in script:
            continue
        for match in _RENDER.finditer(script):
            opts = match.group("opts")
            key = _opt(opts, "sitekey")
            if not key or not SITEKEY.fullmatch(key):
                continue
            target = None
            target_match = _TARGET_ID.match(match.group("target"))
            if target_match:
                hits = root.xpath("//*[@id=$id]", id=target_match.group("id"))
                target = hits[0] if hits else None
            found.append(
                Candidate(
                    sitekey=key,
                    element=target,
                    invisible=(_opt(opts, "size") or "").lower() == "invisible",
                    enterprise=bool(match.group("ent")),
                    action=_opt(opts, "action"),
                    evidence=["grecaptcha.render(...) in inline script"],
                )
            )

    # 5, 6: rendered anchor iframe / noscript fallback
    for iframe in root.iter("iframe"):
        src = iframe.get("src") or ""
        if "/recaptcha/" not in src:
            continue
        parts = urlsplit(page.absolute(src))
        if not any(p in parts.path for p in ("/anchor", "/fallback")):
            continue
        query = parse_qs(parts.query)
        key = (query.get("k") or [""])[0]
        if not SITEKEY.fullmatch(key):
            continue
        found.append(
            Candidate(
                sitekey=key,
                element=iframe,
                invisible=(query.get("size") or [""])[0] == "invisible",
                enterprise="/enterprise/" in parts.path,
                api_domain=parts.hostname if parts.hostname in _RECAPTCHA_HOSTS else None,
                evidence=[f"iframe {parts.path}"],
            )
        )

    for cand in found:
        cand.enterprise = cand.enterprise or enterprise
        cand.api_domain = cand.api_domain or api_domain
    return _merge(found)


def _merge(found: list[Candidate]) -> list[Candidate]:
    """One candidate per sitekey: markers of one widget seen several ways combine."""
    merged: dict[str, Candidate] = {}
    for cand in found:
        first = merged.get(cand.sitekey)
        if first is None:
            merged[cand.sitekey] = cand
            continue
        first.element = first.element if first.element is not None else cand.element
        first.invisible = first.invisible or cand.invisible
        first.enterprise = first.enterprise or cand.enterprise
        first.action = first.action or cand.action
        first.data_s = first.data_s or cand.data_s
        first.api_domain = first.api_domain or cand.api_domain
        first.evidence.extend(cand.evidence)
    return list(merged.values())
