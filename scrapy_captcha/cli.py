"""``scrapy-captcha`` command: sandbox, detect, solve, balance.

Exit codes: 0 done; 1 no captcha (to solve) in the page; 2 bad input or
configuration (a missing file, an unknown provider, no API key); 3 a solve or
a balance query failed (the service's code is printed with what a crawl would
do about it). The API key comes from the environment only and is never printed.
"""

from __future__ import annotations

import os

# Scrapy's cookie middleware asks tldextract for the public suffix list, and
# tldextract (5.4+) reads this variable when an extractor is constructed: at
# ``import tldextract`` and when Scrapy's cookies module is imported. Nothing
# has imported either yet (the package imports Scrapy, not tldextract), so
# the bundled snapshot is used and no command here goes to the internet.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import argparse
import asyncio
import base64
import dataclasses
import json
import logging
import posixpath
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import aiohttp

    from .model import CaptchaError, Challenge, Identity, Proxy, Solution
    from .service.errors import Rule
    from .solver import Solver

#: Exit codes (see the module docstring).
EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
#: How much of a token is shown: enough to tell tokens apart, not to use one.
TOKEN_HEAD, TOKEN_TAIL = 12, 4
#: Seconds a `balance` waits for each provider: long enough for the crawl's own
#: retries of a failing call (1 s doubling, 6 attempts) to run out.
BALANCE_TIMEOUT = 90.0
#: What the balance and the costs of each provider are counted in.
UNITS = {"yescaptcha": "points"}
DEFAULT_UNIT = "USD"
CLI_USER_AGENT = "scrapy-captcha (command line)"


class CliError(Exception):
    """Bad input or configuration: one line for the user, exit code 2."""


def unit_of(provider: str) -> str:
    return UNITS.get(provider, DEFAULT_UNIT)


# ------------------------------------------------------------------- sandbox


def _proxy_options(args: argparse.Namespace) -> dict[str, object] | bool:
    """The loopback proxy's options, or False when --proxy-port was not given."""
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
        try:
            await box.start()
        except OSError as exc:
            raise CliError(f"the sandbox cannot listen: {exc.strerror or exc} "
                           "(another sandbox running? --service-port 0 --site-port 0 pick free ports)") from None
        info = {"service_url": box.service_url, "site_url": box.site_url}
        if box.proxy_url:
            info["proxy_url"] = box.proxy_url  # never with credentials
        line = json.dumps(info)
        if args.ready_file:
            Path(args.ready_file).write_text(line + "\n")  # noqa: ASYNC240 (one line, once, at start)
        print(line, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await box.stop()

    asyncio.run(run())
    return EXIT_OK


# ------------------------------------------------------------- the page


@dataclass
class Page:
    body: bytes
    #: The URL detection and the service see: the fetched URL, --url, or the file's URI.
    url: str
    status: int
    headers: dict[str, str] | None
    #: False: a saved page without --url; its URL is the file's, which no service can solve for.
    url_known: bool
    #: The source as given (a path or a URL), for messages.
    source: str


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _proxy_from(args: argparse.Namespace) -> Proxy | None:
    from .model import Proxy

    if not getattr(args, "proxy", None):
        return None
    try:
        return Proxy.from_url(args.proxy)
    except ValueError as exc:
        raise CliError(f"--proxy: {exc}") from None


def _read_file(source: str) -> bytes:
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{source}: no such file (give a saved page or an http(s) URL)") from None
    except IsADirectoryError:
        raise CliError(f"{source}: a directory, not a saved page") from None
    except PermissionError:
        raise CliError(f"{source}: permission denied") from None
    except OSError as exc:
        raise CliError(f"{source}: cannot read it ({exc.strerror or exc})") from None


def _http_session(args: argparse.Namespace) -> aiohttp.ClientSession:
    import aiohttp

    headers = {"User-Agent": args.user_agent or CLI_USER_AGENT}
    # unsafe=True: keep cookies from IP-address hosts too, so a captcha image or
    # a register call made after the page belongs to the page's session.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), headers=headers,
                                 cookie_jar=aiohttp.CookieJar(unsafe=True), trust_env=False)


