"""reCAPTCHA v2 (checkbox, invisible), v3 and Enterprise.

Variant numbers in comments refer to spec/captcha-markup.md.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from .candidate import Candidate, classes, js_option, merge, with_class
from .page import Page

KINDS = ("recaptcha_v2", "recaptcha_v3")
SITEKEY = re.compile(r"6L[0-9A-Za-z_-]{38}")
MARKERS = (b"recaptcha",)
#: A sitekey in page config may sit far from the word "recaptcha": every one is an island.
KEY_PATTERN = re.compile(rb"6L[0-9A-Za-z_-]{38}")
RESPONSE_FIELD = "g-recaptcha-response"
HOSTS = ("www.google.com", "google.com", "www.recaptcha.net", "recaptcha.net")

_RENDER = re.compile(
    r"grecaptcha(?P<ent>\.enterprise)?\.render\(\s*(?P<target>[^,{)]{1,200}?)\s*,\s*\{(?P<opts>[^}]{0,2000})\}",
    re.S,
)
_EXECUTE = re.compile(
    r"grecaptcha(?P<ent>\.enterprise)?\.execute\(\s*(?P<key>[^,)]{1,200})\s*,\s*\{(?P<opts>[^}]{0,500})\}",
    re.S,
)
_TARGET_ID = re.compile(r"""^\s*['"]#?(?P<id>[\w:.-]{1,100})['"]\s*$""")
# 10: keys in page state / plugin config; quotes may be JSON-escaped inside a JS string.
_CONFIG_NAME = re.compile(
    r"""['"]?(?:sitekey|siteKey|site_key|reCaptchaSiteKey|recaptchaSiteKey|recaptcha_site_key|"""
    r"""recaptchaKey|googleRecaptchaSiteKey|recaptcha_public_key)['"]?\s*[:=]\s*['"]$"""
)
_V3_CONFIG_HINTS = ("wpcf7_recaptcha", "recaptcha_v3", '"v3"', "'v3'", "recaptchaV3")
# 13: the legacy v1 API (shut down by Google in 2018; still found in old pages). The key is
# the URL's k= parameter wherever it sits (``?hl=de&k=...``), or Recaptcha.create's first argument.
_LEGACY = re.compile(r"""/recaptcha/api/(?:challenge|noscript)\?(?:[^'"\s<>]*?[?&;])?k=(?P<key>6L[0-9A-Za-z_-]{38})|"""
                     r"""Recaptcha\.create\(\s*['"](?P<created>6L[0-9A-Za-z_-]{38})""")
# 8: api.js?render=<key> named only inside a loader's JS string.
_RENDER_URL = re.compile(r"""/recaptcha/(?P<api>api|enterprise)\.js\?[^'"\s<>]*?"""
                         r"""\brender=(?P<key>6L[0-9A-Za-z_-]{38})""")


def _scripts(page: Page) -> tuple[bool, str | None, set[str]]:
    """(enterprise, api_domain, v3 keys) from the reCAPTCHA script tags."""
    enterprise, domain, render_keys = False, None, set()
    for src in page.script_srcs:
        parts = urlsplit(src)
        if parts.hostname not in HOSTS or "/recaptcha/" not in parts.path:
            continue
        domain = domain or parts.hostname
        if parts.path.endswith("/enterprise.js"):
            enterprise = True
        render = (parse_qs(parts.query).get("render") or [""])[0]
        if SITEKEY.fullmatch(render):
            render_keys.add(render)  # a key in ?render= means v3 (or Enterprise score) for it
    for script in page.scripts:
        if "render=" in script:
            for match in _RENDER_URL.finditer(script.replace("\\/", "/")):
                render_keys.add(match.group("key"))
                enterprise = enterprise or match.group("api") == "enterprise"
    return enterprise, domain, render_keys


