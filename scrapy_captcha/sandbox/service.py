"""Emulated solving service: one process, every provider's dialect, strictly.

Paths: ``/createTask``, ``/getTaskResult``, ``/getBalance`` and the report
endpoints speak the built-in ``sandbox`` dialect (yescaptcha-shaped answers,
every provider's task types taken leniently, switchable quirks of the others).
``/<provider>/createTask`` etc. (provider: yescaptcha, capsolver, anticaptcha,
2captcha, capmonster) speak that provider's dialect as the real one does
(see dialects.py): unknown task types, missing or foreign fields, bad proxies,
taskIds of the wrong JSON type and reports to the wrong endpoint are refused
with that provider's error codes, ids and HTTP statuses.

A task that carries a proxy is solved *through* it: the emulated worker
fetches the site's ``/_sandbox/ip`` through that proxy with the task's
credentials and user agent (failing with the provider's proxy error when the
proxy refuses) and mints clearance cookies for the IP the site saw. Proxyless
clearance tasks are fetched from the service's own address (``solver_ip``,
127.0.0.3 by default), so their cookies do not admit a crawl coming from
elsewhere.

Control: ``GET/POST /_sandbox/config``, ``GET /_sandbox/log``,
``GET /_sandbox/state``, ``POST /_sandbox/reset``. Error injection rules
(``config["rules"]``), first match wins, each fires ``times`` times (-1 = always)::

    {"endpoint": "createTask", "sitekey": "6L…", "dialect": "capsolver", "error": "ERROR_ZERO_BALANCE",
     "http_status": 500, "body": "<html>garbage", "stall": 30, "reset": true, "times": 1}
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import random
import re
import secrets
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from . import dialects
from .dialects import DIALECTS, Dialect, Outcome, ParsedTask, Refusal
from .tokens import TokenAuthority, family_of

#: Codes whose errors a real service returns with HTTP 401 (capsolver) when the
#: ``http_status`` quirk is on; every other error gets 400.
_KEY_CODES = {"ERROR_KEY_DENIED_ACCESS", "ERROR_KEY_DOES_NOT_EXIST", "ERROR_WRONG_USER_KEY"}
_DESCRIPTIONS = {
    "ERROR_ZERO_BALANCE": "Insufficient account balance",
    "ERROR_KEY_DOES_NOT_EXIST": "client key error",
    "ERROR_KEY_DENIED_ACCESS": "client key error",
    "ERROR_TASK_NOT_SUPPORTED": "Task type not supported",
    "ERROR_TASKID_INVALID": "Task ID does not exist or has expired",
    "ERROR_NO_SUCH_CAPCHA_ID": "Task ID does not exist or has expired",
    "ERROR_REQUIRED_FIELDS": "Please check the field",
    "ERROR_RECAPTCHA_INVALID_SITEKEY": "Invalid target site SITEKEY",
}
#: A current desktop Chrome: what the emulated workers browse with unless the task names one.
SOLVER_USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/126.0.0.0 Safari/537.36")
_TOKEN_KINDS = {"recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise", "hcaptcha",
                "turnstile", "funcaptcha", "friendly_captcha", "mtcaptcha"}
_FIRST_IDS = {"anticaptcha": 71_000_000, "capmonster": 407_000_000, "2captcha": 80_000_000_000}


def default_config() -> dict[str, Any]:
    return {
        "latency": 1.0,  # seconds from createTask to ready
        "latency_range": None,  # [low, high]: each task takes a uniform draw instead
        "balance": 10.0,
        "cost": 0.002,
        "keys": {},  # api key -> error code returned for it (e.g. ERROR_KEY_BANNED)
        # Quirks of other dialects, for the root paths only: "idle", "string_numbers",
        # "http_status", "ready_on_create".
        "quirks": [],
        "rules": [],
        # The emulated workers' own address and browser (proxyless solves come from here).
        "solver_ip": "127.0.0.3",
        "solver_user_agent": SOLVER_USER_AGENT,
        "fetch_timeout": 5.0,
    }


@dataclass
class _Task:
    id: Any
    dialect: str
    parsed: ParsedTask
    sitekey: str | None
    hostname: str
    ready_at: float
    latency: float
    created: float = field(default_factory=time.time)
    finished_at: float | None = None
    solution: dict[str, Any] | None = None
    error: str | None = None  # an error *code*
    error_description: str = ""
    observation: asyncio.Task[Any] | None = None


@dataclass
class ServiceState:
    authority: TokenAuthority
    config: dict[str, Any] = field(default_factory=default_config)
    tasks: dict[tuple[str, Any], _Task] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    spent: float = 0.0
    ids: dict[str, itertools.count[int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.log:
            out[entry["endpoint"]] = out.get(entry["endpoint"], 0) + 1
        return out

    def next_id(self, dialect: Dialect) -> Any:
        if dialect.task_id != "int":
            return str(uuid.uuid4())
        counter = self.ids.setdefault(dialect.name, itertools.count(_FIRST_IDS.get(dialect.name, 1) +
                                                                    random.randrange(1000)))
        return next(counter)


# -- answers --------------------------------------------------------------------------


def _error(state: ServiceState, code: str, description: str | None = None, *, dialect: Dialect | None = None,
           on_create: bool = False) -> web.Response:
    dialect = dialect or DIALECTS["sandbox"]
    status = 200
    if dialect.http_errors or (dialect.name == "sandbox" and "http_status" in state.config["quirks"]):
        status = 401 if code in _KEY_CODES else 400
    body = dialects.error_body(dialect, code, description or _DESCRIPTIONS.get(code, code), on_create=on_create)
    return web.json_response(body, status=status)


def _refuse(state: ServiceState, dialect: Dialect, situation: str, description: str = "",
            on_create: bool = False) -> web.Response:
    return _error(state, dialect.codes[situation], description or None, dialect=dialect, on_create=on_create)


def _number(state: ServiceState, dialect: Dialect, value: float) -> Any:
    if dialect.name == "sandbox":
        return f"{value:.6g}" if "string_numbers" in state.config["quirks"] else value
    return value


async def _apply_rules(state: ServiceState, endpoint: str, sitekey: str | None, request: web.Request,
                       dialect: Dialect) -> web.StreamResponse | None:
    for rule in state.config["rules"]:
        if rule.get("times", 1) == 0:
            continue
        if rule.get("endpoint", "*") not in ("*", endpoint):
            continue
        if rule.get("sitekey") and rule["sitekey"] != sitekey:
            continue
        if rule.get("dialect") and rule["dialect"] != dialect.name:
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
            return _error(state, rule["error"], dialect=dialect, on_create=endpoint == "createTask")
        if rule.get("body") is not None or rule.get("http_status"):
            return web.Response(
                status=int(rule.get("http_status") or 200),
                text=rule.get("body") or "",
                content_type=rule.get("content_type", "text/html"),
            )
        return None
    return None


def _ready_body(state: ServiceState, dialect: Dialect, item: _Task) -> dict[str, Any]:
    cost = float(state.config["cost"])
    if dialect.name == "sandbox":
        return {"errorId": 0, "taskId": item.id, "status": "ready", "solution": item.solution,
                "cost": _number(state, dialect, cost)}
    if dialect.name in ("anticaptcha", "2captcha"):
        return {"errorId": 0, "status": "ready", "solution": item.solution, "cost": f"{cost:.5f}",
                "ip": "127.0.0.1", "createTime": int(item.created), "endTime": int(item.finished_at or time.time()),
                "solveCount": "1"}
    if dialect.name == "capsolver":
        return {"errorId": 0, "taskId": item.id, "status": "ready", "solution": item.solution}
    if dialect.name == "yescaptcha":
        return {"errorId": 0, "errorCode": "", "errorDescription": "", "taskId": item.id, "status": "ready",
                "solution": item.solution}
    return {"errorId": 0, "status": "ready", "solution": item.solution}


# -- the emulated worker ----------------------------------------------------------------


@dataclass
class _Seen:
    """What the site saw of the worker: its IP and user agent, and the gate its page showed."""

    ip: str
    user_agent: str
    gate: str | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _observe(state: ServiceState, item: _Task) -> _Seen | tuple[str, str]:
    """Visit the site the way the worker would: through the task's proxy, or from ``solver_ip``.

    Returns what the site saw, or ``(situation, description)`` when the visit failed.
    """
    parsed = item.parsed
    url = str(parsed.get("url") or "")
    user_agent = parsed.get("user_agent") or state.config["solver_user_agent"]
    proxy = parsed.proxy
    timeout = aiohttp.ClientTimeout(total=float(state.config["fetch_timeout"]))
    solver_ip = state.config.get("solver_ip")
    connector = aiohttp.TCPConnector(local_addr=(solver_ip, 0) if solver_ip else None, family=socket.AF_INET,
                                     force_close=True)
    kwargs: dict[str, Any] = {"headers": {"User-Agent": user_agent}, "allow_redirects": False}
    if proxy is not None:
        if proxy.scheme not in ("http", "https"):
            # Only an HTTP proxy runs on the sandbox's loopback: any other protocol fails to connect.
            return "proxy_refused", "could not connect to the proxy"
        kwargs["proxy"] = f"http://{proxy.host}:{proxy.port}"
        if proxy.login or proxy.password:
            credentials = f"{proxy.login or ''}:{proxy.password or ''}".encode()
            # For an http:// target aiohttp sends the request itself to the proxy: the header rides along
            # (the proxy strips it before forwarding).
            kwargs["headers"]["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            gate = None
            if parsed.kind == "antibot_cookie":
                async with session.get(url, **kwargs) as reply:
                    if reply.status == 407:
                        return "proxy_auth", "the proxy refused the credentials"
                    body = await reply.text(errors="replace")
                    if reply.headers.get("cf-mitigated", "").lower() == "challenge":
                        gate = "cf_clearance"
                    elif reply.headers.get("x-amzn-waf-action"):
                        gate = "aws-waf-token"
                    elif "captcha-delivery.com" in body:
                        gate = "datadome"
            async with session.get(_origin(url) + "/_sandbox/ip", **kwargs) as reply:
                if reply.status == 407:
                    return "proxy_auth", "the proxy refused the credentials"
                if reply.status != 200:
                    return ("proxy_refused" if proxy else "unsolvable"), f"the site answered HTTP {reply.status}"
                seen = await reply.json(content_type=None)
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError):
        return "proxy_refused", "could not connect to the proxy"
    except OSError as exc:
        if solver_ip and getattr(exc, "errno", None) == 99:  # EADDRNOTAVAIL: this system has no such loopback alias
            return "unsolvable", f"cannot send from solver_ip {solver_ip} here (configure solver_ip: null)"
        return ("proxy_refused" if proxy else "unsolvable"), "could not load the page"
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return ("proxy_refused" if proxy else "unsolvable"), "could not load the page"
    return _Seen(str(seen.get("ip", "")), str(seen.get("user_agent", "")), gate)


def _needs_observation(dialect: Dialect, parsed: ParsedTask) -> bool:
    if parsed.proxy is not None:
        return True
    if parsed.kind in ("cloudflare_clearance", "datadome", "antibot_cookie"):
        return True
    return parsed.kind == "aws_waf" and not dialects.voucher_mode(dialect, parsed)


def _decode_image(value: Any) -> bytes | str:
    if not isinstance(value, str) or not value:
        return "bad_image"
    if value.startswith("data:"):
        return "bad_image"  # the providers take bare base64 (anti-captcha: "no data: prefix")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "bad_image"


def name_returns_agent(dialect: Dialect) -> bool:
    """Whether the dialect's AWS WAF answer carries the user agent it was solved with."""
    return dialect.name != "capsolver"


