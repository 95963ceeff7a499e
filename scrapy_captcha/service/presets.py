"""The dialects of the one createTask/getTaskResult protocol (spec §1-§3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


TYPICAL_SOLVE = {"recaptcha_v2": 15.0, "recaptcha_v3": 6.0, "hcaptcha": 12.0, "turnstile": 6.0}


@dataclass(frozen=True)
class Preset:
    name: str
    base_url: str
    #: challenge variant -> task type name. Variants: recaptcha_v2,
    #: recaptcha_v2_enterprise, recaptcha_v3, recaptcha_v3_enterprise,
    #: hcaptcha, turnstile.
    task_types: Mapping[str, str]
    #: Body field for a developer/soft id, if the dialect has one.
    soft_id_field: str | None = None
    #: Seconds before the first poll and between polls (spec §3).
    first_poll: float = 3.0
    poll_interval: float = 3.0
    max_polls: int = 120
    #: Path that reports a refused token, if the dialect has one.
    report_path: str | None = None
    #: Whether reCAPTCHA tasks take an ``apiDomain`` field (recaptcha.net pages).
    supports_api_domain: bool = False
    #: Typical seconds to solve, per challenge kind: where the first poll goes
    #: before this crawl has learned better (spec §3 and the providers' docs).
    typical_solve: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(TYPICAL_SOLVE))


def _types(**kw: str) -> Mapping[str, str]:
    return MappingProxyType(kw)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "yescaptcha": Preset(
            name="yescaptcha",
            base_url="https://api.yescaptcha.com",
            task_types=_types(
                recaptcha_v2="NoCaptchaTaskProxyless",
                recaptcha_v2_enterprise="RecaptchaV2EnterpriseTaskProxyless",
                recaptcha_v3="RecaptchaV3TaskProxyless",
                recaptcha_v3_enterprise="RecaptchaV3TaskProxyless",
                hcaptcha="HCaptchaTaskProxyless",
                turnstile="TurnstileTaskProxyless",
            ),
            soft_id_field="softId",
            first_poll=3.0,
            poll_interval=3.0,
        ),
        "capsolver": Preset(
            name="capsolver",
            base_url="https://api.capsolver.com",
            task_types=_types(
                recaptcha_v2="ReCaptchaV2TaskProxyLess",
                recaptcha_v2_enterprise="ReCaptchaV2EnterpriseTaskProxyLess",
                recaptcha_v3="ReCaptchaV3TaskProxyLess",
                recaptcha_v3_enterprise="ReCaptchaV3EnterpriseTaskProxyLess",
                turnstile="AntiTurnstileTaskProxyLess",
            ),
            soft_id_field="appId",
            first_poll=2.0,
            poll_interval=3.0,
            report_path="/feedbackTask",
            supports_api_domain=True,
        ),
        "anticaptcha": Preset(
            name="anticaptcha",
            base_url="https://api.anti-captcha.com",
            task_types=_types(
                recaptcha_v2="RecaptchaV2TaskProxyless",
                recaptcha_v2_enterprise="RecaptchaV2EnterpriseTaskProxyless",
                recaptcha_v3="RecaptchaV3TaskProxyless",
                recaptcha_v3_enterprise="RecaptchaV3TaskProxyless",
                hcaptcha="HCaptchaTaskProxyless",
                turnstile="TurnstileTaskProxyless",
            ),
            soft_id_field="softId",
            first_poll=3.0,
            poll_interval=3.0,
            report_path="/reportIncorrectRecaptcha",
            supports_api_domain=True,
        ),
        "2captcha": Preset(
            name="2captcha",
            base_url="https://api.2captcha.com",
            task_types=_types(
                recaptcha_v2="RecaptchaV2TaskProxyless",
                recaptcha_v2_enterprise="RecaptchaV2EnterpriseTaskProxyless",
                recaptcha_v3="RecaptchaV3TaskProxyless",
                recaptcha_v3_enterprise="RecaptchaV3TaskProxyless",
                turnstile="TurnstileTaskProxyless",
            ),
            soft_id_field="softId",
            first_poll=5.0,
            poll_interval=5.0,
            report_path="/reportIncorrect",
            supports_api_domain=True,
        ),
        "capmonster": Preset(
            name="capmonster",
            base_url="https://api.capmonster.cloud",
            task_types=_types(
                recaptcha_v2="RecaptchaV2Task",
                recaptcha_v2_enterprise="RecaptchaV2EnterpriseTask",
                recaptcha_v3="RecaptchaV3TaskProxyless",
                recaptcha_v3_enterprise="RecaptchaV3TaskProxyless",
                turnstile="TurnstileTask",
            ),
            first_poll=1.0,
            poll_interval=2.0,
            report_path="/reportIncorrectTokenCaptcha",
        ),
        # The built-in emulator speaks the yescaptcha dialect on loopback.
        # Its port is fixed by default so the demo and a plain `scrapy crawl`
        # meet without configuration; CAPTCHA_API_URL overrides it.
        "sandbox": Preset(
            name="sandbox",
            base_url="http://127.0.0.1:8975",
            task_types=_types(
                recaptcha_v2="NoCaptchaTaskProxyless",
                recaptcha_v2_enterprise="RecaptchaV2EnterpriseTaskProxyless",
                recaptcha_v3="RecaptchaV3TaskProxyless",
                recaptcha_v3_enterprise="RecaptchaV3TaskProxyless",
                hcaptcha="HCaptchaTaskProxyless",
                turnstile="TurnstileTaskProxyless",
            ),
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
