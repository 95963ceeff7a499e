"""Detection over the page corpus in tests/pages/ (expected results in expected.json)."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_captcha import detect
from scrapy_captcha.detect import CHALLENGE_PAGE_SIZE, KINDS, explain, has_markers
from scrapy_captcha.detect.fastfind import Haystack
from scrapy_captcha.model import PARAM_NAMES

PAGES = Path(__file__).parent / "pages"
EXPECTED: dict = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"


def found(name: str):
    case = EXPECTED[name]
    return detect((PAGES / name).read_bytes(), url=case["url"], status=case["status"], headers=case.get("headers"))


def test_every_page_in_the_corpus_has_an_expectation():
    assert sorted(p.name for p in PAGES.iterdir() if p.name != "expected.json") == sorted(EXPECTED)
    assert len(EXPECTED) >= 60
    kinds = {c["kind"] for case in EXPECTED.values() for c in case["challenges"]}
    assert kinds == set(KINDS)  # every kind has at least one page


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_page(name):
    expected = EXPECTED[name]["challenges"]
    got = found(name)
    assert len(got) == len(expected)
    for challenge, want in zip(got, expected, strict=True):
        assert challenge.kind == want["kind"]
        assert challenge.sitekey == want["sitekey"]
        assert challenge.blocking is want["blocking"]
        assert challenge.invisible is want["invisible"]
        assert challenge.enterprise is want["enterprise"]
        for field in ("action", "data_s", "cdata", "chl_page_data", "rqdata", "api_domain"):
            assert getattr(challenge, field) == want[field], field
        assert challenge.page_url == EXPECTED[name]["url"]
        assert list(challenge.response_fields) == want["response_fields"]
        for key, value in want["params"].items():
            assert challenge.param(key) == value, key
        if want["form"] is None:
            assert challenge.form is None
        else:
            assert challenge.form.method == want["form"]["method"]
            assert challenge.form.action == want["form"]["action"]
            assert [n for n, _ in challenge.form.fields] == want["form"]["fields"]
        assert challenge.evidence  # --explain always has something to say


def test_corpus_scores(capsys):
    """Recall, sitekey accuracy and blocking accuracy over the whole corpus: all 100 %."""
    widgets = hits = keys = blocking_ok = 0
    for name, case in EXPECTED.items():
        got = {c.sitekey: c for c in found(name)}
        for want in case["challenges"]:
            widgets += 1
            challenge = got.get(want["sitekey"])
            if challenge is not None:
                hits += 1
                keys += challenge.sitekey == want["sitekey"]
                blocking_ok += challenge.blocking is want["blocking"]
    with capsys.disabled():
        print(f"\ndetect corpus: {len(EXPECTED)} pages, {widgets} widgets, recall {hits / widgets:.0%}, "
              f"sitekey accuracy {keys / widgets:.0%}, blocking accuracy {blocking_ok / widgets:.0%}")
    assert hits == keys == blocking_ok == widgets


def test_explain_says_why_nothing_was_found():
    hard = (PAGES / "trap_cloudflare_hard_block.html").read_bytes()
    assert any("hard block" in line for line in explain(hard, url="https://e.com/"))
    beacon = (PAGES / "trap_cloudflare_jsd_beacon.html").read_bytes()
    assert any("jsd/main.js beacon" in line for line in explain(beacon, url="https://e.com/"))
    placeholder = (PAGES / "trap_placeholder_sitekey.html").read_bytes()
    assert any("is not a reCAPTCHA key" in line for line in explain(placeholder, url="https://e.com/"))
    clean = (PAGES / "clean_article.html").read_bytes()
    assert explain(clean, url="https://e.com/")[-1].startswith("no vendor marker")


def test_headers_alone_make_a_challenge():
    got = detect(b"<html></html>", url="https://e.com/", status=403, headers={"cf-mitigated": "challenge"})
    assert [(c.kind, c.blocking) for c in got] == [("cloudflare_challenge", True)]


def test_no_markers_means_no_parse():
    assert not has_markers(b"<html><body>" + b"x" * 100_000 + b"</body></html>")
    assert has_markers("<div class='g-recaptcha'>")


def test_str_bodies_and_declared_encodings():
    html = f'<title>Verify you are human</title><form><div class="g-recaptcha" data-sitekey="{KEY}"></div></form>'
    assert detect(html, url="https://e.com/")[0].sitekey == KEY
    utf16 = html.encode("utf-16")
    got = detect(utf16, url="https://e.com/", headers={"Content-Type": "text/html; charset=utf-16"})
    # UTF-16 hides the ASCII markers from the byte scan: nothing found, nothing raised.
    assert got == [] or got[0].sitekey == KEY
    latin = ("<p>caf\xe9</p>" + html).encode("latin-1")
    headers = {b"Content-Type": [b"text/html; charset=latin-1"]}
    assert detect(latin, url="https://e.com/", headers=headers)[0].sitekey == KEY


def test_huge_hostile_body_is_bounded():
    widget = f'<div class="g-recaptcha" data-sitekey="{KEY}">'.encode()
    body = b"<div>" * 200_000 + widget + b"<span>recaptcha" * 300_000
    assert len(body) > 5_000_000
    result = detect(body, url="https://e.com/")
    assert all(c.sitekey == KEY for c in result)


@pytest.mark.parametrize("opening", [b"<!--", b"<script>", b"<style>"])
def test_unclosed_starts_are_one_element_not_one_search_each(opening, monkeypatch):
    # Every start tag after an unclosed one is that element's text: the search for
    # its end runs once, not once per start (which was quadratic on such a page).
    from scrapy_captcha.detect.page import Page

    searches = []
    region = Page._region
    monkeypatch.setattr(Page, "_region", lambda self, tag, start: searches.append(tag) or region(self, tag, start))
    body = b"<p>captcha</p>" + opening * 50_000 + b"captcha"
    assert detect(body, url="https://e.com/", status=403) == []
    assert len(searches) <= 4  # at most one per kind of raw-text element


def test_a_page_that_opens_in_upper_case_and_goes_on_in_lower_case():
    body = (b'<HTML><HEAD><title>Just a moment...</title></HEAD><body><form action="/v" method="post">'
            b'<div class="g-recaptcha" data-sitekey="' + KEY.encode() + b'"></div></form></body></HTML>')
    assert [(c.kind, c.blocking) for c in detect(body, url="https://e.com/")] == [("recaptcha_v2", True)]
    assert [c.kind for c in detect(body, url="https://e.com/", blocking_only=True)] == ["recaptcha_v2"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(data):
    detect(data, url="https://e.com/", status=403)
    detect(b"<div class='g-recaptcha'>" + data, url="https://e.com/")


MARKUP = st.sampled_from([
    "<div", "<form action='/x' method=post>", "</form>", "<div class=\"g-recaptcha\"", f" data-sitekey=\"{KEY}\"",
    ">", "</div>", "<script>", "grecaptcha.render('a', {sitekey: '", KEY, "'})", "</script>", "<iframe src=\"",
    f"https://www.google.com/recaptcha/api2/anchor?k={KEY}&size=invisible", "\">", "<title>", "</title>",
    "<base href='", "javascript:alert(1)", "\x00", "&amp;", "<!--", "-->", "<![CDATA[", "<textarea>",
    "\u2028", "<", "'", '"',
])


@settings(max_examples=200, deadline=None)
@given(st.lists(MARKUP, max_size=60), st.sampled_from([200, 403, 429, 503]))
def test_hostile_markup_never_raises(parts, status):
    for challenge in detect("".join(parts), url="https://e.com/a/b", status=status):
        assert challenge.sitekey == KEY
        assert challenge.page_url == "https://e.com/a/b"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "gb18030",
                                      "shift_jis", "koi8-r", "iso-8859-2"])
def test_every_encoding_scrapy_meets(encoding):
    html = (f'<html><head><meta charset="{encoding}"><title>Verify you are human</title></head><body>'
            f'<p>\u00e9\u00e8</p><form action="/v" method="post"><div class="g-recaptcha" data-sitekey="{KEY}">'
            f'</div></form></body></html>')
    try:
        body = html.encode(encoding)
    except UnicodeEncodeError:
        body = html.replace("\u00e9\u00e8", "").encode(encoding)
    got = detect(body, url="https://e.com/", headers={"Content-Type": f"text/html; charset={encoding}"})
    assert [(c.sitekey, c.blocking) for c in got] == [(KEY, True)]


# --------------------------------------------------------------------------- issue 10 / 11


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_blocking_only_is_the_blocking_subset(name):
    """The middleware's question (blocking_only=True) gets exactly what a full detect() calls blocking."""
    case = EXPECTED[name]
    body = (PAGES / name).read_bytes()
    full = detect(body, url=case["url"], status=case["status"], headers=case.get("headers"))
    quick = detect(body, url=case["url"], status=case["status"], headers=case.get("headers"), blocking_only=True)
    assert quick == [c for c in full if c.blocking]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_blocking_only_without_status_or_headers(name):
    """The same on the page alone (status 200, no headers): the quick verdict rests on the page's markers."""
    body = (PAGES / name).read_bytes()
    url = EXPECTED[name]["url"]
    assert detect(body, url=url, blocking_only=True) == [c for c in detect(body, url=url) if c.blocking]


