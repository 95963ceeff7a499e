"""Detection on 113 real pages nobody here wrote (../shared/realworld, read in place, never copied).

Scoring follows the corpus README: each expected challenge is hit by a
challenge of its kind (or of one of its ``alt`` answers); a sitekey, when the
answer names one, must match exactly; ``blocking`` must match. A challenge
nobody expected is a false positive, except one the case lists as
``optional`` (a key that lives only in page config) reported non-blocking.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scrapy_captcha import detect
from scrapy_captcha.model import Challenge

REALWORLD = Path(os.environ.get("SCRAPY_CAPTCHA_REALWORLD")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "realworld")
pytestmark = pytest.mark.skipif(not (REALWORLD / "manifest.json").is_file(),
                                reason=f"real-world corpus not found at {REALWORLD}")


def _cases() -> list[dict[str, Any]]:
    if not (REALWORLD / "manifest.json").is_file():
        return []
    return json.loads((REALWORLD / "manifest.json").read_text(encoding="utf-8"))


CASES = _cases()


def run(case: dict[str, Any], **kw: Any) -> list[Challenge]:
    body = (REALWORLD / "pages" / case["file"]).read_bytes()
    return detect(body, url=case["url"], status=case["status"], headers=case.get("headers"), **kw)


def _answers(want: dict[str, Any]) -> list[dict[str, Any]]:
    return [want] + list(want.get("alt", []))


def score(case: dict[str, Any], got: list[Challenge]) -> dict[str, list[str]]:
    """What went right and wrong on one page, as lists of descriptions."""
    result: dict[str, list[str]] = {"hits": [], "misses": [], "wrong_key": [], "wrong_blocking": [],
                                    "false_positives": []}
    used: set[int] = set()
    for want in case["expect"]:
        answers = _answers(want)
        match = next(((i, a) for i, ch in enumerate(got) if i not in used
                      for a in answers if ch.kind == a["kind"]), None)
        if match is None:
            result["misses"].append(f"{case['file']}: {want['kind']} not found")
            continue
        index, answer = match
        used.add(index)
        challenge = got[index]
        result["hits"].append(case["file"])
        key = answer.get("sitekey", want.get("sitekey") if answer is want else None)
        if key is not None and challenge.sitekey != key:
            result["wrong_key"].append(f"{case['file']}: sitekey {challenge.sitekey!r}, want {key!r}")
        if "blocking" in want and challenge.blocking is not want["blocking"]:
            result["wrong_blocking"].append(f"{case['file']}: blocking {challenge.blocking}")
    for index, challenge in enumerate(got):
        if index in used:
            continue
        optional = any(challenge.kind == o["kind"] and o.get("sitekey", challenge.sitekey) == challenge.sitekey
                       for o in case.get("optional") or [])
        if optional and not challenge.blocking:
            continue
        result["false_positives"].append(f"{case['file']}: {challenge.kind} {challenge.sitekey} "
                                         f"blocking={challenge.blocking}")
    return result


def test_corpus_is_the_one_described():
    assert len(CASES) == 113
    assert sum(len(c["expect"]) for c in CASES) == 70


def test_realworld_scores(capsys):
    """Recall 70/70, every sitekey exact, every blocking verdict right, no false positive, no exception."""
    totals: dict[str, list[str]] = {"hits": [], "misses": [], "wrong_key": [], "wrong_blocking": [],
                                    "false_positives": [], "exceptions": []}
    for case in CASES:
        try:
            got = run(case)
        except Exception as exc:  # counted, then asserted to be none
            totals["exceptions"].append(f"{case['file']}: {exc!r}")
            continue
        for name, items in score(case, got).items():
            totals[name].extend(items)
    expected = sum(len(c["expect"]) for c in CASES)
    hits = len(totals["hits"])
    with capsys.disabled():
        print(f"\nrealworld corpus: {len(CASES)} pages, {expected} challenges, recall {hits}/{expected}, "
              f"sitekey exact {hits - len(totals['wrong_key'])}/{hits}, "
              f"blocking {hits - len(totals['wrong_blocking'])}/{hits}, "
              f"false positives {len(totals['false_positives'])}, exceptions {len(totals['exceptions'])}")
    problems = {k: v for k, v in totals.items() if k != "hits" and v}
    assert not problems
    assert hits == expected


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_blocking_only_is_the_blocking_subset(case):
    """What the middleware asks for (blocking_only=True) is exactly what a full detect() calls blocking."""
    full = run(case)
    assert run(case, blocking_only=True) == [c for c in full if c.blocking]


@pytest.mark.parametrize("case", [c for c in CASES if c["family"] == "cf-legacy-jschl"],
                         ids=lambda c: c["file"])
def test_legacy_cloudflare_iuam_is_a_blocking_challenge(case):
    got = run(case)
    assert [(c.kind, c.blocking) for c in got] == [("cloudflare_challenge", True)]
    assert any("jschl" in e for e in got[0].evidence)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_blocking_only_without_status_or_headers(case):
    """The same with the page alone (status 200, no headers): every challenge page here still says
    what it is by its size, title or markers (see
    ``test_detect.test_a_large_2xx_page_is_content_unless_its_title_or_status_says_otherwise``)."""
    body = (REALWORLD / "pages" / case["file"]).read_bytes()
    full = detect(body, url=case["url"])
    assert detect(body, url=case["url"], blocking_only=True) == [c for c in full if c.blocking]


def test_incidental_pages_are_decided_without_parsing_them(monkeypatch):
    """blocking_only on an ordinary page with an incidental widget: an early verdict, no parse of the page
    (at most the page's only form, to see that it asks for more than the captcha)."""
    from scrapy_captcha.detect import page as page_module

    parsed: list[int] = []
    real_parse = page_module.Page._parse

    def counting_parse(self, parts):
        parsed.append(sum(map(len, parts)))
        return real_parse(self, parts)

    monkeypatch.setattr(page_module.Page, "_parse", counting_parse)
    incidental = [c for c in CASES if c["family"] == "incidental"]
    assert len(incidental) >= 40
    for case in incidental:
        parsed.clear()
        assert run(case, blocking_only=True) == []
        assert len(parsed) <= 1, case["file"]
        assert sum(parsed) < 16 * 1024, case["file"]
