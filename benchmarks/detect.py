"""Detection speed, side by side with a plain parsel parse of the same pages.

Targets (issue 4): >= 100 MB/s on clean pages (the no-captcha path is a byte
scan, not a parse); < 50 ms on a 10 MB hostile page.
"""

from __future__ import annotations

import random
import time

from parsel import Selector

from scrapy_captcha import detect

KEY = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"


def clean_page(n_products: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    rows = "".join(
        f'<li class="product" data-id="{i}"><a href="/p/{i}"><img src="/img/{i}.jpg" alt="Product {i}">'
        f'<span class="name">Widget {rnd.randint(1, 10**6)}</span></a><span class="price">{rnd.random() * 100:.2f}'
        f"</span><p>{' '.join(rnd.choice(['blue', 'red', 'fast', 'cheap', 'solid', 'new']) for _ in range(30))}"
        "</p></li>"
        for i in range(n_products)
    )
    return (f'<!doctype html><html><head><title>Shop</title><script src="/app.js"></script></head><body>'
            f'<form class="search" action="/s"><input name="q"></form><ul>{rows}</ul></body></html>').encode()


def hostile_page(size: int) -> bytes:
    # Deep nesting, unclosed tags, marker words everywhere (so the page is parsed),
    # a real widget at the end, and junk bytes.
    chunk = b"<div><span>recaptcha <b>captcha<i>turnstile <p>\x00\xff<table><tr><td>"
    body = b"<html><head><title>Verify you are human</title></head><body>" + chunk * (size // len(chunk))
    return body + f'<form><div class="g-recaptcha" data-sitekey="{KEY}"></div></form>'.encode()


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    pages = [clean_page(n, i) for i, n in enumerate((50, 200, 1000, 5000, 20000))]
    total = sum(map(len, pages))
    ours = best_of(lambda: [detect(p, url="https://e.com/") for p in pages])
    parsel = best_of(lambda: [Selector(body=p).css("div.g-recaptcha") for p in pages])
    hostile = hostile_page(10 * 1024 * 1024)
    ours_h = best_of(lambda: detect(hostile, url="https://e.com/", status=403), 3)
    parsel_h = best_of(lambda: Selector(body=hostile).css("div.g-recaptcha"), 3)
    found = detect(hostile, url="https://e.com/", status=403)
    print(f"{'':<38}{'scrapy-captcha detect()':>24}{'parsel Selector().css()':>26}{'ratio':>8}")
    print(f"{'clean pages (%d, %.1f MB)' % (len(pages), total / 1e6):<38}"
          f"{total / ours / 1e6:>18.0f} MB/s{total / parsel / 1e6:>20.0f} MB/s{parsel / ours:>7.0f}x")
    print(f"{'hostile page (%.1f MB)' % (len(hostile) / 1e6):<38}{ours_h * 1000:>21.1f} ms"
          f"{parsel_h * 1000:>23.1f} ms{parsel_h / ours_h:>7.1f}x")
    print(f"hostile page result: {[(c.kind, c.sitekey == KEY) for c in found] or 'nothing (widget past the parse cap)'}")


if __name__ == "__main__":
    main()
