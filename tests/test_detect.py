"""Detection over the page corpus in tests/pages/ (expected results in expected.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_captcha import detect
from scrapy_captcha.detect import KINDS, explain, has_markers

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
    for challenge, want in zip(got, expected):
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
    assert detect(latin, url="https://e.com/", headers={b"Content-Type": [b"text/html; charset=latin-1"]})[0].sitekey == KEY


def test_huge_hostile_body_is_bounded():
    widget = f'<div class="g-recaptcha" data-sitekey="{KEY}">'.encode()
    body = b"<div>" * 200_000 + widget + b"<span>recaptcha" * 300_000
    assert len(body) > 5_000_000
    result = detect(body, url="https://e.com/")
    assert all(c.sitekey == KEY for c in result)


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
