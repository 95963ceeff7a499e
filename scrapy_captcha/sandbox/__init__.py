"""Loopback sandbox: an emulated solving service, a demo site that verifies its
tokens and cookies, and a real HTTP proxy that changes the client's IP.

A test double of the remote service and of the target sites only; the Scrapy,
Playwright and HTTP parts that talk to it are always real.

    sandbox = Sandbox(service_port=0, site_port=0, proxy={"login": "u", "password": "p"})
    await sandbox.start()
    sandbox.service_url             # root paths: the sandbox dialect; /<provider>/...: that provider's
    sandbox.site_url                # /item/N behind reCAPTCHA, /challenge/<kind>/N for every other kind
    sandbox.proxy_url               # http://127.0.0.1:PORT (no credentials); the site sees 127.0.0.2
    await sandbox.stop()

Or from a shell: ``scrapy-captcha sandbox``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import service, site
from .proxy import LoopbackProxy
from .tokens import DEMO_SITEKEY, TokenAuthority

DEFAULT_SERVICE_PORT = 8975
DEFAULT_SITE_PORT = 8976
PROVIDERS = ("yescaptcha", "capsolver", "anticaptcha", "2captcha", "capmonster")

__all__ = ["Sandbox", "LoopbackProxy", "DEMO_SITEKEY", "DEFAULT_SERVICE_PORT", "DEFAULT_SITE_PORT", "PROVIDERS"]


class Sandbox:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        service_port: int = DEFAULT_SERVICE_PORT,
        site_port: int = DEFAULT_SITE_PORT,
        service_config: dict[str, Any] | None = None,
        site_config: dict[str, Any] | None = None,
        proxy: bool | dict[str, Any] = False,
    ):
        """``proxy``: True or ``{"port", "login", "password", "source_address"}`` starts a
        loopback proxy too (its outgoing connections leave from ``127.0.0.2``)."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox listens on loopback only")
        self.host = host
        self._ports = (service_port, site_port)
        authority = TokenAuthority()
        self.service_state = service.ServiceState(authority)
        self.service_state.config.update(service_config or {})
        self.site_state = site.SiteState(authority)
        self.site_state.config.update(site_config or {})
        self.proxy: LoopbackProxy | None = None
        if proxy:
            options = proxy if isinstance(proxy, dict) else {}
            self.proxy = LoopbackProxy(port=int(options.get("port", 0)), login=options.get("login"),
                                       password=options.get("password"),
                                       source_address=options.get("source_address", "127.0.0.2"))
        self._runners: list[web.AppRunner] = []
        self.service_url = ""
        self.site_url = ""
        self.proxy_url = ""

    def provider_url(self, provider: str) -> str:
        """The base URL that speaks ``provider``'s dialect strictly."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; one of: {', '.join(PROVIDERS)}")
        return f"{self.service_url}/{provider}"

    async def start(self) -> None:
        urls = []
        for app, port in (
            (service.build_app(self.service_state), self._ports[0]),
            (site.build_app(self.site_state), self._ports[1]),
        ):
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            tcp = web.TCPSite(runner, self.host, port, reuse_address=True)
            await tcp.start()
            self._runners.append(runner)
            sockets = tcp._server.sockets if tcp._server else []  # type: ignore[attr-defined]
            bound = sockets[0].getsockname()[1] if sockets else port
            urls.append(f"http://{self.host}:{bound}")
        self.service_url, self.site_url = urls
        if self.proxy is not None:
            await self.proxy.start()
            self.proxy_url = self.proxy.url

    async def stop(self) -> None:
        if self.proxy is not None:
            await self.proxy.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
