"""Fleet mode in real crawls: scrapy-redis's scheduler and dupefilter, crawler processes on one account.

Three real crawler processes (this module run as a script: see :func:`crawl_main`)
share one scrapy-redis queue and one sandbox account through a real
``redis-server``; the demo site puts every item page behind a session gate
(per cookie jar: one per process). One process is killed with SIGKILL while
its solve runs and its requests wait parked: the others must re-queue them,
and every item must be scraped exactly once, within the fleet's task limit
and budget.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

try:
    import redis
    import scrapy_redis  # noqa: F401
except ImportError:  # pragma: no cover - the test extra brings both
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("redis and scrapy-redis are needed (pip install -e '.[test]')", allow_module_level=True)

import scrapy
from scrapy import signals
from scrapy_redis.spiders import RedisSpider

from scrapy_captcha.fleet import namespace_for

from .crawling import peak_open, task_spans

REPO = Path(__file__).resolve().parents[1]
#: The fleet's lease (Fleet.connect's default, what a crawl uses): a killed process's slots go within it.
LEASE = 10.0
LIMIT = 2
ITEMS = 60
PRICE = 0.002
#: Room for six solves: the three gates (one per process's cookie jar) need three.
BUDGET = 0.012
PROVIDER = "sandbox"

# scrapy-redis 0.9.1 calls StatsCollector.inc_value(spider=...), deprecated in Scrapy 2.15+.
pytestmark = pytest.mark.filterwarnings("ignore::scrapy.exceptions.ScrapyDeprecationWarning:scrapy_redis")


# ------------------------------------------------------------------ the crawler process


class FleetItemsSpider(RedisSpider):
    """Item pages named in a Redis list (scrapy-redis's start URLs), each page an item."""

    name = "fleet_items"

    def make_request_from_data(self, data: bytes) -> scrapy.Request:
        # A plain request: repeated URLs in the list are dropped by the shared dupefilter.
        return scrapy.Request(data.decode(), callback=self.parse_item, errback=self.failed)

    def parse_item(self, response: Any) -> Any:
        yield {"id": int(response.css("article.item::attr(data-id)").get()), "pid": os.getpid()}

    def failed(self, failure: Any) -> None:
        self.crawler._fleet_test_errbacks.append(repr(failure.value))


def crawl_main(config: dict[str, Any]) -> None:
    import warnings

    from scrapy.crawler import CrawlerProcess
    from scrapy.exceptions import ScrapyDeprecationWarning

    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning, module=r"scrapy_redis")
    out = Path(config["out"])
    items = os.open(out / f"items-{os.getpid()}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def scraped(item: Any, **kwargs: Any) -> None:
        os.write(items, (json.dumps(dict(item)) + "\n").encode())  # unbuffered: a SIGKILL loses nothing written

    reasons: list[str] = []

    def closed(spider: Any, reason: str) -> None:
        reasons.append(reason)

    process = CrawlerProcess(config["settings"], install_root_handler=True)
    crawler = process.create_crawler(FleetItemsSpider)
    crawler._fleet_test_errbacks = []
    crawler.signals.connect(scraped, signal=signals.item_scraped)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler)
    process.start()
    # (After the crawl: what every spider_closed handler counted is in.)
    stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, (int, float, str))}
    (out / f"stats-{os.getpid()}.json").write_text(json.dumps(
        {"reason": reasons[0] if reasons else None, "stats": stats, "errbacks": crawler._fleet_test_errbacks},
        default=str))


# ------------------------------------------------------------------ the test's side


class Crawl:
    """One crawler process of the fleet."""

    def __init__(self, settings: dict[str, Any], out: Path, index: int):
        self.out = out
        self.log = out / f"crawl-{index}.log"
        config = {"settings": {**settings, "LOG_FILE": str(self.log)}, "out": str(out)}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.test_fleet_crawl", json.dumps(config)],
                                     cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     env={**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""})
        self.pid = self.proc.pid

    def result(self) -> dict[str, Any]:
        path = self.out / f"stats-{self.pid}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


