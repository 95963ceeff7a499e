"""Real Scrapy crawls through the sandbox's reCAPTCHA gate."""

from __future__ import annotations

import logging

import pytest
import pytest_twisted
import scrapy

from scrapy_captcha import CaptchaDropped
from scrapy_captcha.sandbox import DEMO_SITEKEY

from .crawling import API_KEY, CatalogSpider, crawl, settings_for

ALL_IDS = list(range(1, 61))


@pytest_twisted.ensureDeferred
async def test_every_item_arrives_exactly_once_through_the_gate(sandbox):
    record = await crawl(sandbox)
    assert record.ids == ALL_IDS
    assert record.errbacks == []
    assert record.reason == "finished"
    stats = record.stats
    assert stats["captcha/solved"] >= 1
    assert stats["captcha/detected/recaptcha_v2"] >= 1
    # Every request that met the gate was released once it passed: none lost.
    assert stats["captcha/parked"] == stats["captcha/released"]
    # The catalog pages were delivered with their cb_kwargs and meta intact.
    assert sorted(p for p, _ in record.pages) == [1, 2, 3, 4, 5, 6]
    assert {m for _, m in record.pages} == {"kept"}
    state = sandbox.state()
    assert state["verified"] == stats["captcha/solved"]
    assert state["calls"]["createTask"] == stats["captcha/solved"]


@pytest_twisted.ensureDeferred
async def test_one_solve_for_a_gate_that_many_requests_meet(sandbox):
    # The first catalog page is requested 20 times at once (same gate):
    # one createTask, twenty deliveries.
    class Burst(CatalogSpider):
        async def start(self):
            for n in range(20):
                yield scrapy.Request(f"{self.start_url}/item/{n + 1}", callback=self.parse_item,
                                     errback=self.failed, cb_kwargs={"from_page": 0},
                                     meta={"mine": "kept"})

    sandbox.reset(service={"latency": 1.0})
    record = await crawl(sandbox, Burst, CONCURRENT_REQUESTS=20, CONCURRENT_REQUESTS_PER_DOMAIN=20)
    assert record.ids == list(range(1, 21))
    assert sandbox.state()["calls"]["createTask"] == 1
    stats = record.stats
    # Every other request that met it waited for that one solve, or was held back unsent
    # once the gate was known to be the site's.
    assert stats["captcha/gate/page"] == 1 and stats["captcha/scope/session"] == 1
    waited = stats.get("captcha/gate/joined", 0) + stats.get("captcha/gate/tentative", 0)
    assert waited == stats["captcha/parked"] - 1
    assert stats["captcha/parked"] + stats.get("captcha/held_back", 0) == 20 == stats["captcha/released"]


@pytest_twisted.ensureDeferred
async def test_sessions_that_expire_are_solved_again_and_nothing_is_lost(sandbox):
    sandbox.reset(site={"session_pages": 10})
    record = await crawl(sandbox)
    assert record.ids == ALL_IDS
    assert record.stats["captcha/solved"] >= 6  # 66 pages, 10 per session
    assert record.errbacks == []


@pytest.mark.parametrize("variant", ["invisible", "explicit"])
@pytest_twisted.ensureDeferred
async def test_gate_variants(sandbox, variant):
    sandbox.reset(site={"gate_variant": variant})
    record = await crawl(sandbox)
    assert record.ids == ALL_IDS
    assert record.stats["captcha/solved"] >= 1


@pytest_twisted.ensureDeferred
async def test_meta_captcha_false_leaves_the_response_alone(sandbox):
    got = []

    class Hands(CatalogSpider):
        async def start(self):
            yield scrapy.Request(self.start_url + "/item/1", callback=self.got,
                                 meta={"captcha": False, "handle_httpstatus_list": [403]})

        def got(self, response):
            got.append(response.status)

    record = await crawl(sandbox, Hands)
    assert got == [403]
    assert "captcha/detected" not in record.stats
    assert sandbox.state()["calls"] == {}


