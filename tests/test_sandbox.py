"""The sandbox verifies tokens like siteverify: single use, expiring, bound to sitekey and host."""

from __future__ import annotations

import time

import pytest
import pytest_twisted

from scrapy_captcha.sandbox import DEMO_SITEKEY, Sandbox
from scrapy_captcha.sandbox.tokens import DEMO_SECRET, TokenAuthority

from .crawling import aio


def test_tokens_are_single_use():
    authority = TokenAuthority()
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["success"] is True
    again = authority.siteverify(DEMO_SECRET, token, "127.0.0.1")
    assert again == {"success": False, "error-codes": ["timeout-or-duplicate"]}


def test_tokens_are_bound_to_the_host_and_the_sitekey():
    authority = TokenAuthority(keys={DEMO_SITEKEY: DEMO_SECRET, "6Lother": "other-secret"})
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "localhost")["error-codes"] == ["hostname-mismatch"]
    token = authority.mint("6Lother", "127.0.0.1")
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["error-codes"] == ["invalid-input-secret"]
    assert authority.siteverify(DEMO_SECRET, "made-up", "127.0.0.1")["error-codes"] == ["invalid-input-response"]
    assert authority.siteverify(DEMO_SECRET, "", "127.0.0.1")["error-codes"] == ["missing-input-response"]


def test_tokens_expire(monkeypatch):
    authority = TokenAuthority()
    token = authority.mint(DEMO_SITEKEY, "127.0.0.1")
    later = time.monotonic() + 121
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert authority.siteverify(DEMO_SECRET, token, "127.0.0.1")["error-codes"] == ["timeout-or-duplicate"]


def test_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


async def _gate_roundtrip():
    import aiohttp

    async with Sandbox(service_port=0, site_port=0, service_config={"latency": 0}) as box:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(box.site_url + "/item/3") as reply:
                gate = (reply.status, await reply.text())
            async with http.post(box.service_url + "/createTask", json={
                "clientKey": "k", "task": {"type": "NoCaptchaTaskProxyless", "websiteKey": DEMO_SITEKEY,
                                           "websiteURL": box.site_url + "/item/3"}}) as reply:
                task_id = (await reply.json())["taskId"]
            async with http.post(box.service_url + "/getTaskResult", json={"clientKey": "k", "taskId": task_id}) as reply:
                token = (await reply.json())["solution"]["gRecaptchaResponse"]
            form = {"g-recaptcha-response": token, "continue": "/item/3"}
            async with http.post(box.site_url + "/captcha/verify", data=form, allow_redirects=False) as reply:
                verified = (reply.status, reply.headers.get("Location"))
            async with http.get(box.site_url + "/item/3") as reply:
                page = (reply.status, await reply.text())
            async with http.post(box.site_url + "/captcha/verify", data=form, allow_redirects=False) as reply:
                replay = reply.status
            async with http.get(box.service_url + "/createTask") as reply:
                wrong_method = await reply.json()
        return gate, verified, page, replay, wrong_method, box.service_state.spent


@pytest_twisted.ensureDeferred
async def test_gate_verify_and_session_over_http():
    gate, verified, page, replay, wrong_method, spent = await aio(_gate_roundtrip())
    assert gate[0] == 403 and 'class="g-recaptcha"' in gate[1] and DEMO_SITEKEY in gate[1]
    assert verified == (302, "/item/3")
    assert page[0] == 200 and "Sandbox item 003" in page[1]
    assert replay == 403  # the same token twice: refused
    assert wrong_method["errorCode"] == "ERROR_NO_SUCH_METHOD"
    assert spent == pytest.approx(0.002)
