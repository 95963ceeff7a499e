"""Write an example crawl report (and its journal) from a realistic synthetic crawl.

    .venv/bin/python scripts/report_example.py [OUT.html]    # default: .sandbox/report-example.html
    .venv/bin/python scripts/report_example.py --png docs/report-example.png   # the README's picture

The crawl: 45 minutes, two providers (capsolver first, 2captcha for what capsolver
does not take), ~400 solve attempts over four kinds, page gates on one site and a
session gate on another, a pause on ERROR_ZERO_BALANCE until the account was topped
up, a 2captcha cooldown, failovers, drops and reschedules. Every event goes through
the Journal's own recording methods, in time order, as the crawl would record it.
``--png`` screenshots the rendered page in the system Chromium (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
from pathlib import Path
from typing import Any

from scrapy_captcha.journal import Journal
from scrapy_captcha.report import write

ROOT = Path(__file__).resolve().parents[1]

#: kind -> (median seconds at capsolver, spread, share of the pages)
KINDS = {"recaptcha_v2": (13.0, 0.35, 0.55), "turnstile": (6.5, 0.3, 0.25),
         "recaptcha_v3": (4.0, 0.25, 0.12), "hcaptcha": (22.0, 0.35, 0.08)}
#: capsolver's estimated USD per solve (the price table's); 2captcha reports its own cost.
CAPSOLVER_USD = {"recaptcha_v2": 0.0008, "turnstile": 0.0012, "recaptcha_v3": 0.001}
TWOCAPTCHA_USD = 0.00299
DURATION = 45 * 60.0
PAUSE = (1260.0, 1500.0)       # capsolver: ERROR_ZERO_BALANCE, checked every 60 s
COOLDOWN = (2100.0, 2400.0)    # 2captcha: ERROR_IP_BLOCKED, 5 min


def realistic_journal(seed: int = 7) -> Journal:
    rng = random.Random(seed)
    clock = [0.0]
    journal = Journal(clock=lambda: clock[0], started_at=1_790_000_000.0)
    journal.set_budget(1.0)
    journal.provider_state("capsolver", "ok", t=0.0)
    journal.provider_state("2captcha", "ok", t=0.0)
    events: list[tuple[float, int, Any]] = []

    def at(t: float, action: Any) -> None:
        events.append((t, len(events), action))

    def solve(t: float, ref: int, kind: str, host: str, scope: str, fate: str) -> None:
        provider = "2captcha" if kind == "hcaptcha" else "capsolver"
        opened = t
        if provider == "capsolver" and PAUSE[0] <= t < PAUSE[1]:
            t = PAUSE[1] + rng.uniform(1, 40)  # the gate waits out the pause, then solves
        median, spread, _ = KINDS[kind]
        if provider == "2captcha":
            median *= 1.4
        seconds = min(180.0, math.exp(rng.gauss(math.log(median), spread)))
        polls = max(1, int(seconds // 3))
        at(opened, lambda: journal.gate_opened(ref, host, scope, kind=kind, t=opened))
        if kind == "hcaptcha":
            at(t + 0.3, lambda: journal.failover("capsolver", "2captcha", "ERROR_TASK_NOT_SUPPORTED", t=t + 0.3))
        done = t + seconds
        if fate == "timeout":
            at(t + 180.0, lambda: journal.solve(kind, provider, 180.0, polls=58, outcome="SOLVE_TIMEOUT", t=t + 180.0))
            at(t + 180.0, lambda: journal.reschedule("SOLVE_TIMEOUT", t=t + 180.0))
            at(t + 180.0, lambda: journal.gate_closed(ref, "SOLVE_TIMEOUT", t=t + 180.0))
            return
        if fate == "unsolvable":
            at(done, lambda: journal.solve(kind, provider, seconds, polls=polls, outcome="ERROR_CAPTCHA_UNSOLVABLE",
                                           t=done))
            retried = rng.random() < 0.6
            at(done, (lambda: journal.reschedule("ERROR_CAPTCHA_UNSOLVABLE", t=done)) if retried
               else (lambda: journal.drop("ERROR_CAPTCHA_UNSOLVABLE", t=done)))
            at(done, lambda: journal.gate_closed(ref, "ERROR_CAPTCHA_UNSOLVABLE", dropped=0 if retried else 1, t=done))
            return
        cost = TWOCAPTCHA_USD if provider == "2captcha" else CAPSOLVER_USD[kind]
        at(done, lambda: journal.solve(kind, provider, seconds, polls=polls, cost=cost,
                                       estimated=provider == "capsolver", t=done))
        posted = done + rng.uniform(0.2, 1.2)
        if fate == "rejected":
            at(posted, lambda: journal.reschedule("TOKEN_REJECTED", t=posted))
            at(posted, lambda: journal.gate_closed(ref, "TOKEN_REJECTED", t=posted))
            return
        released = rng.randint(8, 40) if scope == "session" else 1 + (rng.random() < 0.2)
        at(posted, lambda: journal.gate_closed(ref, "passed", released=released, t=posted))

    ref = 0
    t = 4.0
    while t < DURATION - 60:
        ref += 1
        kind = rng.choices(list(KINDS), weights=[v[2] for v in KINDS.values()])[0]
        host = "books.example.com" if kind in ("recaptcha_v2", "recaptcha_v3") else "shop.example.org"
        scope = "page" if host == "books.example.com" else rng.choice(["page", "page", "request"])
        roll = rng.random()
        fate = ("timeout" if roll < 0.015 else "unsolvable" if roll < 0.06
                else "rejected" if roll < 0.08 else "ok")
        solve(t, ref, kind, host, scope, fate)
        t += rng.expovariate(1 / 6.2)
    # A site behind a Cloudflare-style interstitial: a session gate now and then.
    for start in (300.0, 1800.0, 2520.0):
        ref += 1
        solve(start, ref, "turnstile", "news.example.net", "session", "ok")
    # Challenges with no solving path, and a replayed challenge page.
    for _ in range(9):
        s = rng.uniform(0, DURATION)
        at(s, lambda s=s: journal.drop("unsupported_datadome", t=s))
    for s in (1622.0, 1624.5):
        at(s, lambda s=s: journal.drop("CHALLENGE_LOOP", t=s))
    # The account ran dry: paused, balance checked every minute, topped up.
    at(PAUSE[0], lambda: journal.provider_state("capsolver", "paused:ERROR_ZERO_BALANCE",
                                                detail="account balance is zero", t=PAUSE[0]))
    for check in range(int(PAUSE[0]) + 60, int(PAUSE[1]), 60):
        at(float(check), lambda c=check: journal.balance("capsolver", 0.0, t=float(c)))
    at(PAUSE[1], lambda: journal.balance("capsolver", 5.0, t=PAUSE[1]))
    at(PAUSE[1], lambda: journal.provider_state("capsolver", "ok", detail="balance 5", t=PAUSE[1]))
    at(COOLDOWN[0], lambda: journal.provider_state("2captcha", "cooldown:ERROR_IP_BLOCKED",
                                                   detail="too many calls from this IP", t=COOLDOWN[0]))
    at(COOLDOWN[1], lambda: journal.provider_state("2captcha", "ok", t=COOLDOWN[1]))
    at(DURATION - 5, lambda: journal.balance("2captcha", 3.12, t=DURATION - 5))
    for when, _, action in sorted(events, key=lambda e: (e[0], e[1])):
        if when > DURATION:
            continue  # still open when the report is made
        clock[0] = when
        action()
    clock[0] = DURATION
    return journal


async def screenshot(html: Path, png: Path) -> None:
    from playwright.async_api import async_playwright

    from scrapy_captcha.sandbox.browser_pages import chromium_launch_options

    async with async_playwright() as p:
        browser = await p.chromium.launch(**chromium_launch_options())
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
            await page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                             else route.abort())
            await page.goto(html.resolve().as_uri())  # noqa: ASYNC240 (a script, one path)
            await page.screenshot(path=str(png), full_page=True)
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / ".sandbox" / "report-example.html"))
    parser.add_argument("--png", help="also save a full-page screenshot here (system Chromium)")
    parser.add_argument("--json", help="also save the journal as JSON here")
    args = parser.parse_args(argv)
    journal = realistic_journal()
    out = write(journal, args.out, title="Captcha report: books.example.com crawl (example)")
    print(out)
    if args.json:
        Path(args.json).write_text(json.dumps(journal.to_dict()), encoding="utf-8")
        print(args.json)
    if args.png:
        asyncio.run(screenshot(out, Path(args.png)))
        print(args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
