"""The one HTTP client: POST a JSON call, return (status, body bytes).

aiohttp runs on the asyncio loop that Scrapy's asyncio reactor drives, so a
pending call never blocks the crawl. It is imported on the first call: a crawl
that meets no captcha does not pay for loading it.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from .model import TransportFault
from .service.errors import TRANSPORT_ERROR, rule_for
from .service.protocol import Call

if TYPE_CHECKING:
    import aiohttp

#: Bodies larger than this are not the protocol (a proxy error page, garbage).
MAX_BODY = 2 * 1024 * 1024


class Transport:
    """One reused :class:`aiohttp.ClientSession` per solver (per event loop)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, user_agent: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.user_agent = user_agent or "scrapy-captcha"
        self._session: aiohttp.ClientSession | None = None
        self.calls = 0

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                # Target-site cookies must never reach the service, and the
                # service's cookies are no use to us.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def post(self, call: Call, *, timeout: float | None = None) -> tuple[int, bytes]:
        """``timeout``: shorter than the session's for this call (what is left of a solve)."""
        import aiohttp

        url = self.base_url + call.path
        self.calls += 1
        data = json.dumps(call.payload).encode()
        limit = self.timeout if timeout is None else max(0.001, min(self.timeout, timeout))
        extra: dict[str, Any] = {} if limit == self.timeout else {"timeout": aiohttp.ClientTimeout(total=limit)}
        try:
            async with self._get_session().post(
                url, data=data, headers={"Content-Type": "application/json"}, **extra
            ) as response:
                body = await response.content.read(MAX_BODY + 1)
                return response.status, body
        except asyncio.TimeoutError:
            raise TransportFault(
                TRANSPORT_ERROR, f"timeout after {limit:g}s on {call.path}",
                rule_for(TRANSPORT_ERROR).reaction,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            # str(exc) names host and port, never the payload: the key stays out.
            raise TransportFault(
                TRANSPORT_ERROR, f"{type(exc).__name__} on {call.path}: {exc}",
                rule_for(TRANSPORT_ERROR).reaction,
            ) from None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
