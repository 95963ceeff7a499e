"""What the captcha vendors do between a solver and a site: mint and verify what a solve yields.

One authority is shared by the emulated service (which mints) and the demo
site (which verifies), so the rules real vendors enforce hold end to end:

- **Tokens** (reCAPTCHA v2/v3/Enterprise, hCaptcha, Turnstile, Arkose,
  Friendly Captcha, MTCaptcha): single use, expiring (reCAPTCHA and hCaptcha
  120 s, Turnstile 300 s), bound to their kind, sitekey and host; v3 tokens
  carry their action and score, Turnstile tokens their action/cData/chlPageData
  and the user agent that solved them, Arkose tokens their data blob and API
  subdomain.
- **Clearance cookies** (``cf_clearance``, ``datadome``, ``aws-waf-token``):
  reusable until they expire, but bound to the host, the client IP and the user
  agent they were minted for.
- **Challenges the site issues** and the solver must answer for: the text of
  each captcha image (the solver "reads" an image by its bytes), GeeTest v3
  challenges, AWS WAF contexts, DataDome ``cid``/cookie pairs, Cloudflare
  challenge pages (ray, cData, chlPageData) and Arkose blobs.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

#: The demo site's reCAPTCHA key pair (40-char key of the real format).
DEMO_SITEKEY = "6LcSANDBOXdemoSiteKeyForScrapyCaptcha-01"
DEMO_SECRET = "6LcSANDBOXdemoSecretForScrapyCaptcha--01"
#: More demo keys, for the browser pages (two widgets in one form, hCaptcha, Turnstile).
DEMO_SITEKEY_2 = "6LcSANDBOXsecondKeyForTwoWidgetForms--02"
DEMO_HCAPTCHA_SITEKEY = "5a1f3c2e-9b7d-4e6f-8a0b-1c2d3e4f5a6b"
DEMO_TURNSTILE_SITEKEY = "0x4AAAAAAASandboxDemoKey01"
#: Keys of the per-kind demo pages (kinds.py).
DEMO_V2_ENTERPRISE_SITEKEY = "6LcSANDBOXenterpriseV2KeyForScrapyCap-03"
DEMO_V3_SITEKEY = "6LcSANDBOXscoreV3KeyForScrapyCaptcha--04"
DEMO_V3_ENTERPRISE_SITEKEY = "6LcSANDBOXenterpriseV3KeyForScrapyCap-05"
DEMO_CF_CHALLENGE_SITEKEY = "0x4AAAAAAASandboxChlKey02"
DEMO_GEETEST_GT = "5f2c8e0a9b7d4c1e3a6f8b2d0c4e6a81"
DEMO_GEETEST_CAPTCHA_ID = "a7c3e9f1b5d2480c6e1f3a5b7d9c0e24"
DEMO_AWS_KEY = "AQIDAHjcYu/GjX+QlghicBgQ/7bFaQZ+m5FKCMDnO+vTbNg96AHSandboxDemoKey01=="
DEMO_ARKOSE_KEY = "3E1D2B7C-9A4F-4C21-B5E8-7F0A6D2C9B14"
DEMO_FRIENDLY_SITEKEY = "FCMGSANDBOXDEMO01"
DEMO_MTCAPTCHA_SITEKEY = "MTPublic-SbxDemo01"
for _key in (DEMO_SITEKEY, DEMO_SECRET, DEMO_V2_ENTERPRISE_SITEKEY, DEMO_V3_SITEKEY, DEMO_V3_ENTERPRISE_SITEKEY):
    assert len(_key) == 40, _key

DEMO_KEYS = {
    DEMO_SITEKEY: DEMO_SECRET,
    DEMO_SITEKEY_2: "secret-second-recaptcha-key",
    DEMO_HCAPTCHA_SITEKEY: "0x" + "0" * 40,
    DEMO_TURNSTILE_SITEKEY: "0x4AAAAAAASandboxDemoSecret",
    DEMO_V2_ENTERPRISE_SITEKEY: "secret-v2-enterprise",
    DEMO_V3_SITEKEY: "secret-v3-score",
    DEMO_V3_ENTERPRISE_SITEKEY: "secret-v3-enterprise",
    DEMO_CF_CHALLENGE_SITEKEY: "secret-cloudflare-challenge",
    DEMO_GEETEST_GT: "secret-geetest-v3",
    DEMO_GEETEST_CAPTCHA_ID: "secret-geetest-v4",
    DEMO_AWS_KEY: "secret-aws-waf",
    DEMO_ARKOSE_KEY: "secret-arkose",
    DEMO_FRIENDLY_SITEKEY: "secret-friendly",
    DEMO_MTCAPTCHA_SITEKEY: "secret-mtcaptcha",
}
#: The kind each per-kind demo key belongs to (a solve of another kind is refused by the site).
DEMO_KEY_KINDS = {
    DEMO_V2_ENTERPRISE_SITEKEY: "recaptcha_v2_enterprise",
    DEMO_V3_SITEKEY: "recaptcha_v3",
    DEMO_V3_ENTERPRISE_SITEKEY: "recaptcha_v3_enterprise",
    DEMO_HCAPTCHA_SITEKEY: "hcaptcha",
    DEMO_TURNSTILE_SITEKEY: "turnstile",
    DEMO_CF_CHALLENGE_SITEKEY: "turnstile",
    DEMO_GEETEST_GT: "geetest_v3",
    DEMO_GEETEST_CAPTCHA_ID: "geetest_v4",
    DEMO_AWS_KEY: "aws_waf",
    DEMO_ARKOSE_KEY: "funcaptcha",
    DEMO_FRIENDLY_SITEKEY: "friendly_captcha",
    DEMO_MTCAPTCHA_SITEKEY: "mtcaptcha",
}

#: Seconds a token lives, per kind (family names of the first version kept working).
TOKEN_TTL = {"recaptcha": 120.0, "recaptcha_v2": 120.0, "recaptcha_v2_enterprise": 120.0,
             "recaptcha_v3": 120.0, "recaptcha_v3_enterprise": 120.0, "hcaptcha": 120.0,
             "turnstile": 300.0, "funcaptcha": 120.0, "friendly_captcha": 600.0, "mtcaptcha": 120.0,
             "geetest_v4": 300.0}
#: Seconds a clearance cookie lives (Cloudflare's default 30 min, AWS WAF's 300 s immunity).
CLEARANCE_TTL = {"cf_clearance": 1800.0, "datadome": 3600.0, "aws-waf-token": 300.0}
#: The cookie each clearance kind is carried in.
CLEARANCE_COOKIES = {"cloudflare_clearance": "cf_clearance", "datadome": "datadome", "aws_waf": "aws-waf-token"}
#: Seconds the site's own challenges stay answerable.
CHALLENGE_TTL = 600.0
_PREFIX = {"recaptcha": "03A", "hcaptcha": "P1_", "turnstile": "0.", "funcaptcha": "", "friendly_captcha": "",
           "mtcaptcha": "v1("}


def family_of(kind: str) -> str:
    """``recaptcha_v3_enterprise`` -> ``recaptcha``; other kinds are their own family."""
    return "recaptcha" if kind.startswith("recaptcha") else kind


@dataclass
class _Minted:
    sitekey: str
    hostname: str
    kind: str
    expires: float
    action: str | None = None
    cdata: str | None = None
    chl_page_data: str | None = None
    user_agent: str | None = None
    score: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class _Clearance:
    cookie: str
    hostname: str
    ip: str
    user_agent: str | None
    expires: float


@dataclass
class _Issued:
    """Something the site handed out that a solve must refer to (a challenge, a context...)."""

    hostname: str
    expires: float
    data: dict[str, str] = field(default_factory=dict)
    used: bool = False


@dataclass
class TokenAuthority:
    #: sitekey -> secret of every key a demo site registered.
    keys: dict[str, str] = field(default_factory=lambda: dict(DEMO_KEYS))
    #: sitekey -> the kind it belongs to (keys absent here take any kind).
    key_kinds: dict[str, str] = field(default_factory=lambda: dict(DEMO_KEY_KINDS))
    minted: dict[str, _Minted] = field(default_factory=dict)
    #: Tokens already redeemed (a replay is "timeout-or-duplicate", not "invalid").
    spent: set[str] = field(default_factory=set)
    clearances: dict[str, _Clearance] = field(default_factory=dict)
    #: sha256 of an image the site served -> the text drawn in it.
    images: dict[str, str] = field(default_factory=dict)
    #: (what, id) -> issued challenge: ("geetest", challenge), ("aws", context), ("datadome", cid),
    #: ("cloudflare", cdata), ("arkose", blob), ("voucher", voucher), ("geetest4", lot_number).
    issued: dict[tuple[str, str], _Issued] = field(default_factory=dict)
    verified: int = 0
    refused: int = 0

    def reset(self) -> None:
        for store in (self.minted, self.spent, self.clearances, self.images, self.issued):
            store.clear()
        self.verified = self.refused = 0

    def knows(self, sitekey: str) -> bool:
        return sitekey in self.keys

    def kind_of(self, sitekey: str) -> str | None:
        return self.key_kinds.get(sitekey)

    # -- tokens ---------------------------------------------------------------

    def mint(self, sitekey: str, hostname: str, family: str = "recaptcha", action: str | None = None,
             cdata: str | None = None, chl_page_data: str | None = None, *, user_agent: str | None = None,
             score: float | None = None, **extra: str) -> str:
        """A fresh token for ``sitekey`` on ``hostname``. ``family`` is the kind solved
        (``recaptcha_v3_enterprise``, ``turnstile``...; plain ``recaptcha`` is any v2)."""
        self._expire()
        kind = family
        token = _PREFIX.get(family_of(kind), "") + secrets.token_urlsafe(48)
        ttl = TOKEN_TTL.get(kind, 120.0)
        self.minted[token] = _Minted(sitekey, hostname, kind, time.monotonic() + ttl, action, cdata, chl_page_data,
                                     user_agent, score, {k: v for k, v in extra.items() if v is not None})
        return token

    def redeem(self, token: str, hostname: str, *, secret: str | None = None, sitekey: str | None = None,
               kind: str | None = None) -> tuple[dict[str, Any], _Minted | None]:
        """Verify and consume ``token`` like the vendors' siteverify endpoints.

        ``secret`` or ``sitekey`` names the site's key; ``kind`` (a kind or a
        family) is what the page showed. Returns the siteverify-style answer and
        the minted record (None when refused).
        """
        errors: list[str] = []
        minted = self.minted.pop(token, None)  # single use, whatever the outcome
        if not token:
            errors.append("missing-input-response")
        elif minted is None:
            errors.append("timeout-or-duplicate" if token in self.spent else "invalid-input-response")
        elif minted.expires < time.monotonic():
            errors.append("timeout-or-duplicate")
        elif secret is not None and self.keys.get(minted.sitekey) != secret:
            errors.append("invalid-input-secret")
        elif sitekey is not None and minted.sitekey != sitekey:
            errors.append("sitekey-secret-mismatch")
        elif kind is not None and kind != minted.kind and not (kind == family_of(kind) == family_of(minted.kind)):
            errors.append("invalid-input-response")  # a token of another kind: the vendor does not know it
        elif minted.hostname != hostname:
            errors.append("hostname-mismatch")
        if minted is not None:
            self.spent.add(token)
            if len(self.spent) > 5000:
                self.spent.clear()
        if errors:
            self.refused += 1
            return {"success": False, "error-codes": errors}, None
        assert minted is not None
        self.verified += 1
        result: dict[str, Any] = {
            "success": True,
            "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "hostname": minted.hostname,
        }
        for name in ("action", "cdata", "chl_page_data", "score"):
            if getattr(minted, name) is not None:
                result[name] = getattr(minted, name)
        return result, minted

    def siteverify(self, secret: str, token: str, hostname: str, *, kind: str | None = None) -> dict[str, Any]:
        """Like ``/recaptcha/api/siteverify``: ``{success, hostname, error-codes}``."""
        return self.redeem(token, hostname, secret=secret, kind=kind)[0]

    # -- clearance cookies -----------------------------------------------------

    def mint_clearance(self, cookie: str, hostname: str, ip: str, user_agent: str | None) -> str:
        """A ``cf_clearance`` / ``datadome`` / ``aws-waf-token`` value for this host, IP and user agent
        (None: not bound to one)."""
        self._expire()
        value = secrets.token_urlsafe(32)
        if cookie == "aws-waf-token":
            value = f"{secrets.token_hex(16)}:{secrets.token_urlsafe(12)}:{value}"
        self.clearances[value] = _Clearance(cookie, hostname, ip, user_agent,
                                            time.monotonic() + CLEARANCE_TTL.get(cookie, 1800.0))
        return value

    def check_clearance(self, cookie: str, value: str, hostname: str, ip: str, user_agent: str, *,
                        check_ip: bool = True) -> str | None:
        """None when the cookie admits this request, else why not (``check_ip``: the site binds it to the IP)."""
        found = self.clearances.get(value or "")
        if found is None or found.cookie != cookie:
            return "unknown-clearance"
        if found.expires < time.monotonic():
            return "expired"
        if found.hostname != hostname:
            return "hostname-mismatch"
        if check_ip and found.ip != ip:
            return "ip-mismatch"
        if found.user_agent is not None and found.user_agent != user_agent:
            return "user-agent-mismatch"
        return None

    # -- what the site issues ----------------------------------------------------

    def issue(self, what: str, ident: str, hostname: str, ttl: float = CHALLENGE_TTL, **data: str) -> None:
        self._expire()
        self.issued[(what, ident)] = _Issued(hostname, time.monotonic() + ttl, dict(data))

    def lookup(self, what: str, ident: str) -> _Issued | None:
        """The live issued record, or None (unknown or expired)."""
        found = self.issued.get((what, ident))
        if found is None or found.expires < time.monotonic():
            return None
        return found

    def consume(self, what: str, ident: str) -> _Issued | None:
        """The live record, removed: a second use finds nothing."""
        found = self.lookup(what, ident)
        self.issued.pop((what, ident), None)
        return found

    def register_image(self, image: bytes, text: str) -> None:
        self.images[hashlib.sha256(image).hexdigest()] = text
        if len(self.images) > 5000:
            for key in list(self.images)[:1000]:
                del self.images[key]

    def read_image(self, image: bytes) -> str | None:
        """What a human worker would type for these bytes (None: not an image the site served)."""
        return self.images.get(hashlib.sha256(image).hexdigest())

    # -- GeeTest ----------------------------------------------------------------

    def solve_geetest_v3(self, gt: str, challenge: str, hostname: str) -> dict[str, str] | None:
        """validate/seccode for a challenge the site issued for ``gt`` and that nobody solved yet."""
        issued = self.lookup("geetest", challenge)
        if issued is None or issued.used or issued.data.get("gt") != gt or issued.hostname != hostname:
            return None
        issued.used = True
        validate = hashlib.sha256(f"{challenge}:{secrets.token_hex(8)}".encode()).hexdigest()[:32]
        issued.data["validate"] = validate
        return {"challenge": challenge, "validate": validate, "seccode": validate + "|jordan"}

    def verify_geetest_v3(self, challenge: str, validate: str, seccode: str, hostname: str) -> str | None:
        issued = self.consume("geetest", challenge)
        if issued is None or "validate" not in issued.data:
            return "unknown-or-used-challenge"
        if issued.hostname != hostname:
            return "hostname-mismatch"
        if validate != issued.data["validate"] or seccode != validate + "|jordan":
            return "wrong-validate"
        return None

    def mint_geetest_v4(self, captcha_id: str, hostname: str) -> dict[str, str]:
        lot_number = secrets.token_hex(16)
        solution = {"captcha_id": captcha_id, "lot_number": lot_number, "pass_token": secrets.token_hex(32),
                    "gen_time": str(int(time.time())), "captcha_output": secrets.token_urlsafe(96)}
        self.issue("geetest4", lot_number, hostname, TOKEN_TTL["geetest_v4"], **solution)
        return solution

    def verify_geetest_v4(self, fields: dict[str, str], hostname: str) -> str | None:
        issued = self.consume("geetest4", fields.get("lot_number", ""))
        if issued is None:
            return "unknown-or-used-lot-number"
        if issued.hostname != hostname:
            return "hostname-mismatch"
        for name in ("captcha_id", "pass_token", "gen_time", "captcha_output"):
            if fields.get(name) != issued.data[name]:
                return f"{name}-mismatch"
        return None

    def _expire(self) -> None:
        now = time.monotonic()
        if len(self.minted) > 1000:
            for token in [t for t, m in self.minted.items() if m.expires < now]:
                del self.minted[token]
        if len(self.clearances) > 1000:
            for value in [v for v, c in self.clearances.items() if c.expires < now]:
                del self.clearances[value]
        if len(self.issued) > 2000:
            for key in [k for k, i in self.issued.items() if i.expires < now]:
                del self.issued[key]