def _fetch_options(args: argparse.Namespace) -> dict[str, Any]:
    """aiohttp's proxy arguments for --proxy (credentials go in a header, never in a message)."""
    import aiohttp

    proxy = _proxy_from(args)
    if proxy is None:
        return {}
    if proxy.scheme not in ("http", "https"):
        raise CliError(f"--proxy: pages are fetched through http(s) proxies only, not {proxy.scheme}; "
                       "save the page through your proxy and pass the file with --url")
    options: dict[str, Any] = {"proxy": f"{proxy.scheme}://{proxy.host}:{proxy.port}"}
    if proxy.login or proxy.password:
        options["proxy_auth"] = aiohttp.BasicAuth(proxy.login or "",
                                                  proxy.password.reveal() if proxy.password else "")
    return options


async def _get(session: aiohttp.ClientSession, url: str,
               args: argparse.Namespace) -> tuple[bytes, str, int, dict[str, str]]:
    import aiohttp

    try:
        async with session.get(url, **_fetch_options(args)) as reply:
            return await reply.read(), str(reply.url), reply.status, dict(reply.headers)
    except asyncio.TimeoutError:
        raise CliError(f"cannot fetch {url}: no answer within 30 s") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise CliError(f"cannot fetch {url}: {exc or type(exc).__name__}") from None


async def _load(args: argparse.Namespace, session: aiohttp.ClientSession | None) -> Page:
    source = args.source
    if _is_url(source):
        assert session is not None
        body, url, status, headers = await _get(session, source, args)
        return Page(body, url, status, headers, True, source)
    body = _read_file(source)
    if args.url:
        if not _is_url(args.url):
            raise CliError(f"--url must be the http(s) address the page was saved from, got {args.url!r}")
        return Page(body, args.url, args.status, None, True, source)
    return Page(body, Path(source).resolve().as_uri(), args.status, None, False, source)  # noqa: ASYNC240 (a CLI)


def _relative(url: str, page: Page) -> str:
    """A URL resolved against a saved page's file URI, as the page wrote it (relative)."""
    if page.url_known or not url.startswith("file:"):
        return url
    here, there = urlsplit(page.url), urlsplit(url)
    extra = ("?" + there.query if there.query else "") + ("#" + there.fragment if there.fragment else "")
    if there.path == here.path:
        return extra or "(this page)"
    folder = posixpath.dirname(here.path) + "/"
    path = there.path[len(folder):] if there.path.startswith(folder) else there.path
    return path + extra


def _shown(url: str | None, page: Page) -> str | None:
    """A URL for people: a saved page's relative URLs say that no --url was given."""
    if url is None or page.url_known or not url.startswith("file:"):
        return url
    return f"{_relative(url, page)} (no --url given)"


# ------------------------------------------------------------------ detect


def _challenge_line(ch: Challenge, page: Page) -> str:
    extras = " ".join(f"{name}={value}" for name in ("action", "data_s", "cdata", "chl_page_data", "rqdata",
                                                     "api_domain") if (value := getattr(ch, name)))
    params = "".join(f" {k}={_shown(v, page) if k.endswith('url') else v}" for k, v in ch.params)
    return (f"{ch.kind} sitekey={ch.sitekey} blocking={ch.blocking} invisible={ch.invisible} "
            f"enterprise={ch.enterprise} page_url={ch.page_url if page.url_known else '(no --url given)'} "
            f"fields={','.join(ch.response_fields)}"
            + (f" {extras}" if extras else "") + params)


def _challenge_heading(ch: Challenge) -> str:
    """The kind and what the task is built from, on one line (the page URL is printed above)."""
    flags = [f for f, on in (("enterprise", ch.enterprise), ("invisible", ch.invisible)) if on]
    flags.append("blocking" if ch.blocking else "incidental")
    extras = [f"{name}={_short(value)}" for name in ("action", "data_s", "cdata", "rqdata")
              if (value := getattr(ch, name))]
    extras += [f"{k}={_short(v)}" for k, v in ch.params]
    heading = f"{ch.kind:<12} sitekey {ch.sitekey or '-'}, {', '.join(flags)}"
    return heading + (f"  {' '.join(extras)}" if extras else "")


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit - 3] + "..."


def _print_explained(ch: Challenge, page: Page) -> None:
    for line in ch.evidence:
        print(f"    - {line}")
    if ch.form:
        print(f"    form: {ch.form.method} {_shown(ch.form.action, page)} fields={[n for n, _ in ch.form.fields]}")


