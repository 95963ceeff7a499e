"""GeeTest v3 (initGeetest: gt + challenge, usually from an XHR) and v4 (initGeetest4: captchaId)."""

from __future__ import annotations

import re

from .candidate import Candidate, js_option
from .page import Page

KINDS = ("geetest",)
MARKERS = (b"geetest",)
_V4 = re.compile(r"initGeetest4\s*\(\s*\{(?P<opts>[^}]{0,1000})\}", re.S)
_V3 = re.compile(r"initGeetest\s*\(\s*\{(?P<opts>[^}]{0,1000})\}", re.S)
_ID = re.compile(r"[0-9a-f]{32}")


def find(page: Page) -> list[Candidate]:
    found = []
    for script in page.scripts:
        for match in _V4.finditer(script):
            key = js_option(match.group("opts"), "captchaId")
            if key and _ID.fullmatch(key):
                found.append(Candidate(kind="geetest", sitekey=key, params={"version": "4"},
                                       evidence=["initGeetest4({captchaId})"]))
        for match in _V3.finditer(script):
            gt = js_option(match.group("opts"), "gt")
            params = {"version": "3"}
            challenge = js_option(match.group("opts"), "challenge")
            if challenge:
                params["challenge"] = challenge
            found.append(Candidate(kind="geetest", sitekey=gt if gt and _ID.fullmatch(gt) else None,
                                   params=params, evidence=["initGeetest({gt, challenge})" + (
                                       "" if gt else ": gt comes from an XHR, not the HTML")]))
    return found
