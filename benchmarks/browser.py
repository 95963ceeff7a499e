"""Time a browser solve adds beyond the service's own solve time, per demo page.

Plain Playwright + system Chromium against the sandbox: solve_page's wall time
minus the slowest solution's createTask-to-token time on that page (the rest is
scanning frames, injecting tokens and calling callbacks).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from playwright.async_api import async_playwright

from scrapy_captcha import Solver
from scrapy_captcha.browser import add_init_script, solve_page
from scrapy_captcha.sandbox.browser_pages import chromium_launch_options, route_offline

PAGES = {"xhr": "#box textarea", "v3": None, "hcaptcha": ".h-captcha textarea", "turnstile": ".cf-turnstile input",
         "two": "#second textarea", "iframe": None, "cf": "#cf-chl-widget input"}


async def main(service: str, site: str, rounds: int = 5) -> dict:
    rows: dict[str, list[tuple[int, float]]] = {name: [] for name in PAGES}
    async with async_playwright() as p, Solver("sandbox", api_key="k", api_url=service, first_poll=0.2,
                                               poll_interval=0.3) as solver:
        browser = await p.chromium.launch(**chromium_launch_options())
        for _ in range(rounds):
            for name, ready in PAGES.items():
                context = await browser.new_context()
                await route_offline(context)
                await add_init_script(context)
                page = await context.new_page()
                await page.goto(f"{site}/browser/{name}")
                if ready:
                    await page.wait_for_selector(ready, state="attached")
                else:
                    await page.wait_for_function("() => [...Array(window.frames.length + 1).keys()].length > 0")
                    await asyncio.sleep(0.3)
                t0 = time.perf_counter()
                results = await solve_page(page, solver)
                wall = time.perf_counter() - t0
                service_time = max(r.solution.elapsed for r in results if r.solution)
                rows[name].append((sum(r.solved for r in results), wall - service_time))
                await context.close()
        await browser.close()
    return {name: {"widgets": vals[0][0], "overhead_ms": statistics.median(v for _, v in vals) * 1000}
            for name, vals in rows.items()}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:3]))))
