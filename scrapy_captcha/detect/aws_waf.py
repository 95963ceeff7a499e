"""AWS WAF CAPTCHA / challenge action (status 405, x-amzn-waf-action, window.gokuProps).

What the providers' AwsWaf tasks take: the sitekey is ``gokuProps.key``, plus
``iv`` and ``context`` from the same object, ``challenge_script`` (the
``.../challenge.js`` URL on ``*.token.awswaf.com``) and ``captcha_script``
(the ``.../captcha.js`` or ``jsapi.js`` URL on ``*.captcha.awswaf.com``).
"""

from __future__ import annotations

import json
import re

from .candidate import Candidate
from .page import Page

KINDS = ("aws_waf",)
MARKERS = (b"awswaf", b"gokuprops")
NEEDLES = (b"gokuprops",)
#: Without it (as written: ``window.gokuProps``) or the x-amzn-waf-action header, find() finds nothing.
REQUIRES = (b"gokuProps",)
_GOKU = re.compile(r"gokuProps\s*=\s*(\{.*?\})\s*;?", re.S)
_SCRIPT_URL = re.compile(r"""https://[\w.-]+\.awswaf\.com/[^'"\s<>]+?\.js\b""")


def _props(page: Page) -> dict[str, str]:
    for script in page.scripts:
        match = _GOKU.search(script)
        if not match:
            continue
        try:
            value = json.loads(match.group(1))
        except ValueError:
            page.note("window.gokuProps is not JSON")
            continue
        if isinstance(value, dict):
            return {k: str(v) for k, v in value.items() if k in ("key", "iv", "context")}
    return {}


def find(page: Page) -> list[Candidate]:
    action = page.headers.get("x-amzn-waf-action", "").lower()
    if action not in ("captcha", "challenge") and not any(needle in page.raw_hay for needle in REQUIRES):
        return []
    props = _props(page)
    urls = [s for s in page.script_srcs if ".awswaf.com/" in s]
    for script in page.scripts:
        urls += [u for u in _SCRIPT_URL.findall(script.replace("\\/", "/")) if u not in urls]
    if not (action in ("captcha", "challenge") or props):
        if urls:
            page.note("AWS WAF integration script on an ordinary page: not a challenge")
        return []
    params = {k: v for k, v in props.items() if k in ("iv", "context")}
    if action:
        params["action"] = action
    for url in urls:
        name = url.rsplit("/", 1)[-1].split("?")[0]
        if name == "challenge.js":
            params.setdefault("challenge_script", url)
        elif name in ("captcha.js", "jsapi.js"):
            params.setdefault("captcha_script", url)
    return [Candidate(
        kind="aws_waf", sitekey=props.get("key"), params=params,
        evidence=[e for e, on in ((f"x-amzn-waf-action: {action}", action), ("window.gokuProps", props)) if on],
        blocking_reason=f"AWS WAF {action or 'captcha'} action",
    )]
