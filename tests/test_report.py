"""The crawl report: structure, numbers, escaping, self-containment, and its charts in real Chromium."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import struct
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapy_captcha.journal import Journal
from scrapy_captcha.report import fmt_money, render, write

from .crawling import aio

ROOT = Path(__file__).resolve().parents[1]


def example_script() -> Any:
    """scripts/report_example.py: the realistic synthetic crawl the README's picture shows."""
    spec = importlib.util.spec_from_file_location("report_example", ROOT / "scripts" / "report_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def realistic() -> Journal:
    return example_script().realistic_journal()


class Elements(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}


#: Everything the report is allowed to contain: no script, image, link, iframe, object, form...
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "h1", "h2", "h3", "p", "section",
    "dl", "dt", "dd", "div", "small", "figure", "figcaption", "ul", "li", "span", "table", "thead", "tbody", "tr",
    "th", "td", "svg", "defs", "pattern", "desc", "g", "rect", "line", "path", "circle", "polyline", "polygon",
    "text",
}


def test_an_empty_journal_says_no_captcha_was_met():
    page = render(Journal(), title="Nightly crawl", now=120.0)
    parsed = Elements(page)
    assert "No captcha was met during this crawl." in page
    assert "svg" not in parsed.names() and "table" not in parsed.names()
    assert parsed.names() <= ALLOWED_TAGS
    assert "<title>Nightly crawl</title>" in page


def test_every_part_and_number_of_a_realistic_crawl_is_on_the_page(realistic):
    page = render(realistic, now=realistic.now())
    parsed = Elements(page)
    assert parsed.names() <= ALLOWED_TAGS
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == ["Solve times", "Spend over time", "Activity", "Gates", "Drops and reschedules", "Providers"]
    svgs = [attrs for tag, attrs in parsed.tags if tag == "svg"]
    assert len(svgs) == 9
    for attrs in svgs:
        # Accessible: an image role, labelled by its own <title> and a <desc> that summarises the data.
        assert attrs["role"] == "img"
        title_id, desc_id = attrs["aria-labelledby"].split()
        assert f'<title id="{title_id}">' in page and f'<desc id="{desc_id}">' in page
        assert int(attrs["data-marks"]) > 0

    text = " ".join(parsed.text)
    cards = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)<", page))
    assert cards["Solved"] == f"{realistic.solved:,}"
    assert cards["Dropped"] == f"{sum(realistic.dropped.values()):,}"
    assert cards["Rescheduled"] == f"{sum(realistic.rescheduled.values()):,}"
    assert cards["Spend"] == fmt_money(realistic.total_spend)
    assert cards["Budget left"] == fmt_money(realistic.budget_left or 0)
    assert "USD (estimated where the provider does not price per task)" in text
    for code, count in realistic.dropped.items():
        assert f"{code}: {count} (" in page  # each bar's own title
    for provider in ("capsolver", "2captcha"):
        assert f"n={realistic.solve_time_by_provider[provider].count:,}" in text
    assert "paused" in text and "ERROR_ZERO_BALANCE" in text and "cooldown" in text
    assert "books.example.com" in text and "session" in text
    assert "failover: a task handed to the next provider" in text


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_text_is_escaped_everywhere():
    journal = Journal()
    journal.solve(HOSTILE, HOSTILE, 12.0, cost=0.01, t=5)
    journal.solve("turnstile", HOSTILE, 3.0, outcome=HOSTILE, t=6)
    journal.drop(HOSTILE, t=7)
    journal.reschedule(HOSTILE + "2", t=7)
    journal.gate_opened(1, HOSTILE + ".example", "page", kind=HOSTILE, t=1)
    journal.gate_closed(1, HOSTILE, t=9)
    journal.gate_opened(2, "x\"><svg onload=alert(1)>.example", "session", t=2)
    journal.provider_state(HOSTILE, "paused:" + HOSTILE, detail=HOSTILE, t=3)
    journal.failover(HOSTILE, "b</title><script>", HOSTILE, t=4)
    journal.balance(HOSTILE, 1.0, unit=HOSTILE, t=4)
    hostile_unit = Journal(unit=HOSTILE)
    hostile_unit.drop("X")
    for page in (render(journal, title=HOSTILE, now=20), render(hostile_unit, now=5)):
        parsed = Elements(page)
        assert parsed.names() <= ALLOWED_TAGS, parsed.names() - ALLOWED_TAGS
        assert not [(tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on")]
        assert "<script" not in page and "<img" not in page
        # The text is shown, as text.
        assert any('<script>alert("x")</script>' in data for data in parsed.text)
    assert "&lt;script&gt;" in render(journal, now=20)


NAMES = st.sampled_from(["capsolver", "2captcha", "recaptcha_v2", "ERROR_X", "", " ", "<b>&amp;", "\u202e\u00e9"])
TIMES = st.one_of(st.floats(min_value=-5, max_value=1e6), st.sampled_from([math.nan, math.inf, -math.inf]))
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("solve"), NAMES, NAMES, TIMES, st.one_of(st.none(), st.floats(-1, 5)), NAMES, TIMES),
    st.tuples(st.just("drop"), NAMES, TIMES),
    st.tuples(st.just("reschedule"), NAMES, TIMES),
    st.tuples(st.just("gate_opened"), st.integers(0, 5), NAMES, st.sampled_from(["page", "session", "request"]),
              TIMES),
    st.tuples(st.just("gate_closed"), st.integers(0, 5), NAMES, TIMES),
    st.tuples(st.just("provider_state"), NAMES, st.sampled_from(["ok", "paused:E", "cooldown", "out_of_rotation",
                                                                 "circuit_open"]), TIMES),
    st.tuples(st.just("failover"), NAMES, NAMES, TIMES),
    st.tuples(st.just("balance"), NAMES, st.one_of(st.floats(-10, 1e6), st.just(math.nan)), TIMES),
    st.tuples(st.just("set_budget"), st.one_of(st.none(), st.floats(0, 100))),
), max_size=40)


