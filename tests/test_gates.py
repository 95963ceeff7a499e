"""Gate scope, learned from evidence: the decisions of GateBook, without a crawl."""

from __future__ import annotations

import pytest
from scrapy import Request

from scrapy_captcha import Challenge
from scrapy_captcha.gates import (
    AFTER_PASS_EVIDENCE,
    MAX_PROBES,
    PAGE,
    SESSION,
    SESSION_EVIDENCE,
    UNKNOWN,
    Gate,
    GateBook,
    challenge_id,
    gate_key,
)

KEY = "6LcSANDBOXdemoSiteKeyForScrapyCaptcha-01"


def challenge(kind: str = "recaptcha_v2", sitekey: str | None = KEY) -> Challenge:
    return Challenge(kind=kind, sitekey=sitekey, page_url="https://shop.example/x", blocking=True)


def opened(book: GateBook, url: str, ch: Challenge, now: float = 0.0) -> Gate:
    request = Request(url)
    key = gate_key(request)
    scope = book.scope(key, ch)
    scope.reset_window(now)
    gate = Gate(key, ch, request, scope=PAGE)
    book.open(book.slot(PAGE, key, ch, request), gate)
    return gate


def test_gate_key_is_host_cookiejar_and_proxy_exit():
    a = Request("https://Shop.example/a", meta={"cookiejar": 2, "proxy": "http://p:1"})
    assert gate_key(a) == ("shop.example", 2, "p:1")
    assert gate_key(Request("https://shop.example/b")) == ("shop.example", None, None)


def test_gate_key_is_the_same_before_and_after_httpproxymiddleware_and_holds_no_credential():
    from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware

    before = Request("https://shop.example/a", meta={"proxy": "http://user-session-7:s3cret@gate.proxy:7777"})
    key = gate_key(before)
    assert "s3cret" not in repr(key) and "user-session-7" not in repr(key)
    HttpProxyMiddleware().process_request(before)  # moves the credentials to a header
    assert before.meta["proxy"] == "http://gate.proxy:7777"
    assert gate_key(before) == key
    other = Request("https://shop.example/a", meta={"proxy": "http://user-session-8:s3cret@gate.proxy:7777"})
    assert gate_key(other) != key  # another proxy session is another exit IP


def test_an_environment_proxy_is_not_part_of_the_gate_key(monkeypatch):
    # HttpProxyMiddleware fills meta["proxy"] in from http_proxy for every request alike: the
    # key a request had before it (when the gate opened) must be the key its response brings.
    from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware

    monkeypatch.setenv("http_proxy", "http://env-user:s3cret@env.proxy:3128")
    request = Request("http://shop.example/a")
    key = gate_key(request)
    HttpProxyMiddleware().process_request(request)
    assert request.meta["proxy"] == "http://env.proxy:3128"
    assert gate_key(request) == key == gate_key(Request("http://shop.example/b"))


def test_clearance_kinds_are_session_by_nature():
    book = GateBook()
    for kind in ("cloudflare_challenge", "datadome", "aws_waf"):
        assert book.scope(("h", None, None), challenge(kind, None)).mode == SESSION
    assert book.scope(("h", None, None), challenge()).mode == UNKNOWN


def test_other_urls_showing_it_and_none_clean_make_it_session():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=10.0)
    changes = []
    for n in range(2, 2 + SESSION_EVIDENCE):
        changes += book.evidence(gate.key, f"https://shop.example/{n}", challenge_id(ch), sent=11.0)
    assert [scope.mode for scope, _ in changes] == [SESSION]


def test_a_clean_page_while_it_is_open_makes_it_page():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=10.0)
    book.evidence(gate.key, "https://shop.example/2", challenge_id(ch), sent=11.0)
    (scope, cid), = book.evidence(gate.key, "https://shop.example/plain", None, sent=11.0)
    assert scope.mode == PAGE and cid == challenge_id(ch)
    for n in range(3, 20):  # later challenged pages do not undo it while clean ones came
        assert book.evidence(gate.key, f"https://shop.example/{n}", challenge_id(ch), sent=11.0) == []


