"""Time a browser solve adds beyond the service's solve time, per demo page, with and without the init script.

Plain Playwright + system Chromium against the sandbox. Per page and mode:
``overhead`` = solve_page's wall time minus the slowest solution's
createTask-to-token time on that page (the rest is scanning the page and its
frames, injecting tokens and calling callbacks); ``scan`` = find_widgets()
alone on the same page. Median of ``rounds`` loads.

    python benchmarks/browser.py SERVICE_URL SITE_URL [ROUNDS]

Prints one JSON object: page -> {"widgets", "overhead_ms", "scan_ms", "overhead_ms_no_init", "scan_ms_no_init"}
(``overhead_ms``/``scan_ms`` with the init script; a mode where the page cannot be solved is null).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

from playwright.async_api import async_playwright

from scrapy_captcha import Solver
from scrapy_captcha.browser import add_init_script, find_widgets, solve_page
from scrapy_captcha.sandbox.browser_pages import chromium_launch_options, route_offline

#: Demo page -> widgets solve_page solves there.
PAGES = {"xhr": 1, "v3": 1, "hcaptcha": 1, "turnstile": 1, "two": 2, "auto2": 2, "saved": 2, "mixed": 3,
         "frames": 4, "enterprise": 1, "iframe": 1, "cf": 1}
#: Pages a mode cannot solve: without the init script, v3's execute() is answered by Google itself.
SKIP = {("v3", False)}


async def ready(page: Any, count: int, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len([w for w in await find_widgets(page) if not w.reason]) < count:
        if loop.time() > deadline:
            raise RuntimeError(f"{page.url}: fewer than {count} widgets rendered")
        await asyncio.sleep(0.05)


async def one(browser: Any, solver: Solver, site: str, name: str, init: bool) -> tuple[float, float, int]:
    context = await browser.new_context()
    try:
        await route_offline(context)
        if init:
            await add_init_script(context)
        page = await context.new_page()
        await page.goto(f"{site}/browser/{name}")
        await ready(page, PAGES[name])
        t0 = time.perf_counter()
        await find_widgets(page)
        scan = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = await solve_page(page, solver)
        wall = time.perf_counter() - t0
        service_time = max(r.solution.elapsed for r in results if r.solution)
        return wall - service_time, scan, sum(r.solved for r in results)
    finally:
        await context.close()


async def main(service: str, site: str, rounds: int = 5) -> dict[str, dict[str, Any]]:
    rows: dict[tuple[str, bool], list[tuple[float, float, int]]] = {}
    async with async_playwright() as p, Solver("sandbox", api_key="k", api_url=service, first_poll=0.2,
                                               poll_interval=0.3) as solver:
        browser = await p.chromium.launch(**chromium_launch_options())
        try:
            for _ in range(rounds):
                for name in PAGES:
                    for init in (True, False):
                        if (name, init) not in SKIP:
                            rows.setdefault((name, init), []).append(await one(browser, solver, site, name, init))
        finally:
            await browser.close()

    def median_ms(name: str, init: bool, column: int) -> float | None:
        values = rows.get((name, init))
        return None if not values else round(statistics.median(v[column] for v in values) * 1000, 1)

    return {name: {"widgets": max(v[2] for v in rows[(name, True)]),
                   "overhead_ms": median_ms(name, True, 0), "scan_ms": median_ms(name, True, 1),
                   "overhead_ms_no_init": median_ms(name, False, 0), "scan_ms_no_init": median_ms(name, False, 1)}
            for name in PAGES}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5))))
