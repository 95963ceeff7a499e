"""Sans-I/O protocol: build the calls, parse the answers. No sockets here.

Each ``*_call`` function returns a :class:`Call` (path + JSON payload); each
``parse_*`` function takes the HTTP status and raw body bytes of the answer and
returns data or raises :class:`ServiceError` / :class:`TransportFault`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..model import Challenge, ServiceError, Solution, TransportFault
from .errors import BAD_RESPONSE, HTTP_ERROR, rule_for
from .presets import Preset

#: Task statuses that mean "not yet" (capsolver says ``idle`` for queued tasks).
PENDING_STATUSES = frozenset({"processing", "idle", "pending", "queued"})


@dataclass(frozen=True)
class Call:
    path: str
    payload: dict[str, Any]

    def __repr__(self) -> str:
        # The payload holds the client key: never let it reach a log via repr.
        shown = {k: ("***" if k == "clientKey" else v) for k, v in self.payload.items()}
        return f"Call({self.path!r}, {shown!r})"


def variant(challenge: Challenge) -> str:
    """Which task variant a challenge needs (a key of ``Preset.task_types``)."""
    kind = challenge.kind
    if kind in ("recaptcha_v2", "recaptcha_v3"):
        return kind + ("_enterprise" if challenge.enterprise else "")
    return kind


def build_task(preset: Preset, challenge: Challenge) -> dict[str, Any]:
    """The ``task`` object for ``challenge`` in ``preset``'s dialect."""
    name = variant(challenge)
    task_type = preset.task_types.get(name)
    if task_type is None:
        # Same outcome as the service refusing the type: a configuration matter.
        raise ServiceError(
            "ERROR_TASK_NOT_SUPPORTED",
            f"provider {preset.name!r} has no task type for {name}",
            rule_for("ERROR_TASK_NOT_SUPPORTED").reaction,
        )
    task: dict[str, Any] = {
        "type": task_type,
        "websiteURL": challenge.page_url,
        "websiteKey": challenge.sitekey,
    }
    if challenge.kind == "recaptcha_v2":
        if challenge.invisible:
            task["isInvisible"] = True
        if challenge.data_s:
            task["recaptchaDataSValue"] = challenge.data_s
        if challenge.enterprise and challenge.data_s:
            task["enterprisePayload"] = {"s": challenge.data_s}
    elif challenge.kind == "recaptcha_v3":
        task["pageAction"] = challenge.action or "verify"
        if preset.name in ("anticaptcha", "2captcha"):
            task["minScore"] = 0.7  # required there
            if challenge.enterprise:
                task["isEnterprise"] = True
    elif challenge.kind == "hcaptcha":
        if challenge.invisible:
            task["isInvisible"] = True
        if challenge.rqdata:
            task["enterprisePayload"] = {"rqdata": challenge.rqdata}
    elif challenge.kind == "turnstile":
        if preset.name == "capsolver":
            meta = {k: v for k, v in (("action", challenge.action), ("cdata", challenge.cdata)) if v}
            if meta:
                task["metadata"] = meta
        elif preset.name == "capmonster":
            if challenge.action:
                task["pageAction"] = challenge.action
            if challenge.cdata:
                task["data"] = challenge.cdata
        else:
            for key, value in (
                ("action", challenge.action),
                ("cData", challenge.cdata),
                ("chlPageData", challenge.chl_page_data),
            ):
                if value:
                    task[key] = value
    if (
        preset.supports_api_domain
        and challenge.api_domain
        and challenge.kind.startswith("recaptcha")
        and challenge.api_domain != "www.google.com"
    ):
        task["apiDomain"] = challenge.api_domain
    return task


def create_task_call(
    preset: Preset, api_key: str, challenge: Challenge, *, soft_id: str | int | None = None
) -> Call:
    payload: dict[str, Any] = {"clientKey": api_key, "task": build_task(preset, challenge)}
    if soft_id is not None and preset.soft_id_field:
        payload[preset.soft_id_field] = soft_id
    return Call("/createTask", payload)


def task_result_call(api_key: str, task_id: Any) -> Call:
    # task_id keeps its JSON type: int for anti-captcha family, str for others.
    return Call("/getTaskResult", {"clientKey": api_key, "taskId": task_id})


def balance_call(api_key: str) -> Call:
    return Call("/getBalance", {"clientKey": api_key})


