from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Scrapy's cookie middleware would fetch the public suffix list online on first
# use; its bundled snapshot keeps every test on loopback. Set before Scrapy loads.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import pytest


def terminate(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class SandboxProcess:
    """The real `scrapy-captcha sandbox` command in a subprocess, and its control endpoints."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self._errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (as long as the sandbox runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scrapy_captcha.cli", "sandbox", "--service-port", "0",
             "--site-port", "0", *args],
            # stderr to a file: an undrained pipe would stall the sandbox once full.
            stdout=subprocess.PIPE, stderr=self._errors, text=True, env={**os.environ, **(env or {})},
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self._errors.seek(0)
            raise RuntimeError("sandbox did not start: " + self._errors.read())
        urls = json.loads(line)
        self.service_url: str = urls["service_url"]
        self.site_url: str = urls["site_url"]
        #: The loopback proxy (leaving from 127.0.0.2), without credentials, when started.
        self.proxy_url: str | None = urls.get("proxy_url")

    def _call(self, base: str, path: str, data: Any = None) -> Any:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(base + path, data=body, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def reset(self, service: dict[str, Any] | None = None, site: dict[str, Any] | None = None,
              kinds: dict[str, Any] | None = None) -> None:
        self._call(self.service_url, "/_sandbox/reset", {"latency": 0.2, **(service or {})})
        self._call(self.site_url, "/_sandbox/site/reset", site or {})
        self._call(self.site_url, "/_sandbox/kinds/reset", kinds or {})

    def kinds_state(self) -> dict[str, Any]:
        return self._call(self.site_url, "/_sandbox/kinds/state")

    def configure(self, **config: Any) -> None:
        self._call(self.service_url, "/_sandbox/config", config)

    def state(self) -> dict[str, Any]:
        return self._call(self.service_url, "/_sandbox/state")

    def site_state(self) -> dict[str, Any]:
        return self._call(self.site_url, "/_sandbox/site/state")

    def log(self) -> list[dict[str, Any]]:
        return self._call(self.service_url, "/_sandbox/log")

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    box = SandboxProcess()
    yield box
    box.stop()


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess) -> SandboxProcess:
    sandbox_process.reset()
    return sandbox_process


class RedisServer:
    """A real `redis-server` on a free loopback port, no persistence, in its own directory.

    ``kill()`` / ``start()`` take it away and bring it back on the same port (an
    outage, as a fleet sees it: it comes back empty).
    """

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: " + (self.workdir / "redis.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: gone at once, as a crashed or unplugged server is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None)
    if binary is None:
        message = "redis-server is not installed (scripts/ensure-redis.sh installs Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    faults = sys.modules.get("tests.test_crawl")
    if faults is not None and faults.TOTALS["crawls"]:
        t = faults.TOTALS
        terminalreporter.write_line(
            f"fault suite accounting: {t['crawls']} crawls, {t['requests']} requests met a captcha, "
            f"{t['delivered']} delivered, {t['dropped']} dropped (errback called), {t['lost']} lost"
        )
