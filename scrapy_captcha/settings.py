"""``CAPTCHA_*`` settings: read once at startup, validated with errors that say what to change."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .model import CaptchaConfigError, Secret
from .service.presets import PRESETS

#: The sandbox accepts any key; it gets one so the demo needs no configuration.
SANDBOX_KEY = "sandbox-demo-key"

DEFAULTS: dict[str, Any] = {
    "CAPTCHA_ENABLED": True,
    "CAPTCHA_PROVIDER": "yescaptcha",
    "CAPTCHA_API_KEY": None,
    "CAPTCHA_API_URL": None,
    "CAPTCHA_MAX_RETRIES": 3,
    "CAPTCHA_SOLVE_TIMEOUT": 180.0,
    "CAPTCHA_PAUSE_CHECK_INTERVAL": 60.0,
    "CAPTCHA_PAUSE_TIMEOUT": None,
    "CAPTCHA_BUDGET": None,
    "CAPTCHA_MAX_CONCURRENT_TASKS": 50,
    "CAPTCHA_HTTP_TIMEOUT": 30.0,
    "CAPTCHA_DELAY_SCALE": 1.0,
    "CAPTCHA_UNSUPPORTED": "drop",
    "CAPTCHA_HOLD_BACK": True,
    "CAPTCHA_BROWSER_COOKIES": False,
    "CAPTCHA_BROWSER_WAIT": 20.0,
    "CAPTCHA_USE_PROXY": "auto",
    "CAPTCHA_PRICES": None,
    "CAPTCHA_REDIS_URL": None,
    "CAPTCHA_REDIS_NAMESPACE": None,
    "CAPTCHA_STATUS": True,
    "CAPTCHA_REPORT": None,
}


@dataclass(frozen=True)
class CaptchaSettings:
    enabled: bool
    providers: tuple[str, ...]
    #: The first provider's key (it names the account in fleet mode).
    api_key: Secret
    #: provider -> its key (each provider's account has its own).
    api_keys: dict[str, Secret]
    #: provider name -> base URL override
    api_urls: dict[str, str]
    max_retries: int
    solve_timeout: float
    pause_check_interval: float
    pause_timeout: float | None
    budget: float | None
    max_concurrent_tasks: int
    http_timeout: float
    delay_scale: float
    unsupported: str
    hold_back: bool
    browser_cookies: bool
    browser_wait: float
    #: auto: tasks of IP-bound kinds carry the request's proxy; always; never.
    use_proxy: str = "auto"
    #: provider -> kind or task variant -> USD per 1000 solves, over the built-in estimates.
    prices: dict[str, dict[str, float]] | None = None
    #: Fleet mode: the Redis every process of one account shares, and the namespace there.
    redis_url: Secret | None = None
    redis_namespace: str | None = None
    #: One INFO status line at LOGSTATS_INTERVAL.
    status: bool = True
    #: Where the HTML crawl report goes when the spider closes (None: no report).
    report: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> CaptchaSettings:
        def get(name: str) -> Any:
            value = settings.get(name)
            return DEFAULTS[name] if value is None else value

        enabled = _bool(settings, "CAPTCHA_ENABLED", get("CAPTCHA_ENABLED"))
        providers = _providers(get("CAPTCHA_PROVIDER"))
        api_urls = _api_urls(get("CAPTCHA_API_URL"), providers)
        api_keys = _api_keys(settings.get("CAPTCHA_API_KEY"), providers, enabled)
        api_key = api_keys[providers[0]].reveal() if providers[0] in api_keys else ""
        return cls(
            enabled=enabled,
            providers=providers,
            api_key=Secret(api_key),
            api_keys=api_keys,
            api_urls=api_urls,
            max_retries=_int(get("CAPTCHA_MAX_RETRIES"), "CAPTCHA_MAX_RETRIES", minimum=0),
            solve_timeout=_float(get("CAPTCHA_SOLVE_TIMEOUT"), "CAPTCHA_SOLVE_TIMEOUT"),
            pause_check_interval=_float(
                get("CAPTCHA_PAUSE_CHECK_INTERVAL"), "CAPTCHA_PAUSE_CHECK_INTERVAL"
            ),
            pause_timeout=_optional_float(get("CAPTCHA_PAUSE_TIMEOUT"), "CAPTCHA_PAUSE_TIMEOUT"),
            budget=_optional_float(get("CAPTCHA_BUDGET"), "CAPTCHA_BUDGET", allow_zero=True),
            max_concurrent_tasks=_int(
                get("CAPTCHA_MAX_CONCURRENT_TASKS"), "CAPTCHA_MAX_CONCURRENT_TASKS", minimum=0
            ),
            http_timeout=_float(get("CAPTCHA_HTTP_TIMEOUT"), "CAPTCHA_HTTP_TIMEOUT"),
            delay_scale=_float(get("CAPTCHA_DELAY_SCALE"), "CAPTCHA_DELAY_SCALE"),
            unsupported=_choice(get("CAPTCHA_UNSUPPORTED"), "CAPTCHA_UNSUPPORTED", ("drop", "pass")),
            hold_back=_bool(settings, "CAPTCHA_HOLD_BACK", get("CAPTCHA_HOLD_BACK")),
            browser_cookies=_bool(settings, "CAPTCHA_BROWSER_COOKIES", get("CAPTCHA_BROWSER_COOKIES")),
            browser_wait=_float(get("CAPTCHA_BROWSER_WAIT"), "CAPTCHA_BROWSER_WAIT"),
            use_proxy=_choice(get("CAPTCHA_USE_PROXY"), "CAPTCHA_USE_PROXY", ("auto", "always", "never")),
            prices=_prices(get("CAPTCHA_PRICES")),
            redis_url=_redis_url(get("CAPTCHA_REDIS_URL")),
            redis_namespace=_namespace(get("CAPTCHA_REDIS_NAMESPACE"), [k.reveal() for k in api_keys.values()]),
            status=_bool(settings, "CAPTCHA_STATUS", get("CAPTCHA_STATUS")),
            report=_path(get("CAPTCHA_REPORT"), "CAPTCHA_REPORT"),
        )


def _api_urls(value: Any, providers: tuple[str, ...]) -> dict[str, str]:
    """A URL for the first provider, or ``{provider: url}`` for several."""
    if value is None or value == "":
        return {}
    urls = value if isinstance(value, dict) else {providers[0]: value}
    out = {}
    for name, url in urls.items():
        parts = urlsplit(str(url))
        if name not in providers or parts.scheme not in ("http", "https") or not parts.hostname:
            raise CaptchaConfigError(
                "CAPTCHA_API_URL must be an http(s) base URL such as 'https://api.yescaptcha.com', "
                f"or a dict of them keyed by names in CAPTCHA_PROVIDER; got {value!r}"
            )
        out[name] = str(url).rstrip("/")
    return out


def key_variable(provider: str) -> str:
    """The environment variable of one provider's key: ``CAPTCHA_API_KEY_CAPSOLVER``..."""
    return "CAPTCHA_API_KEY_" + provider.upper()


