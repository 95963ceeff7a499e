"""What Google/hCaptcha/Cloudflare do between a solver and a site: mint and verify tokens.

Tokens are single use, expire, and are bound to the sitekey and the hostname
of the page they were solved for — the rules of siteverify (spec §5).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

#: The demo site's reCAPTCHA key pair (40-char key of the real format).
DEMO_SITEKEY = "6LcSANDBOXdemoSiteKeyForScrapyCaptcha-01"
DEMO_SECRET = "6LcSANDBOXdemoSecretForScrapyCaptcha--01"
assert len(DEMO_SITEKEY) == 40 and len(DEMO_SECRET) == 40
#: More demo keys, for the browser pages (two widgets in one form, hCaptcha, Turnstile).
DEMO_SITEKEY_2 = "6LcSANDBOXsecondKeyForTwoWidgetForms--02"
DEMO_HCAPTCHA_SITEKEY = "5a1f3c2e-9b7d-4e6f-8a0b-1c2d3e4f5a6b"
DEMO_TURNSTILE_SITEKEY = "0x4AAAAAAASandboxDemoKey01"
DEMO_KEYS = {
    DEMO_SITEKEY: DEMO_SECRET,
    DEMO_SITEKEY_2: "secret-second-recaptcha-key",
    DEMO_HCAPTCHA_SITEKEY: "0x" + "0" * 40,
    DEMO_TURNSTILE_SITEKEY: "0x4AAAAAAASandboxDemoSecret",
}

TOKEN_TTL = {"recaptcha": 120.0, "hcaptcha": 120.0, "turnstile": 300.0}


@dataclass
class _Minted:
    sitekey: str
    hostname: str
    family: str
    expires: float
    action: str | None = None
    cdata: str | None = None
    chl_page_data: str | None = None


@dataclass
class TokenAuthority:
    #: sitekey -> secret of every key a demo site registered.
    keys: dict[str, str] = field(default_factory=lambda: dict(DEMO_KEYS))
    minted: dict[str, _Minted] = field(default_factory=dict)
    verified: int = 0
    refused: int = 0

    def knows(self, sitekey: str) -> bool:
        return sitekey in self.keys

    def mint(self, sitekey: str, hostname: str, family: str = "recaptcha", action: str | None = None,
             cdata: str | None = None, chl_page_data: str | None = None) -> str:
        self._expire()
        prefix = {"recaptcha": "03A", "hcaptcha": "P1_", "turnstile": "0.t"}.get(family, "")
        token = prefix + secrets.token_urlsafe(48)
        ttl = TOKEN_TTL.get(family, 120.0)
        self.minted[token] = _Minted(sitekey, hostname, family, time.monotonic() + ttl, action, cdata, chl_page_data)
        return token

    def siteverify(self, secret: str, token: str, hostname: str) -> dict[str, Any]:
        """Like ``/recaptcha/api/siteverify``: ``{success, hostname, error-codes}``."""
        errors: list[str] = []
        minted = self.minted.pop(token, None)  # single use, whatever the outcome
        if not token:
            errors.append("missing-input-response")
        elif minted is None:
            errors.append("timeout-or-duplicate" if token.startswith("03A") else "invalid-input-response")
        elif minted.expires < time.monotonic():
            errors.append("timeout-or-duplicate")
        elif self.keys.get(minted.sitekey) != secret:
            errors.append("invalid-input-secret")
        elif minted.hostname != hostname:
            errors.append("hostname-mismatch")
        if errors:
            self.refused += 1
            return {"success": False, "error-codes": errors}
        self.verified += 1
        assert minted is not None
        result: dict[str, object] = {
            "success": True,
            "challenge_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "hostname": minted.hostname,
        }
        for name in ("action", "cdata", "chl_page_data"):
            if getattr(minted, name):
                result[name] = getattr(minted, name)
        return result

    def _expire(self) -> None:
        now = time.monotonic()
        if len(self.minted) > 1000:
            for token in [t for t, m in self.minted.items() if m.expires < now]:
                del self.minted[token]
