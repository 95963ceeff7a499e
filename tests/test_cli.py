from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PAGES = Path(__file__).parent / "pages"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy_captcha.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_detect_explain_on_a_saved_page():
    out = run("detect", str(PAGES / "google_sorry.html"), "--url", "https://www.google.com/sorry/index",
              "--status", "429", "--explain")
    assert out.returncode == 0, out.stderr
    assert "recaptcha_v2 sitekey=6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI blocking=True" in out.stdout
    assert "blocking: HTTP 429" in out.stdout
    assert "form: POST https://www.google.com/sorry/index fields=['q', 'continue']" in out.stdout


def test_detect_says_when_nothing_is_found():
    out = run("detect", str(PAGES / "clean_product_page.html"))
    assert out.returncode == 1 and "no captcha found" in out.stdout


def test_balance_against_the_sandbox(sandbox):
    out = subprocess.run([sys.executable, "-m", "scrapy_captcha.cli", "balance", "--provider", "sandbox",
                          "--api-url", sandbox.service_url], capture_output=True, text=True, timeout=60,
                         env={"CAPTCHA_API_KEY": "k", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == 10.0


def test_detect_explain_says_why_not():
    out = run("detect", str(PAGES / "trap_cloudflare_jsd_beacon.html"), "--explain")
    assert out.returncode == 1
    assert "jsd/main.js beacon" in out.stdout and "no captcha found" in out.stdout
