"""Plain data shared by every layer: challenges, solutions, reactions, errors.

Nothing here imports from the rest of the package, and every value is
pickle-safe so it can ride in request meta through JOBDIR or Redis queues.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

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
class Solution:
    """A solved task. ``token`` is the value the site verifies."""

    token: str
    task_id: Any = None
    cost: float | None = None
    user_agent: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    elapsed: float = 0.0
    polls: int = 0


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
