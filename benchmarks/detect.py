"""Detection speed on real pages, side by side with a full lxml parse of the same pages.

Pages come from ../shared/realworld (SCRAPY_CAPTCHA_REALWORLD overrides):

- every page whose manifest expects nothing (clean pages, traps, pages with a
  key only in config): MB/s of ``detect()`` and of ``lxml.html.document_fromstring``,
  and per page which is faster (target: >= 150 MB/s, never slower than lxml);
- the 79 KB WordPress article with an incidental reCAPTCHA and the 54 KB clean
  article: milliseconds per page for ``detect()``, ``detect(blocking_only=True)``
  (what the middleware calls) and lxml;
- a 10 MB hostile page: bounded work.

Each timing is the best of several rounds of CPU time (``time.thread_time``: a
machine busy with other work changes it far less than wall time), the
contenders interleaved. The last line is JSON for benchmarks/run.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html

from scrapy_captcha import detect

KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"
CLOCK = time.thread_time
REALWORLD = Path(os.environ.get("SCRAPY_CAPTCHA_REALWORLD")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "realworld")
INCIDENTAL = "072-traf-blog.wordpress.com.diverse.html"  # 79 KB WordPress article, incidental reCAPTCHA
CLEAN = "054-readability-ars-1.html"  # 54 KB (KiB) article, no captcha markup


def load() -> list[dict[str, Any]]:
    cases = json.loads((REALWORLD / "manifest.json").read_text(encoding="utf-8"))
    for case in cases:
        case["body"] = (REALWORLD / "pages" / case["file"]).read_bytes()
    return cases


def side_by_side(fns: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Best time of each function, run in turn ``rounds`` times."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = CLOCK()
            fn()
            best[i] = min(best[i], CLOCK() - t0)
    return best


def runner(case: dict[str, Any], **kw: Any) -> Callable[[], Any]:
    body, url, status, headers = case["body"], case["url"], case["status"], case.get("headers")
    return lambda: detect(body, url=url, status=status, headers=headers, **kw)


def parse(case: dict[str, Any]) -> Callable[[], Any]:
    body = case["body"]
    return lambda: lxml.html.document_fromstring(body)


def repeat(fn: Callable[[], Any], times: int) -> Callable[[], Any]:
    def many() -> None:
        for _ in range(times):
            fn()
    return many


def hostile_page(size: int) -> bytes:
    # Deep nesting, unclosed tags, marker words everywhere, a real widget at the end, junk bytes.
    chunk = b"<div><span>recaptcha <b>captcha<i>turnstile <p>\x00\xff<table><tr><td>"
    body = b"<html><head><title>Verify you are human</title></head><body>" + chunk * (size // len(chunk))
    return body + f'<form><div class="g-recaptcha" data-sitekey="{KEY}"></div></form>'.encode()


def main() -> None:
    cases = load()
    by_name = {c["file"]: c for c in cases}
    nothing = [c for c in cases if not c["expect"]]
    rows = []
    for case in nothing:
        # Small pages are timed over many calls so the clock's resolution does not decide.
        times = max(1, 200_000 // len(case["body"]))
        ours, lxml_time = side_by_side([repeat(runner(case), times), repeat(parse(case), times)], rounds=15)
        rows.append((case["file"], len(case["body"]), ours / times, lxml_time / times))
    total = sum(size for _, size, _, _ in rows)
    ours_total = sum(t for _, _, t, _ in rows)
    lxml_total = sum(t for _, _, _, t in rows)
    slower = [(name, t / p) for name, _, t, p in rows if t > p]
    worst = max(rows, key=lambda r: r[2] / r[3])

    print(f"1. the {len(rows)} real pages that expect no captcha ({total / 1e6:.1f} MB), best of 15")
    print(f"   detect()                 {total / ours_total / 1e6:>7.0f} MB/s")
    print(f"   lxml full parse          {total / lxml_total / 1e6:>7.0f} MB/s")
    print(f"   pages where detect() is slower than the parse: {len(slower)} of {len(rows)}"
          f"{' ' + ', '.join(f'{n} ({r:.2f}x)' for n, r in slower) if slower else ''}")
    print(f"   slowest relative to lxml: {worst[0]} {worst[2] * 1e3:.3f} ms vs {worst[3] * 1e3:.3f} ms "
          f"({worst[2] / worst[3]:.2f}x)")

    pages = {}
    print("\n2. one page, ms per call (best of 50)")
    print(f"   {'':<44}{'detect()':>10}{'blocking_only':>15}{'lxml parse':>12}")
    for label, name in (("79 KB article, incidental reCAPTCHA", INCIDENTAL), ("54 KB article, no captcha", CLEAN)):
        case = by_name[name]
        full, blocking, parsed = side_by_side([runner(case), runner(case, blocking_only=True), parse(case)], 50)
        pages[name] = {"bytes": len(case["body"]), "detect_ms": full * 1e3, "blocking_only_ms": blocking * 1e3,
                       "lxml_ms": parsed * 1e3}
        print(f"   {label + ' (' + name[:20] + '…)':<44}"
              f"{full * 1e3:>10.3f}{blocking * 1e3:>15.3f}{parsed * 1e3:>12.3f}")

    hostile = hostile_page(10 * 1024 * 1024)
    ours_h, parse_h = side_by_side([lambda: detect(hostile, url="https://e.com/", status=403),
                                    lambda: lxml.html.document_fromstring(hostile)], 3)
    found = detect(hostile, url="https://e.com/", status=403)
    print(f"\n3. hostile page ({len(hostile) / 1e6:.1f} MB): detect() {ours_h * 1e3:.1f} ms, "
          f"lxml {parse_h * 1e3:.1f} ms; "
          f"found {[(c.kind, c.sitekey == KEY) for c in found] or 'nothing (widget past the parse cap)'}")
    print(json.dumps({
        "realworld_nothing": {"pages": len(rows), "bytes": total, "detect_mb_s": total / ours_total / 1e6,
                              "lxml_mb_s": total / lxml_total / 1e6, "slower_than_lxml": slower},
        "pages": pages,
        "hostile": {"detect_ms": ours_h * 1e3, "lxml_ms": parse_h * 1e3},
    }))


if __name__ == "__main__":
    main()