def _explain_lines(page: Page) -> list[str]:
    from .detect import explain

    return explain(page.body, url=page.url, status=page.status, headers=page.headers)


def _challenge_json(ch: Challenge, page: Page) -> dict[str, Any]:
    data = dataclasses.asdict(ch)
    data["page_url"] = ch.page_url if page.url_known else None
    data["params"] = {k: (_relative(v, page) if k.endswith("url") else v) for k, v in ch.params}
    if ch.form is not None:
        data["form"]["action"] = _relative(ch.form.action, page)
        data["form"]["fields"] = [list(pair) for pair in ch.form.fields]
    return data


def _page_json(page: Page) -> dict[str, Any]:
    return {"source": page.source, "url": page.url if page.url_known else None, "status": page.status}


def _detect_page(page: Page) -> list[Challenge]:
    from .detect import detect

    return detect(page.body, url=page.url, status=page.status, headers=page.headers)


def _detect(args: argparse.Namespace) -> int:
    async def load() -> Page:
        if not _is_url(args.source):
            return await _load(args, None)
        async with _http_session(args) as session:
            return await _load(args, session)

    page = asyncio.run(load())
    challenges = _detect_page(page)
    if args.json:
        doc: dict[str, Any] = {"page": _page_json(page), "challenges": [_challenge_json(c, page) for c in challenges]}
        if args.explain:
            doc["explain"] = _explain_lines(page)
        print(json.dumps(doc, indent=2))
        return EXIT_OK if challenges else EXIT_NOTHING
    for ch in challenges:
        print(_challenge_line(ch, page))
        if args.explain:
            _print_explained(ch, page)
    if args.explain:
        print("detection:")
        for line in _explain_lines(page):
            print(f"    {line}")
    if not challenges:
        print("no captcha found")
        return EXIT_NOTHING
    return EXIT_OK


# ------------------------------------------------------- providers and key


def _providers(args: argparse.Namespace) -> list[str]:
    from .service.presets import PRESETS

    given = args.provider or [os.environ.get("CAPTCHA_PROVIDER", "")]
    names = list(dict.fromkeys(n.strip() for value in given for n in value.split(",") if n.strip()))
    if not names:
        names = ["yescaptcha"]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        where = "--provider" if args.provider else "CAPTCHA_PROVIDER"
        raise CliError(f"{where}: unknown provider {', '.join(map(repr, unknown))}; choose from {', '.join(PRESETS)}")
    return names


def _api_urls(args: argparse.Namespace, providers: list[str]) -> dict[str, str]:
    """--api-url URL (the first provider) or NAME=URL, repeated; else CAPTCHA_API_URL for the first."""
    given = args.api_url or ([os.environ["CAPTCHA_API_URL"]] if os.environ.get("CAPTCHA_API_URL") else [])
    where = "--api-url" if args.api_url else "CAPTCHA_API_URL"
    urls: dict[str, str] = {}
    for value in given:
        name, _, url = value.partition("=") if "=" in value.split("://", 1)[0] else ("", "", value)
        name = name.strip() or providers[0]
        if name not in providers:
            raise CliError(f"{where}: {name!r} is not among the providers ({', '.join(providers)})")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CliError(f"{where}: an http(s) base URL such as https://api.capsolver.com, "
                           f"or NAME=URL; got {value!r}")
        urls[name] = url.strip().rstrip("/")
    return urls


def _api_key(provider: str) -> str | None:
    """The key for ``provider``: CAPTCHA_API_KEY_<PROVIDER>, else CAPTCHA_API_KEY; the sandbox
    takes any key, so it needs none."""
    from .settings import SANDBOX_KEY, key_variable

    key = (os.environ.get(key_variable(provider), "") or os.environ.get("CAPTCHA_API_KEY", "")).strip()
    if key:
        return key
    return SANDBOX_KEY if provider == "sandbox" else None


NO_KEY = "set the CAPTCHA_API_KEY environment variable (the sandbox needs none)"