def test_responses_already_in_flight_say_nothing():
    """Eight gated pages requested first all come back before anything else: they
    were sent before the challenge was seen, so they are no evidence of a session."""
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=10.0)
    for n in range(2, 9):
        assert book.evidence(gate.key, f"https://shop.example/{n}", challenge_id(ch), sent=9.9) == []
    assert book.scope(gate.key, ch).mode == UNKNOWN


def test_the_same_page_again_is_no_evidence_of_a_session():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=10.0)
    for _ in range(5):
        book.evidence(gate.key, "https://shop.example/1#top", challenge_id(ch), sent=11.0)
    assert book.scope(gate.key, ch).mode == UNKNOWN


def test_another_challenge_is_no_evidence_either_way():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=10.0)
    other = ("hcaptcha", "10000000-ffff-ffff-ffff-000000000001")
    for n in range(2, 9):
        book.evidence(gate.key, f"https://shop.example/{n}", other, sent=11.0)
    assert book.scope(gate.key, ch).mode == UNKNOWN


@pytest.mark.parametrize("rechallenged, mode", [(True, PAGE), (False, SESSION)])
def test_what_comes_back_after_a_pass_decides_an_unknown_scope(rechallenged, mode):
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch)
    scope = book.after_pass(gate.key, challenge_id(ch), rechallenged)
    assert scope is not None and scope.mode == mode


def test_a_wrong_session_guess_flips_back_and_needs_twice_the_evidence():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=1.0)
    for n in range(2, 2 + SESSION_EVIDENCE):
        book.evidence(gate.key, f"https://shop.example/{n}", challenge_id(ch), sent=2.0)
    scope = book.scope(gate.key, ch)
    assert scope.mode == SESSION
    scope.passed()
    for _ in range(AFTER_PASS_EVIDENCE - 1):
        assert book.after_pass(gate.key, challenge_id(ch), True) is None  # a few may be noise
    assert book.after_pass(gate.key, challenge_id(ch), True).mode == PAGE
    assert scope.needed == 2 * SESSION_EVIDENCE


def test_a_pass_that_cleared_something_keeps_the_session():
    book = GateBook()
    ch = challenge()
    gate = opened(book, "https://shop.example/1", ch, now=1.0)
    for n in range(2, 2 + SESSION_EVIDENCE):
        book.evidence(gate.key, f"https://shop.example/{n}", challenge_id(ch), sent=2.0)
    scope = book.scope(gate.key, ch)
    scope.passed()
    book.after_pass(gate.key, challenge_id(ch), False)
    for _ in range(3):
        book.after_pass(gate.key, challenge_id(ch), True)
    assert scope.mode == SESSION


def test_page_gates_are_per_page_and_the_oldest_leads():
    book = GateBook()
    ch = challenge()
    first = opened(book, "https://shop.example/1", ch)
    second = opened(book, "https://shop.example/2", ch)
    assert book.leading(first.key, challenge_id(ch)) is first
    book.close(first)
    assert book.leading(first.key, challenge_id(ch)) is second
    book.promote(second)
    assert book.session_gate(second.key) is second and book.leading(second.key, challenge_id(ch)) is None
    book.close(second)
    assert not book and not book.open_keys


def test_scopes_kept_for_a_bounded_number_of_keys():
    book = GateBook()
    book.MAX_KEYS = 100
    for n in range(500):
        book.scope((f"h{n}", None, None), challenge())
    assert len(book.scopes) <= 100


# ---------------------------------------------------------------- real crawls

import pytest_twisted  # noqa: E402
import scrapy  # noqa: E402

from .crawling import CatalogSpider, crawl, peak_open, task_spans  # noqa: E402


class PagesSpider(CatalogSpider):
    """Requests the given paths; records which came back as content."""

    paths: list[str] = []

    async def start(self):
        for path in self.paths:
            yield scrapy.Request(self.start_url + path, callback=self.got, errback=self.failed,
                                 priority=self.priority_of(path), cb_kwargs={"path": path})

    def priority_of(self, path: str) -> int:
        return 0

    def got(self, response, path):
        assert response.css("article, section.results"), f"{path} is not content"
        self.record.pages.append(path)