@pytest_twisted.ensureDeferred
async def test_invalid_sitekey_drops_into_the_errback(sandbox, caplog):
    # The site shows a key the (emulated) Google does not know: the service
    # answers ERROR_RECAPTCHA_INVALID_SITEKEY, nothing can help, the request is dropped.
    sandbox.reset(site={"sitekey": "6L" + "x" * 38})
    with caplog.at_level(logging.WARNING, logger="scrapy_captcha.middleware"):
        record = await crawl(sandbox)
    assert record.items == []
    assert len(record.errbacks) == 1
    failure = record.errbacks[0]
    assert failure.check(CaptchaDropped)
    assert failure.value.code == "ERROR_RECAPTCHA_INVALID_SITEKEY"
    assert record.stats["captcha/dropped/ERROR_RECAPTCHA_INVALID_SITEKEY"] == 1
    assert any("ERROR_RECAPTCHA_INVALID_SITEKEY" in r.getMessage() and "/catalog/1" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


@pytest_twisted.ensureDeferred
async def test_unsolvable_reschedules_and_the_item_arrives_once(sandbox):
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "error": "ERROR_CAPTCHA_UNSOLVABLE", "times": 1}])
    record = await crawl(sandbox)
    assert record.ids == ALL_IDS
    assert record.stats["captcha/rescheduled/ERROR_CAPTCHA_UNSOLVABLE"] >= 1
    assert record.stats["captcha/solved"] >= 1
    assert record.errbacks == []


@pytest_twisted.ensureDeferred
async def test_retry_budget_turns_reschedule_into_drop(sandbox):
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "error": "ERROR_CAPTCHA_UNSOLVABLE", "times": -1}])
    record = await crawl(sandbox, CAPTCHA_MAX_RETRIES=2)
    assert [f.value.code for f in record.errbacks] == ["ERROR_CAPTCHA_UNSOLVABLE"]
    assert record.stats["captcha/rescheduled/ERROR_CAPTCHA_UNSOLVABLE"] == 2
    assert sandbox.state()["calls"]["createTask"] == 3


@pytest_twisted.ensureDeferred
async def test_token_refused_by_the_site_is_reported_and_rescheduled(sandbox):
    # The service hands out a token the site has never seen: the gate comes back.
    sandbox.configure(rules=[{"endpoint": "getTaskResult", "times": 1, "http_status": 200,
                              "content_type": "application/json",
                              "body": '{"errorId":0,"status":"ready","solution":{"gRecaptchaResponse":"03Aforged"}}'}])
    record = await crawl(sandbox)
    assert record.ids == ALL_IDS
    assert record.stats["captcha/token_rejected"] == 1
    assert record.stats["captcha/rescheduled/TOKEN_REJECTED"] == 1
    assert sandbox.site_state()["refused"] == 1


@pytest_twisted.ensureDeferred
async def test_zero_balance_pauses_then_resumes_when_topped_up(sandbox):
    sandbox.reset(service={"balance": 0.0, "latency": 0.2})
    from twisted.internet import reactor

    # Top the account up two seconds into the pause, as a person would.
    reactor.callLater(2.0, lambda: sandbox.configure(balance=1.0))
    record = await crawl(sandbox, CAPTCHA_PAUSE_CHECK_INTERVAL=0.5)
    assert record.ids == ALL_IDS
    assert record.stats["captcha/paused/ERROR_ZERO_BALANCE"] == 1
    assert record.stats["captcha/api_calls/balance"] >= 2
    assert record.errbacks == []


@pytest_twisted.ensureDeferred
async def test_the_api_key_never_reaches_logs_or_stats(sandbox, caplog):
    sandbox.configure(rules=[{"endpoint": "createTask", "error": "ERROR_ZERO_BALANCE", "times": 1},
                             {"endpoint": "getTaskResult", "http_status": 502, "body": "bad gateway", "times": 1}])
    with caplog.at_level(logging.DEBUG):
        record = await crawl(sandbox, CAPTCHA_PAUSE_CHECK_INTERVAL=0.3)
    assert record.ids == ALL_IDS
    assert caplog.records, "the crawl logged nothing?"
    for entry in caplog.records:
        assert API_KEY not in entry.getMessage()
        assert API_KEY not in str(entry.args)
    assert API_KEY not in repr(record.stats)


def test_the_sandbox_sitekey_has_the_real_format():
    assert DEMO_SITEKEY.startswith("6L") and len(DEMO_SITEKEY) == 40


def test_settings_for_never_puts_the_key_in_repr(sandbox):
    from scrapy_captcha.settings import CaptchaSettings

    config = CaptchaSettings.from_settings(scrapy.settings.Settings(settings_for(sandbox)))
    assert API_KEY not in repr(config)