def test_a_large_2xx_page_is_content_unless_its_title_or_status_says_otherwise():
    """The one assumption of the quick verdict: Cloudflare, DataDome and AWS WAF serve their pages small
    or with their status/header, so a large page served 2xx without a challenge header or title is not
    scanned for them. A full detect() still finds them; so does blocking_only with their status."""
    challenge = (PAGES / "cloudflare_challenge_turnstile_options.html").read_text(encoding="utf-8")
    padded = challenge.replace("<title>Just a moment...</title>", "<title>Tickets</title>").replace(
        "<body>", "<body>" + "<p>Tickets for every event this season.</p>" * 2000)
    assert len(padded.encode()) > CHALLENGE_PAGE_SIZE
    url = "https://tickets.northwind.example/events/"
    assert [c.kind for c in detect(padded, url=url) if c.blocking] == ["cloudflare_challenge"]
    assert detect(padded.encode(), url=url, blocking_only=True) == []
    for status, headers in ((403, None), (503, None), (200, {"cf-mitigated": "challenge"})):
        got = detect(padded.encode(), url=url, status=status, headers=headers, blocking_only=True)
        assert [c.kind for c in got] == ["cloudflare_challenge"]
    small = challenge.replace("<title>Just a moment...</title>", "<title>Tickets</title>")
    assert [c.kind for c in detect(small.encode(), url=url, blocking_only=True)] == ["cloudflare_challenge"]