def _api_keys(value: Any, providers: tuple[str, ...], enabled: bool) -> dict[str, Secret]:
    """Each provider's key: ``CAPTCHA_API_KEY`` (one string for all, or ``{provider: key}``),
    else its environment variable ``CAPTCHA_API_KEY_<PROVIDER>``, else ``CAPTCHA_API_KEY``'s."""
    if value is not None and not isinstance(value, (str, dict)):
        raise CaptchaConfigError("CAPTCHA_API_KEY must be a string, or a dict {provider: key} "
                                 f"for the providers in CAPTCHA_PROVIDER ({', '.join(providers)})")
    own = value if isinstance(value, dict) else {}
    unknown = [name for name in own if name not in providers]
    if unknown:
        raise CaptchaConfigError(f"CAPTCHA_API_KEY has keys for providers not in CAPTCHA_PROVIDER: "
                                 f"{', '.join(map(str, unknown))} (CAPTCHA_PROVIDER: {', '.join(providers)})")
    shared = (value if isinstance(value, str) else "") or os.environ.get("CAPTCHA_API_KEY", "")
    keys: dict[str, Secret] = {}
    missing = []
    for provider in providers:
        key = own.get(provider) or os.environ.get(key_variable(provider)) or shared
        if not isinstance(key, str):
            raise CaptchaConfigError(f"CAPTCHA_API_KEY[{provider!r}] must be a string")
        key = key.strip()
        if not key and provider == "sandbox":
            key = SANDBOX_KEY  # the emulator takes any key
        if key:
            keys[provider] = Secret(key)
        else:
            missing.append(provider)
    if missing and enabled:
        raise CaptchaConfigError(
            f"CAPTCHA_API_KEY is not set for {', '.join(missing)}: set CAPTCHA_API_KEY (a string, or a dict "
            f"{{provider: key}}) in the settings, or the environment variable "
            f"{' / '.join(key_variable(p) for p in missing)} or CAPTCHA_API_KEY"
        )
    return keys


