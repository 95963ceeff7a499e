"""Plain data shared by every layer: challenges, solutions, reactions, errors.

Nothing here imports from the rest of the package, and every value is
pickle-safe so it can ride in request meta through JOBDIR or Redis queues.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapy.exceptions import IgnoreRequest


class Reaction(enum.Enum):
    """What the crawl does about a service error code (spec §4)."""

    DROP = "drop"
    RESCHEDULE = "reschedule"
    BACKOFF = "backoff"
    COOLDOWN = "cooldown"
    PAUSE = "pause"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True)
class Form:
    """The HTML form a challenge sits in, enough to submit it without the page."""

    action: str
    method: str = "POST"
    fields: tuple[tuple[str, str], ...] = ()


#: Names used in :attr:`Challenge.params`, per kind (detection writes them, the
#: protocol reads them; the middleware adds the ones marked "fetched"):
#:
#: - ``image``: ``image_url``; fetched: ``image_body`` (base64, no ``data:`` prefix).
#: - ``geetest``: ``version`` ("3" | "4"); v3 ``challenge`` (fresh per page),
#:   ``register_url`` (where a fresh gt/challenge pair comes from), ``api_server``;
#:   the sitekey is ``gt`` (v3) or ``captchaId`` (v4).
#: - ``aws_waf``: ``iv``, ``context``, ``challenge_script``, ``captcha_script``; sitekey = gokuProps key.
#: - ``funcaptcha``: ``api_subdomain`` (surl), ``data`` (the blob); sitekey = public key.
#: - ``datadome``: ``captcha_url`` (complete, built from the page's ``dd`` object), ``cid``, ``t``.
#: - ``cloudflare_challenge``: ``cType``, ``cRay``, ``cZone``; fetched: ``html_base64``.
#: - ``friendly_captcha``: ``puzzle_endpoint`` when the page names one; ``script_url``
#:   (the widget script the page loads).
#: - ``mtcaptcha``: nothing beyond the sitekey.
PARAM_NAMES = (
    "image_url", "image_body", "version", "challenge", "register_url", "api_server", "iv", "context",
    "challenge_script", "captcha_script", "api_subdomain", "data", "captcha_url", "cid", "t",
    "cType", "cRay", "cZone", "html_base64", "puzzle_endpoint", "script_url",
)


@dataclass(frozen=True)
class Challenge:
    """One captcha found in a page, with everything a service needs to solve it."""

    kind: str
    sitekey: str | None
    page_url: str
    blocking: bool = False
    enterprise: bool = False
    invisible: bool = False
    action: str | None = None
    data_s: str | None = None
    cdata: str | None = None
    chl_page_data: str | None = None
    rqdata: str | None = None
    api_domain: str | None = None
    #: Form fields the site reads the token from, in the order the page uses them.
    response_fields: tuple[str, ...] = ()
    form: Form | None = None
    #: Vendor parameters with no field of their own (AWS WAF key/iv/context,
    #: DataDome cid, GeeTest gt/challenge, image URL, ...), as (name, value) pairs.
    params: tuple[tuple[str, str], ...] = ()
    #: Why detection kept this candidate (markers seen), for --explain and DEBUG logs.
    evidence: tuple[str, ...] = ()

    def param(self, name: str, default: str | None = None) -> str | None:
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class SolutionCookie:
    """A cookie a solution sets (``cf_clearance``, ``datadome``, ``aws-waf-token``)."""

    name: str
    value: str
    #: None: the host of the page that showed the challenge.
    domain: str | None = None
    path: str = "/"


@dataclass(frozen=True)
class Solution:
    """A solved task. ``token`` is the value the site verifies.

    For cookie kinds (Cloudflare clearance, DataDome, AWS WAF) ``cookies`` holds
    what goes into the request's cookiejar, and ``token`` the main cookie's value.
    """

    token: str
    task_id: Any = None
    cost: float | None = None
    #: The user agent the token or clearance was minted with: later requests
    #: of that gate must send it.
    user_agent: str | None = None
    cookies: tuple[SolutionCookie, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    elapsed: float = 0.0
    polls: int = 0
    #: Event-loop time the solution arrived (tokens expire from then on).
    received: float = 0.0


class Secret:
    """An API key. Its repr, str and format are masked; only ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"<secret: {len(self._value)} chars>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Never pickled into a JOBDIR or a queue.
        raise TypeError("an API key is not picklable")


@dataclass(frozen=True, repr=False)
class Proxy:
    """The crawl's proxy for a request, as a solving task needs it.

    The password is a :class:`Secret`; repr and str never show credentials.
    """

    scheme: str
    host: str
    port: int
    login: str | None = None
    password: Secret | None = None

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        """``http://user:pass@host:port`` (Scrapy's ``meta["proxy"]`` form); scheme defaults to http."""
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "socks4", "socks5") or not parts.hostname:
            raise ValueError("not a proxy URL (scheme://[user:password@]host:port)")
        port = parts.port or (443 if scheme == "https" else 1080 if scheme.startswith("socks") else 80)
        login = unquote(parts.username) if parts.username else None
        password = Secret(unquote(parts.password)) if parts.password else None
        return cls(scheme, parts.hostname, port, login, password)

    def __repr__(self) -> str:
        creds = "<credentials>@" if self.login or self.password else ""
        return f"Proxy({self.scheme}://{creds}{self.host}:{self.port})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a proxy with credentials is not picklable")


@dataclass(frozen=True)
class Identity:
    """Who the challenge was shown to: tasks for IP-bound kinds carry it so the
    token or clearance is minted for the crawl's own IP and browser."""

    proxy: Proxy | None = None
    user_agent: str | None = None
    #: The proxy goes with the task only where the provider takes this kind
    #: through a proxy alone (``CAPTCHA_USE_PROXY = "auto"`` for kinds not bound
    #: to an IP): otherwise the cheaper proxyless task is sent.
    proxy_only_if_required: bool = False


class CaptchaError(Exception):
    """Base class for everything this package raises about a solve."""

    def __init__(self, code: str, description: str = "", reaction: Reaction | None = None):
        self.code = code
        self.description = description
        self.reaction = reaction
        super().__init__(code, description)

    def __str__(self) -> str:
        return f"{self.code}: {self.description}" if self.description else self.code


class ServiceError(CaptchaError):
    """The service answered with ``errorId != 0`` (or an HTTP status that means one)."""


class TransportFault(CaptchaError):
    """No usable answer: connection error, timeout, HTTP 5xx, a body that is not the protocol."""


class CaptchaConfigError(ValueError):
    """A setting is wrong. Raised at startup, naming the setting and what is allowed."""


class CaptchaDropped(IgnoreRequest):
    """The request was given up because of a captcha. Reaches the request's errback."""

    def __init__(self, code: str, reason: str, url: str | None = None):
        self.code = code
        self.reason = reason
        self.url = url
        super().__init__(f"{code}: {reason}" + (f" ({url})" if url else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.reason, self.url))