def _solve(state: ServiceState, dialect: Dialect, item: _Task, seen: _Seen | None) -> Outcome | tuple[str, str]:
    """Mint what the task asks for, or ``(situation, description)``."""
    parsed, authority = item.parsed, state.authority
    kind = parsed.kind
    host = item.hostname
    user_agent = seen.user_agent if seen else (parsed.get("user_agent") or state.config["solver_user_agent"])
    ip = seen.ip if seen else str(state.config.get("solver_ip") or "127.0.0.1")
    outcome = Outcome(kind=kind, user_agent=user_agent, hostname=host, website_url=str(parsed.get("url") or ""))
    sitekey = parsed.get("sitekey")
    if kind in _TOKEN_KINDS:
        if not sitekey or not authority.knows(sitekey):
            # Workers cannot load a widget for a key the vendor does not know. Not charged.
            recaptcha = family_of(kind) == "recaptcha" or dialect.name == "sandbox"  # the first sandbox's answer
            return ("bad_sitekey" if recaptcha else "unsolvable"), "invalid sitekey"
        extra: dict[str, Any] = {}
        if kind == "funcaptcha":
            extra["blob"] = dialects.blob_of(parsed.get("blob"))
            extra["api_subdomain"] = parsed.get("api_subdomain") or "client-api.arkoselabs.com"
        score = 0.9 if kind.startswith("recaptcha_v3") else None
        outcome.token = authority.mint(sitekey, host, kind, parsed.get("action"), parsed.get("cdata"),
                                       parsed.get("chl_page_data"), user_agent=user_agent, score=score, **extra)
        if kind == "hcaptcha":
            outcome.respkey = "E0_" + secrets.token_urlsafe(24)
        return outcome
    if kind == "image":
        image = _decode_image(parsed.get("body"))
        if isinstance(image, str):
            return image, "body must be the image in base64, without a data: prefix"
        if len(image) < 100:
            return "small_image", "the image is smaller than 100 bytes"
        if len(image) > 500_000 or (dialect.name == "capmonster" and len(image) > 50_000):
            return "big_image", "the image is too big"
        text = authority.read_image(image)
        if text is None:
            return "unsolvable", "the workers could not read this image"
        outcome.text = text
        return outcome
    if kind == "geetest_v3":
        if not sitekey or not authority.knows(sitekey):
            return "unsolvable", "unknown gt"
        solved = authority.solve_geetest_v3(sitekey, str(parsed.get("challenge") or ""), host)
        if solved is None:
            return "stale", "the challenge is unknown, used or expired: fetch a fresh one"
        outcome.geetest = solved
        return outcome
    if kind == "geetest_v4":
        captcha_id = parsed.get("captcha_id") or sitekey
        if not captcha_id or not authority.knows(captcha_id):
            return "unsolvable", "unknown captcha_id"
        outcome.geetest = authority.mint_geetest_v4(captcha_id, host)
        return outcome
    if kind == "aws_waf":
        if not sitekey or not authority.knows(sitekey):
            return "unsolvable", "unknown AWS WAF key"
        context = parsed.get("context")
        if context is not None:
            issued = authority.lookup("aws", context)
            if issued is None or issued.data.get("key") != sitekey or issued.data.get("iv") != parsed.get("iv"):
                return "unsolvable", "timeout metering, your parameters have expired: send the page's iv and context"
        if dialects.voucher_mode(dialect, parsed):
            voucher, existing = secrets.token_urlsafe(40), secrets.token_urlsafe(24)
            authority.issue("voucher", voucher, host, existing_token=existing)
            outcome.voucher = (voucher, existing)
            return outcome
        # A dialect whose AWS task takes no user agent, and whose answer names none
        # (capsolver's cookie), cannot bind the token to one: a crawl could never match it.
        bound_agent = user_agent if parsed.get("user_agent") or name_returns_agent(dialect) else None
        outcome.cookie, outcome.cookie_value = "aws-waf-token", authority.mint_clearance("aws-waf-token", host, ip,
                                                                                        bound_agent)
        return outcome
    if kind == "datadome":
        found = _check_datadome(state, parsed, host)
        if found is not None:
            return found
        outcome.cookie, outcome.cookie_value = "datadome", authority.mint_clearance("datadome", host, ip, user_agent)
        return outcome
    if kind == "cloudflare_clearance":
        html = parsed.get("html")
        if parsed.get("html_b64") is not None:
            decoded = _decode_image(parsed.get("html_b64"))
            html = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else ""
        if html is not None and "_cf_chl_opt" not in html:
            return "unsolvable", "the page HTML sent is not a Cloudflare challenge page"
        outcome.cookie, outcome.cookie_value = "cf_clearance", authority.mint_clearance("cf_clearance", host, ip,
                                                                                       user_agent)
        return outcome
    if kind == "antibot_cookie":
        if seen is None or seen.gate is None:
            return "unsolvable", "the page shows no anti-bot screen"
        outcome.cookie, outcome.cookie_value = seen.gate, authority.mint_clearance(seen.gate, host, ip, user_agent)
        return outcome
    return "not_supported", kind


