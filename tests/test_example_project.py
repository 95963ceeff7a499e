"""End to end: the example project, run as a user runs it (`scrapy crawl` in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).parent.parent / "example_project"
SCRAPY = [sys.executable, "-m", "scrapy"]


def scrapy_crawl(sandbox, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    out = tmp_path / "items.jsonl"
    env = {**os.environ, "CAPTCHA_API_KEY": "e2e-key-SECRET-7", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    proc = subprocess.run(
        [*SCRAPY, "crawl", "catalog", "-a", f"start_url={sandbox.site_url}/", "-s",
         f"CAPTCHA_API_URL={sandbox.service_url}", "-O", str(out), *extra],
        cwd=PROJECT, capture_output=True, text=True, timeout=300, env=env,
    )
    items = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, items


def test_catalog_spider_scrapes_every_item_through_the_gate(sandbox, tmp_path):
    sandbox.reset(site={"session_pages": 25})
    proc, items = scrapy_crawl(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = [item["id"] for item in items]
    assert sorted(ids) == list(range(1, 61))  # every item, exactly once
    report = proc.stdout
    assert "items scraped:        60" in report
    assert "requests dropped:     0" in report
    solved = int(report.split("captchas solved:")[1].split()[0])
    assert solved >= 3  # 66 pages, sessions good for 25
    assert sandbox.state()["verified"] == solved
    # The key given in the environment never reaches the output.
    assert "e2e-key-SECRET-7" not in proc.stdout + proc.stderr


def test_a_non_asyncio_reactor_fails_at_startup_with_a_clear_message(sandbox, tmp_path):
    proc, items = scrapy_crawl(sandbox, tmp_path, "-s", "TWISTED_REACTOR=twisted.internet.selectreactor.SelectReactor")
    assert "scrapy-captcha needs Twisted's asyncio reactor" in proc.stderr
    assert items == []
    assert sandbox.state()["calls"] == {}


def test_browser_catalog_spider_passes_every_browser_page(sandbox, tmp_path):
    out = tmp_path / "browser.jsonl"
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    proc = subprocess.run(
        [*SCRAPY, "crawl", "browser_catalog", "-a", f"start_url={sandbox.site_url}/", "-s",
         f"CAPTCHA_API_URL={sandbox.service_url}", "-O", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    items = {item["page"]: item["result"] for item in map(json.loads, out.read_text().splitlines())}
    assert items == {"xhr": "verified", "v3": "verified", "hcaptcha": "verified", "turnstile": "verified",
                     "iframe": "verified", "cf": "Clearance granted",
                     "cf (plain HTTP, clearance cookie)": "Clearance granted"}
