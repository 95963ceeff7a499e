"""Error code -> reaction table (spec/service-api.md §4).

Both seed tables (YesCaptcha-style and CapSolver) are complete in here; aliases
of one condition share a rule. Decide on the ``errorCode`` string, never on the
number: ``errorId`` means different things across dialects.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Reaction

#: Codes this package raises itself for faults that carry no service code.
TRANSPORT_ERROR = "TRANSPORT_ERROR"  # connection refused/reset, read timeout
HTTP_ERROR = "HTTP_ERROR"  # HTTP 5xx without a protocol body
BAD_RESPONSE = "BAD_RESPONSE"  # not JSON, no errorId, unknown status
SOLVE_TIMEOUT = "SOLVE_TIMEOUT"  # CAPTCHA_SOLVE_TIMEOUT elapsed
TOKEN_REJECTED = "TOKEN_REJECTED"  # the site showed the challenge again
NO_SUBMIT_PATH = "NO_SUBMIT_PATH"  # nowhere to put the token
CROSS_ORIGIN_SUBMIT = "CROSS_ORIGIN_SUBMIT"  # the form posts the token to another origin
CHALLENGE_LOOP = "CHALLENGE_LOOP"  # the same challenge keeps coming back after passes
TOKEN_EXPIRED = "TOKEN_EXPIRED"  # solutions kept expiring before they could be posted


@dataclass(frozen=True)
class Rule:
    reaction: Reaction
    #: BACKOFF: base delay before the next call; COOLDOWN: how long calls stop.
    delay: float = 0.0
    #: BACKOFF: how many times the call may be repeated before it becomes DROP
    #: (None = as long as the solve timeout allows).
    attempts: int | None = None
    #: BACKOFF: exponential growth with jitter (service in trouble) vs a fixed wait.
    exponential: bool = False
    #: BACKOFF: the wait applies to all task creation on the service, not just this call.
    global_wait: bool = False
    #: ERROR_THREADS_MAXIMUM: lower the concurrent-task limit.
    lower_concurrency: bool = False
    #: COOLDOWN: ask getBalance before resuming.
    check_before_resume: bool = False
    #: Proxy refused: retry once with the proxyless task type.
    proxyless_retry: bool = False
    #: MISCONFIGURED for every task (wrong base URL): pause everything instead of dropping.
    pause_all: bool = False
    #: What a person should do about it (for the loud log line).
    advice: str = ""


_PAUSE_FUNDS = Rule(Reaction.PAUSE, advice="top up the account balance")
_PAUSE_KEY = Rule(Reaction.PAUSE, advice="check CAPTCHA_API_KEY / the account's key status")
_PAUSE_ACCOUNT = Rule(Reaction.PAUSE, advice="check the account status and IP allow-list")
_FAULT = Rule(Reaction.BACKOFF, delay=1.0, attempts=6, exponential=True)
_RESCHEDULE = Rule(Reaction.RESCHEDULE)
_DROP = Rule(Reaction.DROP)
_BAD_TASK = Rule(
    Reaction.MISCONFIGURED,
    advice="the task built from the page is wrong: check the extracted parameters",
)
_WRONG_URL = Rule(
    Reaction.MISCONFIGURED,
    pause_all=True,
    advice="the service URL is wrong (a wrong path, or a proxy in between): check CAPTCHA_API_URL / CAPTCHA_PROVIDER",
)

RULES: dict[str, Rule] = {
    # PAUSE: needs a person
    "ERROR_ZERO_BALANCE": _PAUSE_FUNDS,
    "ERROR_SETTLEMENT_FAILED": _PAUSE_FUNDS,
    "ERROR_KEY_BANNED": _PAUSE_KEY,
    "ERROR_KEY_DOES_NOT_EXIST": _PAUSE_KEY,
    "ERROR_KEY_DENIED_ACCESS": _PAUSE_KEY,
    "ERROR_WRONG_USER_KEY": _PAUSE_KEY,
    "ERROR_ACCOUNT_SUSPENDED": _PAUSE_ACCOUNT,
    "ERROR_IP_NOT_ALLOWED": _PAUSE_ACCOUNT,
    # COOLDOWN: temporary block, lifts by itself
    "ERROR_IP_BLOCKED_5MIN": Rule(Reaction.COOLDOWN, delay=300),
    "ERROR_KEY_TEMP_BLOCKED": Rule(Reaction.COOLDOWN, delay=300),
    "ERROR_IP_BANNED": Rule(Reaction.COOLDOWN, delay=600, check_before_resume=True),
    "ERROR_IP_BLOCKED": Rule(Reaction.COOLDOWN, delay=600, check_before_resume=True),
    # BACKOFF: busy or throttling
    "ERROR_NO_SLOT_AVAILABLE": Rule(Reaction.BACKOFF, delay=3.0),
    "ERROR_NO_SLOT_AVAILABLE_BLOCK": Rule(Reaction.BACKOFF, delay=20.0, global_wait=True),
    "ERROR_THREADS_MAXIMUM": Rule(Reaction.BACKOFF, delay=3.0, lower_concurrency=True),
    "ERROR_RATE_LIMIT": Rule(Reaction.BACKOFF, delay=2.0, exponential=True, global_wait=True),
    "ERROR_TOO_MUCH_REQUESTS": Rule(Reaction.BACKOFF, delay=2.0, exponential=True, global_wait=True),
    "ERROR_SERVICE_UNAVALIABLE": _FAULT,  # sic: the services spell it this way
    "ERROR_SERVICE_UNAVAILABLE": _FAULT,
    "ERROR_INTERNAL_SERVER_ERROR": _FAULT,
    TRANSPORT_ERROR: _FAULT,
    HTTP_ERROR: _FAULT,
    BAD_RESPONSE: _FAULT,
    "ERROR_BAD_REQUEST": Rule(Reaction.BACKOFF, delay=3.0, attempts=1),
    # RESCHEDULE: this attempt failed, another may pass
    "ERROR_CAPTCHA_UNSOLVABLE": _RESCHEDULE,
    "ERROR_NO_SUCH_CAPCHA_ID": _RESCHEDULE,  # sic
    "ERROR_TASKID_INVALID": _RESCHEDULE,
    "ERROR_TASK_TIMEOUT": _RESCHEDULE,
    "ERROR_RECAPTCHA_TIMEOUT": _RESCHEDULE,
    "ERROR_TOKEN_EXPIRED": _RESCHEDULE,
    "ERROR_FAILED_LOADING_WIDGET": _RESCHEDULE,
    "ERROR_BAD_DUPLICATES": _RESCHEDULE,
    SOLVE_TIMEOUT: _RESCHEDULE,
    TOKEN_REJECTED: _RESCHEDULE,
    # DROP: retrying will not help
    "ERROR_RECAPTCHA_INVALID_SITEKEY": _DROP,
    "INVALID_RECAPTCHA_SITEURL": _DROP,
    "ERROR_RECAPTCHA_INVALID_DOMAIN": _DROP,
    "ERROR_DOMAIN_NOT_ALLOWED": _DROP,
    "ERROR_ILLEGAL_IMAGE": _DROP,
    "ERROR_INVALID_IMAGE": _DROP,
    "ERROR_PARSE_IMAGE_FAIL": _DROP,
    "ERROR_ZERO_CAPTCHA_FILESIZE": _DROP,
    "ERROR_TOO_BIG_CAPTCHA_FILESIZE": _DROP,
    "ERROR_IMAGE_TYPE_NOT_SUPPORTED": _DROP,
    "ERROR_UNKNOWN_QUESTION": _DROP,
    "ERROR_UNKNOW_450x450_QUESTION": _DROP,  # sic
    "ERROR_TASK_CANCELED": _DROP,
    NO_SUBMIT_PATH: _DROP,
    CHALLENGE_LOOP: _DROP,
    TOKEN_EXPIRED: _RESCHEDULE,
    CROSS_ORIGIN_SUBMIT: _DROP,
    "ERROR_PROXY_BANNED": Rule(Reaction.DROP, proxyless_retry=True),
    "ERROR_BAD_PROXY": Rule(Reaction.DROP, proxyless_retry=True),
    # MISCONFIGURED: the service cannot do this with this configuration
    "ERROR_TASK_NOT_SUPPORTED": Rule(
        Reaction.MISCONFIGURED,
        advice="this provider does not offer the task type: add another provider to CAPTCHA_PROVIDER",
    ),
    "ERROR_REQUIRED_FIELDS": _BAD_TASK,
    "ERROR_INVALID_TASK_DATA": _BAD_TASK,
    "ERROR_BAD_PARAMETERS": _BAD_TASK,
    "ERROR_TASK_ABSENT": _BAD_TASK,
    "ERROR_VISIBLE_RECAPTCHA": _BAD_TASK,
    "ERROR_INVISIBLE_RECAPTCHA": _BAD_TASK,
    "ERROR_WRONG_USERAGENT": _BAD_TASK,
    "ERROR_RECAPTCHA_OLD_BROWSER": _BAD_TASK,
    "ERROR_INCORRECT_SESSION_DATA": _BAD_TASK,  # anti-captcha's "a field is missing or wrong"
    "ERROR_PROXY_MISSING": Rule(
        Reaction.MISCONFIGURED,
        advice="this task needs the crawl's proxy: send the request through a proxy (meta['proxy'])",
    ),
    # Raised before anything is sent (service/protocol.py): the task cannot be built.
    "PROXY_REQUIRED": Rule(
        Reaction.MISCONFIGURED,
        advice="this kind is bound to the crawl's IP at this provider: send the request through a proxy "
        "(meta['proxy']) or add a provider that solves it without one to CAPTCHA_PROVIDER",
    ),
    "USER_AGENT_REQUIRED": Rule(
        Reaction.MISCONFIGURED,
        advice="this task needs the crawl's browser user agent: set USER_AGENT to a browser's",
    ),
    "ERROR_PAGE_NOT_FOUND": _WRONG_URL,
    "ERROR_NO_SUCH_METHOD": _WRONG_URL,
}

#: Unknown codes: treated like a transient fault with a small budget, then dropped.
UNKNOWN = Rule(Reaction.BACKOFF, delay=2.0, attempts=2, exponential=True)

_PROXY_RULE = Rule(Reaction.DROP, proxyless_retry=True)


def rule_for(code: str) -> Rule:
    """The full rule for ``code``; unknown codes get :data:`UNKNOWN`."""
    code = (code or "").strip()
    rule = RULES.get(code) or RULES.get(code.upper())
    if rule is not None:
        return rule
    if code.upper().startswith("ERROR_PROXY_"):
        return _PROXY_RULE
    return UNKNOWN


def reaction_for(code: str) -> Reaction:
    """The :class:`Reaction` the crawl takes for a service error ``code``."""
    return rule_for(code).reaction