def _check_datadome(state: ServiceState, parsed: ParsedTask, host: str) -> tuple[str, str] | None:
    captcha_url = str(parsed.get("captcha_url") or "")
    parts = urlsplit(captcha_url)
    if parts.hostname != "geo.captcha-delivery.com" or not parts.path.startswith("/captcha"):
        return "invalid", "captchaUrl must be the geo.captcha-delivery.com/captcha/ URL the page builds"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if query.get("t") == "bv":
        return "unsolvable", "t=bv: the IP is banned; change the proxy"
    issued = state.authority.lookup("datadome", query.get("initialCid", ""))
    if issued is None or issued.hostname != host:
        return "unsolvable", "initialCid is not one the site issued"
    if query.get("cid") != issued.data.get("cookie") or query.get("hash") != issued.data.get("hsh"):
        return "unsolvable", "cid/hash do not match the page's datadome cookie and dd object"
    cookie = parsed.get("datadome_cookie")
    if cookie is not None and cookie.split("=", 1)[-1] != issued.data.get("cookie"):
        return "unsolvable", "datadomeCookie is not the cookie the site set"
    return None


async def _finish(state: ServiceState, dialect: Dialect, item: _Task) -> None:
    """Complete a task once: mint what it asks for and charge for it."""
    if item.solution is not None or item.error is not None:
        return
    seen: _Seen | None = None
    if item.observation is not None:
        result = await item.observation
        if isinstance(result, tuple):
            item.error, item.error_description = dialect.codes[result[0]], result[1]
            item.finished_at = time.time()
            return
        seen = result
    outcome = _solve(state, dialect, item, seen)
    item.finished_at = time.time()
    if isinstance(outcome, tuple):
        item.error, item.error_description = dialect.codes.get(outcome[0], outcome[0]), outcome[1]
        return
    cost = float(state.config["cost"])
    if state.config["balance"] < cost:
        item.error = "ERROR_ZERO_BALANCE"
        return
    state.config["balance"] = round(state.config["balance"] - cost, 6)
    state.spent += cost
    item.solution = dialects.solution(dialect, outcome, item.parsed)