def test_no_element_is_truth_tested():
    """lxml elements with no children are false: a form found must never fall back to another one.

    The login form here is empty (its fields point at it with form=); another form on
    the page has a v3 token input. Truth-testing the empty form used to pick that one.
    """
    body = (PAGES / "recaptcha_v3_empty_form_by_attribute.html").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        (challenge,) = detect(body, url="https://shop.example/account/login")
        for name, case in EXPECTED.items():
            detect((PAGES / name).read_bytes(), url=case["url"], status=case["status"], headers=case.get("headers"))
    assert challenge.response_fields == ("g-recaptcha-response",)
    assert challenge.form is not None and challenge.form.action == "https://shop.example/account/login"
    assert [n for n, _ in challenge.form.fields] == ["user", "pass"]


def test_render_target_outside_any_marker_is_found_with_its_form():
    (challenge,) = found("recaptcha_v2_render_target_without_marker.html")
    assert challenge.form is not None and challenge.form.action.endswith("/members/join")


def test_image_captcha_needs_no_word_captcha():
    body = (PAGES / "image_captcha_no_captcha_word.html").read_bytes()
    assert b"captcha" not in body.lower()
    (challenge,) = found("image_captcha_no_captcha_word.html")
    assert (challenge.kind, challenge.blocking, challenge.response_fields) == ("image", True, ("antwort",))
    assert any("Zeichen" in e or "Sicherheitsabfrage" in e for e in challenge.evidence)


@pytest.mark.parametrize("name", ["trap_product_images_search_box.html", "trap_sms_verification_code.html"])
def test_pictures_beside_text_fields_are_not_image_captchas(name):
    assert found(name) == []


def test_datadome_captcha_url_is_built_from_dd_and_the_cookie():
    case = EXPECTED["datadome_set_cookie.html"]
    (challenge,) = found("datadome_set_cookie.html")
    url = urlsplit(challenge.param("captcha_url"))
    query = parse_qs(url.query)
    assert (url.scheme, url.hostname, url.path) == ("https", "geo.captcha-delivery.com", "/captcha/")
    assert query == {
        "initialCid": ["AHrlqAAAAAMAz2Q7bL0pYxkAtq1wWg=="], "hash": ["A55FBF4311ED6F1BF9911EB71931D5"],
        "cid": ["4fWq~Zb8Lk2Y1xHn0QpVtR3uS6dEa9gJ7cMi5oN_Kw"], "t": ["fe"], "referer": [case["url"]],
        "s": ["43337"], "e": ["0f6a9c2d81e3b4a5c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"],
    }
    assert list(query) == ["initialCid", "hash", "cid", "t", "referer", "s", "e"]  # the order c.js uses
    assert challenge.param("t") == "fe" and challenge.param("cid") == "AHrlqAAAAAMAz2Q7bL0pYxkAtq1wWg=="


