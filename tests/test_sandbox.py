"""The sandbox emulates the providers strictly and verifies every kind like the real vendors do.

Plain aiohttp clients against the real sandbox servers and proxy on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import html
import inspect
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
import pytest_twisted
from yarl import URL

from scrapy_captcha.sandbox import DEMO_SITEKEY, LoopbackProxy, Sandbox, dialects, kinds
from scrapy_captcha.sandbox.tokens import (
    DEMO_CF_CHALLENGE_SITEKEY,
    DEMO_GEETEST_CAPTCHA_ID,
    DEMO_SECRET,
    DEMO_TURNSTILE_SITEKEY,
    DEMO_V3_ENTERPRISE_SITEKEY,
    DEMO_V3_SITEKEY,
    TokenAuthority,
)

from .crawling import aio

KEY = "test-client-key-123"
LOGIN, PASSWORD = "crawler", "pr0xy-S3CRET-pass"
UA = "Mozilla/5.0 (X11; Linux x86_64) SandboxCrawl/1.0"


def _loopback_alias_works() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


needs_aliases = pytest.mark.skipif(not _loopback_alias_works(), reason="127.0.0.2 is not routed to lo here")


def sandboxed(**options: Any) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """Run the test coroutine with a fresh sandbox (service latency 0) and a client as first argument."""
    config = {"latency": 0.0, **options.pop("service_config", {})}

    def wrap(test: Callable[..., Awaitable[Any]]) -> Any:
        async def runner(*args: Any, **kwargs: Any) -> Any:
            async def go() -> Any:
                async with (
                    Sandbox(service_port=0, site_port=0, service_config=dict(config), **options) as box,
                    aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
                ):
                    return await test(Client(box, http), *args, **kwargs)
            return await aio(go())

        functools.update_wrapper(runner, test)
        signature = inspect.signature(test)
        # pytest must not look for a fixture named after the client argument.
        runner.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore
        return pytest_twisted.ensureDeferred(runner)
    return wrap


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


class Client:
    def __init__(self, box: Sandbox, http: aiohttp.ClientSession):
        self.box, self.http = box, http
        self.bodies: list[str] = []  # every service answer, to check no secret leaks

    async def post(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.box.service_url + path, json=body) as reply:
            text = await reply.text()
            self.bodies.append(text)
            return reply.status, json.loads(text)

    async def create(self, provider: str, task: dict[str, Any], **extra: Any) -> tuple[int, dict[str, Any]]:
        prefix = "" if provider == "sandbox" else "/" + provider
        return await self.post(prefix + "/createTask", {"clientKey": KEY, "task": task, **extra})

    async def result(self, provider: str, task: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """createTask, then poll until ready or failed: the final body."""
        _, created = await self.create(provider, task, **extra)
        if created.get("errorId") or created.get("status") == "ready":
            return created
        prefix = "" if provider == "sandbox" else "/" + provider
        for _ in range(200):
            _, body = await self.post(prefix + "/getTaskResult", {"clientKey": KEY, "taskId": created["taskId"]})
            if body.get("errorId") or body.get("status") == "ready":
                return {**body, "taskId": created["taskId"]}
            await asyncio.sleep(0.02)
        raise AssertionError("task never finished")

    async def solve(self, provider: str, task: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = await self.result(provider, task, **extra)
        assert body.get("errorId") == 0, body
        return body["solution"]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return self.box.site_url.replace("127.0.0.1", host) + path

    async def get(self, path: str, *, via_proxy: bool = False, ua: str = UA, host: str = "127.0.0.1",
                  cookies: dict[str, str] | None = None) -> tuple[int, str, Any]:
        kwargs: dict[str, Any] = {"headers": {"User-Agent": ua}, "allow_redirects": False}
        if via_proxy:
            kwargs.update(proxy=self.box.proxy_url)
            kwargs["headers"]["Proxy-Authorization"] = basic(LOGIN, PASSWORD)
        if cookies:
            kwargs["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        async with self.http.get(self.url(path, host), **kwargs) as reply:
            return reply.status, await reply.text(), reply.headers

    async def post_form(self, url: str, form: dict[str, str], *, ua: str = UA, via_proxy: bool = False,
                        cookies: dict[str, str] | None = None) -> tuple[int, str, Any]:
        kwargs: dict[str, Any] = {"headers": {"User-Agent": ua}, "allow_redirects": False, "data": form}
        if via_proxy:
            kwargs.update(proxy=self.box.proxy_url)
            kwargs["headers"]["Proxy-Authorization"] = basic(LOGIN, PASSWORD)
        if cookies:
            kwargs["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        async with self.http.post(url, **kwargs) as reply:
            return reply.status, await reply.text(), reply.headers

    async def kinds_log(self) -> list[dict[str, Any]]:
        async with self.http.get(self.box.site_url + "/_sandbox/kinds/log") as reply:
            return await reply.json()

    async def service_log(self) -> list[dict[str, Any]]:
        async with self.http.get(self.box.service_url + "/_sandbox/log") as reply:
            return await reply.json()

    def proxy_task(self, **extra: Any) -> dict[str, Any]:
        assert self.box.proxy is not None
        return {"proxyType": "http", "proxyAddress": "127.0.0.1", "proxyPort": self.box.proxy.port,
                "proxyLogin": LOGIN, "proxyPassword": PASSWORD, **extra}

    def proxy_string(self) -> str:
        assert self.box.proxy is not None
        return f"127.0.0.1:{self.box.proxy.port}:{LOGIN}:{PASSWORD}"


def js_value(text: str, name: str) -> str:
    match = re.search(rf"""{name}\s*[:=]\s*['"]([^'"]+)['"]""", text)
    assert match, name
    return match.group(1)


def form_action(text: str) -> str:
    match = re.search(r'<form id="challenge-form" action="([^"]+)"', text)
    assert match
    return match.group(1).replace("&amp;", "&")


# -- tokens (unit) ---------------------------------------------------------------------------------


def test_tokens_are_single_use():
    authority = TokenAuthority()
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["success"] is True
    again = authority.siteverify(DEMO_SECRET, token, "127.0.0.1")
    assert again == {"success": False, "error-codes": ["timeout-or-duplicate"]}


def test_tokens_are_bound_to_the_host_the_sitekey_and_the_kind():
    authority = TokenAuthority(keys={DEMO_SITEKEY: DEMO_SECRET, "6Lother": "other-secret"})
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "localhost")["error-codes"] == ["hostname-mismatch"]
    token = authority.mint("6Lother", "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["error-codes"] == ["invalid-input-secret"]
    assert authority.siteverify(DEMO_SECRET, "made-up", "127.0.0.1")["error-codes"] == ["invalid-input-response"]
    assert authority.siteverify(DEMO_SECRET, "", "127.0.0.1")["error-codes"] == ["missing-input-response"]
    v3 = authority.mint(DEMO_SITEKEY, "127.0.0.1", "recaptcha_v3")
    assert authority.siteverify(DEMO_SECRET, v3, "127.0.0.1", kind="recaptcha_v3_enterprise")["success"] is False
    v3 = authority.mint(DEMO_SITEKEY, "127.0.0.1", "recaptcha_v3")
    assert authority.siteverify(DEMO_SECRET, v3, "127.0.0.1", kind="recaptcha")["success"] is True


@pytest.mark.parametrize("kind, ttl", [("recaptcha_v2", 120), ("hcaptcha", 120), ("turnstile", 300)])
def test_tokens_expire(monkeypatch, kind, ttl):
    authority = TokenAuthority()
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1", kind)
    kept = authority.mint(DEMO_SITEKEY, "127.0.0.1", kind)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + ttl - 5)
    assert authority.siteverify(DEMO_SECRET, kept, "127.0.0.1")["success"] is True
    monkeypatch.setattr(time, "monotonic", lambda: now + ttl + 1)
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["success"] is False


def test_clearances_are_bound_to_host_ip_and_user_agent(monkeypatch):
    authority = TokenAuthority()
    value = authority.mint_clearance("cf_clearance", "127.0.0.1", "127.0.0.2", UA)
    assert authority.check_clearance("cf_clearance", value, "127.0.0.1", "127.0.0.2", UA) is None
    # Reusable: clearances are cookies, not single-use tokens.
    assert authority.check_clearance("cf_clearance", value, "127.0.0.1", "127.0.0.2", UA) is None
    assert authority.check_clearance("cf_clearance", value, "127.0.0.1", "127.0.0.1", UA) == "ip-mismatch"
    assert authority.check_clearance("cf_clearance", value, "127.0.0.1", "127.0.0.2", "curl/8") == \
        "user-agent-mismatch"
    assert authority.check_clearance("cf_clearance", value, "localhost", "127.0.0.2", UA) == "hostname-mismatch"
    assert authority.check_clearance("datadome", value, "127.0.0.1", "127.0.0.2", UA) == "unknown-clearance"
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 1801)
    assert authority.check_clearance("cf_clearance", value, "127.0.0.1", "127.0.0.2", UA) == "expired"


def test_images_are_real_pngs_the_worker_reads_by_their_bytes():
    first, second = kinds.render_png("A7K3X"), kinds.render_png("A7K3X")
    assert first.startswith(b"\x89PNG\r\n\x1a\n") and len(first) > 100
    assert first != second  # fresh noise each time: only the image served can be read
    authority = TokenAuthority()
    authority.register_image(first, "A7K3X")
    assert authority.read_image(first) == "A7K3X" and authority.read_image(second) is None


def test_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        LoopbackProxy(host="0.0.0.0")


def test_the_schema_table_cites_a_source_for_every_row():
    rows = dialects.table()
    assert {row["dialect"] for row in rows} == {"yescaptcha", "capsolver", "anticaptcha", "2captcha", "capmonster"}
    assert all(row["source"] for row in rows)
    # The schemas are the emulator's own: nothing imported from the client's presets.
    from pathlib import Path

    for module in Path(dialects.__file__).parent.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+[.\w]*service\b", module.read_text(), re.M), module


# -- the first sandbox's behaviour, unchanged -------------------------------------------------------


@sandboxed()
async def test_gate_verify_and_session_over_http(c: Client):
    status, gate, _ = await c.get("/item/3")
    assert status == 403 and 'class="g-recaptcha"' in gate and DEMO_SITEKEY in gate
    solution = await c.solve("sandbox", {"type": "NoCaptchaTaskProxyless", "websiteKey": DEMO_SITEKEY,
                                         "websiteURL": c.url("/item/3")})
    form = {"g-recaptcha-response": solution["gRecaptchaResponse"], "continue": "/item/3"}
    status, _, headers = await c.post_form(c.url("/captcha/verify"), form)
    assert (status, headers.get("Location")) == (302, "/item/3")
    status, page, _ = await c.get("/item/3")
    assert status == 200 and "Sandbox item 003" in page
    status, _, _ = await c.post_form(c.url("/captcha/verify"), form)
    assert status == 403  # the same token twice: refused
    async with c.http.get(c.box.service_url + "/createTask") as reply:
        assert (await reply.json())["errorCode"] == "ERROR_NO_SUCH_METHOD"
    assert c.box.service_state.spent == pytest.approx(0.002)


# -- strict dialects ----------------------------------------------------------------------------------

ERROR_FORMS = {
    # provider: (HTTP status, errorId) for ERROR_TASK_NOT_SUPPORTED
    "yescaptcha": (200, 1), "capsolver": (400, 1), "anticaptcha": (200, 23), "2captcha": (200, 23),
    "capmonster": (200, 1),
}


@pytest.mark.parametrize("provider", sorted(ERROR_FORMS))
@sandboxed()
async def test_unknown_task_type_is_refused_in_the_providers_form(c: Client, provider: str):
    status, body = await c.create(provider, {"type": "RecaptchaV9TaskProxyless", "websiteURL": c.url("/"),
                                             "websiteKey": DEMO_SITEKEY})
    assert (status, body["errorId"], body["errorCode"]) == (*ERROR_FORMS[provider], "ERROR_TASK_NOT_SUPPORTED")
    assert ("taskId" in body) is (provider == "capmonster") and body.get("taskId", 0) == 0


@pytest.mark.parametrize("provider, task_type, code, error_id", [
    ("yescaptcha", "TurnstileTaskProxyless", "ERROR_REQUIRED_FIELDS", 1),
    ("capsolver", "AntiTurnstileTaskProxyLess", "ERROR_INVALID_TASK_DATA", 1),
    ("anticaptcha", "TurnstileTaskProxyless", "ERROR_INCORRECT_SESSION_DATA", 24),
    ("2captcha", "TurnstileTaskProxyless", "ERROR_BAD_PARAMETERS", 110),
    ("capmonster", "TurnstileTaskProxyless", "ERROR_TASK_ABSENT", 1),
])
@sandboxed()
async def test_a_missing_required_field_gets_the_providers_error(c: Client, provider, task_type, code, error_id):
    status, body = await c.create(provider, {"type": task_type, "websiteURL": c.url("/")})
    assert (body["errorCode"], body["errorId"]) == (code, error_id)
    assert status == (400 if provider == "capsolver" else 200)


@pytest.mark.parametrize("provider, task, code", [
    # The issue's case: 2captcha names cData "data"; sending anti-captcha's name loses it silently there.
    ("2captcha", {"type": "TurnstileTaskProxyless", "cData": "c-1"}, "ERROR_BAD_PARAMETERS"),
    ("2captcha", {"type": "TurnstileTaskProxyless", "chlPageData": "pd"}, "ERROR_BAD_PARAMETERS"),
    ("anticaptcha", {"type": "TurnstileTaskProxyless", "data": "c-1"}, "ERROR_INCORRECT_SESSION_DATA"),
    ("capsolver", {"type": "AntiTurnstileTaskProxyLess", "action": "login"}, "ERROR_INVALID_TASK_DATA"),
    ("capsolver", {"type": "AntiTurnstileTaskProxyLess", "metadata": {"chlPageData": "x"}},
     "ERROR_INVALID_TASK_DATA"),
    ("yescaptcha", {"type": "TurnstileTaskProxyless", "action": "login"}, "ERROR_REQUIRED_FIELDS"),
    ("capmonster", {"type": "TurnstileTaskProxyless", "cData": "c-1"}, "ERROR_TASK_ABSENT"),
])
@sandboxed()
async def test_a_field_the_provider_does_not_take_is_refused(c: Client, provider, task, code):
    key = DEMO_TURNSTILE_SITEKEY
    _, body = await c.create(provider, {"websiteURL": c.url("/"), "websiteKey": key, **task})
    assert body["errorCode"] == code, body


@sandboxed()
async def test_the_issues_other_shapes_are_caught(c: Client):
    url, key = c.url("/"), DEMO_SITEKEY
    # anti-captcha's apiDomain takes www.google.com or www.recaptcha.net, not the page's bare host.
    _, body = await c.create("anticaptcha", {"type": "RecaptchaV2EnterpriseTaskProxyless", "websiteURL": url,
                                             "websiteKey": key, "apiDomain": "recaptcha.net"})
    assert body["errorCode"] == "ERROR_INCORRECT_SESSION_DATA" and "apiDomain" in body["errorDescription"]
    _, body = await c.create("anticaptcha", {"type": "RecaptchaV2EnterpriseTaskProxyless", "websiteURL": url,
                                             "websiteKey": key, "apiDomain": "www.recaptcha.net"})
    assert body["errorId"] == 0 and isinstance(body["taskId"], int)
    # anti-captcha's v3 needs minScore; capsolver's takes no isEnterprise (its Enterprise is a type).
    _, body = await c.create("anticaptcha", {"type": "RecaptchaV3TaskProxyless", "websiteURL": url,
                                             "websiteKey": key, "pageAction": "login"})
    assert body["errorCode"] == "ERROR_INCORRECT_SESSION_DATA" and "minScore" in body["errorDescription"]
    _, body = await c.create("capsolver", {"type": "ReCaptchaV3TaskProxyLess", "websiteURL": url,
                                           "websiteKey": key, "isEnterprise": True})
    assert body["errorCode"] == "ERROR_INVALID_TASK_DATA"
    # softId belongs to capmonster's body, appId to capsolver's only.
    _, body = await c.create("capmonster", {"type": "RecaptchaV3TaskProxyless", "websiteURL": url,
                                            "websiteKey": key}, softId=12345)
    assert body["errorId"] == 0
    _, body = await c.create("capmonster", {"type": "RecaptchaV3TaskProxyless", "websiteURL": url,
                                            "websiteKey": key}, appId="X")
    assert body["errorCode"] == "ERROR_TASK_ABSENT"
    # capmonster's Cloudflare modes need their fields.
    _, body = await c.create("capmonster", {"type": "TurnstileTaskProxyless", "websiteURL": url, "websiteKey": key,
                                            "cloudflareTaskType": "token", "userAgent": UA, "pageAction": "managed"})
    assert body["errorCode"] == "ERROR_TASK_ABSENT" and "pageData" in body["errorDescription"]


@pytest.mark.parametrize("provider, task, code", [
    ("anticaptcha", {"type": "RecaptchaV2Task"}, "ERROR_INCORRECT_SESSION_DATA"),
    ("capmonster", {"type": "FunCaptchaTask", "websitePublicKey": "K"}, "ERROR_PROXY_MISSING"),
    ("2captcha", {"type": "TurnstileTask"}, "ERROR_BAD_PARAMETERS"),
    ("capsolver", {"type": "AntiCloudflareTask"}, "ERROR_INVALID_TASK_DATA"),
    # proxyless types take no proxy
    ("anticaptcha", {"type": "RecaptchaV2TaskProxyless", "proxyType": "http", "proxyAddress": "127.0.0.1",
                     "proxyPort": 8080}, "ERROR_INCORRECT_SESSION_DATA"),
    # proxy fields must be valid
    ("anticaptcha", {"type": "RecaptchaV2Task", "proxyType": "ftp", "proxyAddress": "127.0.0.1",
                     "proxyPort": 8080}, "ERROR_INCORRECT_SESSION_DATA"),
    ("2captcha", {"type": "TurnstileTask", "proxyType": "http", "proxyAddress": "127.0.0.1",
                  "proxyPort": "8080"}, "ERROR_BAD_PARAMETERS"),
    ("capsolver", {"type": "AntiCloudflareTask", "proxy": "not a proxy"}, "ERROR_INVALID_TASK_DATA"),
    ("yescaptcha", {"type": "CloudFlareTaskS2", "proxyType": "http", "proxyAddress": "127.0.0.1",
                    "proxyPort": 8080}, "ERROR_REQUIRED_FIELDS"),
])
@sandboxed()
async def test_proxy_task_types_require_valid_proxy_fields(c: Client, provider, task, code):
    base = {"websiteURL": c.url("/")} if "websitePublicKey" in task else \
        {"websiteURL": c.url("/"), "websiteKey": DEMO_TURNSTILE_SITEKEY}
    _, body = await c.create(provider, {**base, **task})
    assert body["errorCode"] == code, body


@sandboxed()
async def test_task_ids_keep_each_providers_json_type(c: Client):
    task = {"type": "RecaptchaV2TaskProxyless", "websiteURL": c.url("/"), "websiteKey": DEMO_SITEKEY}
    ids = {}
    for provider in ("anticaptcha", "2captcha", "capmonster"):
        ids[provider] = (await c.create(provider, task))[1]["taskId"]
        assert type(ids[provider]) is int
        _, body = await c.post(f"/{provider}/getTaskResult", {"clientKey": KEY, "taskId": str(ids[provider])})
        assert body["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"  # "123" is not 123
    assert ids["2captcha"] > 2 ** 32
    for provider, task in (("capsolver", {"type": "ReCaptchaV2TaskProxyLess"}),
                           ("yescaptcha", {"type": "NoCaptchaTaskProxyless"})):
        _, body = await c.create(provider, {**task, "websiteURL": c.url("/"), "websiteKey": DEMO_SITEKEY})
        assert isinstance(body["taskId"], str) and len(body["taskId"]) == 36
    _, body = await c.post("/capsolver/getTaskResult", {"clientKey": KEY, "taskId": 1})
    assert body["errorCode"] == "ERROR_TASKID_INVALID"
    # A task is known only to the dialect that created it.
    _, body = await c.post("/2captcha/getTaskResult", {"clientKey": KEY, "taskId": ids["anticaptcha"]})
    assert body["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"


@sandboxed(service_config={"latency": 0.6})
async def test_capsolver_reports_idle_then_processing_and_answers_images_at_once(c: Client):
    _, created = await c.create("capsolver", {"type": "ReCaptchaV2TaskProxyLess", "websiteURL": c.url("/"),
                                              "websiteKey": DEMO_SITEKEY})
    assert created["status"] == "idle"
    statuses = []
    for _ in range(60):
        _, body = await c.post("/capsolver/getTaskResult", {"clientKey": KEY, "taskId": created["taskId"]})
        statuses.append(body["status"])
        if body["status"] == "ready":
            break
        await asyncio.sleep(0.05)
    assert statuses[0] == "idle" and "processing" in statuses and statuses[-1] == "ready"
    await c.get("/challenge/image/1")
    async with c.http.get(c.url("/challenge/image/captcha.png")) as reply:
        image = await reply.read()
    _, body = await c.create("capsolver", {"type": "ImageToTextTask", "body": base64.b64encode(image).decode()})
    assert body["status"] == "ready" and re.fullmatch(r"[A-Z0-9]{5}", body["solution"]["text"])


@sandboxed()
async def test_keys_and_wrong_paths_in_each_dialect(c: Client):
    status, body = await c.post("/capsolver/getBalance", {"clientKey": ""})
    assert (status, body["errorCode"]) == (401, "ERROR_KEY_DENIED_ACCESS")
    status, body = await c.post("/anticaptcha/getBalance", {"clientKey": KEY})
    assert status == 200 and body["errorId"] == 0 and "captchaCredits" in body
    status, body = await c.post("/anticaptcha/getBalance", {})
    assert (body["errorId"], body["errorCode"]) == (1, "ERROR_KEY_DOES_NOT_EXIST")
    async with c.http.get(c.box.service_url + "/capmonster/createTask") as reply:
        assert (await reply.json())["errorCode"] == "ERROR_NO_SUCH_METHOD"
    status, body = await c.post("/yescaptcha/reportIncorrect", {"clientKey": KEY, "taskId": "x"})
    assert body["errorCode"] == "ERROR_PAGE_NOT_FOUND"  # yescaptcha documents no report endpoint


@sandboxed()
async def test_reports_go_to_the_endpoint_of_the_kind(c: Client):
    recaptcha = {"type": "RecaptchaV2TaskProxyless", "websiteURL": c.url("/"), "websiteKey": DEMO_SITEKEY}
    turnstile = {"type": "TurnstileTaskProxyless", "websiteURL": c.url("/"), "websiteKey": DEMO_TURNSTILE_SITEKEY}
    done = (await c.result("anticaptcha", recaptcha))["taskId"]
    _, body = await c.post("/anticaptcha/reportIncorrectRecaptcha", {"clientKey": KEY, "taskId": done})
    assert body == {"errorId": 0, "status": "success"}
    turnstile_id = (await c.result("anticaptcha", turnstile))["taskId"]
    _, body = await c.post("/anticaptcha/reportIncorrectRecaptcha", {"clientKey": KEY, "taskId": turnstile_id})
    assert body["errorId"] != 0 and "turnstile" in body["errorDescription"]  # Turnstile has none there
    _, body = await c.post("/anticaptcha/reportIncorrectHcaptcha", {"clientKey": KEY, "taskId": done})
    assert body["errorId"] != 0
    cm = (await c.result("capmonster", {**turnstile}))["taskId"]
    _, body = await c.post("/capmonster/reportIncorrectTokenCaptcha", {"clientKey": KEY, "taskId": cm})
    assert body["errorId"] == 0
    _, body = await c.post("/capmonster/reportIncorrectImageCaptcha", {"clientKey": KEY, "taskId": cm})
    assert body["errorId"] != 0
    cs = (await c.result("capsolver", {**recaptcha, "type": "ReCaptchaV2TaskProxyLess"}))["taskId"]
    _, body = await c.post("/capsolver/feedbackTask", {"clientKey": KEY, "taskId": cs})
    assert body["errorCode"] == "ERROR_INVALID_TASK_DATA"
    _, body = await c.post("/capsolver/feedbackTask", {"clientKey": KEY, "taskId": cs, "result": {"invalid": True}})
    assert body["errorId"] == 0
    item = c.box.service_state.tasks[("anticaptcha", done)]
    item.finished_at = time.time() - 61  # anti-captcha takes reports within 60 s of the result
    _, body = await c.post("/anticaptcha/reportIncorrectRecaptcha", {"clientKey": KEY, "taskId": done})
    assert body["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"


@pytest.mark.parametrize("provider, task, fields", [
    ("2captcha", {"type": "RecaptchaV2TaskProxyless", "websiteKey": DEMO_SITEKEY}, {"gRecaptchaResponse", "token"}),
    ("anticaptcha", {"type": "RecaptchaV2TaskProxyless", "websiteKey": DEMO_SITEKEY},
     {"gRecaptchaResponse", "userAgent"}),
    ("capmonster", {"type": "TurnstileTaskProxyless", "websiteKey": DEMO_TURNSTILE_SITEKEY}, {"token"}),
    ("2captcha", {"type": "TurnstileTaskProxyless", "websiteKey": DEMO_TURNSTILE_SITEKEY}, {"token", "userAgent"}),
    ("anticaptcha", {"type": "HCaptchaTaskProxyless", "websiteKey": "5a1f3c2e-9b7d-4e6f-8a0b-1c2d3e4f5a6b"},
     {"gRecaptchaResponse", "respKey", "userAgent"}),
    ("capmonster", {"type": "GeeTestTaskProxyless", "gt": DEMO_GEETEST_CAPTCHA_ID, "version": 4},
     {"captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output"}),
])
@sandboxed()
async def test_solutions_use_each_providers_field_names(c: Client, provider, task, fields):
    solution = await c.solve(provider, {"websiteURL": c.url("/"), **task})
    assert set(solution) == fields


@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_the_log_keeps_each_task_whole_but_no_credentials(c: Client):
    task = {"type": "TurnstileTask", "websiteURL": c.url("/challenge/turnstile/1"),
            "websiteKey": DEMO_TURNSTILE_SITEKEY, "action": "signup", **c.proxy_task()}
    await c.solve("2captcha", task, softId=4242)
    await c.solve("capsolver", {"type": "AntiCloudflareTask", "websiteURL": c.url("/challenge/cloudflare/1"),
                                "proxy": c.proxy_string()})
    log = await c.service_log()
    created = [e for e in log if e["endpoint"] == "createTask"]
    assert created[0]["task"]["action"] == "signup" and created[0]["extras"] == {"softId": 4242}
    assert created[0]["task"]["proxyPassword"] == f"<redacted:{len(PASSWORD)}>"
    assert created[1]["task"]["proxy"] == f"http://<redacted>@127.0.0.1:{c.box.proxy.port}"
    everything = json.dumps(log) + "".join(c.bodies) + json.dumps(await c.kinds_log())
    assert PASSWORD not in everything and LOGIN not in everything and KEY not in everything


# -- every kind's page ------------------------------------------------------------------------------


async def _post_token(c: Client, slug: str, form: dict[str, str], n: int = 1, **kw: Any) -> tuple[int, str]:
    status, _, headers = await c.post_form(c.url(f"/challenge/{slug}/verify"),
                                           {"continue": f"/challenge/{slug}/{n}", **form}, **kw)
    return status, headers.get("Location", "")


@pytest.mark.parametrize("slug, provider, task, field", [
    ("recaptcha-v2-enterprise", "anticaptcha",
     {"type": "RecaptchaV2EnterpriseTaskProxyless", "websiteKey": "6LcSANDBOXenterpriseV2KeyForScrapyCap-03",
      "apiDomain": "www.recaptcha.net"}, "g-recaptcha-response"),
    ("recaptcha-v3", "2captcha", {"type": "RecaptchaV3TaskProxyless", "minScore": 0.7, "pageAction": "login",
                                  "websiteKey": "6LcSANDBOXscoreV3KeyForScrapyCaptcha--04"}, "g-recaptcha-response"),
    ("recaptcha-v3-enterprise", "yescaptcha", {"type": "RecaptchaV3EnterpriseTask", "pageAction": "login",
                                               "websiteKey": DEMO_V3_ENTERPRISE_SITEKEY}, "g-recaptcha-response"),
    ("recaptcha-v3-enterprise", "capmonster", {"type": "RecaptchaV3TaskProxyless", "pageAction": "login",
                                               "isEnterprise": True, "websiteKey": DEMO_V3_ENTERPRISE_SITEKEY},
     "g-recaptcha-response"),
    ("hcaptcha", "anticaptcha", {"type": "HCaptchaTaskProxyless",
                                 "websiteKey": "5a1f3c2e-9b7d-4e6f-8a0b-1c2d3e4f5a6b"}, "h-captcha-response"),
    ("friendly-captcha", "2captcha", {"type": "FriendlyCaptchaTaskProxyless", "websiteKey": "FCMGSANDBOXDEMO01"},
     "frc-captcha-solution"),
    ("mtcaptcha", "capsolver", {"type": "MtCaptchaTaskProxyLess", "websiteKey": "MTPublic-SbxDemo01"},
     "mtcaptcha-verifiedtoken"),
])
@sandboxed()
async def test_token_pages_admit_a_valid_solve_and_refuse_a_replay_or_another_host(c, slug, provider, task, field):
    status, _, _ = await c.get(f"/challenge/{slug}/4")
    assert status == 403
    solution = await c.solve(provider, {"websiteURL": c.url(f"/challenge/{slug}/4"), **task})
    token = solution.get("gRecaptchaResponse") or solution["token"]
    form = {field: token}
    assert await _post_token(c, slug, form, 4) == (302, f"/challenge/{slug}/4")
    status, page, _ = await c.get(f"/challenge/{slug}/4")
    assert status == 200 and 'data-id="4"' in page
    c.http.cookie_jar.clear()
    assert (await _post_token(c, slug, form, 4))[0] == 403  # replay
    other = await c.solve(provider, {"websiteURL": c.url(f"/challenge/{slug}/4", "localhost"), **task})
    token = other.get("gRecaptchaResponse") or other["token"]
    assert (await _post_token(c, slug, {field: token}, 4))[0] == 403  # solved for another host
    reasons = [e["reason"] for e in await c.kinds_log()]
    assert reasons[0] == "" and "timeout-or-duplicate" in reasons[1] and "hostname-mismatch" in reasons[2]


@sandboxed()
async def test_a_plain_v3_token_does_not_pass_an_enterprise_page(c: Client):
    # Issue 11: yescaptcha's plain RecaptchaV3TaskProxyless for an Enterprise key.
    solution = await c.solve("yescaptcha", {"type": "RecaptchaV3TaskProxyless", "pageAction": "login",
                                            "websiteKey": DEMO_V3_ENTERPRISE_SITEKEY,
                                            "websiteURL": c.url("/challenge/recaptcha-v3-enterprise/1")})
    form = {"g-recaptcha-response": solution["gRecaptchaResponse"]}
    status, _ = await _post_token(c, "recaptcha-v3-enterprise", form)
    assert status == 403
    wrong_action = await c.solve("2captcha", {"type": "RecaptchaV3TaskProxyless", "minScore": 0.3,
                                              "pageAction": "submit", "websiteKey": DEMO_V3_SITEKEY,
                                              "websiteURL": c.url("/challenge/recaptcha-v3/1")})
    status, _ = await _post_token(c, "recaptcha-v3", {"g-recaptcha-response": wrong_action["gRecaptchaResponse"]})
    assert status == 403
    assert [e["reason"] for e in await c.kinds_log()] == ["invalid-input-response", "action-mismatch"]


@sandboxed()
async def test_turnstile_page_needs_the_action_and_the_pages_cdata(c: Client):
    _, gate, _ = await c.get("/challenge/turnstile/2")
    cdata = re.search(r'data-cdata="([^"]+)"', gate).group(1)
    task = {"type": "AntiTurnstileTaskProxyLess", "websiteURL": c.url("/challenge/turnstile/2"),
            "websiteKey": DEMO_TURNSTILE_SITEKEY}
    without = await c.solve("capsolver", {**task, "metadata": {"action": "signup"}})
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": without["token"]}, 2))[0] == 403
    solution = await c.solve("capsolver", {**task, "metadata": {"action": "signup", "cdata": cdata}})
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": solution["token"]}, 2))[0] == 302
    # The page's cData is single use too.
    again = await c.solve("capsolver", {**task, "metadata": {"action": "signup", "cdata": cdata}})
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": again["token"]}, 2))[0] == 403
    assert [e["reason"] for e in await c.kinds_log()] == ["cdata-mismatch", "", "cdata-mismatch"]


@sandboxed()
async def test_image_captcha_served_in_session_solved_by_its_bytes(c: Client):
    status, gate, _ = await c.get("/challenge/image/5")
    assert status == 403 and 'name="captcha_code"' in gate
    src = re.search(r'<img src="([^"]+)"', gate).group(1)
    async with aiohttp.ClientSession() as stranger, stranger.get(c.url(src)) as reply:  # no cookie: no image
        assert reply.status == 403
    async with c.http.get(c.url(src)) as reply:
        assert reply.headers["Content-Type"] == "image/png"
        image = await reply.read()
    solution = await c.solve("anticaptcha", {"type": "ImageToTextTask", "body": base64.b64encode(image).decode(),
                                             "phrase": False, "case": False, "numeric": 0, "math": False,
                                             "minLength": 0, "maxLength": 0, "comment": "", "languagePool": "en"})
    assert (await _post_token(c, "image", {"captcha_code": solution["text"].lower()}, 5)) == \
        (302, "/challenge/image/5")
    status, page, _ = await c.get("/challenge/image/5")
    assert status == 200 and 'data-kind="image"' in page
    # Bad bodies: a data: prefix, too small, an image the site never served.
    for body, code in (("data:image/png;base64," + base64.b64encode(image).decode(), "ERROR_IMAGE_TYPE_NOT_SUPPORTED"),
                       (base64.b64encode(b"GIF89a tiny").decode(), "ERROR_ZERO_CAPTCHA_FILESIZE"),
                       (base64.b64encode(kinds.render_png("22222")).decode(), "ERROR_CAPTCHA_UNSOLVABLE")):
        failed = await c.result("anticaptcha", {"type": "ImageToTextTask", "body": body})
        assert failed["errorCode"] == code
    c.http.cookie_jar.clear()
    await c.get("/challenge/image/6")
    assert (await _post_token(c, "image", {"captcha_code": "WRONG"}, 6))[0] == 403
    assert [e["reason"] for e in await c.kinds_log()] == ["", "wrong-answer"]


@sandboxed()
async def test_geetest_v3_needs_a_fresh_challenge_per_solve(c: Client):
    status, gate, _ = await c.get("/challenge/geetest-v3/1")
    assert status == 403 and "initGeetest(" in gate
    register = js_value(gate, "geetestRegister")
    async with c.http.get(c.url(register + "?t=1")) as reply:
        issued = await reply.json()
    task = {"type": "GeeTestTaskProxyless", "websiteURL": c.url("/challenge/geetest-v3/1"), "gt": issued["gt"],
            "challenge": issued["challenge"]}
    solution = await c.solve("capmonster", task)
    assert set(solution) == {"challenge", "validate", "seccode"}
    stale = await c.result("capmonster", task)
    assert stale["errorCode"] == "ERROR_TOKEN_EXPIRED"  # a challenge is good for one solve
    form = {f"geetest_{k}": v for k, v in solution.items()}
    assert await _post_token(c, "geetest-v3", form) == (302, "/challenge/geetest-v3/1")
    c.http.cookie_jar.clear()
    assert (await _post_token(c, "geetest-v3", form))[0] == 403


@sandboxed()
async def test_geetest_v4_answer_posts_its_five_fields(c: Client):
    url = c.url("/challenge/geetest-v4/2")
    solution = await c.solve("2captcha", {"type": "GeeTestTaskProxyless", "websiteURL": url, "version": 4,
                                          "initParameters": {"captcha_id": DEMO_GEETEST_CAPTCHA_ID}})
    _, body = await c.create("2captcha", {"type": "GeeTestTaskProxyless", "websiteURL": url, "version": 4})
    assert body["errorCode"] == "ERROR_BAD_PARAMETERS"  # 2captcha's v4 needs initParameters.captcha_id
    assert await _post_token(c, "geetest-v4", solution, 2) == (302, "/challenge/geetest-v4/2")
    c.http.cookie_jar.clear()
    assert (await _post_token(c, "geetest-v4", solution, 2))[0] == 403


@sandboxed()
async def test_arkose_needs_the_pages_subdomain_and_blob(c: Client):
    _, gate, _ = await c.get("/challenge/funcaptcha/3")
    blob = js_value(gate, "blob")
    subdomain = re.search(r"https://([^/]+)/v2/", gate).group(1)
    task = {"type": "FunCaptchaTaskProxyless", "websiteURL": c.url("/challenge/funcaptcha/3"),
            "websitePublicKey": "3E1D2B7C-9A4F-4C21-B5E8-7F0A6D2C9B14"}
    without_subdomain = await c.solve("anticaptcha", {**task, "data": json.dumps({"blob": blob})})
    without_blob = await c.solve("anticaptcha", {**task, "funcaptchaApiJSSubdomain": subdomain})
    good = await c.solve("anticaptcha", {**task, "funcaptchaApiJSSubdomain": subdomain,
                                         "data": json.dumps({"blob": blob})})
    for solution, expected in ((without_subdomain, 403), (without_blob, 403), (good, 302)):
        assert (await _post_token(c, "funcaptcha", {"fc-token": solution["token"]}, 3))[0] == expected
    assert [e["reason"] for e in await c.kinds_log()] == ["api-subdomain-mismatch", "blob-mismatch", ""]


# -- cookie kinds: bound to IP and user agent --------------------------------------------------------


@needs_aliases
@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_aws_waf_token_from_the_proxy_admits_only_through_it(c: Client):
    status, gate, headers = await c.get("/challenge/aws-waf/2", via_proxy=True)
    assert status == 405 and headers["x-amzn-waf-action"] == "captcha"
    props = json.loads(re.search(r"window\.gokuProps = (\{.*?\});", gate).group(1))
    scripts = re.findall(r'<script src="([^"]+)"', gate)
    task = {"websiteURL": c.url("/challenge/aws-waf/2"), "awsKey": props["key"], "awsIv": props["iv"],
            "awsContext": props["context"], "awsChallengeJS": scripts[0]}
    # Proxyless: minted for the service's own IP; the crawl cannot use it.
    proxyless = await c.solve("capsolver", {"type": "AntiAwsWafTaskProxyLess", **task})
    assert (await c.get("/challenge/aws-waf/2", cookies={"aws-waf-token": proxyless["cookie"]}))[0] == 405
    solution = await c.solve("capsolver", {"type": "AntiAwsWafTask", **task, "proxy": c.proxy_string()})
    cookie = {"aws-waf-token": solution["cookie"]}
    # capsolver's task takes no user agent and its answer names none: the token cannot be
    # bound to one (a crawl could never match it), only to the proxy's IP.
    status, page, _ = await c.get("/challenge/aws-waf/2", via_proxy=True, cookies=cookie)
    assert status == 200 and 'data-id="2"' in page
    assert (await c.get("/challenge/aws-waf/2", cookies=cookie))[0] == 405  # not from 127.0.0.1
    # A context the site never issued is refused by the worker.
    stale = await c.result("capsolver", {"type": "AntiAwsWafTaskProxyLess", **task, "awsContext": "made-up"})
    assert stale["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    reasons = [e["reason"] for e in await c.kinds_log()]
    assert reasons == ["ip-mismatch", "ip-mismatch"]  # (log entries are refusals)


@sandboxed()
async def test_a_site_that_does_not_bind_aws_tokens_to_the_ip_takes_a_proxyless_solve(c: Client):
    async with c.http.post(c.box.site_url + "/_sandbox/kinds", json={"ip_bound": ["cf_clearance", "datadome"],
                                                                      "turnstile_cdata": False}) as reply:
        assert reply.status == 200
    _, gate, _ = await c.get("/challenge/aws-waf/1")
    props = json.loads(re.search(r"window\.gokuProps = (\{.*?\});", gate).group(1))
    solution = await c.solve("anticaptcha", {"type": "AmazonTaskProxyless", "websiteKey": props["key"],
                                             "websiteURL": c.url("/challenge/aws-waf/1"), "iv": props["iv"],
                                             "context": props["context"]})
    cookie = {"aws-waf-token": solution["token"]}
    assert (await c.get("/challenge/aws-waf/1", cookies=cookie, ua=solution["userAgent"]))[0] == 200
    assert (await c.get("/challenge/aws-waf/1", cookies=cookie))[0] == 405  # still bound to the user agent
    # Without cData on the page, a token with the page's action passes; yescaptcha's (no action field) does not.
    _, gate, _ = await c.get("/challenge/turnstile/1")
    assert "data-cdata" not in gate and 'data-action="signup"' in gate
    task = {"type": "TurnstileTaskProxyless", "websiteKey": DEMO_TURNSTILE_SITEKEY,
            "websiteURL": c.url("/challenge/turnstile/1")}
    token = (await c.solve("yescaptcha", task))["token"]
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": token}))[0] == 403
    token = (await c.solve("anticaptcha", {**task, "action": "signup"}))["token"]
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": token}))[0] == 302
    # A page with neither: yescaptcha passes too.
    async with c.http.post(c.box.site_url + "/_sandbox/kinds", json={"turnstile_action": None}) as reply:
        assert reply.status == 200
    c.http.cookie_jar.clear()
    token = (await c.solve("yescaptcha", task))["token"]
    assert (await _post_token(c, "turnstile", {"cf-turnstile-response": token}))[0] == 302


@sandboxed()
async def test_aws_waf_voucher_is_traded_for_the_cookie(c: Client):
    _, gate, _ = await c.get("/challenge/aws-waf/1")
    props = json.loads(re.search(r"window\.gokuProps = (\{.*?\});", gate).group(1))
    solution = await c.solve("2captcha", {"type": "AmazonTaskProxyless", "websiteURL": c.url("/challenge/aws-waf/1"),
                                          "websiteKey": props["key"], "iv": props["iv"],
                                          "context": props["context"]})
    assert set(solution) == {"captcha_voucher", "existing_token"}
    async with c.http.post(c.url("/challenge/aws-waf/verify"), json=solution, headers={"User-Agent": UA}) as reply:
        assert reply.status == 200
        token = (await reply.json())["token"]
    status, _, _ = await c.get("/challenge/aws-waf/1", cookies={"aws-waf-token": token})
    assert status == 200
    async with c.http.post(c.url("/challenge/aws-waf/verify"), json=solution) as reply:
        assert reply.status == 403  # a voucher is traded once
    cm = await c.solve("capmonster", {"type": "AmazonTaskProxyless", "websiteURL": c.url("/challenge/aws-waf/1"),
                                      "websiteKey": props["key"], "iv": props["iv"], "context": props["context"],
                                      "cookieSolution": True})
    assert set(cm) == {"cookies", "userAgent"} and "aws-waf-token" in cm["cookies"]


def _datadome_url(gate: str, cookie: str, page_url: str) -> str:
    dd = dict(re.findall(r"'(\w+)':'([^']*)'", re.search(r"var dd=\{(.*?)\}", gate).group(1)))
    return (f"https://geo.captcha-delivery.com/captcha/?initialCid={quote(dd['cid'], safe='')}&hash={dd['hsh']}"
            f"&cid={quote(cookie, safe='')}&t={dd['t']}&referer={quote(page_url, safe='')}&s=40070&e={dd['e']}")


@needs_aliases
@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_datadome_cookie_bound_to_the_proxy_ip_and_the_user_agent(c: Client):
    page = c.url("/challenge/datadome/3")
    status, gate, _ = await c.get("/challenge/datadome/3", via_proxy=True)
    assert status == 403 and "captcha-delivery.com" in gate
    tracking = c.http.cookie_jar.filter_cookies(URL(page))["datadome"].value
    captcha_url = _datadome_url(gate, tracking, page)
    task = {"type": "DataDomeSliderTask", "websiteURL": page, "captchaUrl": captcha_url, "userAgent": UA,
            **c.proxy_task()}
    solution = await c.solve("2captcha", task)
    value = solution["cookie"].split(";", 1)[0].split("=", 1)[1]
    c.http.cookie_jar.clear()
    cookie = {"datadome": value}
    status, body, _ = await c.get("/challenge/datadome/3", via_proxy=True, cookies=cookie)
    assert status == 200 and 'data-kind="datadome"' in body
    assert (await c.get("/challenge/datadome/3", cookies=cookie))[0] == 403  # from 127.0.0.1
    assert (await c.get("/challenge/datadome/3", via_proxy=True, cookies=cookie, ua="curl/8.5"))[0] == 403
    # capmonster's shape: the cookie per domain, with datadomeCookie beside the URL.
    cm = await c.solve("capmonster", {"type": "CustomTask", "class": "DataDome", "websiteURL": page, "userAgent": UA,
                                      "metadata": {"captchaUrl": captcha_url, "datadomeCookie": f"datadome={tracking}"},
                                      **c.proxy_task()})
    assert "datadome" in cm["domains"]["127.0.0.1"]["cookies"]
    # A URL with another cookie than the site set, or t=bv, cannot be solved.
    forged = await c.result("2captcha", {**task, "captchaUrl": captcha_url.replace(quote(tracking, safe=""), "forged")})
    assert forged["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    banned = await c.result("2captcha", {**task, "captchaUrl": captcha_url.replace("t=fe", "t=bv")})
    assert banned["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    # The saved-DOM variant carries the URL c.js builds: it solves the same way.
    async with c.http.post(c.box.site_url + "/_sandbox/kinds", json={"datadome_iframe": True}) as reply:
        assert reply.status == 200
    c.http.cookie_jar.clear()
    _, gate, _ = await c.get("/challenge/datadome/3", via_proxy=True)
    framed = html.unescape(re.search(r'<iframe src="([^"]+)"', gate).group(1))
    tracking = c.http.cookie_jar.filter_cookies(URL(page))["datadome"].value
    assert framed == _datadome_url(gate, tracking, page)
    assert "cookie" in await c.solve("capsolver", {"type": "DatadomeSliderTask", "websiteURL": page,
                                                   "captchaUrl": framed, "userAgent": UA, "proxy": c.proxy_string()})


@needs_aliases
@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_cloudflare_cookie_mode_clearance_works_only_from_the_proxy_with_the_user_agent(c: Client):
    status, gate, headers = await c.get("/challenge/cloudflare/4", via_proxy=True)
    assert status == 403 and headers["cf-mitigated"] == "challenge" and "_cf_chl_opt" in gate
    task = {"type": "TurnstileTask", "websiteURL": c.url("/challenge/cloudflare/4"),
            "websiteKey": DEMO_CF_CHALLENGE_SITEKEY, "cloudflareTaskType": "cf_clearance", "userAgent": UA,
            "htmlPageBase64": base64.b64encode(gate.encode()).decode(), **c.proxy_task()}
    solution = await c.solve("capmonster", task)
    cookie = {"cf_clearance": solution["cf_clearance"]}
    status, page, _ = await c.get("/challenge/cloudflare/4", via_proxy=True, cookies=cookie)
    assert status == 200 and 'data-id="4"' in page
    assert (await c.get("/challenge/cloudflare/4", cookies=cookie))[0] == 403
    assert (await c.get("/challenge/cloudflare/4", via_proxy=True, cookies=cookie, ua="Other/1"))[0] == 403
    # Without a proxy the clearance is minted for the service's own IP: useless to the crawl, as for real.
    proxyless = await c.solve("sandbox", {"type": "AntiCloudflareTask", "websiteURL": c.url("/challenge/cloudflare/4"),
                                          "userAgent": UA})
    assert (await c.get("/challenge/cloudflare/4", cookies={"cf_clearance": proxyless["cookies"]["cf_clearance"]}))[0] \
        == 403
    sent_html = await c.result("capmonster", {**task, "htmlPageBase64": base64.b64encode(b"<html>hi</html>").decode()})
    assert sent_html["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"  # it must be the challenge page itself
    antibot = await c.solve("anticaptcha", {"type": "AntiBotCookieTask", "websiteURL": c.url("/challenge/cloudflare/4"),
                                            "proxyAddress": "127.0.0.1", "proxyPort": c.box.proxy.port,
                                            "proxyLogin": LOGIN, "proxyPassword": PASSWORD})
    ua = antibot["fingerprint"]["self.navigator.userAgent"]
    status, _, _ = await c.get("/challenge/cloudflare/4", via_proxy=True, ua=ua,
                               cookies={"cf_clearance": antibot["cookies"]["cf_clearance"]})
    assert status == 200


@sandboxed()
async def test_cloudflare_token_mode_posts_the_token_with_the_solvers_user_agent(c: Client):
    status, gate, _ = await c.get("/challenge/cloudflare/5")
    task = {"type": "TurnstileTaskProxyless", "websiteURL": c.url("/challenge/cloudflare/5"),
            "websiteKey": js_value(gate, "chlApiSitekey"), "action": js_value(gate, "chlApiAction"),
            "cData": js_value(gate, "chlApiCData"), "chlPageData": js_value(gate, "chlPageData")}
    solution = await c.solve("anticaptcha", task)
    status, _, _ = await c.post_form(c.url(form_action(gate)), {"cf-turnstile-response": solution["token"]})
    assert status == 403  # posted with the crawl's own user agent: the token was solved with another
    _, gate, _ = await c.get("/challenge/cloudflare/5", ua=solution["userAgent"])
    task.update(cData=js_value(gate, "chlApiCData"), chlPageData=js_value(gate, "chlPageData"))
    solution = await c.solve("anticaptcha", task)
    status, _, headers = await c.post_form(c.url(form_action(gate)), {"cf-turnstile-response": solution["token"]},
                                           ua=solution["userAgent"])
    assert status == 302 and "cf_clearance" in headers.get("Set-Cookie", "")
    status, page, _ = await c.get("/challenge/cloudflare/5", ua=solution["userAgent"])
    assert status == 200 and 'data-kind="cloudflare_challenge"' in page
    assert (await c.get("/challenge/cloudflare/5"))[0] == 403  # the clearance follows the user agent
    # 2captcha: same parameters under its names; missing pagedata cannot pass.
    _, gate, _ = await c.get("/challenge/cloudflare/6", ua=UA)
    two = {"type": "TurnstileTaskProxyless", "websiteURL": c.url("/challenge/cloudflare/6"),
           "websiteKey": DEMO_CF_CHALLENGE_SITEKEY, "action": "managed", "data": js_value(gate, "chlApiCData"),
           "userAgent": UA}
    solution = await c.solve("2captcha", two)
    assert solution["userAgent"] == UA
    status, _, _ = await c.post_form(c.url(form_action(gate)), {"cf-turnstile-response": solution["token"]})
    assert status == 403
    log = await c.kinds_log()
    assert [e["reason"] for e in log if e["via"] == "verify"] == ["user-agent-mismatch", "", "chl-page-data-mismatch"]
    # The crawl's own user agent with the clearance in its jar: refused, twice.
    assert [e["reason"] for e in log if e["via"] == "cookie"] == ["user-agent-mismatch"] * 2


# -- the proxy -----------------------------------------------------------------------------------------


@needs_aliases
@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_the_proxy_changes_the_source_ip_and_enforces_auth(c: Client):
    async with c.http.get(c.url("/_sandbox/ip"), headers={"User-Agent": UA}) as reply:
        assert (await reply.json()) == {"ip": "127.0.0.1", "user_agent": UA}
    status, text, _ = await c.get("/_sandbox/ip", via_proxy=True)
    assert status == 200 and json.loads(text)["ip"] == "127.0.0.2"
    async with c.http.get(c.url("/_sandbox/ip"), proxy=c.box.proxy_url) as reply:
        assert reply.status == 407 and "Proxy-Authenticate" in reply.headers
    async with c.http.get(c.url("/_sandbox/ip"), proxy=c.box.proxy_url,
                          headers={"Proxy-Authorization": basic(LOGIN, "wrong")}) as reply:
        assert reply.status == 407
    # A POST with a body goes through too.
    status, _, _ = await c.post_form(c.url("/challenge/turnstile/verify"), {"continue": "/x"}, via_proxy=True)
    assert status == 403
    # CONNECT: a tunnel to the site, spoken through by hand.
    reader, writer = await asyncio.open_connection("127.0.0.1", c.box.proxy.port)
    site = urlsplit(c.box.site_url)
    writer.write(f"CONNECT {site.hostname}:{site.port} HTTP/1.1\r\nHost: {site.netloc}\r\n"
                 f"Proxy-Authorization: {basic(LOGIN, PASSWORD)}\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    writer.write(f"GET /_sandbox/ip HTTP/1.1\r\nHost: {site.netloc}\r\nConnection: close\r\n\r\n".encode())
    reply = await reader.read()
    writer.close()
    assert b'"ip": "127.0.0.2"' in reply
    async with c.http.get(c.box.proxy_url + "/_proxy/state") as reply:
        state = await reply.json()
    assert state["auth_failures"] == 2 and state["tunnels"] == 1 and state["requests"] >= 2
    assert PASSWORD not in json.dumps(state)


@sandboxed(proxy={"login": LOGIN, "password": PASSWORD})
async def test_proxy_tasks_fail_with_the_providers_proxy_errors(c: Client):
    url = c.url("/challenge/turnstile/1")
    wrong = {**c.proxy_task(), "proxyPassword": "nope"}
    task = {"type": "TurnstileTask", "websiteURL": url, "websiteKey": DEMO_TURNSTILE_SITEKEY}
    failed = await c.result("anticaptcha", {**task, **wrong})
    assert (failed["errorId"], failed["errorCode"]) == (49, "ERROR_PROXY_NOT_AUTHORISED")
    failed = await c.result("2captcha", {**task, **wrong})
    assert (failed["errorId"], failed["errorCode"]) == (130, "ERROR_BAD_PROXY")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    failed = await c.result("capmonster", {**task, **c.proxy_task(proxyPort=closed)})
    assert failed["errorCode"] == "ERROR_PROXY_CONNECT_REFUSED"
    failed = await c.result("capsolver", {"type": "AntiCloudflareTask", "websiteURL": url,
                                          "proxy": f"127.0.0.1:{closed}:{LOGIN}:{PASSWORD}"})
    assert failed["errorCode"] == "ERROR_PROXY_BANNED"
    everything = json.dumps(await c.service_log()) + "".join(c.bodies)
    assert PASSWORD not in everything and "nope" not in everything


@sandboxed()
async def test_the_catalogue_lists_every_kind_page(c: Client):
    async with c.http.get(c.box.site_url + "/_sandbox/kinds/pages") as reply:
        pages = await reply.json()
    assert {p["slug"] for p in pages} == set(kinds.SLUGS)
    for entry in pages:
        status, _, _ = await c.get(entry["path"])
        assert status == entry["status"], entry["slug"]
    status, index, _ = await c.get("/challenge/hcaptcha/")
    assert status == 200 and index.count('href="/challenge/hcaptcha/') == 30


def test_the_cli_sandbox_prints_the_proxy_url_without_credentials(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD": PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
                             "--site-port", "0", "--proxy-port", "0", "--proxy-login", LOGIN],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", info["proxy_url"])
        request = f"GET {info['site_url']}/_sandbox/ip HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", int(info["proxy_url"].rsplit(":", 1)[1]))) as sock:
            sock.sendall(request.encode())
            assert sock.recv(100).startswith(b"HTTP/1.1 407")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