def report_call(preset: Preset, api_key: str, task_id: Any) -> Call | None:
    """The call that reports a token the site refused, or None where there is none."""
    if preset.report_path is None:
        return None
    payload: dict[str, Any] = {"clientKey": api_key, "taskId": task_id}
    if preset.name == "capsolver":
        payload["result"] = {"invalid": True}
    return Call(preset.report_path, payload)


# ---------------------------------------------------------------- parsing


def parse_number(value: Any) -> float | None:
    """Lenient: services send ``12.3``, ``"12.3"``, ``"12,3"`` or nothing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _short(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text.replace("\n", " ") + ("…" if len(body) > limit else "")


def decode(status: int, body: bytes) -> dict[str, Any]:
    """Turn one HTTP answer into a success dict, or raise the right error.

    The JSON body wins over the status: capsolver answers 400/401 with a normal
    error body, and capmonster may send ``taskId: 0`` beside an error.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or "errorId" not in data:
        if status == 404:
            raise ServiceError("ERROR_PAGE_NOT_FOUND", f"HTTP 404: {_short(body)}",
                               rule_for("ERROR_PAGE_NOT_FOUND").reaction)
        if status == 405:
            raise ServiceError("ERROR_NO_SUCH_METHOD", f"HTTP 405: {_short(body)}",
                               rule_for("ERROR_NO_SUCH_METHOD").reaction)
        if status == 429:
            raise ServiceError("ERROR_RATE_LIMIT", "HTTP 429", rule_for("ERROR_RATE_LIMIT").reaction)
        if status >= 500:
            raise TransportFault(HTTP_ERROR, f"HTTP {status}: {_short(body)}",
                                 rule_for(HTTP_ERROR).reaction)
        what = "JSON without errorId" if isinstance(data, dict) else "not a JSON object"
        raise TransportFault(BAD_RESPONSE, f"HTTP {status}, {what}: {_short(body)}",
                             rule_for(BAD_RESPONSE).reaction)
    error_id = data.get("errorId")
    if error_id not in (0, "0", None, False):
        code = str(data.get("errorCode") or f"ERROR_ID_{error_id}")
        description = str(data.get("errorDescription") or "")
        raise ServiceError(code, description, rule_for(code).reaction)
    if status >= 500:
        raise TransportFault(HTTP_ERROR, f"HTTP {status} with a success body",
                             rule_for(HTTP_ERROR).reaction)
    return data


def _solution(data: dict[str, Any], task_id: Any) -> Solution:
    raw = data.get("solution")
    if not isinstance(raw, dict):
        raise TransportFault(BAD_RESPONSE, "status ready without a solution object",
                             rule_for(BAD_RESPONSE).reaction)
    token = None
    for key in ("gRecaptchaResponse", "token", "text", "captcha_response"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            token = value
            break
    if token is None:
        raise TransportFault(BAD_RESPONSE, f"solution without a token ({sorted(raw)})",
                             rule_for(BAD_RESPONSE).reaction)
    user_agent = raw.get("userAgent") or data.get("userAgent")
    return Solution(
        token=token,
        task_id=task_id,
        cost=parse_number(data.get("cost")),
        user_agent=user_agent if isinstance(user_agent, str) else None,
        raw=raw,
    )


def parse_create_task(status: int, body: bytes) -> tuple[Any, Solution | None]:
    """``(task_id, solution)``; the solution is set when the service answered at once."""
    data = decode(status, body)
    task_id = data.get("taskId")
    if data.get("status") == "ready":
        return task_id, _solution(data, task_id)
    if task_id in (None, "", 0):
        raise TransportFault(BAD_RESPONSE, "createTask answer without a taskId",
                             rule_for(BAD_RESPONSE).reaction)
    return task_id, None


def parse_task_result(status: int, body: bytes, task_id: Any) -> Solution | None:
    """The solution, or None while the task is still being worked on."""
    data = decode(status, body)
    state = data.get("status")
    if state == "ready":
        return _solution(data, task_id)
    if isinstance(state, str) and state.lower() in PENDING_STATUSES:
        return None
    # An unknown status is a fault, never success.
    raise TransportFault(BAD_RESPONSE, f"unknown task status {state!r}",
                         rule_for(BAD_RESPONSE).reaction)


def parse_balance(status: int, body: bytes) -> float:
    data = decode(status, body)
    balance = parse_number(data.get("balance"))
    if balance is None:
        raise TransportFault(BAD_RESPONSE, "getBalance answer without a balance",
                             rule_for(BAD_RESPONSE).reaction)
    return balance