def crawl_settings(sandbox: Any, redis_url: str, key: str, run: str, **extra: Any) -> dict[str, Any]:
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        # A queue, a dupefilter and a start list of this run's own (the server outlives the test).
        "SCHEDULER_QUEUE_KEY": f"{run}:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"{run}:%(spider)s:dupefilter",
        "MAX_IDLE_TIME_BEFORE_CLOSE": 3,
        "ADDONS": {"scrapy_captcha.Addon": 500},
        "CAPTCHA_PROVIDER": PROVIDER,
        "CAPTCHA_API_URL": sandbox.service_url,
        "CAPTCHA_API_KEY": key,
        "CAPTCHA_REDIS_URL": redis_url,
        "CAPTCHA_MAX_CONCURRENT_TASKS": LIMIT,
        "CAPTCHA_BUDGET": BUDGET,
        "CAPTCHA_PRICES": {PROVIDER: {"recaptcha_v2": PRICE * 1000}},
        "CAPTCHA_SOLVE_TIMEOUT": 180,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "CONCURRENT_REQUESTS": 8,
        **extra,
    }


def wait_for(what: str, check: Any, timeout: float, crawls: list[Crawl], poll: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    logs = "\n\n".join(f"--- crawl {c.pid} (exit {c.proc.poll()}):\n{c.tail()}" for c in crawls)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def process_pid(process_id: str) -> int:
    """The OS pid in a fleet process id (``host:pid:random``)."""
    return int(process_id.split(":")[1])


@pytest.mark.parametrize("identity", ["own", "shared"])
def test_three_crawlers_one_killed_mid_solve_every_item_once(redis_server, sandbox, tmp_path, identity):
    """``own``: each process its own user agent, so each pays for its gate: two solves at a time (the
    limit), the third process waits for a slot, the victim holds one. ``shared``: one identity, so
    one process solves the gate for the fleet and the others wait for its clearance; it is the victim.
    """
    # Long solves: the kill lands while a solve runs and the victim's requests wait parked, and the
    # other slot holder's solve outlasts the victim's lease by far.
    sandbox.reset(service={"latency": 40, "cost": PRICE, "balance": 100}, site={"items": ITEMS})
    key = f"fleet-crawl-key-SECRET-{secrets.token_hex(6)}"
    run = f"fleet-crawl-{secrets.token_hex(4)}"
    base = f"scrapy-captcha:{{{namespace_for(key)}}}"
    solving = LIMIT if identity == "own" else 1
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    urls = [f"{sandbox.site_url}/item/{i}" for i in range(1, ITEMS + 1)]
    share = ITEMS // 3
    crawls = []
    for i in range(3):
        # A start list each (every process has a share of the work; their requests still go
        # through the one shared queue), with some of the next one's URLs: the shared dupefilter
        # drops the repeats, whichever process meets them first.
        mine, nexts = urls[i * share:(i + 1) * share], urls[((i + 1) % 3) * share:][:5]
        start_key = f"{run}:start_urls:{i}"
        r.rpush(start_key, *mine, *nexts)
        agent = {"USER_AGENT": f"fleet-test-browser/{i}"} if identity == "own" else {}
        crawls.append(Crawl(crawl_settings(sandbox, redis_server.url, key, run, REDIS_START_URLS_KEY=start_key,
                                           **agent), tmp_path, i))
    by_pid = {c.pid: c for c in crawls}
    try:
        def journal(pid: int) -> int:
            return sum(r.hlen(k) for k in r.scan_iter(f"{base}:parked:*") if f":{pid}:" in k)

        def ready_to_kill() -> Any:
            # The solves under way hold their slots, the other processes wait (for a slot, or for
            # the clearance); every solve has run a few seconds (the probes of a held-back host are
            # back: nothing of the victim's is in flight).
            held = {process_pid(p): int(n) for p, n in r.hgetall(f"{base}:slots:{PROVIDER}").items() if int(n)}
            creates = [e["t"] for e in sandbox.log() if e["endpoint"] == "createTask"]
            if len(held) != solving or set(held) - set(by_pid) or len(creates) != solving:
                return None
            if time.time() - max(creates) < 6 or not all(journal(pid) for pid in by_pid):
                return None
            return sorted(held)[0]

        victim_pid = wait_for("the solves under way and every process waiting", ready_to_kill, 120, crawls)
        victim = by_pid[victim_pid]
        parked_at_kill = journal(victim_pid)
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.time()
        victim.proc.wait(timeout=10)
        sandbox.configure(latency=3)  # the solves still to come need not be long
        # Its journal is taken (once its lease has run out) and its requests re-queued.
        wait_for("the killed process's journal taken over", lambda: not journal(victim_pid), 120, crawls)
        taken_after = time.time() - killed_at

        survivors = [c for c in crawls if c is not victim]
        for crawl in survivors:
            try:
                crawl.proc.wait(timeout=240)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"crawl {crawl.pid} did not finish:\n{crawl.tail()}") from None
    finally:
        for crawl in crawls:
            if crawl.proc.poll() is None:
                crawl.proc.kill()
                crawl.proc.wait(timeout=10)

    for crawl in survivors:
        assert crawl.proc.returncode == 0, crawl.tail()
        assert crawl.result().get("reason") == "finished", crawl.tail()

    # Every item exactly once across the processes: nothing lost with the victim, nothing twice.
    seen: collections.Counter[int] = collections.Counter()
    for path in tmp_path.glob("items-*.jsonl"):
        seen.update(json.loads(line)["id"] for line in path.read_text().splitlines())
    assert seen == collections.Counter(range(1, ITEMS + 1)), seen
    results = [c.result() for c in survivors]
    assert not any(res["errbacks"] for res in results)
    stats = [res["stats"] for res in results]
    # The victim's parked requests came back through a survivor's re-queue.
    assert parked_at_kill > 0
    assert sum(s.get("captcha/parked/requeued", 0) for s in stats) >= parked_at_kill
    assert not any(s.get("captcha/abandoned") for s in stats)
    left = [k for k in r.scan_iter(f"{base}:parked*") if not k.startswith(f"{base}:parked-taken:")]
    assert not left, f"journals left behind: {left}"

    spans = task_spans(sandbox.log())
    # The fleet-wide task limit, at the service: tasks from createTask to their last result call.
    assert peak_open(spans) <= LIMIT
    before = [s for s in spans.values() if s[0] < killed_at]
    after = [s for s in spans.values() if s[0] > killed_at]
    orphan = [s for s in before if s[1] < killed_at]
    assert len(before) == solving and len(orphan) == 1
    if identity == "own":
        # One solve per process's gate: the victim's (never collected), the other holder's, the waiter's.
        assert len(after) == 1
        # The victim's slot came free within its lease: the waiter's task was created after the kill
        # and before the other slot holder's task was done (so the freed slot was the victim's).
        (holder,) = [s for s in before if s[1] > killed_at]
        assert after[0][0] < holder[1]
    else:
        # The victim was solving the fleet's gate: once its claim lapsed, one survivor solved it
        # and the other used that clearance.
        assert len(after) == 1
        assert sum(s.get("captcha/fleet/clearance_used", 0) for s in stats) >= 1
    freed_after = after[0][0] - killed_at
    # The budget, fleet-wide: at the service, and as the fleet counted it (the victim's reservation as spent).
    assert sandbox.state()["spent"] <= BUDGET + 1e-9
    spent = sum(float(v) for v in r.hvals(f"{base}:budget:spent"))
    reserved = sum(float(v) for v in r.hvals(f"{base}:budget:reserved"))
    assert spent + reserved <= BUDGET + 1e-9
    assert abs(spent - len(spans) * PRICE) < 1e-9  # every solve reserved and settled (or died reserved)
    print(f"\nfleet crawl ({identity} identity): {parked_at_kill} requests parked by the killed process, re-queued "
          f"{taken_after:.1f}s after the kill; the next createTask {freed_after:.1f}s after the kill "
          f"(lease {LEASE:g}s); {len(spans)} createTask")