@pytest_twisted.ensureDeferred
async def test_a_pending_solve_holds_no_concurrency_slot(sandbox):
    # CONCURRENT_REQUESTS=1: a middleware that awaited the 3 s solve inside the
    # downloader would stop the whole crawl until it finished. Ours parks the
    # request, so the 20 plain pages on another host all arrive first.
    sandbox.reset(service={"latency": 3.0})
    order = []

    class Mixed(CatalogSpider):
        async def start(self):
            yield scrapy.Request(self.start_url + "/item/1", callback=self.gated, priority=10)
            for n in range(20):
                yield scrapy.Request(f"{sandbox.service_url}/_sandbox/state?page={n}", callback=self.plain)

        def gated(self, response):
            order.append("gated")

        def plain(self, response):
            order.append("plain")

    record = await crawl(sandbox, Mixed, CONCURRENT_REQUESTS=1)
    assert order == ["plain"] * 20 + ["gated"]
    assert record.stats["captcha/solved"] == 1


@pytest_twisted.ensureDeferred
async def test_a_request_downloaded_outside_the_scheduler_waits_for_its_gate(sandbox):
    # robots.txt is fetched with engine.download: the gate page it meets cannot be
    # re-issued through the scheduler, so that download waits for the gate to pass.
    class Three(CatalogSpider):
        async def start(self):
            for i in range(1, 4):
                yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item,
                                     cb_kwargs={"from_page": 0}, meta={"mine": "kept"})

    sandbox.reset(service={"latency": 0.5})
    # Without dont_obey_robotstxt on the form post this deadlocks (pytest's timeout ends it).
    record = await crawl(sandbox, Three, ROBOTSTXT_OBEY=True)
    assert record.ids == [1, 2, 3]
    assert record.stats["captcha/solved"] == 1
    assert record.stats["captcha/parked"] == 1  # the robots.txt request, on the one gate
    assert record.stats["robotstxt/response_status_count/404"] == 1  # fetched after the gate passed


@pytest.mark.parametrize(("vendor", "kind"), [("cloudflare", "cloudflare_challenge"), ("datadome", "datadome"),
                                              ("aws_waf", "aws_waf")])
@pytest_twisted.ensureDeferred
async def test_kinds_no_configured_provider_solves_are_dropped_with_what_would_pass_them(sandbox, caplog, vendor,
                                                                                        kind):
    """yescaptcha offers none of these: dropped before anything is paid, and the log says
    which providers (or a browser) would pass them."""
    class One(CatalogSpider):
        async def start(self):
            yield scrapy.Request(f"{self.start_url}/challenge/{vendor}", callback=self.parse_item,
                                 errback=self.failed, cb_kwargs={"from_page": 0})

    record = await crawl(sandbox, One, CAPTCHA_PROVIDER="yescaptcha",
                         CAPTCHA_API_URL=sandbox.service_url + "/yescaptcha")
    assert [(f.value.code, f.value.reason) for f in record.errbacks] == [(f"unsupported_{kind}",) * 2]
    assert record.stats[f"captcha/dropped/unsupported_{kind}"] == 1
    assert sandbox.state()["calls"] == {}  # nothing paid
    said = [r.getMessage() for r in caplog.records if "What would pass it" in r.getMessage()]
    assert said and ("capsolver" in said[0] or "capmonster" in said[0])


@pytest_twisted.ensureDeferred
async def test_an_ip_bound_kind_without_a_proxy_is_dropped_with_the_reason(sandbox):
    """The sandbox dialect solves the Cloudflare page only through the crawl's proxy."""
    class One(CatalogSpider):
        async def start(self):
            yield scrapy.Request(f"{self.start_url}/challenge/cloudflare", callback=self.parse_item,
                                 errback=self.failed, cb_kwargs={"from_page": 0})

    record = await crawl(sandbox, One)
    (failure,) = record.errbacks
    assert failure.value.code == "PROXY_REQUIRED" and "meta['proxy']" in failure.value.reason


@pytest_twisted.ensureDeferred
async def test_unsupported_pass_hands_the_page_to_the_spider(sandbox):
    got = []

    class One(CatalogSpider):
        async def start(self):
            yield scrapy.Request(f"{self.start_url}/challenge/cloudflare", callback=self.seen,
                                 meta={"handle_httpstatus_list": [403]})

        def seen(self, response):
            got.append((response.status, response.headers.get("cf-mitigated")))

    record = await crawl(sandbox, One, CAPTCHA_UNSUPPORTED="pass", CAPTCHA_PROVIDER="yescaptcha",
                         CAPTCHA_API_URL=sandbox.service_url + "/yescaptcha")
    assert got == [(403, b"challenge")]
    assert record.stats["captcha/passed/unsupported_cloudflare_challenge"] == 1


