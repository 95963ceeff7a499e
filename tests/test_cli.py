"""The real `scrapy-captcha` command in a subprocess, against the real sandbox on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SandboxProcess

PAGES = Path(__file__).parent / "pages"
#: A key nobody would print by accident: it must appear in no output.
KEY = "sk-RECOGNISABLE-7f3c9e1d2b4a"
PROXY_PASSWORD = "pw-RECOGNISABLE-0a9b8c"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
TOKEN = re.compile(r"token {7}\S{12}\.\.\.\S{4} \((\d+) chars\)")

def run(*args: str, key: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAPTCHA_")}
    if key is not None:
        clean["CAPTCHA_API_KEY"] = key
    clean.update(env or {})
    out = subprocess.run([sys.executable, "-m", "scrapy_captcha.cli", *args], capture_output=True, text=True,
                         timeout=timeout, env=clean)
    assert "Traceback" not in out.stderr, out.stderr
    # Whatever the path (success, error, --json), no secret is ever printed.
    for secret in (KEY, PROXY_PASSWORD):
        assert secret not in out.stdout and secret not in out.stderr
    return out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def calls(sandbox: SandboxProcess, endpoint: str) -> int:
    """How many times the emulated service was called at ``endpoint`` since the last reset."""
    return sandbox.state()["calls"].get(endpoint, 0)


# ------------------------------------------------------------------ detect


def test_detect_explain_on_a_saved_page():
    out = run("detect", str(PAGES / "google_sorry.html"), "--url", "https://www.google.com/sorry/index",
              "--status", "429", "--explain")
    assert out.returncode == 0, out.stderr
    assert "recaptcha_v2 sitekey=6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI blocking=True" in out.stdout
    assert "blocking: HTTP 429" in out.stdout
    assert "form: POST https://www.google.com/sorry/index fields=['q', 'continue']" in out.stdout


def test_detect_without_url_shows_the_page_s_own_relative_urls():
    out = run("detect", str(PAGES / "google_sorry.html"), "--explain")
    assert out.returncode == 0, out.stderr
    assert "file:" not in out.stdout
    assert "page_url=(no --url given)" in out.stdout
    assert "form: POST index (no --url given) fields=['q', 'continue']" in out.stdout


def test_detect_says_when_nothing_is_found():
    out = run("detect", str(PAGES / "clean_product_page.html"))
    assert out.returncode == 1 and "no captcha found" in out.stdout


def test_detect_explain_says_why_not():
    out = run("detect", str(PAGES / "trap_cloudflare_jsd_beacon.html"), "--explain")
    assert out.returncode == 1
    assert "jsd/main.js beacon" in out.stdout and "no captcha found" in out.stdout


@pytest.mark.parametrize("command", ["detect", "solve"])
def test_a_missing_file_is_one_clear_line(tmp_path, command):
    missing = tmp_path / "saved.html"
    out = run(command, str(missing), "--url", "https://shop.example/x")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == (f"scrapy-captcha {command}: {missing}: no such file "
                                  "(give a saved page or an http(s) URL)")


def test_detect_json_parses(sandbox):
    out = run("detect", sandbox.site_url + "/challenge/turnstile/1", "--json", "--explain")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["page"] == {"source": sandbox.site_url + "/challenge/turnstile/1",
                           "url": sandbox.site_url + "/challenge/turnstile/1", "status": 403}
    [turnstile] = doc["challenges"]
    assert turnstile["kind"] == "turnstile" and turnstile["blocking"] is True and turnstile["action"] == "signup"
    assert any(line.startswith("kept turnstile") for line in doc["explain"])


# ------------------------------------------------------------------- solve


def test_solve_a_url(sandbox):
    out = run("solve", sandbox.site_url + "/challenge/turnstile/1", "--provider", "sandbox",
              "--api-url", sandbox.service_url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "turnstile" in out.stdout and "solved by   sandbox" in out.stdout
    assert TOKEN.search(out.stdout), out.stdout
    assert re.search(r"time {8}\d+\.\d s, \d+ polls?", out.stdout)
    assert "cost        0.002 USD (reported by the service)" in out.stdout
    assert calls(sandbox, "createTask") == 1


def test_solve_a_saved_page_for_the_url_it_came_from(sandbox, tmp_path):
    url = sandbox.site_url + "/item/7"
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as reply:  # the gate answers 403
        saved = tmp_path / "item7.html"
        saved.write_bytes(reply.read())
    out = run("solve", str(saved), "--url", url, "--status", "403", "--provider", "sandbox",
              "--api-url", sandbox.service_url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "recaptcha_v2" in out.stdout and TOKEN.search(out.stdout)
    [created] = [e for e in sandbox.log() if e["endpoint"] == "createTask"]
    assert created["task"]["websiteURL"] == url
    assert created["task"]["websiteKey"] == "6LcSANDBOXdemoSiteKeyForScrapyCaptcha-01"


def test_a_saved_page_needs_its_url(tmp_path):
    saved = tmp_path / "page.html"
    saved.write_bytes((PAGES / "google_sorry.html").read_bytes())
    out = run("solve", str(saved), "--provider", "sandbox")
    assert out.returncode == 2
    assert "a saved page needs --url" in out.stderr


def test_no_key_is_one_line_and_no_python(sandbox):
    out = run("solve", sandbox.site_url + "/item/1", "--provider", "sandbox,capsolver")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == ("scrapy-captcha solve: no API key for capsolver: set the CAPTCHA_API_KEY "
                                  "environment variable (the sandbox needs none)")
    assert calls(sandbox, "createTask") == 0


def test_bad_key_says_the_crawl_pauses_and_what_to_do(sandbox):
    sandbox.configure(keys={KEY: "ERROR_KEY_DOES_NOT_EXIST"})
    out = run("solve", sandbox.site_url + "/item/2", "--provider", "sandbox", "--api-url", sandbox.service_url,
              key=KEY)
    assert out.returncode == 3
    assert "error       ERROR_KEY_DOES_NOT_EXIST" in out.stdout
    assert "a crawl     would pause the whole crawl until the account works" in out.stdout
    assert "what to do  check CAPTCHA_API_KEY / the account's key status" in out.stdout


def test_zero_balance(sandbox):
    sandbox.configure(balance=0)
    out = run("solve", sandbox.site_url + "/item/3", "--provider", "sandbox", "--api-url", sandbox.service_url)
    assert out.returncode == 3
    assert "error       ERROR_ZERO_BALANCE" in out.stdout
    assert "would pause the whole crawl" in out.stdout and "what to do  top up the account balance" in out.stdout


def test_a_kind_the_provider_does_not_offer(sandbox):
    page = sandbox.site_url + "/challenge/geetest-v4/1"
    out = run("solve", page, "--provider", "yescaptcha", "--api-url", sandbox.service_url + "/yescaptcha", key=KEY)
    assert out.returncode == 3
    assert "ERROR_TASK_NOT_SUPPORTED: provider 'yescaptcha' does not offer geetest_v4" in out.stdout
    assert "would give the task to the next provider in CAPTCHA_PROVIDER" in out.stdout
    assert "--provider a,b" in out.stdout
    assert calls(sandbox, "createTask") == 0  # refused before anything was sent

    # Tried in order, as CAPTCHA_PROVIDER: the next provider solves it; capsolver reports no cost.
    out = run("solve", page, "--provider", "yescaptcha", "--provider", "capsolver",
              "--api-url", sandbox.service_url + "/yescaptcha", "--api-url",
              f"capsolver={sandbox.service_url}/capsolver", key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "solved by   capsolver" in out.stdout
    assert "yescaptcha cannot solve geetest (ERROR_TASK_NOT_SUPPORTED): trying capsolver" in out.stderr
    assert "cost        0.0012 USD (estimate from the price table: the service reports no cost)" in out.stdout


def test_costs_say_their_unit(sandbox):
    """yescaptcha reports no cost and counts in points: the estimate says so."""
    out = run("solve", sandbox.site_url + "/challenge/recaptcha-v3/1", "--provider", "yescaptcha",
              "--api-url", sandbox.service_url + "/yescaptcha", key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ("cost        20 points = ~0.0028 USD (estimate from the price table: the service reports no cost)"
            in out.stdout)


def test_an_unreachable_service(sandbox):
    out = run("solve", sandbox.site_url + "/item/4", "--provider", "sandbox",
              "--api-url", f"http://127.0.0.1:{closed_port()}", "--timeout", "3")
    assert out.returncode == 3
    assert "TRANSPORT_ERROR" in out.stdout and "Cannot connect" in out.stdout
    assert "would wait 1 s, doubling each time, and repeat the call up to 6 times, then drop the request" in out.stdout
    assert "the call is repeated in" in out.stderr  # the user saw it retry, as a crawl would


def test_an_incidental_widget_is_left_alone_unless_all(sandbox):
    page = str(PAGES / "recaptcha_v2_login_form_incidental.html")
    out = run("solve", page, "--url", sandbox.site_url + "/login", "--provider", "sandbox",
              "--api-url", sandbox.service_url)
    assert out.returncode == 1
    assert "no blocking challenge" in out.stdout and "--all" in out.stdout
    assert calls(sandbox, "createTask") == 0
    # With --all it is solved: the sandbox does not know this site's key, and a crawl would drop it.
    out = run("solve", page, "--url", sandbox.site_url + "/login", "--all", "--provider", "sandbox",
              "--api-url", sandbox.service_url)
    assert out.returncode == 3
    assert "ERROR_RECAPTCHA_INVALID_SITEKEY" in out.stdout
    assert "would drop the request: retrying will not help" in out.stdout


def test_one_challenge_seen_twice_is_paid_once(sandbox):
    """A Cloudflare challenge page carries a Turnstile widget with the same key: one
    challenge (the page, solved in token mode with the widget's parameters), one task."""
    out = run("solve", sandbox.site_url + "/challenge/cloudflare/1", "--provider", "2captcha",
              "--api-url", sandbox.service_url + "/2captcha", key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("cloudflare_challenge") == 1 and "turnstile " not in out.stdout
    assert out.stdout.count("solved by") == 1
    assert calls(sandbox, "createTask") == 1


def test_json_output(sandbox, tmp_path):
    out = run("solve", sandbox.site_url + "/challenge/hcaptcha/1", "--json", "--provider", "sandbox",
              "--api-url", sandbox.service_url, key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["exit_code"] == 0 and doc["providers"] == ["sandbox"]
    [ch] = doc["challenges"]
    assert ch["kind"] == "hcaptcha" and ch["solved"] is True
    solution = ch["solution"]
    assert solution["provider"] == "sandbox" and solution["polls"] >= 1 and solution["elapsed"] > 0
    assert solution["cost"] == 0.002 and solution["unit"] == "USD" and solution["estimate"] is False
    assert len(solution["token"]) == 12 + 3 + 4 and solution["token_length"] > 20

    sandbox.configure(balance=0)
    out = run("solve", sandbox.site_url + "/challenge/hcaptcha/2", "--json", "--provider", "sandbox",
              "--api-url", sandbox.service_url, key=KEY)
    doc = json.loads(out.stdout)
    assert out.returncode == 3 and doc["exit_code"] == 3
    error = doc["challenges"][0]["error"]
    assert error["code"] == "ERROR_ZERO_BALANCE" and error["reaction"] == "pause"
    assert error["advice"] == "top up the account balance"

    out = run("solve", str(tmp_path / "gone.html"), "--url", "https://shop.example/", "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout)["error"]["code"] == "USAGE"

    out = run("balance", "--provider", "sandbox,yescaptcha", "--api-url", sandbox.service_url,
              "--api-url", f"yescaptcha={sandbox.service_url}/yescaptcha", "--json", key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    balances = json.loads(out.stdout)["balances"]
    assert balances[0] == {"provider": "sandbox", "api_url": sandbox.service_url, "balance": 0.0, "unit": "USD"}
    assert balances[1]["unit"] == "points" and "usd" in balances[1]


# ----------------------------------------------------------------- balance


def test_balance_for_several_providers_at_once(sandbox):
    sandbox.configure(balance=12.5)
    urls = [f"{name}={sandbox.service_url}/{name}" for name in ("capsolver", "yescaptcha", "anticaptcha")]
    out = run("balance", "--provider", "sandbox,capsolver", "--provider", "yescaptcha", "--provider", "anticaptcha",
              "--api-url", sandbox.service_url, *[a for url in urls for a in ("--api-url", url)], key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["sandbox", "capsolver", "yescaptcha", "anticaptcha"]
    assert f"12.5 USD  at {sandbox.service_url}" in lines[0]
    assert f"12.5 USD  at {sandbox.service_url}/capsolver" in lines[1]
    assert "12.5 points (~" in lines[2]  # yescaptcha counts in points
    assert calls(sandbox, "getBalance") == 4


def test_balance_from_the_environment_and_per_provider_errors(sandbox):
    out = run("balance", key=KEY, env={"CAPTCHA_PROVIDER": "sandbox", "CAPTCHA_API_URL": sandbox.service_url})
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith(f"sandbox  10 USD  at {sandbox.service_url}")
    sandbox.configure(keys={KEY: "ERROR_KEY_BANNED"})
    out = run("balance", "--api-url", sandbox.service_url, "--api-url", f"capsolver={sandbox.service_url}/capsolver",
              key=KEY, env={"CAPTCHA_PROVIDER": "sandbox,capsolver"})
    assert out.returncode == 3
    assert [line.split()[:2] for line in out.stdout.splitlines() if "ERROR_KEY_BANNED" in line] == [
        ["sandbox", "ERROR_KEY_BANNED"], ["capsolver", "ERROR_KEY_BANNED"]]
    assert "a crawl would pause the whole crawl" in out.stdout


def test_balance_of_the_sandbox_needs_no_key(sandbox):
    out = run("balance", "--provider", "sandbox", "--api-url", sandbox.service_url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sandbox  10 USD")
    out = run("balance", "--provider", "sandbox,capsolver", "--api-url", sandbox.service_url)
    assert out.returncode == 3
    assert "capsolver  NO_API_KEY: set the CAPTCHA_API_KEY environment variable" in out.stdout
    assert "api_key=" not in out.stdout + out.stderr
    out = run("balance", "--provider", "nosuch")
    assert out.returncode == 2 and "unknown provider 'nosuch'" in out.stderr


def test_a_provider_that_is_not_listening(sandbox):
    out = run("balance", "--provider", "sandbox", "--api-url", f"http://127.0.0.1:{closed_port()}",
              "--timeout", "2")
    assert out.returncode == 3
    assert "TRANSPORT_ERROR" in out.stdout and "repeat the call" in out.stdout


# -------------------------------------------------------- the crawl's proxy


@pytest.fixture(scope="module")
def proxied_sandbox(tmp_path_factory) -> Iterator[tuple[SandboxProcess, str]]:
    """A sandbox with its loopback proxy (login + password), and the proxy's address."""
    ready = tmp_path_factory.mktemp("proxied") / "ready.json"
    os.environ["SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD"] = PROXY_PASSWORD  # kept off the command line
    try:
        box = SandboxProcess("--proxy-port", "0", "--proxy-login", "crawler", "--ready-file", str(ready))
    finally:
        del os.environ["SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD"]
    yield box, json.loads(ready.read_text())["proxy_url"]
    box.stop()


def test_ip_bound_kinds_go_through_the_crawl_s_proxy(proxied_sandbox):
    box, proxy_url = proxied_sandbox
    box.reset()
    box._call(proxy_url, "/_proxy/reset", {})
    proxy = proxy_url.replace("http://", f"http://crawler:{PROXY_PASSWORD}@")
    capsolver = ["--provider", "capsolver", "--api-url", box.service_url + "/capsolver"]
    # DataDome at capsolver is solved only through the crawl's own proxy.
    out = run("solve", box.site_url + "/challenge/datadome/1", *capsolver, "--user-agent", BROWSER_UA, key=KEY)
    assert out.returncode == 3
    assert "PROXY_REQUIRED" in out.stdout and "here: --proxy URL" in out.stdout
    # AWS WAF with --proxy: the page is fetched through it and the task carries it.
    out = run("solve", box.site_url + "/challenge/aws-waf/1", *capsolver, "--proxy", proxy, key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cookie      aws-waf-token=" in out.stdout
    [created] = [e for e in box.log() if e["endpoint"] == "createTask"]
    assert created["proxy"] is True and created["task"]["type"] == "AntiAwsWafTask"
    counters = box._call(proxy_url, "/_proxy/state")
    # Our fetch of the page and the emulated worker's visit, both authenticated.
    assert counters["auth_failures"] == 0 and counters["requests"] >= 2


def test_a_sandbox_port_in_use_is_one_line(sandbox):
    taken = sandbox.service_url.rsplit(":", 1)[1]
    out = run("sandbox", "--service-port", taken, "--site-port", "0", timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert "the sandbox cannot listen" in out.stderr and "--service-port 0" in out.stderr


# ------------------------------------------------------------------ hygiene


def test_the_command_keeps_scrapy_offline():
    """Scrapy's cookie handling builds its tldextract splitter on import: after the CLI module, it fetches nothing."""
    probe = ("import scrapy_captcha.cli; from scrapy.downloadermiddlewares.cookies import _split_domain; "
             "print(repr(_split_domain.suffix_list_urls))")
    env = {k: v for k, v in os.environ.items() if k != "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "()", out.stderr
    # A user's own choice is kept.
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = "file:///tmp/my-list.dat"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "('file:///tmp/my-list.dat',)", out.stderr


def test_the_key_is_never_printed(sandbox):
    """run() checks every command of this module; here the key demonstrably reaches the service."""
    page = sandbox.site_url + "/challenge/hcaptcha/3"
    assert run("solve", page, "--provider", "sandbox", "--api-url", sandbox.service_url, key=KEY).returncode == 0
    assert run("solve", page, "--json", "--provider", "sandbox", "--api-url", sandbox.service_url,
               "--explain", key=KEY).returncode == 0
    sandbox.configure(keys={KEY: "ERROR_KEY_DENIED_ACCESS"})  # the service knows this very key
    for out in (run("solve", page, "--provider", "sandbox", "--api-url", sandbox.service_url, key=KEY),
                run("balance", "--provider", "sandbox", "--api-url", sandbox.service_url, "--json", key=KEY)):
        assert out.returncode == 3 and "ERROR_KEY_DENIED_ACCESS" in out.stdout
