"""Prints what the crawl scraped and what the captchas cost, when the spider closes."""

from __future__ import annotations

from scrapy import signals


class CrawlReport:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats.get_stats()
        lines = [
            "",
            "=== scrapy-captcha demo report ===",
            f"finish reason:        {reason}",
            f"items scraped:        {stats.get('item_scraped_count', 0)}",
            f"requests failed:      {stats.get('catalog/failed', 0)}",
            f"challenge pages met:  {stats.get('captcha/detected', 0)}",
            f"captchas solved:      {stats.get('captcha/solved', 0)}",
            f"requests parked:      {stats.get('captcha/parked', 0)}",
            f"requests dropped:     {sum(v for k, v in stats.items() if k.startswith('captcha/dropped/'))}",
            f"service calls:        createTask={stats.get('captcha/api_calls/create', 0)} "
            f"getTaskResult={stats.get('captcha/api_calls/poll', 0)}",
            f"captcha cost:         {stats.get('captcha/cost', 0.0):.4f} USD"
            + (" (estimates included)" if stats.get("captcha/cost/estimated") else ""),
            f"time solving:         {stats.get('captcha/solve_time/total', 0.0):.1f}s",
            f"crawl time:           {stats.get('elapsed_time_seconds', 0.0):.1f}s",
            "",
        ]
        print("\n".join(lines), flush=True)
