"""``scrapy-captcha`` command: sandbox, detect, balance."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Sequence


def _proxy_options(args: argparse.Namespace) -> dict[str, object] | bool:
    """The loopback proxy's options, or False when --proxy-port was not given."""
    import os

    if args.proxy_port is None:
        return False
    password = args.proxy_password or os.environ.get("SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD") or None
    return {"port": args.proxy_port, "login": args.proxy_login, "password": password}


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    async def run() -> None:
        box = Sandbox(
            service_port=args.service_port,
            site_port=args.site_port,
            service_config={"latency": args.latency, "balance": args.balance, "cost": args.cost},
            site_config={"session_pages": args.session_pages, "items": args.items},
            proxy=_proxy_options(args),
        )
        await box.start()
        info = {"service_url": box.service_url, "site_url": box.site_url}
        if box.proxy_url:
            info["proxy_url"] = box.proxy_url  # never with credentials
        line = json.dumps(info)
        if args.ready_file:
            Path(args.ready_file).write_text(line + "\n")
        print(line, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await box.stop()

    asyncio.run(run())
    return 0


async def _fetch(url: str) -> tuple[bytes, str, int, dict[str, str]]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(url) as reply:
            return await reply.read(), str(reply.url), reply.status, dict(reply.headers)


def _detect(args: argparse.Namespace) -> int:
    from .detect import detect, explain

    source = args.source
    if source.startswith(("http://", "https://")):
        body, url, status, headers = asyncio.run(_fetch(source))
    else:
        body, url, status, headers = Path(source).read_bytes(), args.url or Path(source).resolve().as_uri(), args.status, None
    challenges = detect(body, url=url, status=status, headers=headers)
    for ch in challenges:
        extras = " ".join(f"{name}={value}" for name in ("action", "data_s", "cdata", "chl_page_data", "rqdata",
                                                         "api_domain") if (value := getattr(ch, name)))
        print(f"{ch.kind} sitekey={ch.sitekey} blocking={ch.blocking} invisible={ch.invisible} "
              f"enterprise={ch.enterprise} page_url={ch.page_url} fields={','.join(ch.response_fields)}"
              + (f" {extras}" if extras else "") + "".join(f" {k}={v}" for k, v in ch.params))
        if args.explain:
            for line in ch.evidence:
                print(f"    - {line}")
            if ch.form:
                print(f"    form: {ch.form.method} {ch.form.action} fields={[n for n, _ in ch.form.fields]}")
    if args.explain:
        print("detection:")
        for line in explain(body, url=url, status=status, headers=headers):
            print(f"    {line}")
    if not challenges:
        print("no captcha found")
        return 1
    return 0


def _balance(args: argparse.Namespace) -> int:
    from .model import CaptchaError
    from .solver import Solver

    async def run() -> float:
        async with Solver(args.provider, api_url=args.api_url) as solver:
            return await solver.balance()

    try:
        print(asyncio.run(run()))
    except (CaptchaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scrapy-captcha")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sandbox", help="run the emulated solving service and demo site on loopback")
    p.add_argument("--service-port", type=int, default=8975, help="0 = pick a free port")
    p.add_argument("--site-port", type=int, default=8976, help="0 = pick a free port")
    p.add_argument("--latency", type=float, default=1.0, help="seconds per solve")
    p.add_argument("--balance", type=float, default=10.0)
    p.add_argument("--cost", type=float, default=0.002)
    p.add_argument("--session-pages", type=int, default=0, help="pages a solved session is good for (0 = all)")
    p.add_argument("--items", type=int, default=60)
    p.add_argument("--ready-file", help="also write the URLs (JSON) to this file once listening")
    p.add_argument("--proxy-port", type=int, help="also run the loopback proxy on this port (0 = pick a free port)")
    p.add_argument("--proxy-login", help="require Basic proxy auth with this login")
    p.add_argument("--proxy-password",
                   help="the proxy password (or set SCRAPY_CAPTCHA_SANDBOX_PROXY_PASSWORD, kept off the command line)")
    p.set_defaults(func=_sandbox)

    p = sub.add_parser("detect", help="list the captchas in a saved page or URL")
    p.add_argument("source", help="a file or an http(s) URL")
    p.add_argument("--url", help="the page URL a file was saved from")
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--explain", action="store_true", help="show the markers behind each result")
    p.set_defaults(func=_detect)

    p = sub.add_parser("balance", help="ask the service for the account balance (key from CAPTCHA_API_KEY)")
    p.add_argument("--provider", default="yescaptcha")
    p.add_argument("--api-url")
    p.set_defaults(func=_balance)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