class Retries:
    """The solvers' sleep: says on stderr what is being waited for, and keeps the last fault.

    The solver sleeps inside its ``except`` block for the error it backs off
    from, so that error is the one being handled while this runs.
    """

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        #: provider -> (code, description, times) of the last fault it backed off from.
        self.faults: dict[str, tuple[str, str, int]] = {}

    def sleeper(self, provider: str) -> Callable[[float], Awaitable[None]]:
        from .model import CaptchaError

        async def sleep(delay: float) -> None:
            exc = sys.exc_info()[1]
            if isinstance(exc, CaptchaError):
                code, description, times = self.faults.get(provider, ("", "", 0))
                again = (code, description) == (exc.code, exc.description)
                self.faults[provider] = (exc.code, exc.description, times + 1 if again else 1)
                what = "again" if again else (f"{exc.code}: {exc.description}" if exc.description else exc.code)
                self._say(f"{provider}: {what} - the call is repeated in {delay:.1f} s, as a crawl would")
            elif delay >= 0.5:
                self._say(f"{provider}: waiting {delay:.1f} s before the next call (the service asked for it)")
            await asyncio.sleep(delay)

        return sleep

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(f"  ... {line}", file=sys.stderr, flush=True)


# ------------------------------------------------- what a crawl would do


def _reaction_text(code: str, rule: Rule, reaction: Any, provider: str | None) -> str:
    """One sentence: what a crawl does with ``code`` (docs/reactions.md)."""
    from .model import Reaction

    service = provider or "the provider"
    if reaction is Reaction.DROP:
        if rule.reaction is Reaction.BACKOFF:
            times = f"{rule.attempts} times" if rule.attempts else "while the solve timeout allows"
            growth = ", doubling the wait" if rule.exponential else ""
            return (f"repeat the call {times} ({rule.delay:g} s apart{growth}), then drop the request "
                    "(its errback gets CaptchaDropped)")
        if rule.proxyless_retry:
            return "retry once without the proxy, then drop the request (its errback gets CaptchaDropped)"
        return "drop the request: retrying will not help (its errback gets CaptchaDropped)"
    if reaction is Reaction.RESCHEDULE:
        return "fetch the page again and solve anew, up to CAPTCHA_MAX_RETRIES times, then drop the request"
    if reaction is Reaction.BACKOFF:
        how = f"wait {rule.delay:g} s" + (", doubling each time," if rule.exponential else "")
        limit = (f" up to {rule.attempts} times, then drop the request" if rule.attempts
                 else " while the solve timeout allows")
        scope = " (all task creation at this provider waits)" if rule.global_wait else ""
        return f"{how} and repeat the call{limit}{scope}"
    if reaction is Reaction.COOLDOWN:
        check = ", then check the balance" if rule.check_before_resume else ""
        return f"make no call to {service} for {rule.delay:g} s{check}; the crawl pauses and resumes by itself"
    if reaction is Reaction.PAUSE:
        return ("pause the whole crawl until the account works (balance checked every "
                "CAPTCHA_PAUSE_CHECK_INTERVAL; CAPTCHA_PAUSE_TIMEOUT closes it)")
    if reaction is Reaction.MISCONFIGURED:
        if rule.pause_all:
            return f"pause all solving: {service}'s URL answers as if it were not a solving service"
        return "give the task to the next provider in CAPTCHA_PROVIDER; with none left, drop the request"
    return "drop the request"


#: How a rule's advice (written for settings) is followed on the command line.
_CLI_HINTS = {
    "PROXY_REQUIRED": "here: --proxy URL (the crawl's proxy)",
    "ERROR_PROXY_MISSING": "here: --proxy URL (the crawl's proxy)",
    "USER_AGENT_REQUIRED": "here: --user-agent '<the crawl's browser user agent>'",
    "ERROR_WRONG_USERAGENT": "here: --user-agent '<the crawl's browser user agent>'",
    "ERROR_TASK_NOT_SUPPORTED": "here: --provider a,b (tried in order)",
    "ERROR_PAGE_NOT_FOUND": "here: --api-url / --provider",
    "ERROR_NO_SUCH_METHOD": "here: --api-url / --provider",
    "TRANSPORT_ERROR": "check --api-url and that the service is reachable from here",
    "ERROR_REQUIRED_FIELDS": "here: --explain shows what was extracted",
}


