"""Who a request is to the site: the proxy it leaves through and the browser it claims to be.

Tokens and clearances of IP-bound kinds are minted for one IP (and often one
user agent): a task sent with the crawl's own proxy gets one the site accepts
from the crawl. Proxy credentials are secrets like the API key: they go to the
solving service inside the task and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request

from .model import Challenge, Identity, Proxy, Secret

#: Kinds whose token or clearance is bound to the IP that solved it.
IP_BOUND_KINDS = frozenset({"cloudflare_challenge", "datadome", "aws_waf"})
PROXY_POLICIES = ("auto", "always", "never")


def proxy_of(request: Request) -> Proxy | None:
    """The request's proxy with its credentials, wherever Scrapy keeps them.

    Before ``HttpProxyMiddleware`` ran they are in ``meta["proxy"]``; after it,
    in the ``Proxy-Authorization`` header, with the URL stripped of them.
    """
    url = request.meta.get("proxy")
    if not url:
        return None
    try:
        proxy = Proxy.from_url(str(url))
    except ValueError:
        return None
    if proxy.login is None:
        login, password = _basic_auth(request.headers.get(b"Proxy-Authorization"))
        if login is not None:
            proxy = Proxy(proxy.scheme, proxy.host, proxy.port, login, Secret(password) if password else None)
    return proxy


def _basic_auth(header: Any) -> tuple[str | None, str | None]:
    if not header:
        return None, None
    value = header.decode("latin-1") if isinstance(header, bytes) else str(header)
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip()).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None, None
    login, _, password = decoded.partition(":")
    return login or None, password or None


def proxy_key(request: Request) -> str | None:
    """The proxy part of a gate key: which exit it is, with no credential in it.

    Proxy services pick the exit IP by login (sessions), so the login counts, as
    a hash. Environment proxies (``HttpProxyMiddleware`` sets them for every
    request alike) do not split a site's sessions and are left out: a request's
    key must not change when that middleware fills ``meta["proxy"]`` in.
    """
    meta = request.meta
    url = meta.get("proxy")
    if not url or meta.get("_scheme_proxy"):
        return None
    parts = urlsplit(url if "://" in str(url) else f"http://{url}")
    login = parts.username
    if login is None:
        login = _basic_auth(request.headers.get(b"Proxy-Authorization"))[0]
    where = f"{parts.hostname}:{parts.port or ''}"
    if login:
        where += "#" + hashlib.sha256(login.encode()).hexdigest()[:12]
    return where


def user_agent_of(request: Request) -> str | None:
    value = request.headers.get(b"User-Agent")
    if not value:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def identity_for(request: Request, challenge: Challenge, policy: str = "auto") -> Identity:
    """What a task for ``challenge``, met by ``request``, carries of the crawl's identity.

    ``policy`` (``CAPTCHA_USE_PROXY``): ``auto`` sends the proxy for IP-bound
    kinds, and for kinds the provider solves only through a proxy; ``always``
    for every kind; ``never`` for none.
    """
    if policy == "never":
        return Identity(user_agent=user_agent_of(request))
    # auto: the proxy for IP-bound kinds, and for any kind a provider solves only
    # through a proxy (a task it would refuse otherwise).
    only_if_required = policy == "auto" and challenge.kind not in IP_BOUND_KINDS
    return Identity(proxy=proxy_of(request), user_agent=user_agent_of(request),
                    proxy_only_if_required=only_if_required)
