"""The dialects of the one createTask/getTaskResult protocol, per provider × kind.

Every shape names where it was checked (``docs/providers.md`` has the full
table). Short source names used below:

- ``ac-sdk``: ``anticaptchaofficial`` 1.0.72 (PyPI), the file named;
  ``ac-doc``: https://anti-captcha.com/apidoc/task-types/<Type>
- ``cm-sdk``: ``capmonstercloudclient`` 4.3.1 (PyPI), ``requests/<File>.py``;
  ``cm-doc``: https://docs.capmonster.cloud/docs/captchas/<page>
- ``cs-doc``: https://docs.capsolver.com/guide/<path>; ``cs-sdk``: ``capsolver-core`` 0.1.1
- ``2c-doc``: https://2captcha.com/api-docs/<page>
- ``yc-doc``: https://yescaptcha.atlassian.net/wiki/spaces/YESCAPTCHA/pages/<id>;
  ``yc-sdk``: ``yescaptcha`` 0.1.0 (PyPI)

A shape marked ``confirmed=False`` follows the project spec without an official
page read to back it; ``docs/providers.md`` lists those rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Task variants: the keys of :attr:`Preset.shapes`. ``protocol.variant()``
#: maps a challenge to one of these (the Cloudflare challenge page has two
#: modes, picked per provider and request by ``protocol.build_task``).
VARIANTS = (
    "recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise",
    "hcaptcha", "turnstile", "cloudflare_cookie", "cloudflare_token", "image",
    "geetest_v3", "geetest_v4", "aws_waf", "funcaptcha", "friendly_captcha", "mtcaptcha", "datadome",
)

#: The variants the first release had: ``Preset.task_types`` keeps mapping only
#: these to one type name, for code written against that shape.
LEGACY_VARIANTS = (
    "recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise",
    "hcaptcha", "turnstile",
)

#: Typical seconds to solve, per variant: where the first poll goes before this
#: crawl has learned better (spec §3 and the providers' docs: reCAPTCHA 10-80 s,
#: v3 and Turnstile faster, images about a second, GeeTest/FunCaptcha 1-80 s).
TYPICAL_SOLVE = MappingProxyType({
    "recaptcha_v2": 15.0, "recaptcha_v2_enterprise": 18.0, "recaptcha_v3": 6.0,
    "recaptcha_v3_enterprise": 8.0, "hcaptcha": 12.0, "turnstile": 6.0,
    "cloudflare_challenge": 15.0, "image": 2.0, "geetest_v3": 8.0, "geetest_v4": 8.0,
    "aws_waf": 10.0, "funcaptcha": 15.0, "friendly_captcha": 10.0, "mtcaptcha": 10.0,
    "datadome": 12.0,
})


@dataclass(frozen=True)
class TaskShape:
    """How one provider takes one task variant."""

    #: Type name without a proxy; None when the provider requires the crawl's proxy.
    proxyless: str | None
    #: Type name with the crawl's proxy; None when the provider has no proxy variant
    #: (the task then goes out proxyless even if the request has a proxy).
    proxied: str | None
    #: Which field builder in ``protocol`` writes the task: ``yc`` (yescaptcha),
    #: ``cs`` (capsolver), ``ac`` (anti-captcha), ``2c`` (2captcha), ``cm`` (capmonster).
    style: str
    #: Where the shape was checked (URL or SDK package + file).
    source: str
    #: Path that reports a refused answer for this kind, or None where there is none.
    report: str | None = None
    #: False: no official page or SDK backs this shape (see docs/providers.md).
    confirmed: bool = True

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in (self.proxyless, self.proxied) if n))


def _shape(proxyless: str | None, proxied: str | None, style: str, source: str, **kw: Any) -> TaskShape:
    return TaskShape(proxyless, proxied, style, source, **kw)


@dataclass(frozen=True)
class Preset:
    name: str
    base_url: str
    #: Variant -> how this provider takes it. Variants missing here are not offered.
    shapes: Mapping[str, TaskShape]
    #: Body field for a developer/soft id, if the dialect has one.
    soft_id_field: str | None = None
    #: ``fields``: proxyType/proxyAddress/proxyPort/proxyLogin/proxyPassword;
    #: ``string``: one ``proxy`` field, ``scheme:host:port[:login:password]`` (capsolver).
    proxy_style: str = "fields"
    #: Proxy schemes the provider names in ``proxyType``; others are sent as ``http``.
    proxy_types: frozenset[str] = frozenset({"http", "socks4", "socks5"})
    #: Seconds before the first poll and between polls (spec §3).
    first_poll: float = 3.0
    poll_interval: float = 3.0
    max_polls: int = 120
    #: Typical seconds to solve, per variant (see :data:`TYPICAL_SOLVE`).
    typical_solve: Mapping[str, float] = field(default_factory=lambda: TYPICAL_SOLVE)

    @property
    def task_types(self) -> Mapping[str, str]:
        """Variant -> its main type name, for the first six variants only.

        Kept for code that predates :attr:`shapes`; new code reads ``shapes``.
        """
        return MappingProxyType({
            v: name for v, s in self.shapes.items()
            if v in LEGACY_VARIANTS and (name := s.proxyless or s.proxied)
        })

    def offers(self, variant: str) -> bool:
        return variant in self.shapes

    def all_type_names(self) -> frozenset[str]:
        """Every type name this dialect accepts (proxyless and proxy variants)."""
        return frozenset(n for s in self.shapes.values() for n in s.type_names)


def _shapes(**kw: TaskShape) -> Mapping[str, TaskShape]:
    unknown = set(kw) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown task variants: {sorted(unknown)}")
    return MappingProxyType(kw)


# ----------------------------------------------------------------- yescaptcha

_YC = "https://yescaptcha.atlassian.net/wiki/"
YESCAPTCHA_SHAPES = _shapes(
    # 15 points; RecaptchaV2TaskProxyless (20 pts) is the "higher quality" alias.
    recaptcha_v2=_shape("NoCaptchaTaskProxyless", None, "yc",
                        _YC + "x/joHTAw; yc-sdk task/no_captcha_task_proxyless.py"),
    recaptcha_v2_enterprise=_shape("RecaptchaV2EnterpriseTaskProxyless", None, "yc",
                                   _YC + "spaces/YESCAPTCHA/pages/64192968; yc-sdk"),
    recaptcha_v3=_shape("RecaptchaV3TaskProxyless", None, "yc", _YC + "spaces/YESCAPTCHA/pages/64192939"),
    # Its own type: RecaptchaV3TaskProxyless would mint a non-Enterprise token.
    recaptcha_v3_enterprise=_shape("RecaptchaV3EnterpriseTask", None, "yc",
                                   _YC + "x/5YHTAw; yc-sdk task/recaptcha_v3_enterprise_task.py"),
    hcaptcha=_shape("HCaptchaTaskProxyless", None, "yc",
                    "yc-sdk task/hcaptcha_task_proxyless.py (2022; no current doc page)", confirmed=False),
    turnstile=_shape("TurnstileTaskProxyless", None, "yc", _YC + "spaces/YESCAPTCHA/pages/64193447"),
    # Answers in the createTask reply (status ready).
    image=_shape("ImageToTextTaskMuggle", None, "yc",
                 _YC + "pages/viewpage.action?pageId=64192889; yc-sdk task/image_to_text_task.py"),
)

# ------------------------------------------------------------------ capsolver

_CS = "https://docs.capsolver.com/guide/"
_CS_REPORT = "/feedbackTask"
CAPSOLVER_SHAPES = _shapes(
    recaptcha_v2=_shape("ReCaptchaV2TaskProxyLess", "ReCaptchaV2Task", "cs",
                        _CS + "captcha/ReCaptchaV2.html; cs-sdk core/tasks.py", report=_CS_REPORT),
    recaptcha_v2_enterprise=_shape("ReCaptchaV2EnterpriseTaskProxyLess", "ReCaptchaV2EnterpriseTask", "cs",
                                   _CS + "captcha/ReCaptchaV2.html; cs-sdk core/tasks.py", report=_CS_REPORT),
    recaptcha_v3=_shape("ReCaptchaV3TaskProxyLess", "ReCaptchaV3Task", "cs",
                        _CS + "captcha/ReCaptchaV3.html; cs-sdk core/tasks.py", report=_CS_REPORT),
    recaptcha_v3_enterprise=_shape("ReCaptchaV3EnterpriseTaskProxyLess", "ReCaptchaV3EnterpriseTask", "cs",
                                   _CS + "captcha/ReCaptchaV3.html; cs-sdk core/tasks.py", report=_CS_REPORT),
    # Turnstile is not bound to an IP: the docs offer the proxyless type only.
    turnstile=_shape("AntiTurnstileTaskProxyLess", None, "cs",
                     _CS + "captcha/cloudflare_turnstile.html", report=_CS_REPORT),
    cloudflare_cookie=_shape(None, "AntiCloudflareTask", "cs", _CS + "antibots/cloudflare_challenge.html"),
    image=_shape("ImageToTextTask", None, "cs", _CS + "recognition/ImageToTextTask.html (spec §2)",
                 report=_CS_REPORT, confirmed=False),
    geetest_v3=_shape("GeeTestTaskProxyLess", None, "cs", _CS + "captcha/Geetest.html", confirmed=False,
                      report=_CS_REPORT),
    geetest_v4=_shape("GeeTestTaskProxyLess", None, "cs", _CS + "captcha/Geetest.html", confirmed=False,
                      report=_CS_REPORT),
    aws_waf=_shape("AntiAwsWafTaskProxyLess", "AntiAwsWafTask", "cs", _CS + "captcha/awsWaf.html"),
    mtcaptcha=_shape("MtCaptchaTaskProxyLess", "MtCaptchaTask", "cs", _CS + "captcha/MtCaptcha.html",
                     report=_CS_REPORT),
    datadome=_shape(None, "DatadomeSliderTask", "cs", _CS + "antibots/datadome.html"),
)

# ---------------------------------------------------------------- anti-captcha

_AC = "https://anti-captcha.com/apidoc/task-types/"
_AC_RECAPTCHA = "/reportIncorrectRecaptcha"
ANTICAPTCHA_SHAPES = _shapes(
    recaptcha_v2=_shape("RecaptchaV2TaskProxyless", "RecaptchaV2Task", "ac",
                        _AC + "RecaptchaV2TaskProxyless; ac-sdk recaptchav2proxyless.py, recaptchav2proxyon.py",
                        report=_AC_RECAPTCHA),
    recaptcha_v2_enterprise=_shape(
        "RecaptchaV2EnterpriseTaskProxyless", "RecaptchaV2EnterpriseTask", "ac",
        _AC + "RecaptchaV2EnterpriseTaskProxyless; ac-sdk recaptchav2enterpriseproxyless.py", report=_AC_RECAPTCHA),
    # No proxy variant for v3 at anti-captcha.
    recaptcha_v3=_shape("RecaptchaV3TaskProxyless", None, "ac",
                        _AC + "RecaptchaV3TaskProxyless; ac-sdk recaptchav3proxyless.py", report=_AC_RECAPTCHA),
    # Enterprise is the same type with isEnterprise: true.
    recaptcha_v3_enterprise=_shape("RecaptchaV3TaskProxyless", None, "ac",
                                   _AC + "RecaptchaV3Enterprise; ac-sdk recaptchav3enterpriseproxyless.py",
                                   report=_AC_RECAPTCHA),
    hcaptcha=_shape("HCaptchaTaskProxyless", "HCaptchaTask", "ac",
                    "ac-sdk hcaptchaproxyless.py, hcaptchaproxyon.py", report="/reportIncorrectHcaptcha"),
    # anti-captcha has no report endpoint for Turnstile.
    turnstile=_shape("TurnstileTaskProxyless", "TurnstileTask", "ac",
                     _AC + "TurnstileTaskProxyless; ac-sdk turnstileproxyless.py, turnstileproxyon.py"),
    cloudflare_token=_shape("TurnstileTaskProxyless", "TurnstileTask", "ac",
                            _AC + "TurnstileTaskProxyless (cData/chlPageData for Cloudflare pages)"),
    # Needs an anti-captcha subscription (5 credits a task).
    cloudflare_cookie=_shape(None, "AntiBotCookieTask", "ac", _AC + "AntiBotCookieTask; ac-sdk antibotcookietask.py"),
    image=_shape("ImageToTextTask", None, "ac", _AC + "ImageToTextTask; ac-sdk imagecaptcha.py",
                 report="/reportIncorrectImageCaptcha"),
    geetest_v3=_shape("GeeTestTaskProxyless", "GeeTestTask", "ac", "ac-sdk geetestproxyless.py, geetestproxyon.py"),
    geetest_v4=_shape("GeeTestTaskProxyless", "GeeTestTask", "ac", "ac-sdk geetestproxyless.py, geetestproxyon.py"),
    aws_waf=_shape("AmazonTaskProxyless", "AmazonTask", "ac", _AC + "AmazonTask; ac-sdk amazonproxyless.py"),
    funcaptcha=_shape("FunCaptchaTaskProxyless", "FunCaptchaTask", "ac",
                      "ac-sdk funcaptchaproxyless.py, funcaptchaproxyon.py"),
    friendly_captcha=_shape("FriendlyCaptchaTaskProxyless", "FriendlyCaptchaTask", "ac",
                            "ac-sdk friendlycaptchaproxyless.py, friendlycaptchaproxyon.py"),
)

# -------------------------------------------------------------------- 2captcha

_2C = "https://2captcha.com/api-docs/"
_2C_REPORT = "/reportIncorrect"
TWOCAPTCHA_SHAPES = _shapes(
    recaptcha_v2=_shape("RecaptchaV2TaskProxyless", "RecaptchaV2Task", "2c", _2C + "recaptcha-v2",
                        report=_2C_REPORT, confirmed=False),
    recaptcha_v2_enterprise=_shape("RecaptchaV2EnterpriseTaskProxyless", "RecaptchaV2EnterpriseTask", "2c",
                                   _2C + "recaptcha-v2-enterprise", report=_2C_REPORT, confirmed=False),
    recaptcha_v3=_shape("RecaptchaV3TaskProxyless", None, "2c", _2C + "recaptcha-v3", report=_2C_REPORT),
    recaptcha_v3_enterprise=_shape("RecaptchaV3TaskProxyless", None, "2c", _2C + "recaptcha-v3 (isEnterprise)",
                                   report=_2C_REPORT),
    # data / pagedata, not anti-captcha's cData / chlPageData.
    turnstile=_shape("TurnstileTaskProxyless", "TurnstileTask", "2c", _2C + "cloudflare-turnstile",
                     report=_2C_REPORT, confirmed=False),
    cloudflare_token=_shape("TurnstileTaskProxyless", "TurnstileTask", "2c",
                            _2C + "cloudflare-turnstile (Cloudflare Challenge page)", report=_2C_REPORT,
                            confirmed=False),
    image=_shape("ImageToTextTask", None, "2c", _2C + "normal-captcha", report=_2C_REPORT, confirmed=False),
    geetest_v3=_shape("GeeTestTaskProxyless", "GeeTestTask", "2c", _2C + "geetest", report=_2C_REPORT,
                      confirmed=False),
    geetest_v4=_shape("GeeTestTaskProxyless", "GeeTestTask", "2c", _2C + "geetest", report=_2C_REPORT,
                      confirmed=False),
    funcaptcha=_shape("FunCaptchaTaskProxyless", "FunCaptchaTask", "2c", _2C + "arkoselabs-funcaptcha",
                      report=_2C_REPORT, confirmed=False),
    friendly_captcha=_shape("FriendlyCaptchaTaskProxyless", "FriendlyCaptchaTask", "2c",
                            _2C + "friendly-captcha", report=_2C_REPORT, confirmed=False),
    mtcaptcha=_shape("MtCaptchaTaskProxyless", "MtCaptchaTask", "2c", _2C + "mtcaptcha", report=_2C_REPORT,
                     confirmed=False),
    datadome=_shape(None, "DataDomeSliderTask", "2c", _2C + "datadome-slider-captcha", report=_2C_REPORT,
                    confirmed=False),
)

# ------------------------------------------------------------------ capmonster

_CM = "https://docs.capmonster.cloud/docs/captchas/"
_CM_TOKEN = "/reportIncorrectTokenCaptcha"  # recaptcha 2/3/enterprise, geetest, turnstile (cm-doc api/bad-tokens)
CAPMONSTER_SHAPES = _shapes(
    # One type name with and without a proxy: the proxy fields make it a proxy task.
    recaptcha_v2=_shape("RecaptchaV2Task", "RecaptchaV2Task", "cm",
                        _CM + "no-captcha-task; cm-sdk RecaptchaV2Request.py", report=_CM_TOKEN),
    recaptcha_v2_enterprise=_shape("RecaptchaV2EnterpriseTask", "RecaptchaV2EnterpriseTask", "cm",
                                   _CM + "recaptcha-v2-enterprise-task; cm-sdk RecaptchaV2EnterpiseRequest.py",
                                   report=_CM_TOKEN),
    recaptcha_v3=_shape("RecaptchaV3TaskProxyless", None, "cm",
                        _CM + "recaptcha-v3-task; cm-sdk RecaptchaV3ProxylessRequest.py", report=_CM_TOKEN),
    recaptcha_v3_enterprise=_shape("RecaptchaV3EnterpriseTask", None, "cm",
                                   _CM + "recaptcha-v3-enterprise-task; cm-sdk RecaptchaV3EnterpriseRequest.py",
                                   report=_CM_TOKEN),
    turnstile=_shape("TurnstileTask", "TurnstileTask", "cm",
                     _CM + "turnstile-task (option 1); cm-sdk TurnstileRequest.py", report=_CM_TOKEN),
    cloudflare_token=_shape("TurnstileTask", "TurnstileTask", "cm", _CM + "turnstile-task (option 2, token)",
                            report=_CM_TOKEN),
    cloudflare_cookie=_shape(None, "TurnstileTask", "cm", _CM + "turnstile-task (option 3, cf_clearance)"),
    image=_shape("ImageToTextTask", None, "cm", _CM + "image-to-text; cm-sdk ImageToTextRequest.py",
                 report="/reportIncorrectImageCaptcha"),
    geetest_v3=_shape("GeeTestTask", "GeeTestTask", "cm", _CM + "geetest-task; cm-sdk GeetestRequest.py",
                      report=_CM_TOKEN),
    geetest_v4=_shape("GeeTestTask", "GeeTestTask", "cm", _CM + "geetest-task; cm-sdk GeetestRequest.py",
                      report=_CM_TOKEN),
    aws_waf=_shape("AmazonTask", "AmazonTask", "cm", _CM + "amazon-task; cm-sdk AmazonWafRequest.py"),
    # The SDK refuses FunCaptcha without the user's own proxy.
    funcaptcha=_shape(None, "FunCaptchaTask", "cm", _CM + "funcaptcha-task; cm-sdk FuncaptchaRequest.py"),
    friendly_captcha=_shape("CustomTask", "CustomTask", "cm", "cm-sdk FriendlyCustomTaskRequest.py"),
    mtcaptcha=_shape("MTCaptchaTask", "MTCaptchaTask", "cm", _CM + "mtcaptcha-task; cm-sdk MTCaptchaRequest.py"),
    datadome=_shape(None, "CustomTask", "cm", _CM + "datadome; cm-sdk DataDomeCustomTaskRequest.py"),
)

# --------------------------------------------------------------------- sandbox

# The built-in emulator speaks the yescaptcha dialect. For the kinds yescaptcha
# does not offer it borrows another provider's shape (named per entry), so the
# demo and the tests can run every kind against one default dialect.
SANDBOX_SHAPES = _shapes(
    **{
        **YESCAPTCHA_SHAPES,
        # yescaptcha's Turnstile type takes neither action nor cData, and its hCaptcha
        # no rqdata: the emulator's own dialect takes them, as anti-captcha names them.
        "turnstile": ANTICAPTCHA_SHAPES["turnstile"],
        "hcaptcha": ANTICAPTCHA_SHAPES["hcaptcha"],
    },
    cloudflare_token=ANTICAPTCHA_SHAPES["cloudflare_token"],
    cloudflare_cookie=ANTICAPTCHA_SHAPES["cloudflare_cookie"],
    geetest_v3=ANTICAPTCHA_SHAPES["geetest_v3"],
    geetest_v4=ANTICAPTCHA_SHAPES["geetest_v4"],
    aws_waf=ANTICAPTCHA_SHAPES["aws_waf"],
    funcaptcha=ANTICAPTCHA_SHAPES["funcaptcha"],
    friendly_captcha=ANTICAPTCHA_SHAPES["friendly_captcha"],
    mtcaptcha=TWOCAPTCHA_SHAPES["mtcaptcha"],
    datadome=TWOCAPTCHA_SHAPES["datadome"],
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "yescaptcha": Preset(
            name="yescaptcha",
            base_url="https://api.yescaptcha.com",
            shapes=YESCAPTCHA_SHAPES,
            soft_id_field="softId",  # yc-sdk client.py
            first_poll=3.0,
            poll_interval=3.0,  # yc-doc: "please try again in 3 seconds"
        ),
        "capsolver": Preset(
            name="capsolver",
            base_url="https://api.capsolver.com",
            shapes=CAPSOLVER_SHAPES,
            soft_id_field="appId",  # cs-doc api-use-params; cs-sdk core/client.py
            proxy_style="string",  # cs-doc api-use-params: "socks5:host:port:user:pass"
            proxy_types=frozenset({"http", "https", "socks5"}),
            first_poll=2.0,
            poll_interval=3.0,
        ),
        "anticaptcha": Preset(
            name="anticaptcha",
            base_url="https://api.anti-captcha.com",
            shapes=ANTICAPTCHA_SHAPES,
            soft_id_field="softId",  # ac-sdk: every task sends softId
            first_poll=3.0,  # ac-sdk antinetworking.py sleeps 3 s before the first poll
            poll_interval=3.0,
        ),
        "2captcha": Preset(
            name="2captcha",
            base_url="https://api.2captcha.com",
            shapes=TWOCAPTCHA_SHAPES,
            soft_id_field="softId",
            first_poll=5.0,
            poll_interval=5.0,
        ),
        "capmonster": Preset(
            name="capmonster",
            base_url="https://api.capmonster.cloud",
            shapes=CAPMONSTER_SHAPES,
            soft_id_field="softId",  # cm-sdk CapMonsterCloudClient.py sends softId
            proxy_types=frozenset({"http", "https", "socks4", "socks5"}),  # cm-sdk enums.py ProxyTypes
            first_poll=1.0,  # cm-sdk GetResultTimeouts.py: first request after 1 s
            poll_interval=2.0,  # below 2 s: ERROR_TOO_MUCH_REQUESTS (spec §3)
        ),
        # Its port is fixed by default so the demo and a plain `scrapy crawl`
        # meet without configuration; CAPTCHA_API_URL overrides it.
        "sandbox": Preset(
            name="sandbox",
            base_url="http://127.0.0.1:8975",
            shapes=SANDBOX_SHAPES,
            soft_id_field="softId",
            first_poll=1.0,
            poll_interval=1.0,
            typical_solve=MappingProxyType({}),  # the emulator's latency is whatever it is told
        ),
    }
)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown captcha provider {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


def providers_offering(variant: str) -> tuple[str, ...]:
    """Names of the real providers (not the sandbox) that offer ``variant``."""
    return tuple(name for name, p in PRESETS.items() if name != "sandbox" and variant in p.shapes)