def _error_json(exc: CaptchaError, provider: str | None, retries: Retries) -> dict[str, Any]:
    """Code, description, and what a crawl does about it; a timeout spent on a fault names the fault."""
    from .service.errors import SOLVE_TIMEOUT, TRANSPORT_ERROR, rule_for

    # Some services repeat the code as the description: say it once.
    code, description, reaction = exc.code, ("" if exc.description == exc.code else exc.description), exc.reaction
    cause = retries.faults.get(provider or "")
    data: dict[str, Any] = {"code": code, "description": description, "provider": provider}
    if code == SOLVE_TIMEOUT and cause is not None:
        # Out of time while backing off: the fault is the news, and what a crawl
        # (with its longer timeout) would end up doing is that fault's reaction.
        data["cause"] = {"code": cause[0], "description": cause[1], "times": cause[2]}
        code, description, reaction = cause[0], cause[1], None
    rule = rule_for(code)
    reaction = reaction or rule.reaction
    data["reaction"] = reaction.value
    data["crawl"] = _reaction_text(code, rule, reaction, provider)
    advice = rule.advice or _CLI_HINTS.get(code, "")
    if rule.advice and code in _CLI_HINTS:
        advice += f" ({_CLI_HINTS[code]})"
    if provider == "sandbox" and code == TRANSPORT_ERROR:
        advice = "is the sandbox running? start it with `scrapy-captcha sandbox` (port 8975), or give its --api-url"
    data["advice"] = advice
    return data


def _print_error(err: dict[str, Any], indent: str = "  ") -> None:
    cause = err.get("cause")
    head = f"{err['code']}{': ' + err['description'] if err['description'] else ''}"
    print(f"{indent}error       {head}" + (f" (from {err['provider']})" if err.get("provider") else ""))
    if cause:
        print(f"{indent}cause       {cause['code']}: {cause['description']} ({cause['times']} times; "
              "--timeout ended the wait)")
    print(f"{indent}a crawl     would {err['crawl']}")
    if err["advice"]:
        print(f"{indent}what to do  {err['advice']}")


# ------------------------------------------------------------------- solve


def _truncated(token: str) -> str:
    if len(token) <= TOKEN_HEAD + TOKEN_TAIL:
        return token
    return f"{token[:TOKEN_HEAD]}...{token[-TOKEN_TAIL:]}"


def _cost(solution: Solution, provider: str, challenge: Challenge, identity: Identity | None) -> dict[str, Any]:
    """The provider's reported cost, else the price table's estimate, with its unit."""
    from .service import prices, protocol
    from .service.presets import get_preset

    unit = unit_of(provider)
    if solution.cost is not None:
        return {"cost": solution.cost, "unit": unit, "estimate": False}
    try:
        name = protocol.task_name(get_preset(provider), challenge, identity)
    except Exception:  # only the price lookup depends on it
        name = challenge.kind
    found = prices.price(provider, name) or prices.price(provider, challenge.kind)
    if found is None:
        return {"cost": None, "unit": unit, "estimate": True}
    usd = found.usd_per_solve
    if unit == "points":
        points = round(usd / prices.USD_PER_CNY * prices.POINTS_PER_CNY, 3)
        return {"cost": points, "unit": unit, "estimate": True, "usd": usd}
    return {"cost": usd, "unit": unit, "estimate": True}


def _cost_text(cost: dict[str, Any]) -> str:
    if cost["cost"] is None:
        return f"unknown: the service reports none and the price table has no entry ({cost['unit']})"
    text = f"{cost['cost']:g} {cost['unit']}" + (f" = ~{cost['usd']:g} USD" if "usd" in cost else "")
    if cost["estimate"]:
        return text + " (estimate from the price table: the service reports no cost)"
    return text + " (reported by the service)"


def _solution_json(solution: Solution, provider: str, challenge: Challenge,
                   identity: Identity | None) -> dict[str, Any]:
    return {
        "provider": provider,
        "token": _truncated(solution.token),
        "token_length": len(solution.token),
        "elapsed": round(solution.elapsed, 3),
        "polls": solution.polls,
        **_cost(solution, provider, challenge, identity),
        "user_agent": solution.user_agent,
        "cookies": [{"name": c.name, "value": _truncated(c.value), "domain": c.domain} for c in solution.cookies],
    }