@pytest_twisted.ensureDeferred
async def test_hundred_pages_behind_one_gate_cost_one_solve(sandbox):
    class Hundred(CatalogSpider):
        async def start(self):
            for i in range(1, 101):
                yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item,
                                     errback=self.failed, cb_kwargs={"from_page": 0}, meta={"mine": "kept"})

    sandbox.reset(service={"latency": 1.0}, site={"items": 100})
    record = await crawl(sandbox, Hundred, CONCURRENT_REQUESTS=16, CONCURRENT_REQUESTS_PER_DOMAIN=8)
    assert record.ids == list(range(1, 101))
    assert sandbox.state()["calls"]["createTask"] == 1
    held = record.stats.get("captcha/held_back", 0)
    assert held > 0
    # Gate pages fetched: the requests in flight when it appeared (8 per domain), those
    # sent while its scope was learned (until SESSION_EVIDENCE of them came back: a round
    # or two, more on a loaded machine), and the probes; the rest were held back unsent.
    assert sandbox.site_state()["gates"] == record.stats["captcha/parked"] <= 50
    assert held + record.stats["captcha/parked"] >= 100


@pytest_twisted.ensureDeferred
async def test_hold_back_can_be_turned_off(sandbox):
    class Twenty(CatalogSpider):
        async def start(self):
            for i in range(1, 21):
                yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item,
                                     cb_kwargs={"from_page": 0}, meta={"mine": "kept"})

    sandbox.reset(service={"latency": 1.0})
    record = await crawl(sandbox, Twenty, CAPTCHA_HOLD_BACK=False, CONCURRENT_REQUESTS_PER_DOMAIN=4)
    assert record.ids == list(range(1, 21))
    assert "captcha/held_back" not in record.stats
    assert sandbox.state()["calls"]["createTask"] == 1  # still one solve: late comers join the gate


@pytest_twisted.ensureDeferred
async def test_per_request_captchas_get_one_solve_each_and_the_callback_gets_the_submission(sandbox):
    thanks = []

    class Comments(CatalogSpider):
        async def start(self):
            for n in (1, 2, 3):
                yield scrapy.Request(f"{self.start_url}/form/{n}", callback=self.posted, errback=self.failed,
                                     meta={"captcha": True}, cb_kwargs={"n": n})

        def posted(self, response, n):
            thanks.append((n, response.css("p.thanks::attr(data-thread)").get()))

    record = await crawl(sandbox, Comments)
    assert sorted(thanks) == [(1, "1"), (2, "2"), (3, "3")]
    assert sandbox.state()["calls"]["createTask"] == 3
    assert sandbox.site_state()["verified"] == 3
    assert record.errbacks == []


@pytest_twisted.ensureDeferred
async def test_a_token_that_waited_out_a_pause_is_not_posted(sandbox, monkeypatch):
    """A gate's token arrives while another gate has paused the crawl; by the time the
    crawl resumes the token is too old: it is solved again, never posted stale."""
    from scrapy_captcha import submission
    from scrapy_captcha.sandbox.site import BAD_SITEKEY

    monkeypatch.setitem(submission.TOKEN_TTL, "recaptcha_v2", 0.05)  # the site's 120 s, shortened
    sandbox.reset(service={"latency": 0.2}, site={"items": 10, "bad_key_items": [3]})
    # The bad-key page's task pauses the crawl at once; the account "stays empty"
    # for three checks, while the good gate's token (first poll at 1 s) waits.
    sandbox.configure(rules=[
        {"endpoint": "createTask", "sitekey": BAD_SITEKEY, "error": "ERROR_ZERO_BALANCE", "times": 1},
        {"endpoint": "getBalance", "error": "ERROR_ZERO_BALANCE", "times": 3},
    ])

    class Ten(CatalogSpider):
        async def start(self):
            for i in range(1, 11):
                yield scrapy.Request(f"{self.start_url}/item/{i}", callback=self.parse_item, errback=self.failed,
                                     cb_kwargs={"from_page": 0}, meta={"mine": "kept"})

    record = await crawl(sandbox, Ten, CAPTCHA_PAUSE_CHECK_INTERVAL=0.4, CAPTCHA_MAX_RETRIES=1)
    assert sorted(record.ids) == [i for i in range(1, 11) if i != 3]
    assert [f.value.code for f in record.errbacks] == ["ERROR_RECAPTCHA_INVALID_SITEKEY"]
    assert record.stats["captcha/token_expired"] >= 1
    assert sandbox.site_state()["refused"] == 0  # no stale token reached the site
