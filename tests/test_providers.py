"""Provider failover on account state: real crawls against the sandbox's strict dialects."""

from __future__ import annotations

import logging

import pytest_twisted
import scrapy

from .crawling import CatalogSpider, crawl

ITEMS = 20
FAST = {"CAPTCHA_DELAY_SCALE": 0.01, "CAPTCHA_PAUSE_CHECK_INTERVAL": 0.3, "CAPTCHA_HTTP_TIMEOUT": 2}


class Items(CatalogSpider):
    #: Sessions (cookiejars) the items are spread over: their gates are solved side by side.
    jars = 1

    async def start(self):
        for i in range(1, ITEMS + 1):
            yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item, errback=self.failed,
                                 cb_kwargs={"from_page": 0}, meta={"mine": "kept", "cookiejar": i % self.jars})


class FourSessions(Items):
    jars = 4


def two_providers(sandbox, first: str = "capsolver", second: str = "anticaptcha", **extra):
    return {"CAPTCHA_PROVIDER": [first, second],
            "CAPTCHA_API_URL": {first: sandbox.service_url + f"/{first}", second: sandbox.service_url + f"/{second}"},
            **FAST, **extra}


@pytest_twisted.ensureDeferred
async def test_zero_balance_moves_the_work_to_the_next_provider_without_pausing(sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="scrapy_captcha")
    sandbox.reset(site={"items": ITEMS, "session_pages": 4})
    # capsolver's account is empty for its first tasks and its first two balance checks.
    sandbox.configure(rules=[
        {"endpoint": "createTask", "dialect": "capsolver", "error": "ERROR_ZERO_BALANCE", "times": 1},
        {"endpoint": "getBalance", "dialect": "capsolver", "error": "ERROR_ZERO_BALANCE", "times": 2},
    ])
    record = await crawl(sandbox, Items, **two_providers(sandbox))
    assert record.ids == list(range(1, ITEMS + 1)) and record.errbacks == []
    stats = record.stats
    assert not any(k.startswith("captcha/paused/") for k in stats)  # the crawl never stopped
    assert stats["captcha/provider/capsolver/out/ERROR_ZERO_BALANCE"] == 1
    assert stats["captcha/solved/by/anticaptcha"] >= 1
    said = [r.getMessage() for r in caplog.records]
    assert any("capsolver is out of rotation" in m and "goes to anticaptcha" in m for m in said)
    created = sandbox.state()["created_by_dialect"]
    assert created.get("anticaptcha", 0) >= 1


@pytest_twisted.ensureDeferred
async def test_a_provider_comes_back_once_it_can_pay(sandbox):
    sandbox.reset(service={"latency": 0.6}, site={"items": ITEMS, "session_pages": 2})
    sandbox.configure(rules=[
        {"endpoint": "createTask", "dialect": "capsolver", "error": "ERROR_ZERO_BALANCE", "times": 1},
        {"endpoint": "getBalance", "dialect": "capsolver", "error": "ERROR_ZERO_BALANCE", "times": 1},
    ])
    record = await crawl(sandbox, FourSessions, **two_providers(sandbox), CONCURRENT_REQUESTS=2)
    assert record.ids == list(range(1, ITEMS + 1))
    stats = record.stats
    assert stats["captcha/provider/capsolver/back"] == 1
    # Back in rotation, it takes the tasks again (it is first in CAPTCHA_PROVIDER).
    assert stats.get("captcha/solved/by/capsolver", 0) >= 1


@pytest_twisted.ensureDeferred
async def test_the_crawl_pauses_only_when_no_provider_can_take_work(sandbox):
    sandbox.reset(site={"items": ITEMS})
    sandbox.configure(rules=[
        {"endpoint": "createTask", "dialect": "capsolver", "error": "ERROR_KEY_DOES_NOT_EXIST", "times": 1},
        {"endpoint": "createTask", "dialect": "anticaptcha", "error": "ERROR_ZERO_BALANCE", "times": 1},
        {"endpoint": "getBalance", "dialect": "capsolver", "error": "ERROR_KEY_DOES_NOT_EXIST", "times": 3},
    ])
    record = await crawl(sandbox, Items, **two_providers(sandbox))
    assert record.ids == list(range(1, ITEMS + 1)) and record.errbacks == []
    stats = record.stats
    assert sum(v for k, v in stats.items() if k.startswith("captcha/paused/")) == 1
    assert stats["captcha/provider/capsolver/out/ERROR_KEY_DOES_NOT_EXIST"] == 1
    assert stats["captcha/provider/anticaptcha/out/ERROR_ZERO_BALANCE"] == 1


@pytest_twisted.ensureDeferred
async def test_a_cooldown_takes_the_provider_out_for_its_time_only(sandbox):
    sandbox.reset(site={"items": ITEMS, "session_pages": 4})
    sandbox.configure(rules=[
        {"endpoint": "createTask", "dialect": "capsolver", "error": "ERROR_KEY_TEMP_BLOCKED", "times": 1},
    ])
    record = await crawl(sandbox, Items, **two_providers(sandbox))
    assert record.ids == list(range(1, ITEMS + 1))
    stats = record.stats
    assert stats["captcha/provider/capsolver/cooldown/ERROR_KEY_TEMP_BLOCKED"] == 1
    assert not any(k.startswith("captcha/paused/") for k in stats)
    # No call to the blocked provider during its (shortened) five minutes.
    log = [e for e in sandbox.log() if e.get("dialect") == "capsolver"]
    blocked_at = log[0]["t"]
    later = [e["t"] for e in log[1:]]
    assert all(t - blocked_at >= 300 * FAST["CAPTCHA_DELAY_SCALE"] * 0.9 for t in later)


@pytest_twisted.ensureDeferred
async def test_an_unreachable_provider_hands_its_tasks_on_and_opens_a_circuit(sandbox):
    settings = two_providers(sandbox)
    settings["CAPTCHA_API_URL"]["capsolver"] = "http://127.0.0.1:9"
    sandbox.reset(site={"items": ITEMS})
    record = await crawl(sandbox, FourSessions, **settings)
    assert record.ids == list(range(1, ITEMS + 1)) and record.errbacks == []
    stats = record.stats
    assert stats["captcha/provider/capsolver/circuit/TRANSPORT_ERROR"] >= 1
    assert stats["captcha/solved/by/anticaptcha"] == 4  # every session's task went on to it


@pytest_twisted.ensureDeferred
async def test_every_solve_has_a_cost_even_where_the_service_prices_none(sandbox):
    """capsolver reports no cost per task: the price table's estimate is counted, and
    CAPTCHA_PRICES overrides it."""
    sandbox.reset(site={"items": 5})
    record = await crawl(sandbox, Items, CAPTCHA_PROVIDER="capsolver",
                         CAPTCHA_API_URL=sandbox.service_url + "/capsolver",
                         CAPTCHA_PRICES={"capsolver": {"recaptcha_v2": 2.5}}, **FAST)
    stats = record.stats
    solved = stats["captcha/solved"]
    assert stats["captcha/cost"] == stats["captcha/cost/capsolver"] == stats["captcha/cost/estimated"]
    assert abs(stats["captcha/cost"] - solved * 0.0025) < 1e-9