def replay(journal: Journal, operations: list[tuple[Any, ...]]) -> None:
    for name, *args in operations:
        if name == "solve":
            kind, provider, seconds, cost, outcome, t = args
            journal.solve(kind, provider, seconds, cost=cost, outcome=outcome or "solved", t=t)
        elif name in ("drop", "reschedule"):
            getattr(journal, name)(args[0], t=args[1])
        elif name == "gate_opened":
            journal.gate_opened(args[0], args[1], args[2], t=args[3])
        elif name == "gate_closed":
            journal.gate_closed(args[0], args[1], released=1, t=args[2])
        elif name == "provider_state":
            journal.provider_state(args[0], args[1], t=args[2])
        elif name == "failover":
            journal.failover(args[0], args[1], "ERROR_TASK_NOT_SUPPORTED", t=args[2])
        elif name == "balance":
            journal.balance(args[0], args[1], t=args[2])
        else:
            journal.set_budget(args[0])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS, st.floats(0, 2e6))
def test_any_journal_renders_a_page_and_survives_json(operations, now):
    journal = Journal(clock=lambda: 0.0)
    replay(journal, operations)
    page = render(journal, now=now)
    assert Elements(page).names() <= ALLOWED_TAGS
    assert "<b>" not in page
    data = json.loads(json.dumps(journal.to_dict(), allow_nan=False))
    assert Journal.from_dict(data).to_dict() == data


def test_the_page_needs_nothing_from_anywhere(realistic):
    page = render(realistic)
    parsed = Elements(page)
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "action", "srcset", "data", "poster"):
                raise AssertionError(f"<{tag} {name}={value!r}> would load something")
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "@import" not in page and "@font-face" not in page
    assert not re.search(r"url\((?!#chart\d+-\w+\))", page)  # only the page's own SVG patterns
    assert "default-src 'none'" in page  # and the browser is told so


def test_a_saved_journal_renders_the_same_page(realistic):
    data = json.loads(json.dumps(realistic.to_dict()))
    again = Journal.from_dict(data)
    assert render(again, title="T") == render(realistic, title="T", now=realistic.now())


def test_a_huge_crawl_renders_a_page_of_bounded_size():
    journal = Journal()
    for i in range(100_000):
        t = i * 0.4
        journal.solve("recaptcha_v2", "capsolver" if i % 3 else "2captcha", 5 + i % 40, polls=3, cost=0.001, t=t)
        journal.gate_opened(i, f"h{i % 300}.example", "page", t=t)
        journal.gate_closed(i, "passed" if i % 9 else "ERROR_CAPTCHA_UNSOLVABLE", released=1, t=t + 20)
        if i % 50 == 0:
            journal.drop("ERROR_CAPTCHA_UNSOLVABLE", t=t)
            journal.provider_state("capsolver", "cooldown" if i % 100 else "ok", t=t)
    page = render(journal, now=40_000)
    print(f"report of a 100 000-solve crawl: {len(page) / 1024:.0f} KiB")
    assert len(page) < 1_500_000
    assert "The first 1,000 of 100,000 closed gates are drawn" in page
    assert "more rows not shown" in page
    assert "further changes, not drawn one by one" in page


def test_write_puts_the_whole_page_in_place(tmp_path):
    journal = Journal()
    journal.drop("CHALLENGE_LOOP")
    target = tmp_path / "reports" / "crawl.html"
    assert write(journal, target) == target
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>") and first.rstrip().endswith("</html>")
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    journal.drop("CHALLENGE_LOOP")
    write(journal, target)
    assert [p.name for p in target.parent.iterdir()] == ["crawl.html"]  # no temporary file left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ Chromium