def _print_solved(result: dict[str, Any]) -> None:
    print(f"  solved by   {result['provider']}")
    print(f"  token       {result['token']} ({result['token_length']} chars)")
    polls = result["polls"]
    print(f"  time        {result['elapsed']:.1f} s, {polls} poll{'' if polls == 1 else 's'}")
    print(f"  cost        {_cost_text(result)}")
    for cookie in result["cookies"]:
        where = f" ({cookie['domain']})" if cookie["domain"] else ""
        print(f"  cookie      {cookie['name']}={cookie['value']}{where}")
    if result["user_agent"]:
        print(f"  user agent  {result['user_agent']} (later requests of this gate must send it)")


async def _prepare(challenge: Challenge, page: Page, session: aiohttp.ClientSession | None,
                   args: argparse.Namespace, say: Callable[[str], None]) -> Challenge:
    """Add what the task needs and the page does not hold (what a browser would fetch)."""
    params = dict(challenge.params)
    sitekey = challenge.sitekey
    if challenge.kind == "cloudflare_challenge" and "html_base64" not in params:
        params["html_base64"] = base64.b64encode(page.body).decode()
    elif challenge.kind == "image" and "image_body" not in params and params.get("image_url"):
        url = params["image_url"]
        if url.startswith("data:"):
            params["image_body"] = url.partition(",")[2]
        elif _is_url(url) and session is not None:
            # In the page's cookie session: sites serve the image of that session.
            try:
                body, _, status, _ = await _get(session, url, args)
            except CliError as exc:
                say(f"the captcha image could not be fetched: {exc}")
            else:
                if status == 200:
                    params["image_body"] = base64.b64encode(body).decode()
                else:
                    say(f"the captcha image {url} answered HTTP {status}")
    elif (challenge.kind == "geetest" and params.get("version") == "3" and not params.get("challenge")
          and params.get("register_url") and _is_url(params["register_url"]) and session is not None):
        # GeeTest v3 takes a fresh challenge per solve, from the site's register call.
        try:
            body, _, _, _ = await _get(session, params["register_url"], args)
            data = json.loads(body)
        except (CliError, ValueError) as exc:
            say(f"the GeeTest register call failed: {exc}")
        else:
            if isinstance(data, dict) and data.get("challenge"):
                params["challenge"] = str(data["challenge"])
                sitekey = sitekey or (str(data["gt"]) if data.get("gt") else None)
    return dataclasses.replace(challenge, params=tuple(sorted(params.items())), sitekey=sitekey)


def _choose(challenges: list[Challenge], everything: bool) -> tuple[list[int], dict[int, int]]:
    """Indexes of the challenges to solve (the blocking ones, or all), and of those detected twice.

    One widget can be reported under two kinds (a Cloudflare challenge page and
    its Turnstile): it is solved once, as the kind a crawl would pick (one it
    solves over plain HTTP first); the other maps to that one's index.
    """
    from .detect import SOLVABLE_KINDS

    chosen = [i for i, c in enumerate(challenges) if everything or c.blocking]
    same_as: dict[int, int] = {}
    first: dict[str, int] = {}
    for i in sorted(chosen, key=lambda i: challenges[i].kind not in SOLVABLE_KINDS):
        key = challenges[i].sitekey
        if key and key in first:
            same_as[i] = first[key]
        elif key:
            first[key] = i
    return chosen, same_as


def _solvers(providers: list[str], urls: dict[str, str], timeout: float, retries: Retries) -> list[Solver]:
    from .solver import Solver

    return [Solver(p, api_key=_api_key(p), api_url=urls.get(p), timeout=timeout, sleep=retries.sleeper(p))
            for p in providers]


def _solve(args: argparse.Namespace) -> int:
    providers = _providers(args)
    urls = _api_urls(args, providers)
    identity_proxy = _proxy_from(args)
    if args.timeout <= 0:
        raise CliError("--timeout must be a number of seconds > 0")
    if not _is_url(args.source):
        _read_file(args.source)  # a missing file is the first thing to say
        if not args.url:
            raise CliError("a saved page needs --url, the address it was saved from: "
                           "the service solves for that site")
    missing = [p for p in providers if _api_key(p) is None]
    if missing:
        raise CliError(f"no API key for {', '.join(missing)}: {NO_KEY}")
    return asyncio.run(_solve_async(args, providers, urls, identity_proxy))


