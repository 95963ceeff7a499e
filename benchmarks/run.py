"""`make bench`: side-by-side runs on loopback against the sandbox; prints ratios."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
SOLVE_SECONDS = float(os.environ.get("BENCH_SOLVE_SECONDS", "15"))


def control(url: str, path: str, data: dict) -> None:
    req = urllib.request.Request(url + path, data=json.dumps(data).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def main() -> int:
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    box = subprocess.Popen([sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
                            "--site-port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        urls = json.loads(box.stdout.readline())
        rows = {}
        for scenario in ("none", "plugin", "naive"):
            control(urls["service_url"], "/_sandbox/reset", {"latency": SOLVE_SECONDS, "balance": 100})
            control(urls["site_url"], "/_sandbox/site/reset", {"page_delay": 0.02})
            out = subprocess.run([sys.executable, str(HERE / "pending_solves.py"), scenario,
                                  urls["service_url"], urls["site_url"]],
                                 capture_output=True, text=True, env=env, cwd=HERE, timeout=600)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            rows[scenario] = json.loads(lines[-1])
    finally:
        box.terminate()
        box.wait()
    print(subprocess.run([sys.executable, str(HERE / "detect.py")], capture_output=True, text=True,
                         env=env).stdout)
    base = rows["none"]["last_plain"]
    print(f"pending solves: 8 gated pages ({SOLVE_SECONDS:g} s solves) among 400 plain pages, "
          f"CONCURRENT_REQUESTS=8 — {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'scenario':<34}{'last plain page':>16}{'vs none':>9}{'total':>9}{'plain':>7}{'gated':>7}")
    names = {"none": "no captchas", "plugin": "scrapy-captcha (parked solves)",
             "naive": "await in process_response"}
    for key, row in rows.items():
        print(f"{names[key]:<34}{row['last_plain']:>15.2f}s{row['last_plain'] / base:>8.2f}x"
              f"{row['total']:>8.2f}s{row['plain']:>7}{row['gated']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
