"""AWS WAF CAPTCHA / challenge action (status 405, x-amzn-waf-action, window.gokuProps)."""

from __future__ import annotations

import json
import re

from .candidate import Candidate
from .page import Page

KINDS = ("aws_waf",)
MARKERS = (b"gokuprops", b"awswaf")
_GOKU = re.compile(r"window\.gokuProps\s*=\s*(\{.*?\})\s*;?", re.S)


def find(page: Page) -> list[Candidate]:
    action = page.headers.get("x-amzn-waf-action", "").lower()
    props: dict[str, str] = {}
    for script in page.scripts:
        match = _GOKU.search(script)
        if match:
            try:
                value = json.loads(match.group(1))
            except ValueError:
                page.note("window.gokuProps is not JSON")
                continue
            if isinstance(value, dict):
                props = {k: str(v) for k, v in value.items() if k in ("key", "iv", "context")}
    scripts = [s for s in page.script_srcs if "awswaf.com" in s]
    if not (action in ("captcha", "challenge") or props):
        if scripts:
            page.note("AWS WAF integration script on an ordinary page: not a challenge")
        return []
    params = dict(props)
    if action:
        params["action"] = action
    for src in scripts:
        params.setdefault("challenge_script" if "challenge" in src else "captcha_script", src)
    return [Candidate(
        kind="aws_waf", sitekey=props.get("key"), params=params,
        evidence=[e for e, on in ((f"x-amzn-waf-action: {action}", action), ("window.gokuProps", props)) if on],
        blocking_reason=f"AWS WAF {action or 'captcha'} action",
    )]