async def _solve_async(args: argparse.Namespace, providers: list[str], urls: dict[str, str],
                       identity_proxy: Proxy | None) -> int:
    from .model import CaptchaError, Identity
    from .providers import ProviderPool
    from .service.protocol import IP_BOUND_KINDS

    human = not args.json
    retries = Retries()

    def say(line: str) -> None:
        print(f"  ... {line}", file=sys.stderr, flush=True)

    async with _http_session(args) as session:
        page = await _load(args, session)
        challenges = _detect_page(page)
        chosen, same_as = _choose(challenges, args.all)
        doc: dict[str, Any] = {"page": _page_json(page), "providers": providers, "challenges": []}
        if human:
            print(f"page        {page.url} (HTTP {page.status})")
            if args.explain:
                for line in _explain_lines(page):
                    print(f"    {line}")
        if not challenges or not chosen:
            what = ("no captcha found" if not challenges else
                    f"no blocking challenge (incidental: {', '.join(c.kind for c in challenges)}): "
                    "a crawl would leave this page alone; --all solves them anyway")
            if human:
                print(what)
            else:
                doc["challenges"] = [{**_challenge_json(c, page), "selected": False} for c in challenges]
                doc["message"] = what
                doc["exit_code"] = EXIT_NOTHING
                print(json.dumps(doc, indent=2))
            return EXIT_NOTHING
        pool = ProviderPool(_solvers(providers, urls, args.timeout, retries))
        exit_code = EXIT_OK
        try:
            for i, ch in enumerate(challenges):
                entry: dict[str, Any] = {**_challenge_json(ch, page), "selected": i in chosen}
                doc["challenges"].append(entry)
                if human:
                    print()
                    print(_challenge_heading(ch))
                    if args.explain:
                        print(f"    {_challenge_line(ch, page)}")
                        _print_explained(ch, page)
                if i not in chosen:
                    if human:
                        print("  skipped     incidental (a crawl leaves it alone; --all solves it)")
                    continue
                if i in same_as:
                    twin = challenges[same_as[i]]
                    entry["selected"] = False
                    entry["same_as"] = twin.kind
                    if human:
                        print(f"  skipped     the same challenge as the {twin.kind} on this page (sitekey "
                              f"{twin.sitekey}): a crawl solves it once")
                    continue
                ready = await _prepare(ch, page, session, args, say)
                identity = Identity(identity_proxy if ch.kind in IP_BOUND_KINDS else None, args.user_agent)
                say(f"solving {ch.kind} with {', '.join(providers)} (--timeout {args.timeout:g} s)")
                retries.faults.clear()
                try:
                    solution, solver = await pool.solve(ready, identity)
                except CaptchaError as exc:
                    exit_code = EXIT_FAILED
                    entry["solved"] = False
                    entry["error"] = _error_json(exc, getattr(exc, "provider", None), retries)
                    if human:
                        _print_error(entry["error"])
                    continue
                entry["solved"] = True
                entry["solution"] = _solution_json(solution, solver.provider, ready, identity)
                if human:
                    _print_solved(entry["solution"])
        finally:
            await pool.close()
    if not human:
        doc["exit_code"] = exit_code
        print(json.dumps(doc, indent=2))
    return exit_code


# ----------------------------------------------------------------- balance


def _balance(args: argparse.Namespace) -> int:
    providers = _providers(args)
    urls = _api_urls(args, providers)
    if args.timeout <= 0:
        raise CliError("--timeout must be a number of seconds > 0")
    results = asyncio.run(_balances(providers, urls, args.timeout))
    if args.json:
        print(json.dumps({"balances": results}, indent=2))
    else:
        width = max(len(p) for p in providers)
        for result in results:
            name = result["provider"].ljust(width)
            if "error" in result:
                err = result["error"]
                cause = err.get("cause")
                if cause:
                    head = f"{cause['code']}: {cause['description']} ({cause['times']} times, then --timeout ran out)"
                else:
                    head = err["code"] + (f": {err['description']}" if err["description"] else "")
                print(f"{name}  {head}")
                if err.get("crawl"):
                    print(f"{' ' * width}  a crawl would {err['crawl']}")
                if err.get("advice"):
                    print(f"{' ' * width}  what to do: {err['advice']}")
                continue
            line = f"{name}  {result['balance']:g} {result['unit']}"
            if "usd" in result:
                line += f" (~{result['usd']:.4g} USD)"
            print(f"{line}  at {result['api_url']}")
    return EXIT_FAILED if any("error" in r for r in results) else EXIT_OK