# -- the app ------------------------------------------------------------------------------


def build_app(state: ServiceState) -> web.Application:
    async def read(request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.read())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def record(endpoint: str, **extra: Any) -> dict[str, Any]:
        entry = {"t": time.time(), "endpoint": endpoint, **extra}
        state.log.append(entry)
        return entry

    def check_key(dialect: Dialect, data: dict[str, Any], on_create: bool = False) -> web.Response | None:
        key = data.get("clientKey")
        if not isinstance(key, str) or not key:
            return _refuse(state, dialect, "bad_key", on_create=on_create)
        code = state.config["keys"].get(key)
        return _error(state, code, dialect=dialect, on_create=on_create) if code else None

    def dialect_of(request: web.Request) -> Dialect:
        return DIALECTS[request.match_info.get("provider", "sandbox")]

    async def create_task(request: web.Request) -> web.StreamResponse:
        dialect = dialect_of(request)
        data = await read(request)
        task = (data or {}).get("task")
        sitekey = task.get("websiteKey") if isinstance(task, dict) else None
        entry = record("createTask", sitekey=sitekey, dialect=dialect.name, task=dialects.masked_task(task),
                       extras={k: v for k, v in (data or {}).items() if k not in ("clientKey", "task")})
        injected = await _apply_rules(state, "createTask", sitekey, request, dialect)
        if injected is not None:
            return injected
        if data is None:
            return _refuse(state, dialect, "bad_request", "the body is not a JSON object", on_create=True)
        refused = check_key(dialect, data, on_create=True)
        if refused is not None:
            return refused
        parsed = dialects.validate(dialect, data)
        if isinstance(parsed, Refusal):
            entry.update(refused=dialect.codes[parsed.situation])
            return _refuse(state, dialect, parsed.situation, parsed.description, on_create=True)
        if state.config["balance"] < state.config["cost"]:
            return _error(state, "ERROR_ZERO_BALANCE", dialect=dialect, on_create=True)
        spread = state.config.get("latency_range")
        latency = random.uniform(*map(float, spread)) if spread else float(state.config["latency"])
        url = parsed.get("url")
        item = _Task(id=state.next_id(dialect), dialect=dialect.name, parsed=parsed,
                     sitekey=parsed.get("sitekey") or parsed.get("captcha_id"),
                     hostname=(urlsplit(url).hostname or "") if isinstance(url, str) else "",
                     ready_at=time.monotonic() + latency, latency=latency)
        if _needs_observation(dialect, parsed):
            item.observation = asyncio.ensure_future(_observe(state, item))
        state.tasks[(dialect.name, item.id)] = item
        entry.update(taskId=item.id, latency=latency, kind=parsed.kind, proxy=parsed.proxy is not None)
        if parsed.schema.sync or (dialect.name == "sandbox" and "ready_on_create" in state.config["quirks"]):
            await _finish(state, dialect, item)
            if item.error:
                return _error(state, item.error, item.error_description, dialect=dialect, on_create=True)
            return web.json_response(_ready_body(state, dialect, item))
        if dialect.name == "capsolver":
            return web.json_response({"errorId": 0, "status": "idle", "taskId": item.id})
        if dialect.name == "yescaptcha":
            return web.json_response({"errorId": 0, "errorCode": "", "errorDescription": "", "taskId": item.id})
        return web.json_response({"errorId": 0, "taskId": item.id})

    def find(dialect: Dialect, task_id: Any) -> _Task | None:
        # The id must come back with its JSON type: an int dialect does not know "123".
        if dialect.task_id == "int" and (not isinstance(task_id, int) or isinstance(task_id, bool)):
            return None
        if dialect.task_id != "int" and not isinstance(task_id, str):
            return None
        return state.tasks.get((dialect.name, task_id))

    async def get_task_result(request: web.Request) -> web.StreamResponse:
        dialect = dialect_of(request)
        data = await read(request)
        task_id = (data or {}).get("taskId")
        item = find(dialect, task_id)
        record("getTaskResult", taskId=task_id, dialect=dialect.name)
        injected = await _apply_rules(state, "getTaskResult", item.sitekey if item else None, request, dialect)
        if injected is not None:
            return injected
        if data is None:
            return _refuse(state, dialect, "bad_request", "the body is not a JSON object")
        refused = check_key(dialect, data)
        if refused is not None:
            return refused
        if item is None:
            return _refuse(state, dialect, "no_task")
        now = time.monotonic()
        observing = item.observation is not None and not item.observation.done()
        if now < item.ready_at or observing:
            if dialect.name == "sandbox":
                early = "idle" in state.config["quirks"] and item.ready_at - now > float(state.config["latency"]) / 2
            else:
                early = dialect.idle and item.ready_at - now > item.latency / 2
            return web.json_response({"errorId": 0, "status": "idle" if early else "processing"})
        await _finish(state, dialect, item)
        if item.error:
            return _error(state, item.error, item.error_description or None, dialect=dialect)
        return web.json_response(_ready_body(state, dialect, item))

    async def get_balance(request: web.Request) -> web.StreamResponse:
        dialect = dialect_of(request)
        data = await read(request)
        record("getBalance", dialect=dialect.name)
        injected = await _apply_rules(state, "getBalance", None, request, dialect)
        if injected is not None:
            return injected
        if data is None:
            return _refuse(state, dialect, "bad_request", "the body is not a JSON object")
        refused = check_key(dialect, data)
        if refused is not None:
            return refused
        body: dict[str, Any] = {"errorId": 0, "balance": _number(state, dialect, state.config["balance"])}
        if dialect.name == "anticaptcha":
            body["captchaCredits"] = 0
        elif dialect.name == "capsolver":
            body["packages"] = []
        return web.json_response(body)

    async def report(request: web.Request) -> web.Response:
        dialect = dialect_of(request)
        path = "/" + request.path.rstrip("/").rsplit("/", 1)[-1]
        families, style = dialect.reports[path]
        data = await read(request)
        entry = record("report", dialect=dialect.name, path=path)
        if style == "any":
            return web.json_response({"errorId": 0, "status": "success"})
        if data is None:
            return _refuse(state, dialect, "bad_request", "the body is not a JSON object")
        refused = check_key(dialect, data)
        if refused is not None:
            return refused
        item = find(dialect, data.get("taskId"))
        if item is None:
            return _refuse(state, dialect, "no_task")
        entry.update(taskId=item.id, kind=item.parsed.kind)
        if style == "feedback":
            result = data.get("result")
            if not isinstance(result, dict) or not isinstance(result.get("invalid"), bool):
                return _refuse(state, dialect, "invalid", "result: {invalid: true|false} is required")
        if "*" not in families and dialects.report_family(item.parsed.kind) not in families:
            entry.update(refused=True)
            return _refuse(state, dialect, "no_report", f"{path} does not take {item.parsed.kind} tasks")
        window = dialect.report_window
        if window is not None and (item.finished_at is None or time.time() - item.finished_at > window):
            entry.update(refused=True)
            return _refuse(state, dialect, "no_task", f"reports are taken within {window:.0f} s of the result")
        return web.json_response({"errorId": 0, "status": "success"})

    async def not_found(request: web.Request) -> web.Response:
        # What the real services answer for a wrong path or a GET.
        dialect = dialect_of(request) if request.match_info.get("provider") in DIALECTS else DIALECTS["sandbox"]
        return _refuse(state, dialect, "wrong_method" if request.method != "POST" else "not_found")

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
        by_dialect: dict[str, int] = {}
        for entry in state.log:
            if entry["endpoint"] == "createTask":
                by_dialect[entry.get("dialect", "sandbox")] = by_dialect.get(entry.get("dialect", "sandbox"), 0) + 1
        return web.json_response(
            {
                "balance": state.config["balance"],
                "spent": round(state.spent, 6),
                "tasks": len(state.tasks),
                "calls": state.counts(),
                "created_by_dialect": by_dialect,
                "verified": state.authority.verified,
                "refused": state.authority.refused,
            }
        )

    async def control_reset(request: web.Request) -> web.Response:
        update = await read(request) or {}
        state.config = {**default_config(), **update}
        for item in state.tasks.values():
            if item.observation is not None:
                item.observation.cancel()
        state.tasks.clear()
        state.log.clear()
        state.spent = 0.0
        state.authority.reset()
        return web.json_response(state.config)

    async def cleanup(app: web.Application) -> None:
        for item in state.tasks.values():
            if item.observation is not None and not item.observation.done():
                item.observation.cancel()

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.on_cleanup.append(cleanup)
    app.router.add_post("/createTask", create_task)
    app.router.add_post("/getTaskResult", get_task_result)
    app.router.add_post("/getBalance", get_balance)
    for path in DIALECTS["sandbox"].reports:
        app.router.add_post(path, report)
    providers = "|".join(re.escape(name) for name in DIALECTS if name != "sandbox")
    prefix = "/{provider:" + providers + "}"
    app.router.add_post(prefix + "/createTask", create_task)
    app.router.add_post(prefix + "/getTaskResult", get_task_result)
    app.router.add_post(prefix + "/getBalance", get_balance)
    for name, dialect in DIALECTS.items():
        if name != "sandbox":
            for path in dialect.reports:
                app.router.add_post("/{provider:" + re.escape(name) + "}" + path, report)
    app.router.add_post("/recaptcha/api/siteverify", siteverify)
    app.router.add_route("*", "/_sandbox/config", control_config)
    app.router.add_get("/_sandbox/log", control_log)
    app.router.add_get("/_sandbox/state", control_state)
    app.router.add_post("/_sandbox/reset", control_reset)
    app.router.add_route("*", prefix + "/{tail:.*}", not_found)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


__all__ = ["ServiceState", "build_app", "default_config", "SOLVER_USER_AGENT"]
