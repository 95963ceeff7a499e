"""Error codes as crawl control: the fault suite. Real crawls against the sandbox.

Accounting invariant checked in every crawl: every request that met a captcha
ends delivered to its callback or dropped into its errback, exactly once;
nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_twisted
import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerRunner

from scrapy_captcha import CaptchaDropped, Reaction
from scrapy_captcha import signals as captcha_signals
from scrapy_captcha.gates import SESSION_EVIDENCE
from scrapy_captcha.service.errors import rule_for

from .crawling import settings_for
from .test_errors import ROWS

ITEMS = 10
FAST = {
    # Every delay the service states, at 1 %: a 5-minute cooldown lasts 3 s here.
    "CAPTCHA_DELAY_SCALE": 0.01,
    "CAPTCHA_PAUSE_CHECK_INTERVAL": 0.3,
    "CAPTCHA_HTTP_TIMEOUT": 2,
    "CAPTCHA_MAX_RETRIES": 2,
}


#: Tallied over every crawl of this module; printed in pytest's summary (conftest.py).
TOTALS = {"crawls": 0, "requests": 0, "delivered": 0, "dropped": 0, "lost": 0}


@dataclass
class Ledger:
    delivered: list[str] = field(default_factory=list)
    dropped: list[tuple[str, Any]] = field(default_factory=list)
    reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.reason = reason

    def paused(self, code: str, reason: str, **kw: Any) -> None:
        self.events.append(("paused", code, self._dequeued()))

    def resumed(self, code: str, reason: str, **kw: Any) -> None:
        self.events.append(("resumed", code, self._dequeued()))

    def _dequeued(self) -> int:
        return self.crawler.stats.get_value("scheduler/dequeued", 0)

    def check_accounting(self, wanted: int = ITEMS) -> None:
        urls = self.delivered + [u for u, _ in self.dropped]
        TOTALS["crawls"] += 1
        TOTALS["requests"] += wanted
        TOTALS["delivered"] += len(self.delivered)
        TOTALS["dropped"] += len(self.dropped)
        TOTALS["lost"] += max(0, wanted - len(set(urls)))
        assert len(urls) == len(set(urls)), "a request ended twice"
        assert len(urls) == wanted, f"lost: {wanted - len(urls)}"


class Items(scrapy.Spider):
    name = "fault_items"

    def __init__(self, site: str, ledger: Ledger, order: list[int] | None = None, **kw: Any):
        super().__init__(**kw)
        self.site, self.ledger = site, ledger
        self.order = order or range(1, ITEMS + 1)

    async def start(self):
        for i in self.order:
            yield scrapy.Request(f"{self.site}/item/{i}", callback=self.item, errback=self.failed)

    def item(self, response):
        self.ledger.delivered.append(response.url)
        yield {"url": response.url}

    def failed(self, failure):
        self.ledger.dropped.append((failure.request.url, failure.value))


async def run(sandbox, order: list[int] | None = None, **settings: Any) -> Ledger:
    ledger = Ledger()
    runner = CrawlerRunner(settings_for(sandbox, **{**FAST, **settings}))
    crawler = runner.create_crawler(Items)
    ledger.crawler = crawler
    crawler.signals.connect(ledger.spider_closed, signal=signals.spider_closed)
    crawler.signals.connect(ledger.paused, signal=captcha_signals.captcha_paused)
    crawler.signals.connect(ledger.resumed, signal=captcha_signals.captcha_resumed)
    await runner.crawl(crawler, site=sandbox.site_url, ledger=ledger, order=order)
    ledger.stats = crawler.stats.get_stats()
    return ledger


CODES = [code for code, _ in ROWS] + ["ERROR_SOMETHING_NOBODY_DOCUMENTED"]


@pytest.mark.parametrize("code", CODES)
@pytest_twisted.ensureDeferred
async def test_every_code(sandbox, caplog, code):
    sandbox.reset(site={"items": ITEMS})
    sandbox.configure(rules=[{"endpoint": "createTask", "error": code, "times": 1}])
    with caplog.at_level(logging.INFO, logger="scrapy_captcha"):
        ledger = await run(sandbox)
    ledger.check_accounting()
    stats = ledger.stats
    rule = rule_for(code)
    logs = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("scrapy_captcha")]
    assert stats.get(f"captcha/failed/{code}", 0) + stats.get(f"captcha/backoff/{code}", 0) >= 1

    if rule.pause_all or rule.reaction in (Reaction.PAUSE, Reaction.COOLDOWN):
        assert stats[f"captcha/paused/{code}"] == 1
        assert [e[0] for e in ledger.events] == ["paused", "resumed"]
        assert any(level == logging.CRITICAL and code in msg for level, msg in logs)
        assert ledger.dropped == [] and len(ledger.delivered) == ITEMS
        if rule.reaction is Reaction.COOLDOWN:
            # No call at all to the service during the stated cooldown.
            calls = sandbox.log()
            failed_at = next(e["t"] for e in calls if e["endpoint"] == "createTask")
            next_call = next(e["t"] for e in calls if e["t"] > failed_at)
            assert next_call - failed_at >= rule.delay * FAST["CAPTCHA_DELAY_SCALE"] * 0.9
        else:
            assert stats["captcha/api_calls/balance"] >= 1
    elif rule.reaction is Reaction.RESCHEDULE:
        assert stats[f"captcha/rescheduled/{code}"] >= 1
        assert ledger.dropped == [] and len(ledger.delivered) == ITEMS
    elif rule.reaction is Reaction.BACKOFF:
        assert stats[f"captcha/backoff/{code}"] == 1
        assert "captcha/rescheduled/" + code not in stats  # the request waited, nothing rescheduled
        assert ledger.dropped == [] and len(ledger.delivered) == ITEMS
    else:  # DROP, MISCONFIGURED with a single provider
        assert ledger.dropped, "the affected requests were dropped"
        for url, error in ledger.dropped:
            assert isinstance(error, CaptchaDropped) and error.code == code and error.reason
            assert any(level == logging.WARNING and url in msg and code in msg for level, msg in logs)
        assert stats[f"captcha/dropped/{code}"] == len(ledger.dropped)
        if rule.reaction is Reaction.MISCONFIGURED:
            said = [msg for level, msg in logs if level == logging.ERROR and code in msg]
            assert len(said) == 1 and rule.advice in said[0]  # loudly, once


@pytest_twisted.ensureDeferred
async def test_invalid_sitekey_drops_only_the_affected_request(sandbox):
    sandbox.reset(site={"items": ITEMS, "bad_key_items": [7]})
    ledger = await run(sandbox)
    ledger.check_accounting()
    assert [(u.rsplit("/", 1)[1], e.code) for u, e in ledger.dropped] == [("7", "ERROR_RECAPTCHA_INVALID_SITEKEY")]
    assert len(ledger.delivered) == ITEMS - 1


@pytest.mark.parametrize("hold_back", [True, False])
@pytest_twisted.ensureDeferred
async def test_a_failed_gate_drops_only_the_requests_that_showed_its_challenge(sandbox, hold_back):
    """The bad-key page opens a gate first; the others show the good key: a gate of
    their own (their challenge is another), and they must not share its fate."""
    from scrapy_captcha.sandbox.site import BAD_SITEKEY

    sandbox.reset(site={"items": ITEMS, "bad_key_items": [7]})
    # The failing createTask takes 1 s, so every other request meets the open gate.
    sandbox.configure(rules=[{"endpoint": "createTask", "sitekey": BAD_SITEKEY, "stall": 1.0,
                              "error": "ERROR_RECAPTCHA_INVALID_SITEKEY", "times": 1}])
    order = [7] + [i for i in range(1, ITEMS + 1) if i != 7]
    ledger = await run(sandbox, order=order, CONCURRENT_REQUESTS=1, CAPTCHA_HOLD_BACK=hold_back)
    ledger.check_accounting()
    assert [(u.rsplit("/", 1)[1], e.code) for u, e in ledger.dropped] == [("7", "ERROR_RECAPTCHA_INVALID_SITEKEY")]
    assert len(ledger.delivered) == ITEMS - 1
    stats = ledger.stats
    assert stats.get("captcha/held_back", 0) > 0 if hold_back else stats.get("captcha/gate/joined", 0) > 0
    # Nobody else waited on the bad key's gate, so nobody had to fetch again.
    assert stats.get("captcha/gate/refetched", 0) == 0
    assert stats["captcha/failed/ERROR_RECAPTCHA_INVALID_SITEKEY"] == 1


@pytest_twisted.ensureDeferred
async def test_an_unreachable_service_fails_the_whole_gate_once(sandbox):
    """Unlike a bad sitekey, an unreachable service is every waiting request's fate:
    the held-back requests are not sent out to meet it again, gate after gate."""
    sandbox.reset(site={"items": ITEMS})
    ledger = await run(sandbox, CONCURRENT_REQUESTS=1, CAPTCHA_API_URL="http://127.0.0.1:9")
    ledger.check_accounting()
    stats = ledger.stats
    assert stats["captcha/failed/TRANSPORT_ERROR"] == 1
    # The first page opened it; the next SESSION_EVIDENCE showed it too (so it is the
    # site's); the rest were held back unsent, but for a probe or so. None went out
    # to meet it again.
    assert stats["captcha/held_back"] + stats.get("captcha/gate/probes", 0) == ITEMS - 1 - SESSION_EVIDENCE
    assert "captcha/gate/refetched" not in stats
    assert {e.code for _, e in ledger.dropped} == {"TRANSPORT_ERROR"} and len(ledger.dropped) == ITEMS


@pytest_twisted.ensureDeferred
async def test_zero_balance_pauses_the_scheduler_until_topped_up(sandbox):
    from twisted.internet import reactor

    sandbox.reset(service={"balance": 0.0}, site={"items": ITEMS})
    reactor.callLater(1.5, lambda: sandbox.configure(balance=1.0))
    ledger = await run(sandbox)
    ledger.check_accounting()
    assert len(ledger.delivered) == ITEMS
    (_, _, at_pause), (_, _, at_resume) = ledger.events
    assert at_pause == at_resume  # no request left the scheduler while paused
    assert ledger.stats["captcha/api_calls/balance"] >= 2


@pytest_twisted.ensureDeferred
async def test_key_banned_closes_after_the_pause_timeout_and_jobdir_resumes(sandbox, tmp_path, caplog):
    from .crawling import API_KEY

    sandbox.reset(service={"keys": {API_KEY: "ERROR_KEY_BANNED"}}, site={"items": ITEMS})
    with caplog.at_level(logging.CRITICAL, logger="scrapy_captcha"):
        first = await run(sandbox, JOBDIR=str(tmp_path / "job"), CAPTCHA_PAUSE_TIMEOUT=1.0)
    assert first.reason == "captcha_error_key_banned"
    assert first.dropped == []
    assert first.stats["captcha/handed_back"] >= 1
    assert any("Check CAPTCHA_API_KEY" in r.getMessage() for r in caplog.records)

    sandbox.configure(keys={})  # the key is fixed
    second = await run(sandbox, JOBDIR=str(tmp_path / "job"))
    assert second.reason == "finished"
    everything = first.delivered + second.delivered
    assert sorted(everything) == sorted(f"{sandbox.site_url}/item/{i}" for i in range(1, ITEMS + 1))
    assert second.dropped == []


@pytest_twisted.ensureDeferred
async def test_task_not_supported_fails_over_to_the_next_provider(sandbox):
    sandbox.reset(site={"items": ITEMS})
    sandbox.configure(rules=[{"endpoint": "createTask", "error": "ERROR_TASK_NOT_SUPPORTED", "times": 1}])
    # The sandbox answers for both names here: the second provider is the same emulator.
    ledger = await run(sandbox, CAPTCHA_PROVIDER=["sandbox", "sandbox"],
                       CAPTCHA_API_URL={"sandbox": sandbox.service_url})
    ledger.check_accounting()
    assert len(ledger.delivered) == ITEMS
    assert ledger.stats["captcha/failover/sandbox/ERROR_TASK_NOT_SUPPORTED"] == 1


FAULTS = {
    "http_500": {"http_status": 500, "body": "Internal Server Error"},
    "http_502": {"http_status": 502, "body": "<html>Bad Gateway</html>"},
    "http_503": {"http_status": 503, "body": ""},
    "html_instead_of_json": {"http_status": 200, "body": "<!doctype html><title>Login</title>"},
    "json_without_errorId": {"http_status": 200, "body": '{"status": "ready"}', "content_type": "application/json"},
    "unknown_status": {"http_status": 200, "body": '{"errorId": 0, "status": "done"}',
                       "content_type": "application/json"},
    "reset_mid_body": {"reset": True},
    "stall_30s": {"stall": 30, "error": "ERROR_CAPTCHA_UNSOLVABLE"},
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest_twisted.ensureDeferred
async def test_service_faults_are_retried_with_delays_and_lose_nothing(sandbox, fault):
    sandbox.reset(site={"items": ITEMS})
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "times": 2, **FAULTS[fault]}])
    ledger = await run(sandbox, CAPTCHA_DELAY_SCALE=1.0, CAPTCHA_HTTP_TIMEOUT=1.0)
    ledger.check_accounting()
    assert len(ledger.delivered) == ITEMS and ledger.dropped == []
    assert sum(v for k, v in ledger.stats.items() if k.startswith("captcha/backoff/")) == 2
    polls = [e["t"] for e in sandbox.log() if e["endpoint"] == "getTaskResult"]
    # The two failing polls and the next one: spaced by the backoff (1 s, then 2 s, +-20 %).
    assert polls[1] - polls[0] >= 0.8
    assert polls[2] - polls[1] >= 1.6


@pytest_twisted.ensureDeferred
async def test_connection_refused_is_bounded_and_accounted(sandbox):
    sandbox.reset(site={"items": ITEMS})
    ledger = await run(sandbox, CAPTCHA_API_URL="http://127.0.0.1:9", CAPTCHA_SOLVE_TIMEOUT=30)
    ledger.check_accounting()
    # Six delayed attempts per gate, then its requests are given up with the fault's
    # code (a gate opened after the first one failed makes its own six).
    stats = ledger.stats
    assert stats["captcha/failed/TRANSPORT_ERROR"] >= 1
    assert stats["captcha/backoff/TRANSPORT_ERROR"] == 6 * stats["captcha/failed/TRANSPORT_ERROR"]
    assert ledger.dropped and {e.code for _, e in ledger.dropped} == {"TRANSPORT_ERROR"}


@pytest_twisted.ensureDeferred
async def test_budget_is_never_exceeded_and_a_jobdir_rerun_finishes(sandbox, tmp_path):
    # Sessions good for 3 pages: 10 items need several solves; the budget buys 2.
    sandbox.reset(site={"items": ITEMS, "session_pages": 3})
    first = await run(sandbox, JOBDIR=str(tmp_path / "job"), CAPTCHA_BUDGET=0.004, CONCURRENT_REQUESTS=2)
    assert first.reason == "captcha_budget_exhausted"
    assert first.stats["captcha/solved"] == 2
    assert sandbox.state()["spent"] == pytest.approx(0.004)
    assert first.dropped == []
    second = await run(sandbox, JOBDIR=str(tmp_path / "job"), CAPTCHA_BUDGET=1.0, CONCURRENT_REQUESTS=2)
    assert second.reason == "finished"
    assert sorted(first.delivered + second.delivered) == sorted(
        f"{sandbox.site_url}/item/{i}" for i in range(1, ITEMS + 1))


@pytest_twisted.ensureDeferred
async def test_dropped_and_solved_signals(sandbox):
    sandbox.reset(site={"items": ITEMS, "bad_key_items": [3]})
    seen = []

    class Listener:
        def solved(self, request, challenge, solution, **kw):
            seen.append(("solved", challenge.kind))

        def dropped(self, request, code, reason, **kw):
            seen.append(("dropped", code))

    listener = Listener()
    ledger = Ledger()
    runner = CrawlerRunner(settings_for(sandbox, **FAST))
    crawler = runner.create_crawler(Items)
    ledger.crawler = crawler
    crawler.signals.connect(listener.solved, signal=captcha_signals.captcha_solved)
    crawler.signals.connect(listener.dropped, signal=captcha_signals.captcha_dropped)
    await runner.crawl(crawler, site=sandbox.site_url, ledger=ledger)
    assert ("solved", "recaptcha_v2") in seen
    assert seen.count(("dropped", "ERROR_RECAPTCHA_INVALID_SITEKEY")) == 1