def test_datadome_banned_is_reported_with_t_bv():
    (challenge,) = found("datadome_banned.html")
    assert challenge.param("t") == "bv"
    assert any("banned" in e for e in challenge.evidence)


@pytest.mark.parametrize("name, kind, params", [
    ("geetest_v3_register_endpoint.html", "geetest",
     {"version": "3", "register_url": "https://mall.example.cn/captcha/register?t=",
      "api_server": "apiv6.geetest.com"}),
    ("geetest_v4_captcha_id_variable.html", "geetest", {"version": "4"}),
    ("aws_waf_captcha_both_scripts.html", "aws_waf", {"iv": "CgAFUTJvSgAAAqHN", "challenge_script": re.compile(
        r"^https://[\w.-]+\.token\.awswaf\.com/.+/challenge\.js$"), "captcha_script": re.compile(
        r"^https://[\w.-]+\.captcha\.awswaf\.com/.+/captcha\.js$")}),
    ("funcaptcha_surl_blob.html", "funcaptcha", {"api_subdomain": "crestline-api.arkoselabs.com",
                                                 "data": '{"blob": "Xq7vP2mZ.r8YtK1dW3nLs0QbHj6uFe9GcA4xRiTo5Mw="}'}),
    ("friendly_captcha_puzzle_endpoint.html", "friendly_captcha",
     {"puzzle_endpoint": "https://eu-api.friendlycaptcha.eu/api/v1/puzzle"}),
    ("cloudflare_challenge_turnstile_options.html", "cloudflare_challenge",
     {"cType": "managed", "cRay": "8a1f2e3d4c5b6a79", "cZone": "tickets.northwind.example"}),
    ("image_captcha_shop_search_field_name.html", "image",
     {"image_url": "https://images.harbor-market.example/captcha/usvmgloq/Captcha_kwbyhwcsbp.jpg"}),
])
def test_every_parameter_the_task_needs(name, kind, params):
    """Issue 11: what each provider's task takes, extracted from the page under the names in model.PARAM_NAMES."""
    (challenge,) = found(name)
    assert challenge.kind == kind
    for key, want in params.items():
        assert key in PARAM_NAMES
        got = challenge.param(key)
        assert (want.match(got) is not None) if isinstance(want, re.Pattern) else got == want, key


def test_cloudflare_challenge_carries_its_turnstile_options():
    (challenge,) = found("cloudflare_challenge_turnstile_options.html")
    assert (challenge.sitekey, challenge.action, challenge.cdata) == ("0x4AAAAAAADnPIDROrmt1Wwj", "managed",
                                                                        "8a1f2e3d4c5b6a79")
    assert challenge.chl_page_data.startswith("3gAFo2l2")
    assert challenge.blocking


def test_geetest_v4_key_in_a_variable():
    (challenge,) = found("geetest_v4_captcha_id_variable.html")
    assert challenge.sitekey == "0f2e6d8c4b1a49e3a7c5d9b8e1f20a3c"


def test_image_captcha_inline_picture_is_sent_as_is():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
    html = (f'<html><head><title>Verify</title></head><body><form action="/check" method="post">'
            f'<p>Type the characters you see in the picture</p><img src="data:image/png;base64,{png}">'
            f'<input type="text" name="answer" placeholder="Characters shown"><button>OK</button></form></body></html>')
    (challenge,) = detect(html, url="https://e.com/")
    assert challenge.param("image_body") == png
    assert challenge.param("image_url").startswith("data:image/png;base64,")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=9000), st.sampled_from([b"captcha", b"<form", b"x", b"ab", b"\x00\xff"]),
       st.integers(min_value=0, max_value=9000), st.integers(min_value=0, max_value=9500))
def test_fast_find_agrees_with_bytes_find(data, needle, start, end):
    haystack = Haystack(data * 3)  # long enough to take the memmem path
    blob = data * 3
    assert haystack.find(needle, start) == blob.find(needle, start)
    assert haystack.find(needle, start, end) == blob.find(needle, start, end)
    assert haystack.find(needle) == blob.find(needle)


def test_fast_find_on_a_large_page():
    blob = (b"<div>" + b"x" * 5000) * 50 + b"captcha" + b"y" * 10_000
    haystack = Haystack(blob)
    for start in (0, 1, 4096, 250_000, blob.find(b"captcha") - 3, blob.find(b"captcha") + 1):
        assert haystack.find(b"captcha", start) == blob.find(b"captcha", start)
    assert haystack.find_all(b"<div>", 10) == [i * 5005 for i in range(10)]