def find(page: Page) -> list[Candidate]:
    root = page.root
    if root is None:
        return []
    enterprise, api_domain, render_keys = _scripts(page)
    found: list[Candidate] = []

    def kind_of(key: str) -> str:
        return "recaptcha_v3" if key in render_keys else "recaptcha_v2"

    # 1-3, 6, 8, 11, 12: widget containers, bound buttons, hidden v3 inputs, AMP
    for el in with_class(root, "g-recaptcha", "ginput_recaptcha", tags=("amp-recaptcha-input",)):
        amp = el.tag == "amp-recaptcha-input"
        cls = classes(el)
        key = (el.get("data-sitekey") or "").strip()
        evidence = [f"<{el.tag} class={' '.join(sorted(cls)) or '-'}>"]
        if not SITEKEY.fullmatch(key):
            if key.startswith(("0x4", "1x0", "2x0", "3x0")):
                continue  # a Turnstile key in compat mode: turnstile.py
            alt = next((s.get("data-sitekey") for s in root.iter("script")
                        if SITEKEY.fullmatch((s.get("data-sitekey") or "").strip())), None)
            if alt is None:
                page.note(f"<{el.tag} class=g-recaptcha> rejected: data-sitekey {key[:60]!r} is not a reCAPTCHA key")
                continue
            key = alt.strip()
            evidence.append("sitekey from <script data-sitekey>")
        hidden_input = el.tag == "input" and (el.get("type") or "").lower() == "hidden"
        bound = el.tag in ("button", "input") and not hidden_input
        v3 = amp or key in render_keys or hidden_input
        found.append(Candidate(
            kind="recaptcha_v3" if v3 else "recaptcha_v2",
            sitekey=key,
            element=el,
            invisible=bound or (el.get("data-size") or "").lower() == "invisible",
            action=el.get("data-action") or None,
            data_s=el.get("data-s") or None,
            # django-recaptcha v3 and AMP post the token under the element's own name
            response_fields=((el.get("name"),) if (hidden_input or amp) and el.get("name") else ()),
            evidence=evidence + (["bound to a button"] if bound else []) + (["AMP"] if amp else []),
        ))

    actions: dict[str | None, str] = {}
    for script in page.scripts:
        # 4: explicit render
        if "grecaptcha" in script:
            for match in _RENDER.finditer(script):
                opts = match.group("opts")
                key = js_option(opts, "sitekey")
                if not key or not SITEKEY.fullmatch(key):
                    continue
                target_match = _TARGET_ID.match(match.group("target"))
                target = page.by_id(target_match.group("id")) if target_match else None
                found.append(Candidate(
                    kind=kind_of(key), sitekey=key, element=target,
                    invisible=(js_option(opts, "size") or "").lower() == "invisible",
                    enterprise=bool(match.group("ent")), action=js_option(opts, "action"),
                    evidence=["grecaptcha.render(...) in inline script"],
                ))
            # 8, 9: the v3 action exists only in the execute call
            for match in _EXECUTE.finditer(script):
                action = js_option(match.group("opts"), "action")
                if not action:
                    continue
                key_text = match.group("key").strip().strip("'\"")
                actions[key_text if SITEKEY.fullmatch(key_text) else None] = action
        # 10: sitekeys only in JSON/JS config (looked for around each key: config scripts can be huge)
        hints = None
        for match in SITEKEY.finditer(script):
            before = script[max(0, match.start() - 80):match.start()].replace('\\"', '"')
            if not _CONFIG_NAME.search(before):
                continue
            key = match.group()
            near = script[max(0, match.start() - 600):match.end() + 600].replace('\\"', '"').replace("\\/", "/")
            if hints is None:
                hints = any(h in script.replace('\\"', '"') for h in _V3_CONFIG_HINTS)
            found.append(Candidate(
                kind="recaptcha_v3" if key in render_keys or hints else "recaptcha_v2", sitekey=key,
                action=js_option(near, "action"),
                invisible=(js_option(near, "size") or "").lower() == "invisible",
                evidence=["sitekey in JS/JSON config"],
            ))
        # 13: legacy v1
        if "/recaptcha/api/" in script or "Recaptcha.create" in script:
            for match in _LEGACY.finditer(script):
                found.append(Candidate(kind="recaptcha_v2", sitekey=match.group("key") or match.group("created"),
                                       response_fields=("recaptcha_response_field",),
                                       evidence=["legacy reCAPTCHA v1 call (shut down by Google in 2018)"]))

    legacy_srcs = page.script_srcs + [i.get("src") or "" for i in root.iter("iframe")]
    for src in legacy_srcs:
        in_src = _LEGACY.search(src)
        if in_src and in_src.group("key"):
            found.append(Candidate(kind="recaptcha_v2", sitekey=in_src.group("key"),
                                   response_fields=("recaptcha_response_field",),
                                   evidence=["legacy reCAPTCHA v1 script (shut down by Google in 2018)"]))

    # 8, 9: a key in ?render= is a v3 widget even with no element
    for key in render_keys:
        found.append(Candidate(kind="recaptcha_v3", sitekey=key, evidence=["api.js?render=<sitekey>"]))

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
            page.note(f"reCAPTCHA iframe {parts.path} rejected: k={key[:60]!r} is not a sitekey")
            continue
        found.append(Candidate(
            kind=kind_of(key), sitekey=key, element=iframe,
            invisible=(query.get("size") or [""])[0] == "invisible",
            enterprise="/enterprise/" in parts.path,
            api_domain=parts.hostname if parts.hostname in HOSTS else None,
            evidence=[f"iframe {parts.path}"],
        ))

    for cand in found:
        cand.enterprise = cand.enterprise or enterprise
        cand.api_domain = cand.api_domain or api_domain
        if cand.kind == "recaptcha_v3" and not cand.action:
            cand.action = actions.get(cand.sitekey) or (actions.get(None) if len(render_keys) <= 1 else None)
    if not found and b"recaptcha" in page.low:
        page.note("reCAPTCHA markers seen (script or text) but no widget, render call or sitekey")
    merged = merge(found)
    for cand in merged:
        if not cand.response_fields:
            cand.response_fields = _token_input(page, cand) or (RESPONSE_FIELD,)
    return merged


# v3 pages carry the token in a hidden input of their own (the page's JS fills it).
_TOKEN_INPUT = re.compile(r"^(?:g-)?re?captcha[_-]?(?:response|token|v3)?$|captcha[_-]?token"
                          r"|^_wpcf7_recaptcha_response$", re.I)


def _token_input(page: Page, cand: Candidate) -> tuple[str, ...]:
    if cand.kind != "recaptcha_v3":
        return ()
    # An element is never truth-tested: an empty <form> is false.
    form = page.form_of(cand.element)
    if form is None:
        form = page.only_form
    forms = [form] if form is not None else page.forms
    for f in forms:
        for el in f.iter("input"):
            name = el.get("name") or ""
            if (el.get("type") or "").lower() == "hidden" and _TOKEN_INPUT.search(name):
                return (name,)
    return ()