@pytest.mark.parametrize("stop", ["sigterm", "budget"])
def test_a_process_that_stops_with_requests_parked_loses_none(redis_server, sandbox, tmp_path, stop):
    """A graceful stop while requests wait parked; the next process of the crawl gets every one.

    ``sigterm``: Scrapy's shutdown, mid-solve: scrapy-redis keeps its queue (SCHEDULER_PERSIST), the
    journal keeps the parked requests. ``budget``: CAPTCHA_BUDGET is spent: the parked requests are
    handed back to the scheduler, i.e. into scrapy-redis's queue.
    """
    count = 20
    sandbox.reset(service={"latency": 30 if stop == "sigterm" else 2, "cost": PRICE, "balance": 100},
                  site={"items": ITEMS})
    key = f"fleet-crawl-key-SECRET-{secrets.token_hex(6)}"
    run = f"fleet-crawl-{secrets.token_hex(4)}"
    base = f"scrapy-captcha:{{{namespace_for(key)}}}"
    start_key, queue_key = f"{run}:start_urls", f"{run}:{FleetItemsSpider.name}:requests"
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    r.rpush(start_key, *[f"{sandbox.site_url}/item/{i}" for i in range(1, count + 1)])
    # (A budget below one solve's price: the first solve cannot start.)
    budget = {"CAPTCHA_BUDGET": PRICE / 2} if stop == "budget" else {}
    first = Crawl(crawl_settings(sandbox, redis_server.url, key, run, REDIS_START_URLS_KEY=start_key, **budget),
                  tmp_path, 0)
    crawls = [first]

    def journal() -> int:
        return sum(r.hlen(k) for k in r.scan_iter(f"{base}:parked:*"))

    try:
        if stop == "sigterm":
            def solving_with_all_parked() -> bool:
                creates = [e["t"] for e in sandbox.log() if e["endpoint"] == "createTask"]
                return len(creates) == 1 and time.time() - creates[0] > 6 and journal() == count

            wait_for("the solve under way, every request parked", solving_with_all_parked, 120, crawls)
            first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(timeout=120)
        assert first.proc.returncode == 0, first.tail()
        stopped = first.result()
        # Gone from the fleet (its slots with it).
        assert not r.zrange(f"{base}:members", 0, -1) and not r.hgetall(f"{base}:slots:{PROVIDER}")
        if stop == "sigterm":
            assert stopped["reason"] == "shutdown"
            # Still journaled, for the next process.
            assert stopped["stats"]["captcha/parked/left_journaled"] == count == journal()
        else:
            assert stopped["reason"] == "captcha_budget_exhausted"
            assert stopped["stats"].get("captcha/handed_back", 0) >= 1
            # Every request somewhere: in scrapy-redis's queue, never taken from the start list, or
            # journaled (parked while the spider was closing, too late to be handed back).
            assert r.zcard(queue_key) + r.llen(start_key) + journal() == count

        sandbox.configure(latency=2)
        second = Crawl(crawl_settings(sandbox, redis_server.url, key, run, REDIS_START_URLS_KEY=start_key),
                       tmp_path, 1)
        crawls.append(second)
        second.proc.wait(timeout=180)
    finally:
        for crawl in crawls:
            if crawl.proc.poll() is None:
                crawl.proc.kill()
                crawl.proc.wait(timeout=10)
    assert second.proc.returncode == 0, second.tail()
    result = second.result()
    assert result["reason"] == "finished" and not result["errbacks"]
    if stop == "sigterm":
        assert result["stats"]["captcha/parked/requeued"] == count
    seen: collections.Counter[int] = collections.Counter()
    for path in tmp_path.glob("items-*.jsonl"):
        seen.update(json.loads(line)["id"] for line in path.read_text().splitlines())
    assert seen == collections.Counter(range(1, count + 1))
    assert journal() == 0 and not r.zcard(queue_key)


if __name__ == "__main__":
    crawl_main(json.loads(sys.argv[1]))
