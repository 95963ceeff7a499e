"""`make bench`: every scenario side by side on loopback against the sandbox; prints tables.

BENCH_ONLY=pending,gate,polling,scopes,scale,overhead,detect,browser,fleet picks some.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
ENV = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))


def control(url: str, path: str, data: dict) -> None:
    req = urllib.request.Request(url + path, data=json.dumps(data).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def state(url: str) -> dict:
    with urllib.request.urlopen(url + "/_sandbox/state", timeout=10) as reply:
        return json.loads(reply.read())


def run(script: str, *args: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                         env={**ENV, **(env or {})}, cwd=HERE, timeout=1200)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{script} {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def wanted(name: str) -> bool:
    return not ONLY or name in ONLY


def main() -> int:
    box = subprocess.Popen([sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
                            "--site-port", "0"], stdout=subprocess.PIPE, text=True, env=ENV)
    urls = json.loads(box.stdout.readline())
    service, site = urls["service_url"], urls["site_url"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    try:
        if wanted("pending"):
            for order in ("first", "mixed"):
                rows = {}
                for scenario in ("none", "plugin", "naive"):
                    control(service, "/_sandbox/reset", {"latency": 15, "balance": 100})
                    gated = [] if scenario == "none" else list(range(1, 9))
                    control(site, "/_sandbox/site/reset", {"page_delay": 0.02, "session_gate": False,
                                                            "page_gated_items": gated})
                    rows[scenario] = run("pending_solves.py", scenario, service, site, env={"ORDER": order})
                base, base_total = rows["none"]["last_plain"], rows["none"]["total"]
                where = "requested first" if order == "first" else "spread among the plain ones"
                print(f"1{'ab'[order == 'mixed']}. per-page gates on one host: 8 pages with their own captcha "
                      f"({where}) among 400 plain pages, no cookiejar, CONCURRENT_REQUESTS=8, 15 s solves")
                print(f"   {'':<30}{'last plain page':>16}{'vs none':>9}{'total':>9}{'gated items':>13}")
                for key, name in (("none", "no captchas"), ("plugin", "scrapy-captcha"),
                                  ("naive", "await in process_response")):
                    r = rows[key]
                    print(f"   {name:<30}{r['last_plain']:>15.2f}s{r['last_plain'] / base:>8.2f}x{r['total']:>8.1f}s"
                          f"{r['gated']:>10}/8")
                print(f"   targets: last plain page <= 1.2x; total <= none + 1.5 x 15 s = {base_total + 22.5:.1f}s")
                print()
        if wanted("gate"):
            rows = {}
            for scenario in ("gate_plugin", "gate_naive"):
                control(service, "/_sandbox/reset", {"latency": 5, "balance": 100})
                control(site, "/_sandbox/site/reset", {"items": 100})
                rows[scenario] = run("crawls.py", scenario, service, site)
                rows[scenario]["solves"] = state(service)["calls"].get("createTask", 0)
            print("2. one gate: 100 pages behind one session gate, 8 requests per domain, 5 s solves")
            print(f"   {'':<34}{'createTask':>11}{'gate pages':>11}{'pages':>7}{'time':>8}")
            for key, name in (("gate_plugin", "scrapy-captcha"), ("gate_naive", "await in process_response")):
                r = rows[key]
                gates = r["parked"] if key == "gate_plugin" else "-"
                print(f"   {name:<34}{r['solves']:>11}{gates:>11}{r['pages']:>7}{r['seconds']:>7.1f}s")
            print()
        if wanted("polling"):
            # Each mode has its own in-process sandbox, so the three run side by side.
            procs = {mode: subprocess.Popen([sys.executable, str(HERE / "polling.py"), mode], stdout=subprocess.PIPE,
                                            text=True, env=ENV, cwd=HERE) for mode in ("learned", "fixed3", "fixed1")}
            rows = {}
            for mode, proc in procs.items():
                out, _ = proc.communicate(timeout=1200)
                lines = [line for line in out.splitlines() if line.startswith("{")]
                if not lines:
                    raise SystemExit(f"polling.py {mode} failed")
                rows[mode] = json.loads(lines[-1])
            print("3. polling (yescaptcha dialect: first poll >= 3 s, 3 s apart); added = token in hand - task ready")
            print(f"   {'':<34}{'cold 10 s':>17}{'steady 10 s':>17}   shift to 4 s: added per solve")
            print(f"   {'':<34}{'polls':>7}{'added':>10}{'polls':>7}{'added':>10}")
            for mode, name in (("learned", "scrapy-captcha (learned plan)"),
                               ("fixed3", "fixed 3 s timer (yescaptcha SDK)"),
                               ("fixed1", "fixed 1 s timer (capsolver SDK)")):
                r = rows[mode]
                (cp, ca), (sp, sa) = r["cold"], r["steady"]
                shift = "  ".join(f"{a:+.2f}" for _, a in r["shift"])
                print(f"   {name:<34}{cp:>7}{ca:>9.2f}s{sp:>7.1f}{sa:>9.2f}s   {shift}")
            print("   targets: no solve, the cold one included, waits more than one poll interval (3 s) past ready;")
            print("   steady (after 5 solves) <= 3 polls per solve and <= 0.3 s added; "
                  "back within that <= 3 solves after a shift")
            print()
        if wanted("scopes"):
            print("9. gates that change scope: CONCURRENT_REQUESTS=8, no cookiejar, 5 s solves")
            print(f"   {'':<40}{'none':>9}{'scrapy-captcha':>16}{'await in process_response':>27}")
            for shape, label in (("after50", "200 pages, every page gated after the 50th"),
                                 ("mixed", "180 session-gated + 20 page-gated")):
                rows = {}
                for mode in ("none", "plugin", "naive"):
                    control(service, "/_sandbox/reset", {"latency": 5, "balance": 100})
                    # "none": no session gate; its search pages answer 403 at once and are not counted.
                    site_shape = {"session_gate": mode != "none", "gate_after": 50, "page_delay": 0.02}
                    control(site, "/_sandbox/site/reset", site_shape)
                    rows[mode] = run("scopes.py", shape, mode, service, site)
                    rows[mode]["solves"] = state(service)["calls"].get("createTask", 0)
                def cell(r: dict) -> str:
                    return f"{r['seconds']:.1f}s/{r['solves']}"
                print(f"   {label:<40}{cell(rows['none']):>9}{cell(rows['plugin']):>16}{cell(rows['naive']):>27}")
                print(f"   {'':<40}{'':>9}{'scopes ' + str(rows['plugin']['scope']):>16}")
            print("   cells: wall time / createTask calls")
            print()
        if wanted("scale"):
            control(service, "/_sandbox/reset", {"latency": 14.5, "balance": 1000})
            control(site, "/_sandbox/site/reset", {"items": 5000})
            r = run("crawls.py", "scale", service, site)
            plain = run("crawls.py", "scale_plain", service, site)
            extra = r["rss_at_peak"] - r["idle_rss"]
            print("4. scale: 5,000 requests, each behind its own gate (5,000 pending solves at once)")
            tracked, at = r["tracked_at_peak"]
            print(f"   peak pending solves {r['peak_pending']}, RSS idle crawler {r['idle_rss']:.0f} MB, "
                  f"at peak {r['rss_at_peak']:.0f} MB (+{extra:.0f} MB, {extra * 1024 / max(1, r['peak_pending']):.1f} "
                  f"KB per pending solve), {tracked / max(1, at):.0f} GC-tracked objects per pending solve "
                  f"(the Request itself included), {r['pages']} pages delivered in {r['seconds']:.0f}s")
            for name, row in (("scale", r), ("plain", plain)):
                label = "with 5,000 pending solves" if name == "scale" else "5,000 plain pages, no add-on"
                print(f"   {label:<30} event-loop lag max {row['max_lag'] * 1000:>4.0f} ms, "
                      f"p99 {row['lag_p99'] * 1000:>4.0f} ms, {row['lags_over_100ms']:>3} of {row['samples']} "
                      f"50 ms ticks late by >100 ms; longest full GC {row['gc_longest']['2'] * 1000:.0f} ms "
                      f"({row['gc_count']['2']} full GCs, {row['gc_total']['2']:.1f} s); {row['seconds']:.0f}s")
            print()
        if wanted("fleet"):
            print("8. fleet mode (Redis): 4 processes vs 1 on one sandbox account; the parked-request journal")
            if not (shutil.which("redis-server") or os.access("/usr/bin/redis-server", os.X_OK)):
                print("   skipped: no redis-server (scripts/ensure-redis.sh installs it)")
            else:
                from fleet import render, render_journal

                results = run("fleet.py", service, site)
                print(render(results))
                print()
                print(render_journal(results["journal"]))
            print()
        if wanted("browser"):
            control(service, "/_sandbox/reset", {"latency": 1.0, "balance": 100})
            rows = run("browser.py", service, site)
            print("7. browser: time solve_page adds beyond the service's solve time (median of 5, Chromium)")
            print(f"   {'':<22}{'widgets':>8}{'with init script':>18}{'without':>10}{'scan':>8}")
            for name, r in rows.items():
                no_init = "-" if r["overhead_ms_no_init"] is None else f"+{r['overhead_ms_no_init']:.0f} ms"
                print(f"   /browser/{name:<12}{r['widgets']:>8}{'+' + format(r['overhead_ms'], '.0f') + ' ms':>18}"
                      f"{no_init:>10}{r['scan_ms']:>6.0f}ms")
            print()
    finally:
        box.terminate()
        box.wait()
    if wanted("overhead"):
        print("5. ", end="")
        print(subprocess.run([sys.executable, str(HERE / "overhead.py")], capture_output=True, text=True,
                             env=ENV).stdout.rsplit("\n{", 1)[0])
        print()
    if wanted("detect"):
        print("6. detection")
        print(subprocess.run([sys.executable, str(HERE / "detect.py")], capture_output=True, text=True,
                             env=ENV).stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
