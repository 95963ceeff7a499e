"""Default price table: USD per 1000 solves, per provider × task variant.

These are documented estimates for budgeting and cost stats (issue 12) where
the service itself does not say what a task cost: anti-captcha and 2captcha
return ``cost`` with each result and that figure always wins; capsolver,
capmonster and yescaptcha do not. Prices move with load and volume: a
setting may override any entry.

Each entry names the page it comes from and how sure it is:

- ``doc``: read from the provider's own documentation page named (yescaptcha
  prices its types in points on each API page);
- ``list``: the provider's public price list as published around the date
  given; the page was not re-read for this table (the search index used for
  this work holds no pricing page), so it is an estimate to be checked against
  the page before relying on it.

YesCaptcha bills in points. Its API pages give points per solve; the balance
(getBalance) is in points too. Conversion: :data:`POINTS_PER_CNY` points per
yuan (spec §1: "1 CNY = 1000 points") and :data:`USD_PER_CNY` dollars per yuan
(an exchange-rate assumption, not a provider figure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: YesCaptcha points per yuan (spec §1).
POINTS_PER_CNY = 1000.0
#: Exchange-rate assumption used to turn yuan into dollars (2026; adjust freely).
USD_PER_CNY = 0.14


def points_to_usd(points: float) -> float:
    """YesCaptcha points -> US dollars, with the conversion above."""
    return points / POINTS_PER_CNY * USD_PER_CNY


@dataclass(frozen=True)
class Price:
    #: US dollars per 1000 solves.
    usd_per_1000: float
    #: The page or file the figure comes from.
    source: str
    #: ``doc`` (read from the provider's page) or ``list`` (published list price, not re-read here).
    basis: str = "list"
    #: When the figure was taken (YYYY-MM).
    checked: str = "2026-10"
    note: str = ""

    @property
    def usd_per_solve(self) -> float:
        return self.usd_per_1000 / 1000.0


def _yc(points: int, page: str) -> Price:
    return Price(round(points_to_usd(points) * 1000, 3),
                 f"https://yescaptcha.atlassian.net/wiki/{page} ({points} points a solve)", basis="doc",
                 note="points converted with POINTS_PER_CNY / USD_PER_CNY")


_2C = "https://2captcha.com/pricing"
_AC = "https://anti-captcha.com/clients/reports/prices (and each ac-doc task page)"
_CS = "https://www.capsolver.com/#pricing"
_CM = "https://capmonster.cloud/en/#prices"

PRICES: Mapping[str, Mapping[str, Price]] = MappingProxyType({
    "yescaptcha": MappingProxyType({
        "recaptcha_v2": _yc(15, "x/joHTAw"),  # NoCaptchaTaskProxyless
        "recaptcha_v2_enterprise": _yc(20, "spaces/YESCAPTCHA/pages/64192968"),
        "recaptcha_v3": _yc(20, "spaces/YESCAPTCHA/pages/64192939"),
        "recaptcha_v3_enterprise": _yc(20, "x/5YHTAw"),
        "turnstile": _yc(25, "spaces/YESCAPTCHA/pages/64193447"),
        "hcaptcha": Price(3.0, "yescaptcha price list (no current doc page)", note="unconfirmed"),
        "image": Price(0.5, "yescaptcha price list (ImageToTextTaskMuggle)", note="unconfirmed"),
    }),
    "capsolver": MappingProxyType({
        "recaptcha_v2": Price(0.8, _CS), "recaptcha_v2_enterprise": Price(1.0, _CS),
        "recaptcha_v3": Price(1.0, _CS), "recaptcha_v3_enterprise": Price(3.0, _CS),
        "turnstile": Price(1.2, _CS), "cloudflare_cookie": Price(1.2, _CS),
        "image": Price(0.4, _CS), "geetest_v3": Price(1.2, _CS), "geetest_v4": Price(1.2, _CS),
        "aws_waf": Price(2.0, _CS), "mtcaptcha": Price(1.2, _CS), "datadome": Price(2.5, _CS),
    }),
    "anticaptcha": MappingProxyType({
        "recaptcha_v2": Price(2.0, _AC), "recaptcha_v2_enterprise": Price(5.0, _AC),
        "recaptcha_v3": Price(2.0, _AC), "recaptcha_v3_enterprise": Price(2.0, _AC),
        "hcaptcha": Price(2.0, _AC), "turnstile": Price(2.0, _AC), "cloudflare_token": Price(2.0, _AC),
        # ac-doc AntiBotCookieTask: a subscription (5 credits a task, from $9.90 for 5000) or ~$0.002 a task.
        "cloudflare_cookie": Price(2.0, "https://anti-captcha.com/apidoc/task-types/AntiBotCookieTask",
                                   basis="doc", note="needs a subscription; ~$0.002 a task on a template"),
        "image": Price(0.7, _AC), "geetest_v3": Price(1.8, _AC), "geetest_v4": Price(1.8, _AC),
        "aws_waf": Price(2.0, _AC), "funcaptcha": Price(3.0, _AC), "friendly_captcha": Price(2.0, _AC),
    }),
    "2captcha": MappingProxyType({
        "recaptcha_v2": Price(2.99, _2C), "recaptcha_v2_enterprise": Price(2.99, _2C),
        "recaptcha_v3": Price(2.99, _2C), "recaptcha_v3_enterprise": Price(2.99, _2C),
        "turnstile": Price(1.45, _2C), "cloudflare_token": Price(1.45, _2C), "image": Price(1.0, _2C),
        "geetest_v3": Price(2.99, _2C), "geetest_v4": Price(2.99, _2C), "funcaptcha": Price(2.99, _2C),
        "friendly_captcha": Price(2.99, _2C), "mtcaptcha": Price(2.99, _2C), "datadome": Price(2.99, _2C),
    }),
    "capmonster": MappingProxyType({
        "recaptcha_v2": Price(0.6, _CM), "recaptcha_v2_enterprise": Price(1.0, _CM),
        "recaptcha_v3": Price(0.9, _CM), "recaptcha_v3_enterprise": Price(3.0, _CM),
        "turnstile": Price(1.3, _CM), "cloudflare_token": Price(1.3, _CM), "cloudflare_cookie": Price(1.3, _CM),
        "image": Price(0.3, _CM), "geetest_v3": Price(1.2, _CM), "geetest_v4": Price(1.2, _CM),
        "aws_waf": Price(2.0, _CM), "funcaptcha": Price(3.0, _CM), "friendly_captcha": Price(1.3, _CM),
        "mtcaptcha": Price(1.3, _CM), "datadome": Price(2.5, _CM),
    }),
})


def price(provider: str, kind: str) -> Price | None:
    """The default price for ``kind`` (a challenge kind or a task variant) at ``provider``, or None.

    For a kind with several variants (the Cloudflare challenge page's two
    modes, GeeTest's versions, reCAPTCHA and its Enterprise form) the dearest
    is given: an estimate for a budget should not be low.
    """
    table = PRICES.get(provider)
    if table is None:
        return None
    names = {
        "cloudflare_challenge": ("cloudflare_cookie", "cloudflare_token"),
        "geetest": ("geetest_v3", "geetest_v4"),
    }.get(kind, (kind,))
    found = [table[n] for n in names if n in table]
    return max(found, key=lambda p: p.usd_per_1000) if found else None


def estimate_usd(provider: str, kind: str) -> float | None:
    """Estimated US dollars for one solve of ``kind`` at ``provider``, or None when unknown."""
    found = price(provider, kind)
    return found.usd_per_solve if found else None
