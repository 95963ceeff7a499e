"""What the add-on costs a crawl of ordinary pages: real Scrapy crawls, add-on on vs off.

Two real pages from ../shared/realworld (SCRAPY_CAPTCHA_REALWORLD overrides),
each served 2,000 times on loopback by a tiny aiohttp server in its own process:

- the 79 KB WordPress article carrying an incidental reCAPTCHA (the widget
  most WordPress sites show on every page);
- the 54 KB article with no captcha markup.

Each crawl runs in a fresh process: ``ADDONS={"scrapy_captcha.Addon": 500}``
with ``CAPTCHA_PROVIDER="sandbox"`` (on) against no add-on (off), best of 3,
on and off interleaved. Prints the speed ratio on/off (target >= 0.97), by
wall time and by the crawl process's CPU time, and a JSON line last.

    python overhead.py                 the whole comparison
    python overhead.py serve           the page server alone (prints its URL)
    python overhead.py crawl PAGE on|off URL   one crawl, prints one JSON line
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REALWORLD = Path(os.environ.get("SCRAPY_CAPTCHA_REALWORLD")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "realworld")
PAGES = {
    "incidental": "072-traf-blog.wordpress.com.diverse.html",  # 79 KB, incidental reCAPTCHA
    "clean": "054-readability-ars-1.html",  # 54 KB, no captcha markup
}
COUNT = 2000
ROUNDS = 3
ENV = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}


def serve() -> None:
    import asyncio

    from aiohttp import web

    bodies = {name: (REALWORLD / "pages" / file).read_bytes() for name, file in PAGES.items()}

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type="text/html", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{name}/{i}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def crawl(name: str, mode: str, base: str) -> None:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Pages(scrapy.Spider):
        name = "overhead"
        seen = 0

        async def start(self):
            for i in range(COUNT):
                yield scrapy.Request(f"{base}/{name}/{i}", callback=self.page, dont_filter=True)

        def page(self, response):
            type(self).seen += 1

    spent = [0.0, 0.0]  # the hooks, detect() inside them
    if mode == "on":
        # Also time the add-on's own hooks from inside (thread CPU time): on a busy machine the
        # crawl-to-crawl noise can exceed what the add-on costs, this cannot.
        import scrapy_captcha.middleware as middleware
        from scrapy_captcha.middleware import CaptchaMiddleware

        detect = middleware.detect

        def timed_detect(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return detect(*args, **kwargs)
            finally:
                spent[1] += time.thread_time() - t0

        middleware.detect = timed_detect
        for hook in ("process_request", "process_response"):
            original = getattr(CaptchaMiddleware, hook)

            def timed(self, *args, _original=original, **kwargs):
                t0 = time.thread_time()
                try:
                    return _original(self, *args, **kwargs)
                finally:
                    spent[0] += time.thread_time() - t0

            setattr(CaptchaMiddleware, hook, timed)
    settings = {"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
                "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16}
    if mode == "on":
        settings.update({"ADDONS": {"scrapy_captcha.Addon": 500}, "CAPTCHA_PROVIDER": "sandbox"})
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(Pages)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    process.crawl(crawler)
    process.start()
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    stats = crawler.stats.get_stats()
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "hooks_cpu_seconds": spent[0],
                      "detect_cpu_seconds": spent[1], "pages": Pages.seen,
                      "captcha_incidental": stats.get("captcha/incidental", 0),
                      "captcha_detected": stats.get("captcha/detected", 0)}), flush=True)


def one(name: str, mode: str, base: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "crawl", name, mode, base], capture_output=True, text=True,
                         env=ENV, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"crawl {name} {mode} failed:\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1])
    if result["pages"] != COUNT:
        raise SystemExit(f"crawl {name} {mode} delivered {result['pages']} of {COUNT} pages")
    return result


def main() -> None:
    server = subprocess.Popen([sys.executable, __file__, "serve"], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        base = server.stdout.readline().strip()  # type: ignore[union-attr]
        results: dict[str, dict[str, list[dict]]] = {name: {"on": [], "off": []} for name in PAGES}
        for _ in range(ROUNDS):
            for name in PAGES:
                for mode in ("off", "on"):
                    results[name][mode].append(one(name, mode, base))
    finally:
        server.terminate()
        server.wait()
    print(f"overhead: {COUNT:,} pages per crawl on loopback, best of {ROUNDS}, add-on on vs off")
    print(f"   {'':<11} {'':<44} {'wall off':>9} {'wall on':>8} {'speed':>6}"
          f"   {'CPU off':>8} {'CPU on':>7} {'speed':>6}")
    summary = {}
    for name, file in PAGES.items():
        on = min(r["seconds"] for r in results[name]["on"])
        off = min(r["seconds"] for r in results[name]["off"])
        cpu_on = min(r["cpu_seconds"] for r in results[name]["on"])
        cpu_off = min(r["cpu_seconds"] for r in results[name]["off"])
        hooks = min(r["hooks_cpu_seconds"] for r in results[name]["on"])
        detect_only = min(r["detect_cpu_seconds"] for r in results[name]["on"])
        summary[name] = {"page": file, "on_seconds": on, "off_seconds": off, "ratio": off / on,
                         "on_cpu_seconds": cpu_on, "off_cpu_seconds": cpu_off, "cpu_ratio": cpu_off / cpu_on,
                         "hooks_ms_per_page": hooks / COUNT * 1e3, "hooks_ratio": cpu_off / (cpu_off + hooks),
                         "detect_ms_per_page": detect_only / COUNT * 1e3}
        print(f"   {name:<11} {file:<44} {off:8.2f}s {on:7.2f}s {off / on:6.3f}   {cpu_off:7.2f}s {cpu_on:6.2f}s "
              f"{cpu_off / cpu_on:6.3f}")
    print("   speed = off/on: 1.0 means the add-on costs nothing (target >= 0.97); CPU time is the crawl")
    print("   process's own (user + system), which other work on a shared machine disturbs less than wall time")
    for name, row in summary.items():
        print(f"   {name:<11} the add-on's hooks (process_request + process_response, detection included): "
              f"{row['hooks_ms_per_page']:.3f} ms per page (detect() {row['detect_ms_per_page']:.3f} ms), "
              f"so speed >= {row['hooks_ratio']:.3f} from them alone")
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve()
    elif len(sys.argv) > 1 and sys.argv[1] == "crawl":
        crawl(*sys.argv[2:5])
    else:
        main()