async def _balances(providers: list[str], urls: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(_one_balance(p, urls.get(p), timeout) for p in providers)))


async def _one_balance(provider: str, url: str | None, timeout: float) -> dict[str, Any]:
    from .model import CaptchaError, Reaction
    from .service import prices
    from .service.errors import SOLVE_TIMEOUT, TRANSPORT_ERROR
    from .solver import Solver

    key = _api_key(provider)
    if key is None:
        return {"provider": provider, "error": {"code": "NO_API_KEY", "description": NO_KEY, "provider": provider,
                                                "advice": "", "crawl": ""}}
    retries = Retries()
    solver = Solver(provider, api_key=key, api_url=url, sleep=retries.sleeper(provider))
    try:
        balance = await asyncio.wait_for(solver.balance(), timeout)
    except asyncio.TimeoutError:
        # A timeout spent backing off names its fault (see _error_json); a silent one is a transport fault.
        exc = CaptchaError(SOLVE_TIMEOUT if provider in retries.faults else TRANSPORT_ERROR,
                           f"no answer within {timeout:g} s (--timeout)", Reaction.BACKOFF)
        return {"provider": provider, "api_url": solver.api_url, "error": _error_json(exc, provider, retries)}
    except CaptchaError as exc:
        return {"provider": provider, "api_url": solver.api_url, "error": _error_json(exc, provider, retries)}
    finally:
        await solver.close()
    result: dict[str, Any] = {"provider": provider, "api_url": solver.api_url, "balance": balance,
                              "unit": unit_of(provider)}
    if result["unit"] == "points":
        result["usd"] = round(prices.points_to_usd(balance), 4)
    return result


# -------------------------------------------------------------------- main


def _page_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a saved page (file) or an http(s) URL")
    p.add_argument("--url", help="the address a saved page was saved from")
    p.add_argument("--status", type=int, default=200, help="the HTTP status a saved page came with (default 200)")
    p.add_argument("--proxy", help="the crawl's proxy URL (scheme://[login:password@]host:port): fetches the page "
                                   "and goes with tasks for IP-bound kinds; never printed")
    p.add_argument("--user-agent", help="the crawl's user agent: fetches the page and goes with the task")
    p.add_argument("--explain", action="store_true", help="show the markers behind each result")
    p.add_argument("--json", action="store_true", help="machine output: one JSON document on stdout")


def _provider_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", action="append", metavar="NAME[,NAME]",
                   help="solving service(s), tried in order like CAPTCHA_PROVIDER; repeat or comma-separate "
                        "(default: the CAPTCHA_PROVIDER environment variable, else yescaptcha)")
    p.add_argument("--api-url", action="append", metavar="[NAME=]URL",
                   help="a provider's base URL (a bare URL is the first provider's; default: "
                        "CAPTCHA_API_URL from the environment, else the provider's own)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scrapy-captcha",
        description="Detect and solve captchas from the shell, check balances, run the loopback sandbox. "
                    "The API key is read from the CAPTCHA_API_KEY environment variable only.",
    )
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
    _page_arguments(p)
    p.set_defaults(func=_detect)

    p = sub.add_parser("solve", help="detect, then solve with the configured provider(s) (key: CAPTCHA_API_KEY)")
    _page_arguments(p)
    _provider_arguments(p)
    p.add_argument("--all", action="store_true", help="solve incidental challenges too, not only blocking ones")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds per solve, as CAPTCHA_SOLVE_TIMEOUT (default 180)")
    p.set_defaults(func=_solve)

    p = sub.add_parser("balance", help="each configured provider's balance (key: CAPTCHA_API_KEY)")
    _provider_arguments(p)
    p.add_argument("--timeout", type=float, default=BALANCE_TIMEOUT,
                   help=f"seconds to wait for each provider (default {BALANCE_TIMEOUT:g})")
    p.add_argument("--json", action="store_true", help="machine output: one JSON document on stdout")
    p.set_defaults(func=_balance)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The provider pool says on WARNING when it passes a task to the next provider.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  ... %(message)s"))
    logging.getLogger("scrapy_captcha").addHandler(handler)
    logging.getLogger("scrapy_captcha").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except CliError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"code": "USAGE", "description": str(exc)}, "exit_code": EXIT_USAGE}))
        print(f"scrapy-captcha {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"scrapy-captcha {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
