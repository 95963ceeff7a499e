"""A real HTTP proxy on loopback whose outgoing connections leave from another address.

Sites behind it see the proxy's address (``127.0.0.2`` by default: Linux
routes all of 127/8 to ``lo``), not the client's ``127.0.0.1``, so a clearance
minted "through the proxy" is bound to a different IP than one minted without
it, exactly as with a real proxy.

Speaks what crawlers send to an HTTP proxy: absolute-URI requests
(``GET http://host:port/path HTTP/1.1``, any method, with a body) and
``CONNECT host:port`` tunnels. Optional Basic proxy authentication
(``Proxy-Authorization``); a missing or wrong one gets ``407``. One request per
client connection: the proxy answers with the origin's response and closes.

Control (origin-form requests to the proxy itself, never forwarded):
``GET /_proxy/state`` -> counters, ``POST /_proxy/reset`` -> counters zeroed.
Credentials never appear in its state, its answers or its errors.

    proxy = LoopbackProxy(login="user", password="secret")
    await proxy.start()
    proxy.url            # http://127.0.0.1:PORT (no credentials)
    await proxy.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
#: Seconds to connect to an origin before answering 502/504.
CONNECT_TIMEOUT = 10.0
_HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


@dataclass
class ProxyCounters:
    requests: int = 0  # absolute-URI requests forwarded
    tunnels: int = 0  # CONNECT tunnels opened
    auth_failures: int = 0  # answered 407
    upstream_failures: int = 0  # answered 502/504
    #: (method, host, port) of every forwarded request or tunnel, in order.
    targets: list[tuple[str, str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "tunnels": self.tunnels, "auth_failures": self.auth_failures,
                "upstream_failures": self.upstream_failures,
                "targets": [list(target) for target in self.targets[-200:]]}


class LoopbackProxy:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, source_address: str | None = "127.0.0.2",
                 login: str | None = None, password: str | None = None):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox proxy listens on loopback only")
        self.host = host
        self._port = port
        #: Address outgoing connections bind to (None: let the system choose).
        self.source_address = source_address
        self._credentials = (login or "", password or "") if (login or password) else None
        self.counters = ProxyCounters()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def requires_auth(self) -> bool:
        return self._credentials is not None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The proxy's URL without credentials (safe to print and log)."""
        return f"http://{self.host}:{self.port}"

    def url_with_credentials(self, login: str, password: str) -> str:
        """A ``meta["proxy"]``-style URL; for tests that hold the credentials themselves."""
        from urllib.parse import quote

        return f"http://{quote(login, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> LoopbackProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- one client connection ------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await _read_head(reader)
            if head is None:
                return
            method, target, version, headers = head
            if method == "CONNECT":
                await self._tunnel(target, headers, reader, writer)
            elif target.startswith("/_proxy/"):
                await self._control(method, target, writer)
            elif target.lower().startswith("http://"):
                await self._forward(method, target, version, headers, reader, writer)
            else:
                await _answer(writer, 400, "Bad Request", b"absolute-URI or CONNECT expected\n")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _authorized(self, headers: list[tuple[str, str]]) -> bool:
        if self._credentials is None:
            return True
        value = next((v for k, v in headers if k.lower() == "proxy-authorization"), "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Constant-time on both parts: the sandbox should not teach bad habits.
        return hmac.compare_digest(login, self._credentials[0]) & hmac.compare_digest(password,
                                                                                      self._credentials[1])

    async def _refuse_auth(self, writer: asyncio.StreamWriter) -> None:
        self.counters.auth_failures += 1
        await _answer(writer, 407, "Proxy Authentication Required", b"proxy authentication required\n",
                      extra=[("Proxy-Authenticate", 'Basic realm="sandbox-proxy"')])

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        local = (self.source_address, 0) if self.source_address and ":" not in host else None
        return await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=local), CONNECT_TIMEOUT)

    async def _tunnel(self, target: str, headers: list[tuple[str, str]], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        if not self._authorized(headers):
            await self._refuse_auth(writer)
            return
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port_text.isdigit():
            await _answer(writer, 400, "Bad Request", b"CONNECT host:port expected\n")
            return
        try:
            up_reader, up_writer = await self._open(host, int(port_text))
        except (OSError, asyncio.TimeoutError):
            self.counters.upstream_failures += 1
            await _answer(writer, 502, "Bad Gateway", b"cannot reach the origin\n")
            return
        self.counters.tunnels += 1
        self.counters.targets.append(("CONNECT", host, int(port_text)))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _splice(reader, writer, up_reader, up_writer)

    async def _forward(self, method: str, target: str, version: str, headers: list[tuple[str, str]],
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._authorized(headers):
            await self._refuse_auth(writer)
            return
        parts = urlsplit(target)
        host, port = parts.hostname or "", parts.port or 80
        body = await _read_body(reader, headers)
        try:
            up_reader, up_writer = await self._open(host, port)
        except (OSError, asyncio.TimeoutError):
            self.counters.upstream_failures += 1
            await _answer(writer, 502, "Bad Gateway", b"cannot reach the origin\n")
            return
        self.counters.requests += 1
        self.counters.targets.append((method, host, port))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [f"{method} {path} {version}"]
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP or name.lower() in ("content-length", "transfer-encoding"):
                continue
            lines.append(f"{name}: {value}")
        if not any(name.lower() == "host" for name, _ in headers):
            lines.append(f"Host: {parts.netloc.rpartition('@')[2]}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await up_writer.drain()
        try:
            while True:
                chunk = await up_reader.read(65536)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _control(self, method: str, target: str, writer: asyncio.StreamWriter) -> None:
        path = target.split("?", 1)[0]
        if path == "/_proxy/reset" and method == "POST":
            self.counters = ProxyCounters()
        elif path != "/_proxy/state":
            await _answer(writer, 404, "Not Found", b"unknown control path\n")
            return
        state = {**self.counters.as_dict(), "requires_auth": self.requires_auth,
                 "source_address": self.source_address}
        await _answer(writer, 200, "OK", json.dumps(state).encode(), content_type="application/json")


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, str, list[tuple[str, str]]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    if len(raw) > MAX_HEAD:
        raise ValueError("request head too large")
    text = raw.decode("latin-1")
    request_line, *header_lines = text.split("\r\n")
    method, target, version = request_line.split(" ", 2)
    headers = []
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method.upper(), target, version.strip(), headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    lowered = {name.lower(): value for name, value in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # the empty trailer
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length = int(lowered.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length > 0 else b""


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str, body: bytes, *,
                  content_type: str = "text/plain", extra: list[tuple[str, str]] | None = None) -> None:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in extra or [])]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                chunk = await source.read(65536)
                if not chunk:
                    break
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if sink.can_write_eof():
                    sink.write_eof()

    try:
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
    finally:
        up_writer.close()
        with contextlib.suppress(Exception):
            await up_writer.wait_closed()


__all__ = ["LoopbackProxy", "ProxyCounters"]
