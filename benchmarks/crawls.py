"""Crawl scenarios for `make bench`, one per process: python crawls.py SCENARIO SERVICE SITE.

gate_plugin / gate_naive  100 item pages behind one session gate, 8 requests per domain
scale                     5,000 requests each behind its own gate: 5,000 pending solves at once
overhead_on / _off        2,000 plain pages with the add-on enabled / not installed
Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, os.path.dirname(__file__))

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Pages(scrapy.Spider):
    name = "bench_pages"

    def __init__(self, urls: list[str], own_gates: bool = False, **kw):
        super().__init__(**kw)
        self.urls, self.own_gates = urls, own_gates
        self.done = 0

    async def start(self):
        for i, url in enumerate(self.urls):
            meta = {"cookiejar": i} if self.own_gates else {}
            yield scrapy.Request(url, callback=self.page, meta=meta, dont_filter=True)

    def page(self, response):
        self.done += 1


class GcTimer:
    """How long the cyclic garbage collector stops the world, per generation."""

    def __init__(self):
        self.longest = {0: 0.0, 1: 0.0, 2: 0.0}
        #: Seconds spent in any collection so far (to tell GC pauses from other stalls).
        self.spent = 0.0
        self.count = {0: 0, 1: 0, 2: 0}
        self.total = {0: 0.0, 1: 0.0, 2: 0.0}
        self.on = False
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self.on:
            gen, took = info["generation"], time.perf_counter() - self._t0
            self.spent += took
            self.count[gen] += 1
            self.total[gen] += took
            self.longest[gen] = max(self.longest[gen], took)


class Probe:
    """Samples RSS and event-loop lag while the crawl runs."""

    def __init__(self, crawler):
        self.gc = GcTimer()
        self.crawler = crawler
        self.idle_rss = rss_mb()
        self.peak_rss = self.idle_rss
        self.peak_pending = 0
        self.rss_at_peak = self.idle_rss
        self.max_lag = 0.0
        self.lags: list[float] = []
        #: The same lags less the collections that ran within them.
        self.lags_without_gc: list[float] = []
        self.censused = False
        self.tracked_idle = 0
        self.tracked_at_peak = (0, 0)
        self.task = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    async def _sample(self):
        mw = next((m for m in self.crawler.engine.downloader.middleware.middlewares
                   if type(m).__name__ == "CaptchaMiddleware"), None)
        # Wake to wake, so a stall during the probe's own work is not hidden.
        last = time.perf_counter()
        gc_last = self.gc.spent
        while True:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            lag = now - last - 0.05
            last = now
            self.lags.append(lag)
            self.lags_without_gc.append(max(0.0, lag - (self.gc.spent - gc_last)))
            gc_last = self.gc.spent
            self.max_lag = max(self.max_lag, lag)
            pending = len(mw.book.gates) if mw else 0
            if pending >= self.peak_pending:
                if not self.censused and pending >= 0.9 * len(self.crawler.spider.urls):
                    # Counted once, near the peak; the count's own stall is not lag.
                    self.censused = True
                    self.tracked_at_peak = (len(gc.get_objects()) - self.tracked_idle, pending)
                    if os.environ.get("BENCH_FREEZE"):  # experiments only
                        gc.freeze()
                    if os.environ.get("BENCH_CENSUS"):
                        growth = self.census() - self.base_census
                        print("census", sum(growth.values()), growth.most_common(45), file=sys.stderr, flush=True)
                    last = time.perf_counter()
                self.peak_pending, self.rss_at_peak = pending, rss_mb()
            self.peak_rss = max(self.peak_rss, rss_mb())

    def census(self):
        """Objects the collector tracks, by type (BENCH_CENSUS=1: where a full collection spends its time)."""
        import collections

        def name(o):
            kind = type(o).__qualname__
            if kind == "DelayedCall":
                return f"{kind}({getattr(getattr(o, 'func', None), '__qualname__', '?')}, {getattr(o, 'f', '')})"
            if kind == "coroutine":
                return f"{kind}({o.cr_code.co_qualname})"
            if kind == "method":
                return f"{kind}({o.__func__.__qualname__})"
            if kind in ("TimerHandle", "Handle"):
                return f"{kind}({getattr(o._callback, '__qualname__', o._callback)})"
            if kind == "ReferenceType":
                return f"{kind}({type(o()).__qualname__}, {getattr(o.__callback__, '__qualname__', None)})"
            return kind

        return collections.Counter(name(o) for o in gc.get_objects())

    def opened(self, spider):
        self.tracked_idle = len(gc.get_objects())
        if os.environ.get("BENCH_CENSUS"):
            self.base_census = self.census()
            print("census-base", sum(self.base_census.values()), file=sys.stderr, flush=True)
        self.idle_rss = rss_mb()
        self.gc.on = True
        self.task = asyncio.ensure_future(self._sample())
        self.task.add_done_callback(
            lambda t: t.cancelled() or print("probe died:", repr(t.exception()), file=sys.stderr, flush=True))

    def closed(self, spider, reason):
        self.gc.on = False
        self.task.cancel()


def _report_slow_callbacks(threshold: float = 0.05) -> None:
    """BENCH_SLOW=1: print callbacks that held the loop longer than ``threshold`` (GC excluded)."""
    import asyncio.events
    import collections

    slow = collections.Counter()
    gc_spent = [0.0]
    t0 = [0.0]

    def gc_cb(phase, info):
        if phase == "start":
            t0[0] = time.perf_counter()
        else:
            gc_spent[0] += time.perf_counter() - t0[0]

    gc.callbacks.append(gc_cb)
    original = asyncio.events.Handle._run

    def timed(self):
        start, gc_before = time.perf_counter(), gc_spent[0]
        try:
            return original(self)
        finally:
            took = time.perf_counter() - start - (gc_spent[0] - gc_before)
            if took > threshold:
                cb = getattr(self._callback, "__qualname__", repr(self._callback))
                task = getattr(self._callback, "__self__", None)
                coro = getattr(task, "get_coro", lambda: None)()
                where = coro.cr_frame.f_code.co_qualname if coro is not None and coro.cr_frame else ""
                slow[f"{cb} {where}"] += 1
                print(f"slow {took * 1000:.0f} ms {cb} {where}", file=sys.stderr, flush=True)

    asyncio.events.Handle._run = timed


def main() -> None:
    scenario, service, site = sys.argv[1:4]
    if os.environ.get("BENCH_SLOW"):
        _report_slow_callbacks()
    if os.environ.get("BENCH_GC_THRESHOLD"):  # experiments only
        gc.set_threshold(*map(int, os.environ["BENCH_GC_THRESHOLD"].split(",")))
    settings = {"LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"), "TELNETCONSOLE_ENABLED": False,
                "REMOTE_CONTROL_ENABLED": False,
                "ROBOTSTXT_OBEY": False, "CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_API_URL": service,
                "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}
    own_gates = False
    if scenario.startswith("gate"):
        urls = [f"{site}/item/{i}" for i in range(1, 101)]
        if scenario == "gate_plugin":
            settings["ADDONS"] = {"scrapy_captcha.Addon": 500}
        else:
            settings["DOWNLOADER_MIDDLEWARES"] = {"naive.AwaitingMiddleware": 585}
    elif scenario == "scale_plain":
        # The same crawl shape without captchas: what lag does Scrapy itself show?
        urls = [f"{site}/open/{i}" for i in range(5000)]
        settings.update({"CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 64})
    elif scenario == "scale":
        urls = [f"{site}/item/{i}" for i in range(1, 5001)]
        own_gates = True
        settings.update({"ADDONS": {"scrapy_captcha.Addon": 500}, "CONCURRENT_REQUESTS": 64,
                         "CONCURRENT_REQUESTS_PER_DOMAIN": 64, "CAPTCHA_MAX_CONCURRENT_TASKS": 0,
                         "CAPTCHA_PROVIDER": "yescaptcha", "CAPTCHA_API_KEY": "bench",
                         "CAPTCHA_SOLVE_TIMEOUT": 600})
    else:
        urls = [f"{site}/open/{i}" for i in range(2000)]
        if scenario == "overhead_on":
            settings["ADDONS"] = {"scrapy_captcha.Addon": 500}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(Pages)
    probe = Probe(crawler)
    t0 = time.monotonic()
    process.crawl(crawler, urls=urls, own_gates=own_gates)
    process.start()
    stats = crawler.stats.get_stats()
    print(json.dumps({
        "seconds": time.monotonic() - t0, "pages": crawler.spider.done,
        "solves": stats.get("captcha/api_calls/create", 0), "parked": stats.get("captcha/parked", 0),
        "held_back": stats.get("captcha/held_back", 0), "idle_rss": probe.idle_rss,
        "rss_at_peak": probe.rss_at_peak, "peak_pending": probe.peak_pending, "max_lag": probe.max_lag,
        "gc_longest": probe.gc.longest, "gc_count": probe.gc.count,
        "gc_total": probe.gc.total, "tracked_at_peak": probe.tracked_at_peak,
        "lag_p99": sorted(probe.lags)[int(len(probe.lags) * 0.99)] if probe.lags else 0.0,
        "lags_over_100ms": sum(lag > 0.1 for lag in probe.lags), "samples": len(probe.lags),
        "lag_p99_without_gc": sorted(probe.lags_without_gc)[int(len(probe.lags_without_gc) * 0.99)]
        if probe.lags_without_gc else 0.0,
    }), flush=True)


if __name__ == "__main__":
    main()