def spider(paths: list[str], first: tuple[str, ...] = ()) -> type:
    return type("Pages", (PagesSpider,), {"paths": paths,
                                          "priority_of": lambda self, p: 1 if p.startswith(first) else 0})


@pytest.mark.parametrize("order", ["gated first", "interleaved"])
@pytest_twisted.ensureDeferred
async def test_pages_with_their_own_captcha_are_solved_concurrently_and_hold_nothing_back(sandbox, order):
    """8 item pages with a captcha each among 60 plain pages on one host, no cookiejar."""
    sandbox.reset(service={"latency": 1.0}, site={"session_gate": False, "page_gated_items": list(range(1, 9))})
    gated = [f"/item/{i}" for i in range(1, 9)]
    plain = [f"/open/{n}" for n in range(60)]
    paths = (gated + plain if order == "gated first"
             else [p for i in range(8) for p in plain[i * 7:(i + 1) * 7] + [gated[i]]] + plain[56:])
    record = await crawl(sandbox, spider(paths, first=("/item/",)), CONCURRENT_REQUESTS=8)
    assert sorted(record.pages) == sorted(paths) and record.errbacks == []
    stats = record.stats
    assert sandbox.state()["calls"]["createTask"] == 8 == stats["captcha/solved"]
    # The gated pages requested first may look like a site-wide gate for a moment; a
    # probe comes back clean and the page gates go on side by side (whatever was held
    # back meanwhile went out then, or when the gate passed: every page arrived above).
    assert stats.get("captcha/gate/probes", 0) <= MAX_PROBES  # (a probe may meet a gated page)
    assert stats.get("captcha/scope/session", 0) <= 1 and stats["captcha/scope/page"] >= 1
    # Concurrently, not one after another: the tasks were open at the service together
    # (the first may run alone while nobody knows whose challenge it is).
    assert peak_open(task_spans(sandbox.log())) >= 7
    # Each gated page fetched behind its gate once, or twice when it first waited on
    # another page's gate while nobody knew whose challenge it was.
    assert 8 <= sandbox.site_state()["page_gates"] <= 16


@pytest_twisted.ensureDeferred
async def test_a_site_that_starts_gating_after_50_requests_costs_one_solve(sandbox):
    sandbox.reset(site={"items": 120, "gate_after": 50})
    paths = [f"/item/{i}" for i in range(1, 121)]
    record = await crawl(sandbox, spider(paths), CONCURRENT_REQUESTS=8)
    assert sorted(record.pages) == sorted(paths)
    assert sandbox.state()["calls"]["createTask"] <= 2
    assert record.stats["captcha/scope/session"] == 1
    assert record.stats["captcha/held_back"] > 0


@pytest_twisted.ensureDeferred
async def test_a_mixed_site_keeps_per_page_captchas_apart_from_its_session_gate(sandbox):
    """/search/* pages carry their own captcha; everything else is session-gated after 50."""
    sandbox.reset(site={"items": 90, "gate_after": 50})
    paths = []
    for i in range(1, 91):
        paths.append(f"/item/{i}")
        if i % 9 == 0:
            paths.append(f"/search/{i // 9}")
    record = await crawl(sandbox, spider(paths), CONCURRENT_REQUESTS=8)
    assert sorted(record.pages) == sorted(paths) and record.errbacks == []
    stats = record.stats
    assert stats["captcha/scope/session"] >= 1 and stats["captcha/scope/page"] >= 1
    searches = sum(p.startswith("/search/") for p in paths)
    # One solve per search page, one or two for the session (and one more per search
    # page whose token was posted while the session gate stood in front of it).
    assert searches + 1 <= sandbox.state()["calls"]["createTask"] <= 2 * searches + 2


@pytest_twisted.ensureDeferred
async def test_the_learned_scope_is_in_the_debug_log(sandbox, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="scrapy_captcha")
    sandbox.reset(site={"session_gate": False, "page_gated_items": [1]})
    await crawl(sandbox, spider(["/item/1"] + [f"/open/{n}" for n in range(20)]))
    said = [r.getMessage() for r in caplog.records if "Captcha scope" in r.getMessage()]
    assert said and "page" in said[0] and "came back clean" in said[0]
