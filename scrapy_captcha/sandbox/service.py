"""Emulated solving service (yescaptcha dialect, with switchable quirks of the others).

Endpoints: ``/createTask``, ``/getTaskResult``, ``/getBalance`` (+ the report
endpoints). Control: ``GET/POST /_sandbox/config``, ``GET /_sandbox/log``,
``GET /_sandbox/state``, ``POST /_sandbox/reset``.

Error injection rules (``config["rules"]``), first match wins, each fires
``times`` times (-1 = always)::

    {"endpoint": "createTask", "sitekey": "6L…", "error": "ERROR_ZERO_BALANCE",
     "http_status": 500, "body": "<html>garbage", "stall": 30, "times": 1}
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..service.presets import PRESETS
from .tokens import TokenAuthority

#: Every dialect's task type name -> the token family it mints (the emulator
#: answers in any dialect's names; its replies follow the yescaptcha dialect).
SUPPORTED_TYPES = {
    name: variant.split("_")[0]
    for preset in PRESETS.values()
    for variant, name in preset.task_types.items()
}
#: Codes whose errors a real service returns with HTTP 401 (capsolver) when the
#: ``http_status`` quirk is on; every other error gets 400.
_KEY_CODES = {"ERROR_KEY_DENIED_ACCESS", "ERROR_KEY_DOES_NOT_EXIST", "ERROR_WRONG_USER_KEY"}
_DESCRIPTIONS = {
    "ERROR_ZERO_BALANCE": "Insufficient account balance",
    "ERROR_KEY_DOES_NOT_EXIST": "client key error",
    "ERROR_TASK_NOT_SUPPORTED": "Task type not supported",
    "ERROR_TASKID_INVALID": "Task ID does not exist or has expired",
    "ERROR_REQUIRED_FIELDS": "Please check the field",
    "ERROR_RECAPTCHA_INVALID_SITEKEY": "Invalid target site SITEKEY",
}


def default_config() -> dict[str, Any]:
    return {
        "latency": 1.0,  # seconds from createTask to ready
        "latency_range": None,  # [low, high]: each task takes a uniform draw instead
        "balance": 10.0,
        "cost": 0.002,
        "keys": {},  # api key -> error code returned for it (e.g. ERROR_KEY_BANNED)
        # Quirks of other dialects: "idle", "string_numbers", "http_status", "ready_on_create"
        "quirks": [],
        "rules": [],
    }


@dataclass
class _Task:
    id: str
    family: str
    sitekey: str
    hostname: str
    ready_at: float
    action: str | None
    cdata: str | None = None
    chl_page_data: str | None = None
    solution: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class ServiceState:
    authority: TokenAuthority
    config: dict[str, Any] = field(default_factory=default_config)
    tasks: dict[str, _Task] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    spent: float = 0.0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.log:
            out[entry["endpoint"]] = out.get(entry["endpoint"], 0) + 1
        return out


def _error(state: ServiceState, code: str, description: str | None = None) -> web.Response:
    status = 200
    if "http_status" in state.config["quirks"]:
        status = 401 if code in _KEY_CODES else 400
    body = {"errorId": 1, "errorCode": code, "errorDescription": description or _DESCRIPTIONS.get(code, code)}
    return web.json_response(body, status=status)


def _number(state: ServiceState, value: float) -> Any:
    return f"{value:.6g}" if "string_numbers" in state.config["quirks"] else value


async def _apply_rules(
    state: ServiceState, endpoint: str, sitekey: str | None, request: web.Request
) -> web.StreamResponse | None:
    for rule in state.config["rules"]:
        if rule.get("times", 1) == 0:
            continue
        if rule.get("endpoint", "*") not in ("*", endpoint):
            continue
        if rule.get("sitekey") and rule["sitekey"] != sitekey:
            continue
        if rule.get("times", 1) > 0:
            rule["times"] = rule.get("times", 1) - 1
        if rule.get("stall"):
            await asyncio.sleep(float(rule["stall"]))
        if rule.get("reset"):
            # Headers and half a body, then the connection drops.
            response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "200"})
            await response.prepare(request)
            await response.write(b'{"errorId": 0, "status": "proc')
            if request.transport is not None:
                request.transport.abort()
            return response
        if rule.get("error"):
            return _error(state, rule["error"])
        if rule.get("body") is not None or rule.get("http_status"):
            return web.Response(
                status=int(rule.get("http_status") or 200),
                text=rule.get("body") or "",
                content_type=rule.get("content_type", "text/html"),
            )
        return None
    return None


def build_app(state: ServiceState) -> web.Application:
    async def read(request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.read())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def record(endpoint: str, **extra: Any) -> None:
        state.log.append({"t": time.time(), "endpoint": endpoint, **extra})

    async def check_key(data: dict[str, Any]) -> web.Response | None:
        key = data.get("clientKey")
        if not isinstance(key, str) or not key:
            return _error(state, "ERROR_KEY_DOES_NOT_EXIST")
        code = state.config["keys"].get(key)
        return _error(state, code) if code else None

    async def create_task(request: web.Request) -> web.StreamResponse:
        data = await read(request)
        task = (data or {}).get("task")
        sitekey = task.get("websiteKey") if isinstance(task, dict) else None
        record("createTask", sitekey=sitekey)
        injected = await _apply_rules(state, "createTask", sitekey, request)
        if injected is not None:
            return injected
        if data is None:
            return _error(state, "ERROR_BAD_REQUEST")
        refused = await check_key(data)
        if refused is not None:
            return refused
        if not isinstance(task, dict):
            return _error(state, "ERROR_REQUIRED_FIELDS", "task")
        family = SUPPORTED_TYPES.get(str(task.get("type")))
        if family is None:
            return _error(state, "ERROR_TASK_NOT_SUPPORTED")
        url = task.get("websiteURL")
        if not isinstance(url, str) or not urlsplit(url).hostname:
            return _error(state, "INVALID_RECAPTCHA_SITEURL", "Invalid target site url")
        if not isinstance(sitekey, str) or not sitekey:
            return _error(state, "ERROR_REQUIRED_FIELDS", "websiteKey")
        if state.config["balance"] < state.config["cost"]:
            return _error(state, "ERROR_ZERO_BALANCE")
        task_id = str(uuid.uuid4())
        spread = state.config.get("latency_range")
        latency = random.uniform(*map(float, spread)) if spread else float(state.config["latency"])
        item = _Task(
            id=task_id,
            family=family,
            sitekey=sitekey,
            hostname=urlsplit(url).hostname or "",
            ready_at=time.monotonic() + latency,
            # Each dialect names these differently (spec §2).
            action=task.get("pageAction") or task.get("action") or (task.get("metadata") or {}).get("action"),
            cdata=task.get("cData") or task.get("data") or (task.get("metadata") or {}).get("cdata"),
            chl_page_data=task.get("chlPageData"),
        )
        state.tasks[task_id] = item
        state.log[-1].update(taskId=task_id, latency=latency)
        if "ready_on_create" in state.config["quirks"]:
            _finish(state, item)
            return web.json_response(_ready_body(state, item))
        return web.json_response({"errorId": 0, "taskId": task_id})

    async def get_task_result(request: web.Request) -> web.StreamResponse:
        data = await read(request)
        task_id = (data or {}).get("taskId")
        item = state.tasks.get(task_id) if isinstance(task_id, str) else None
        record("getTaskResult", taskId=task_id)
        injected = await _apply_rules(state, "getTaskResult", item.sitekey if item else None, request)
        if injected is not None:
            return injected
        if data is None:
            return _error(state, "ERROR_BAD_REQUEST")
        refused = await check_key(data)
        if refused is not None:
            return refused
        if item is None:
            return _error(state, "ERROR_TASKID_INVALID")
        if time.monotonic() < item.ready_at:
            early = "idle" in state.config["quirks"] and (
                item.ready_at - time.monotonic() > float(state.config["latency"]) / 2
            )
            return web.json_response({"errorId": 0, "status": "idle" if early else "processing"})
        _finish(state, item)
        if item.error:
            return _error(state, item.error)
        return web.json_response(_ready_body(state, item))

    async def get_balance(request: web.Request) -> web.StreamResponse:
        data = await read(request)
        record("getBalance")
        injected = await _apply_rules(state, "getBalance", None, request)
        if injected is not None:
            return injected
        if data is None:
            return _error(state, "ERROR_BAD_REQUEST")
        refused = await check_key(data)
        if refused is not None:
            return refused
        return web.json_response({"errorId": 0, "balance": _number(state, state.config["balance"])})

    async def report(request: web.Request) -> web.Response:
        record("report")
        return web.json_response({"errorId": 0, "status": "success"})

    async def not_found(request: web.Request) -> web.Response:
        # What the real services answer for a wrong path or a GET.
        code = "ERROR_NO_SUCH_METHOD" if request.method != "POST" else "ERROR_PAGE_NOT_FOUND"
        return _error(state, code)

    async def siteverify(request: web.Request) -> web.Response:
        form = await request.post()
        result = state.authority.siteverify(
            str(form.get("secret", "")), str(form.get("response", "")), str(form.get("hostname", ""))
        )
        return web.json_response(result)

    async def control_config(request: web.Request) -> web.Response:
        if request.method == "POST":
            update = await read(request) or {}
            state.config.update(update)
        return web.json_response(state.config)

    async def control_log(request: web.Request) -> web.Response:
        return web.json_response(state.log)

    async def control_state(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "balance": state.config["balance"],
                "spent": round(state.spent, 6),
                "tasks": len(state.tasks),
                "calls": state.counts(),
                "verified": state.authority.verified,
                "refused": state.authority.refused,
            }
        )

    async def control_reset(request: web.Request) -> web.Response:
        update = await read(request) or {}
        state.config = {**default_config(), **update}
        state.tasks.clear()
        state.log.clear()
        state.spent = 0.0
        state.authority.minted.clear()
        state.authority.verified = state.authority.refused = 0
        return web.json_response(state.config)

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/createTask", create_task)
    app.router.add_post("/getTaskResult", get_task_result)
    app.router.add_post("/getBalance", get_balance)
    for path in ("/reportIncorrectRecaptcha", "/reportIncorrect", "/feedbackTask",
                 "/reportIncorrectTokenCaptcha"):
        app.router.add_post(path, report)
    app.router.add_post("/recaptcha/api/siteverify", siteverify)
    app.router.add_route("*", "/_sandbox/config", control_config)
    app.router.add_get("/_sandbox/log", control_log)
    app.router.add_get("/_sandbox/state", control_state)
    app.router.add_post("/_sandbox/reset", control_reset)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def _finish(state: ServiceState, item: _Task) -> None:
    """Complete a task once: mint its token and charge for it."""
    if item.solution is not None or item.error is not None:
        return
    if not state.authority.knows(item.sitekey):
        # Workers cannot load a widget for a key Google does not know. Not charged.
        item.error = "ERROR_RECAPTCHA_INVALID_SITEKEY"
        return
    cost = float(state.config["cost"])
    if state.config["balance"] < cost:
        item.error = "ERROR_ZERO_BALANCE"
        return
    state.config["balance"] = round(state.config["balance"] - cost, 6)
    state.spent += cost
    token = state.authority.mint(item.sitekey, item.hostname, item.family, item.action, item.cdata,
                                 item.chl_page_data)
    field_name = "token" if item.family == "turnstile" else "gRecaptchaResponse"
    item.solution = {field_name: token, "userAgent": "Mozilla/5.0 (sandbox solver)"}


def _ready_body(state: ServiceState, item: _Task) -> dict[str, Any]:
    return {
        "errorId": 0,
        "taskId": item.id,
        "status": "ready",
        "solution": item.solution,
        "cost": _number(state, float(state.config["cost"])),
    }