def _playwright() -> Any:
    if os.environ.get("CI") == "true":
        import playwright.async_api as playwright  # in CI this test runs, never skips

        return playwright
    return pytest.importorskip("playwright.async_api")


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows, bytes per pixel) of an 8-bit, non-interlaced RGB(A) PNG (Chromium's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def colour_profile(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of pixels that are not the most common colour)."""
    width, height, rows, bpp = png_pixels(png)
    counts: dict[bytes, int] = {}
    for row in rows:
        for x in range(0, width * bpp, bpp):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    total = width * height
    return len(counts), 1 - max(counts.values()) / total


@pytest_twisted.ensureDeferred
async def test_charts_render_in_chromium_and_nothing_is_fetched(realistic, tmp_path_factory, capsys):
    playwright = _playwright()
    from scrapy_captcha.sandbox.browser_pages import chromium_launch_options

    folder = tmp_path_factory.mktemp("report")
    html_path = write(realistic, folder / "report.html", title="Captcha report (test)")
    shot = folder / "report.png"

    async def look() -> dict[str, Any]:
        blocked: list[str] = []
        seen: list[str] = []
        errors: list[str] = []

        async def only_files(route: Any) -> None:
            if route.request.url.startswith("file:"):
                await route.continue_()
            else:
                blocked.append(route.request.url)
                await route.abort()

        async with playwright.async_playwright() as p:
            options = chromium_launch_options()
            browser = await p.chromium.launch(**options)
            try:
                # No JavaScript in the page: the report must not need any.
                context = await browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
                await context.route("**/*", only_files)
                page = await context.new_page()
                page.on("request", lambda request: seen.append(request.url))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                await page.goto(html_path.as_uri())
                await page.wait_for_load_state("load")
                await page.screenshot(path=str(shot), full_page=True)
                charts = []
                svgs = page.locator("figure.chart svg")
                for i in range(await svgs.count()):
                    svg = svgs.nth(i)
                    box = await svg.bounding_box()
                    drawn = await svg.evaluate(
                        "s => [...s.querySelectorAll('rect,circle,path,polyline,polygon')]"
                        ".filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length")
                    title = await svg.evaluate("s => s.querySelector('title').textContent")
                    charts.append({"title": title, "box": box, "drawn": drawn,
                                   "colours": colour_profile(await svg.screenshot())})
                return {"charts": charts, "blocked": blocked, "seen": seen, "errors": errors,
                        "executable": options.get("executable_path")}
            finally:
                await browser.close()

    result = await aio(look())
    with capsys.disabled():
        sys.stdout.write(f"\nreport screenshot: {shot} (Chromium {result['executable']})\n")
    assert result["blocked"] == [], "the report tried to fetch something"
    assert result["seen"] == [html_path.as_uri()]
    assert result["errors"] == []
    titles = [c["title"] for c in result["charts"]]
    assert titles == [
        "Solve time distribution per kind and per provider",
        "Histogram of solve times, stacked by provider",
        "Solve time over the crawl",
        "Cumulative spend over the crawl",
        "Solves, failures, reschedules and drops over the crawl",
        "Gate timeline by scope",
        "Requests dropped, by reason",
        "Requests rescheduled, by code",
        "Provider timeline: state of each solving service",
    ]
    for chart in result["charts"]:
        box = chart["box"]
        assert box is not None and box["width"] > 400 and box["height"] > 80, chart
        assert chart["drawn"] >= 3, chart
        colours, inked = chart["colours"]
        # Not one flat colour: axes, labels and coloured marks are on it.
        assert colours >= 8 and inked > 0.02, chart
    assert shot.stat().st_size > 50_000


# ------------------------------------------------------------ a real crawl's report

import pytest_twisted  # noqa: E402

from .crawling import API_KEY, crawl  # noqa: E402


@pytest_twisted.ensureDeferred
async def test_a_crawl_writes_its_report_when_the_spider_closes(sandbox, tmp_path):
    path = tmp_path / "captcha-report.html"
    sandbox.reset(site={"session_pages": 20, "bad_key_items": [4]})
    record = await crawl(sandbox, CAPTCHA_REPORT=str(path), CAPTCHA_MAX_RETRIES=0)
    html = path.read_text()
    stats = record.stats
    assert "Captcha report: test_catalog" in html and "<svg" in html and "<script" not in html
    assert f">{stats['captcha/solved']}<" in html  # the solved count on its card
    assert "ERROR_RECAPTCHA_INVALID_SITEKEY" in html  # the drop, by reason
    assert "session" in html and "sandbox" in html  # a gate's scope, the provider lane
    assert API_KEY not in html
