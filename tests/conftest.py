from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from typing import Any, Iterator

# Scrapy's cookie middleware would fetch the public suffix list online on first
# use; its bundled snapshot keeps every test on loopback. Set before Scrapy loads.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import pytest  # noqa: E402


class SandboxProcess:
    """The real `scrapy-captcha sandbox` command in a subprocess, and its control endpoints."""

    def __init__(self, *args: str):
        self._errors = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
             "--site-port", "0", *args],
            # stderr to a file: an undrained pipe would stall the sandbox once full.
            stdout=subprocess.PIPE, stderr=self._errors, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self._errors.seek(0)
            raise RuntimeError("sandbox did not start: " + self._errors.read())
        urls = json.loads(line)
        self.service_url: str = urls["service_url"]
        self.site_url: str = urls["site_url"]

    def _call(self, base: str, path: str, data: Any = None) -> Any:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(base + path, data=body, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def reset(self, service: dict[str, Any] | None = None, site: dict[str, Any] | None = None) -> None:
        self._call(self.service_url, "/_sandbox/reset", {"latency": 0.2, **(service or {})})
        self._call(self.site_url, "/_sandbox/site/reset", site or {})

    def configure(self, **config: Any) -> None:
        self._call(self.service_url, "/_sandbox/config", config)

    def state(self) -> dict[str, Any]:
        return self._call(self.service_url, "/_sandbox/state")

    def site_state(self) -> dict[str, Any]:
        return self._call(self.site_url, "/_sandbox/site/state")

    def log(self) -> list[dict[str, Any]]:
        return self._call(self.service_url, "/_sandbox/log")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    box = SandboxProcess()
    yield box
    box.stop()


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess) -> SandboxProcess:
    sandbox_process.reset()
    return sandbox_process


def pytest_terminal_summary(terminalreporter: Any) -> None:
    faults = sys.modules.get("tests.test_crawl")
    if faults is not None and faults.TOTALS["crawls"]:
        t = faults.TOTALS
        terminalreporter.write_line(
            f"fault suite accounting: {t['crawls']} crawls, {t['requests']} requests met a captcha, "
            f"{t['delivered']} delivered, {t['dropped']} dropped (errback called), {t['lost']} lost"
        )