def _path(value: Any, name: str) -> str | None:
    if value in (None, "", False):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise CaptchaConfigError(f"{name} must be a file path (e.g. 'captcha-report.html'), got {value!r}")
    return os.fspath(value)


def _redis_url(value: Any) -> Secret | None:
    """A Redis URL may hold a password: kept as a secret, never echoed in an error."""
    if value in (None, ""):
        return None
    scheme = urlsplit(str(value)).scheme if isinstance(value, str) else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise CaptchaConfigError("CAPTCHA_REDIS_URL must be a redis://, rediss:// or unix:// URL "
                                 "(the value given is not shown: it may hold a password)")
    return Secret(str(value))


def _namespace(value: Any, api_keys: list[str]) -> str | None:
    if value in (None, ""):
        return None
    from .fleet.naming import check_namespace  # (no redis needed for the check)

    try:
        return check_namespace(value, *api_keys)
    except ValueError as exc:
        raise CaptchaConfigError(str(exc)) from None


def _prices(value: Any) -> dict[str, dict[str, float]] | None:
    if value in (None, "", {}):
        return None
    problem = ("CAPTCHA_PRICES must be a dict {provider: {kind: USD per 1000 solves}} with providers "
               f"among {', '.join(PRESETS)}, got {value!r}")
    if not isinstance(value, dict):
        raise CaptchaConfigError(problem)
    out: dict[str, dict[str, float]] = {}
    for provider, table in value.items():
        if provider not in PRESETS or not isinstance(table, dict):
            raise CaptchaConfigError(problem)
        out[provider] = {}
        for kind, usd in table.items():
            number = _number(usd, f"CAPTCHA_PRICES[{provider!r}][{kind!r}]", float)
            if number < 0:
                raise CaptchaConfigError(problem)
            out[provider][str(kind)] = number
    return out


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise CaptchaConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


def _bool(settings: Any, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return settings.getbool(name, DEFAULTS[name])
    except ValueError:
        raise CaptchaConfigError(f"{name} must be True or False, got {value!r}") from None


def _providers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value]
    else:
        names = []
    unknown = [n for n in names if n not in PRESETS]
    if not names or unknown:
        raise CaptchaConfigError(
            f"CAPTCHA_PROVIDER must be one of {', '.join(PRESETS)} (or a list of them), "
            f"got {value!r}"
        )
    return tuple(names)


def _number(value: Any, name: str, kind: type) -> Any:
    if isinstance(value, bool):
        raise CaptchaConfigError(f"{name} must be a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise CaptchaConfigError(f"{name} must be a number, got {value!r}") from None


def _int(value: Any, name: str, *, minimum: int) -> int:
    number = _number(value, name, float)
    if number != int(number) or number < minimum:
        raise CaptchaConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(number)


def _float(value: Any, name: str) -> float:
    number = _number(value, name, float)
    if not number > 0 or number == float("inf"):
        raise CaptchaConfigError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(number)


def _optional_float(value: Any, name: str, *, allow_zero: bool = False) -> float | None:
    if value is None or value == "":
        return None
    number = _number(value, name, float)
    if number < 0 or (number == 0 and not allow_zero) or number == float("inf"):
        what = ">= 0" if allow_zero else "> 0"
        raise CaptchaConfigError(f"{name} must be unset (no limit) or a number {what}, got {value!r}")
    return float(number)
