"""Where a fleet's state lives in Redis, and the hashes that keep secrets out of it.

Every key is ``scrapy-captcha:{<namespace>}:<what>``. The braces are a Redis
Cluster hash tag: all keys of one namespace land in one slot, so the Lua
scripts that read and write several of them at once work on a cluster too.

The default namespace is a SHA-256 prefix of the API key: processes that use
the same account share state, and the key itself is never written. Anything
that names a proxy or a site identity in a key is an HMAC keyed by the API
key, so not even a weak proxy password can be guessed back from Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from ..model import Proxy

PREFIX = "scrapy-captcha"
#: What a namespace, a provider or a lease name may contain: nothing that a URL
#: with credentials ("user:pass@host", "/") could slip through.
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def namespace_for(api_key: str) -> str:
    """The default namespace of an account: one per API key, naming it by a hash."""
    if not api_key:
        raise ValueError("a fleet namespace needs an API key (or an explicit namespace)")
    return hashlib.sha256(b"scrapy-captcha/account\0" + api_key.encode()).hexdigest()[:16]


def check_namespace(namespace: str, *api_keys: str) -> str:
    """``namespace`` if it is usable as one, else a ValueError that never repeats a key."""
    # The key check comes first: the other error repeats the value, which must not carry a key.
    if isinstance(namespace, str) and any(len(key) >= 6 and key in namespace for key in api_keys if key):
        raise ValueError("CAPTCHA_REDIS_NAMESPACE must not contain the API key: leave it unset to "
                         "name the account by a hash of the key")
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ValueError(
            f"CAPTCHA_REDIS_NAMESPACE must be 1-64 characters of letters, digits, '.', '_' or '-' "
            f"(got {namespace!r})" if isinstance(namespace, str) and len(namespace) < 80
            else "CAPTCHA_REDIS_NAMESPACE must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )
    return namespace


def safe_part(value: str, what: str) -> str:
    """``value`` as part of a key name, or a clear error (never a credential in a key)."""
    if not isinstance(value, str) or not _SAFE.match(value):
        raise ValueError(f"a fleet {what} must be letters, digits and '.', '_', ':' or '-' "
                         f"(hash anything else, e.g. with Fleet.identity_key)")
    return value


class Keys:
    """The key names of one namespace."""

    def __init__(self, namespace: str):
        self.base = f"{PREFIX}:{{{namespace}}}"
        #: ZSET process id -> lease expiry (server ms): who is alive.
        self.members = f"{self.base}:members"
        #: HASH process id -> money spent (settled) / reserved and not yet settled.
        self.spent = f"{self.base}:budget:spent"
        self.reserved = f"{self.base}:budget:reserved"
        #: HASH provider -> JSON pause record ({"paused": 0|1, ...}).
        self.pauses = f"{self.base}:pauses"
        #: HASH provider -> server ms until which no call / no createTask is made.
        self.cooldowns = f"{self.base}:cooldowns"
        self.create_holds = f"{self.base}:create-holds"
        #: Pub/sub channel of every change.
        self.events = f"{self.base}:events"

    def slots(self, provider: str) -> str:
        """HASH process id -> tasks open at the service."""
        return f"{self.base}:slots:{safe_part(provider, 'provider name')}"

    def limit(self, provider: str) -> str:
        """HASH {limit, streak}: the task limit lowered after ERROR_THREADS_MAXIMUM."""
        return f"{self.base}:limit:{safe_part(provider, 'provider name')}"

    def lease(self, name: str) -> str:
        return f"{self.base}:lease:{safe_part(name, 'lease name')}"

    def timings(self, provider: str) -> str:
        """LIST of recent poll observations, newest first."""
        return f"{self.base}:timings:{safe_part(provider, 'provider name')}"

    def clearance(self, identity: str) -> str:
        return f"{self.base}:clearance:{safe_part(identity, 'identity key')}"

    def parked_index(self, group: str) -> str:
        """SET of the process ids of ``group`` whose parked-request journal is not empty."""
        return f"{self.base}:parked-index:{safe_part(group, 'parked group')}"

    def parked(self, group: str, process_id: str) -> str:
        """HASH entry id -> sealed request: the requests a process holds parked."""
        return f"{self.base}:parked:{safe_part(group, 'parked group')}:{safe_part(process_id, 'process id')}"

    def parked_taken(self, group: str, process_id: str) -> str:
        """SET of entry ids another process took over from ``process_id``'s journal."""
        return f"{self.base}:parked-taken:{safe_part(group, 'parked group')}:{safe_part(process_id, 'process id')}"


def gate_lease(identity: str) -> str:
    return "gate:" + safe_part(identity, "identity key")


def account_lease(provider: str) -> str:
    return "account-check:" + safe_part(provider, "provider name")


class IdentityHasher:
    """(host, proxy, user agent) -> a key naming that identity, keyed by the account's secret."""

    def __init__(self, secret: bytes):
        self._key = hashlib.sha256(b"scrapy-captcha/identity\0" + secret).digest()

    def __call__(self, host: str, proxy: Proxy | str | None = None, user_agent: str | None = None) -> str:
        if not host:
            raise ValueError("an identity needs the host that showed the challenge")
        canonical = json.dumps([host.lower().strip(), _proxy_text(proxy), user_agent or ""], separators=(",", ":"))
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()[:32]


def _proxy_text(proxy: Proxy | str | None) -> str:
    if proxy is None or proxy == "":
        return ""
    if isinstance(proxy, str):
        proxy = Proxy.from_url(proxy)
    # The login names the exit IP at many proxy vendors (sticky sessions): it is part of the identity.
    password = proxy.password.reveal() if proxy.password else ""
    return f"{proxy.scheme}://{proxy.login or ''}:{password}@{proxy.host.lower()}:{proxy.port}"
