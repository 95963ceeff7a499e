"""Fleet: what the processes sharing one solving account share, through Redis.

    fleet = await Fleet.connect("redis://127.0.0.1:6379/0", api_key=key)
    if await fleet.reserve(0.003, budget):       # before createTask
        slot = await fleet.acquire_slot("capsolver", limit)
        try:
            ...                                    # createTask, poll
        finally:
            fleet.release_slot(slot, succeeded=ok)
        await fleet.settle(0.003, actual_cost)     # 0 when nothing was charged
    await fleet.close()

Every call is asyncio (``redis.asyncio``); nothing blocks the loop. When
Redis cannot be reached the fleet says so in one WARNING and every call goes
on locally (see :mod:`.shares`); it rejoins by itself when Redis is back, and
pushes what it did meanwhile. A process is alive while it renews its lease
(``lease_ttl``): one that is killed frees its task slots, its reservations and
its leases within that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..journal import scrub
from ..model import CaptchaConfigError, Secret, SolutionCookie
from . import scripts
from .naming import IdentityHasher, Keys, account_lease, check_namespace, gate_lease, namespace_for, safe_part
from .shares import FleetSnapshot, LocalShare
from .view import CALLS, CREATES, BlockCallback, Clearance, FleetView, ProviderState, StateCallback, TimingCallback

logger = logging.getLogger("scrapy_captcha.fleet")

T = TypeVar("T")

#: Recent poll observations kept per provider, for processes that join later.
TIMINGS_KEPT = 200
#: Solves in a row, fleet-wide, after which a lowered task limit climbs back by one.
RECOVER_AFTER = 5
#: Seconds between attempts to reach Redis again after it went away.
RECONNECT_EVERY = 1.0
#: Observations kept while Redis is away, to publish when it is back.
BACKLOG = 200
#: Clearances this process keeps a copy of (Redis has them all).
CLEARANCES_CACHED = 4096


class _Missing:
    """What a Redis call gives when Redis is away: go on locally."""


MISSING = _Missing()


class Slot:
    """One task slot held at a provider (from createTask until the task is done)."""

    __slots__ = ("provider", "released")

    def __init__(self, provider: str):
        self.provider = provider
        self.released = False

    def __repr__(self) -> str:
        return f"Slot({self.provider!r}{', released' if self.released else ''})"


def mask_url(url: str) -> str:
    """The Redis URL without its credentials, for log lines."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or ''}"


class Fleet:
    """State shared by every process of one account; see the module docstring."""

    def __init__(
        self, client: Any, url: str, keys: Keys, hasher: IdentityHasher, *, process_id: str, lease_ttl: float,
        refresh_interval: float, state_ttl: float, errors: tuple[type[BaseException], ...],
        secret: Secret | None = None,
    ):
        self._client = client
        self.url = mask_url(url)
        self.keys = keys
        self.identity_key = hasher
        self.process_id = process_id
        self.lease_ttl = float(lease_ttl)
        self.refresh_interval = float(refresh_interval)
        self.state_ttl = float(state_ttl)
        self._errors = errors
        self._secret = secret
        self.view = FleetView()
        self.connected = False
        self.closed = False
        #: Outages seen so far (each one logged once).
        self.outages = 0
        self._share: LocalShare | None = LocalShare(FleetSnapshot(), 0.0)
        self._seen = FleetSnapshot()
        # What this process holds: written to Redis as absolute values.
        self._spent = 0.0
        self._reserved = 0.0
        self._open: dict[str, int] = {}
        self._ceilings: dict[str, int] = {}
        #: lease name -> loop time after which it is no longer renewed (None: while held).
        self._leases: dict[str, float | None] = {}
        #: provider -> (a pause record not yet written, the version known when it was made):
        #: written when Redis is back unless the fleet changed that provider meanwhile.
        self._unsent_pauses: dict[str, tuple[dict[str, Any], float]] = {}
        self._clearances: dict[str, tuple[Clearance, float]] = {}
        self._timing_backlog: list[tuple[str, dict[str, Any]]] = []
        # Writes of this process's own fields, in order (each writes the latest absolute values).
        self._write_lock = asyncio.Lock()
        self._slot_turns: dict[str, asyncio.Lock] = {}
        self._slot_wake: dict[str, asyncio.Event] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, int] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        #: Awaited first when the fleet closes (while Redis is still in reach): last writes.
        self._before_close: list[Callable[[], Awaitable[Any]]] = []
        self._scripts: dict[str, Any] = {} if client is None else {
            name: client.register_script(getattr(scripts, name.upper()))
            for name in ("beat", "reserve", "acquire", "release", "lower", "block", "lease", "resign", "leave",
                         "pause", "parked_write", "parked_take")
        }

    # ------------------------------------------------------------ lifecycle

    @classmethod
    async def connect(
        cls, url: str, *, api_key: str | Secret | None = None, namespace: str | None = None,
        process_id: str | None = None, lease_ttl: float = 10.0, refresh_interval: float = 0.5,
        state_ttl: float = 86400.0, call_timeout: float = 2.0,
    ) -> Fleet:
        """Join the fleet of ``namespace`` (default: one per API key) at the Redis ``url``.

        Never fails because Redis is down: the fleet starts in local control
        (one WARNING) and joins once Redis answers. A wrong URL or wrong Redis
        credentials raise :class:`CaptchaConfigError`.
        """
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import (
                AuthenticationError,
                AuthenticationWrongNumberOfArgsError,
                RedisError,
                ResponseError,
            )
        except ImportError:  # pragma: no cover - the extra is not installed
            raise CaptchaConfigError("CAPTCHA_REDIS_URL needs the redis package: pip install 'scrapy-captcha[redis]'") \
                from None
        key = api_key.reveal() if isinstance(api_key, Secret) else (api_key or "")
        if namespace is None:
            namespace = namespace_for(key)
        namespace = check_namespace(namespace, key)
        if lease_ttl <= 0 or refresh_interval <= 0 or state_ttl < lease_ttl:
            raise ValueError("lease_ttl and refresh_interval must be > 0, and state_ttl >= lease_ttl")
        scheme = urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in ("redis", "rediss", "unix"):
            raise CaptchaConfigError("CAPTCHA_REDIS_URL must be a redis://, rediss:// or unix:// URL "
                                     f"(got scheme {scheme!r})")
        try:
            client = aioredis.from_url(
                url, decode_responses=True, socket_timeout=call_timeout, socket_connect_timeout=call_timeout,
                # No silent retries inside the client: a failure is an outage, handled once, here.
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise CaptchaConfigError(f"CAPTCHA_REDIS_URL is not a usable Redis URL: {exc}") from None
        process_id = safe_part(process_id or default_process_id(), "process id")
        secret = key.encode() if key else namespace.encode()
        fleet = cls(client, url, Keys(namespace), IdentityHasher(secret), process_id=process_id,
                    lease_ttl=lease_ttl, refresh_interval=refresh_interval, state_ttl=state_ttl,
                    errors=(RedisError, OSError, asyncio.TimeoutError), secret=Secret(key) if key else None)
        try:
            await fleet._join()
        except (AuthenticationError, AuthenticationWrongNumberOfArgsError, ResponseError) as exc:
            refused = not isinstance(exc, ResponseError) or any(word in str(exc) for word in ("NOAUTH", "WRONGPASS"))
            if not refused:
                fleet._lost(exc)
            else:
                await fleet._close_client()
                if urlsplit(url).password is None:
                    raise CaptchaConfigError(f"Redis at {fleet.url} needs a password in CAPTCHA_REDIS_URL "
                                             "(redis://:PASSWORD@host:port/db)") from None
                raise CaptchaConfigError(f"Redis at {fleet.url} refused the credentials in CAPTCHA_REDIS_URL "
                                         f"({type(exc).__name__})") from None
        except fleet._errors as exc:
            fleet._lost(exc)
        fleet._supervisor = asyncio.ensure_future(fleet._supervise())
        return fleet

    @classmethod
    def local(cls, *, api_key: str | Secret | None = None, process_id: str | None = None,
              lease_ttl: float = 10.0) -> Fleet:
        """The same API with no Redis: one process's own controls (its whole budget and limit).

        For code that takes a fleet either way: without ``CAPTCHA_REDIS_URL``
        the crawl uses this, and every call stays in the process.
        """
        key = api_key.reveal() if isinstance(api_key, Secret) else (api_key or "")
        namespace = namespace_for(key) if key else "local"
        fleet = cls(None, "local", Keys(namespace), IdentityHasher(key.encode() or b"local"),
                    process_id=safe_part(process_id or default_process_id(), "process id"), lease_ttl=lease_ttl,
                    refresh_interval=0.5, state_ttl=max(86400.0, lease_ttl), errors=(),
                    secret=Secret(key) if key else None)
        return fleet

    @property
    def shared(self) -> bool:
        """Whether this fleet shares through Redis (False for :meth:`local`)."""
        return self._client is not None

    async def close(self) -> None:
        """Leave the fleet: slots, leases and membership go; the spending stays counted."""
        if self.closed:
            return
        hooks, self._before_close = self._before_close, []
        for hook in hooks:
            try:
                await hook()
            except Exception:
                logger.exception("Captcha fleet: a closing hook failed")
        if self.closed:
            return
        self.closed = True
        for task in (self._supervisor, self._listener):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self._background:
            await asyncio.wait(list(self._background), timeout=2.0)
        if self.connected:
            try:
                for name in list(self._leases):
                    await self._scripts["resign"](
                        keys=[self.keys.lease(name)],
                        args=[self.process_id, self.keys.events, self._event("lease-free", n=name)])
                await self._scripts["leave"](
                    keys=[self.keys.members, self.keys.spent, self.keys.reserved,
                          *[self.keys.slots(p) for p in self._open]], args=[self.process_id])
            except self._errors:
                pass
        self.connected = False
        await self._close_client()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self.connected else "local control"
        return f"Fleet({self.url}, namespace={self.keys.base!r}, process={self.process_id!r}, {state})"

    async def _close_client(self) -> None:
        if self._pubsub is not None:
            try:
                await _aclose(self._pubsub)
            except Exception:
                pass
            self._pubsub = None
        if self._client is None:
            return
        try:
            await _aclose(self._client)
        except Exception:
            pass

    # --------------------------------------------------------------- budget

    async def reserve(self, amount: float, budget: float | None) -> bool:
        """Set ``amount`` aside before a createTask; False when the fleet's budget cannot take it.

        Atomic over the whole fleet: what every live process has spent and
        reserved, plus this, never goes over ``budget``. Settle it with
        :meth:`settle` once the task is done (or failed).
        """
        _check_money(amount, "amount")
        if budget is None:
            self._reserved += amount
            return True
        _check_money(budget, "budget")
        async with self._write_lock:
            wanted = self._reserved + amount
            reply = await self._redis(lambda: self._scripts["reserve"](
                keys=[self.keys.members, self.keys.spent, self.keys.reserved],
                args=[self.process_id, self._lease_ms, self._ttl_ms, _num(self._spent), _num(wanted), _num(budget)]))
            # (Increments, not ``= wanted``: a settle may have changed the figures during the
            # call; what Redis got is then a little high, and the settle's own write follows.)
            if not isinstance(reply, _Missing):
                ok, others, members = int(reply[0]), float(reply[1]), int(reply[2])
                if ok:
                    self._reserved += amount
                self._seen.usage = others + self._spent + self._reserved
                self._seen.members = max(1, members)
                return bool(ok)
            assert self._share is not None
            if self._spent + self._reserved + amount > self._share.budget_allowance(budget) + 1e-9 * max(1.0, budget):
                return False
            self._reserved += amount
            return True

    async def settle(self, reserved: float, actual: float) -> None:
        """A reserved solve is done: ``actual`` is what it cost (0 when nothing was charged)."""
        _check_money(reserved, "reserved")
        _check_money(actual, "actual")
        self._reserved = max(0.0, self._reserved - reserved)
        if self._reserved < 1e-12:
            self._reserved = 0.0
        self._spent += actual
        await self._push()

    @property
    def spent_here(self) -> float:
        """What this process has spent (settled) since it joined."""
        return self._spent

    async def usage(self) -> tuple[float, float]:
        """(spent, reserved) by the whole fleet in this namespace; this process's own when Redis is away."""
        reply = await self._redis(lambda: self._pipeline(
            lambda p: (p.hvals(self.keys.spent), p.hvals(self.keys.reserved))))
        if isinstance(reply, _Missing):
            return self._spent, self._reserved
        spent, reserved = reply
        return sum(map(float, spent)), sum(map(float, reserved))

    # ------------------------------------------------------------ task slots

    async def acquire_slot(self, provider: str, limit: int) -> Slot:
        """Wait for one of ``limit`` task slots at ``provider``, counted over the whole fleet (0: no limit).

        Waiters of this process are served in order; a slot freed anywhere in
        the fleet wakes them at once (and every ``refresh_interval`` anyway).
        """
        safe_part(provider, "provider name")
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"the task limit must be an int >= 0 (got {limit!r})")
        self._ceilings[provider] = limit
        turn = self._slot_turns.setdefault(provider, asyncio.Lock())
        wake = self._slot_wake.setdefault(provider, asyncio.Event())
        async with turn:
            while True:
                if self.closed:
                    raise RuntimeError("the fleet is closed")
                wake.clear()
                if await self._take_slot(provider, limit):
                    return Slot(provider)
                try:
                    await asyncio.wait_for(wake.wait(), self.refresh_interval)
                except asyncio.TimeoutError:
                    pass

    async def _take_slot(self, provider: str, limit: int) -> bool:
        async with self._write_lock:
            mine = self._open.get(provider, 0) + 1
            reply = await self._redis(lambda: self._scripts["acquire"](
                keys=[self.keys.members, self.keys.slots(provider), self.keys.limit(provider)],
                args=[self.process_id, self._lease_ms, self._ttl_ms, mine, limit]))
            if not isinstance(reply, _Missing):
                ok, _others, in_force = (int(x) for x in reply)
                self._seen.limits[provider] = in_force
                if ok:
                    self._open[provider] = self._open.get(provider, 0) + 1  # (see reserve)
                return bool(ok)
            assert self._share is not None
            cap = self._share.task_limit(provider, limit)
            if cap and self._open.get(provider, 0) + 1 > cap:
                return False
            self._open[provider] = self._open.get(provider, 0) + 1
            return True

    def release_slot(self, slot: Slot, succeeded: bool = False) -> None:
        """Give the slot back (at once here; Redis hears of it in the background).

        ``succeeded``: the task was solved, which counts toward raising a lowered limit.
        """
        if slot.released:
            return
        slot.released = True
        provider = slot.provider
        self._open[provider] = max(0, self._open.get(provider, 0) - 1)
        wake = self._slot_wake.get(provider)
        if wake is not None:
            wake.set()
        if not self.closed:
            self.spawn(self._push_release(provider, succeeded))

    async def _push_release(self, provider: str, succeeded: bool) -> None:
        async with self._write_lock:
            await self._redis(lambda: self._scripts["release"](
                keys=[self.keys.members, self.keys.slots(provider), self.keys.limit(provider)],
                args=[self.process_id, self._lease_ms, self._ttl_ms, self._open.get(provider, 0),
                      int(succeeded), self._ceilings.get(provider, 0), RECOVER_AFTER, self.keys.events,
                      self._event("slot", p=provider)]))

    async def lower_limit(self, provider: str) -> int:
        """The service said too many tasks (ERROR_THREADS_MAXIMUM): the fleet's limit drops
        below what is open now, and climbs back one by one after solves. Returns the new limit."""
        ceiling = self._ceilings.get(provider, 0)
        async with self._write_lock:
            reply = await self._redis(lambda: self._scripts["lower"](
                keys=[self.keys.members, self.keys.slots(provider), self.keys.limit(provider)],
                args=[self.process_id, self._lease_ms, self._ttl_ms, self._open.get(provider, 0), ceiling]))
            if not isinstance(reply, _Missing):
                self._seen.limits[provider] = int(reply)
                return int(reply)
            assert self._share is not None
            return self._share.lower(provider, ceiling, self._open.get(provider, 0))

    async def task_limit(self, provider: str, limit: int) -> int:
        """The limit in force for ``provider`` (``limit`` configured; 0 = none)."""
        reply = await self._redis(lambda: self._client.hget(self.keys.limit(provider), "limit"))
        if isinstance(reply, _Missing):
            assert self._share is not None
            return self._share.task_limit(provider, limit)
        if reply is None:
            return limit
        return int(reply) if not limit else min(limit, int(reply))

    async def open_tasks(self, provider: str) -> int:
        """Tasks open at ``provider`` over the fleet (live processes), or here when Redis is away."""
        reply = await self._redis(lambda: self._pipeline(
            lambda p: (p.time(), p.hgetall(self.keys.slots(provider)),
                       p.zrange(self.keys.members, 0, -1, withscores=True))))
        if isinstance(reply, _Missing):
            return self._open.get(provider, 0)
        (sec, usec), held, members = reply
        now = int(sec) * 1000 + int(usec) // 1000
        alive = {who for who, expiry in members if expiry > now}
        return sum(int(n) for who, n in held.items() if who in alive)

    # --------------------------------------------------- blocks (cooldowns)

    async def cooldown(self, provider: str, seconds: float) -> None:
        """No process calls ``provider`` for ``seconds`` (a COOLDOWN code)."""
        await self._block(CALLS, provider, seconds)

    async def hold_creates(self, provider: str, seconds: float) -> None:
        """No process creates a task at ``provider`` for ``seconds`` (ERROR_NO_SLOT_AVAILABLE_BLOCK, rate limits)."""
        await self._block(CREATES, provider, seconds)

    def blocked_for(self, provider: str) -> float:
        """Seconds until ``provider`` may be called again, as the fleet knows (no I/O)."""
        return self.view.blocked_for(CALLS, provider)

    def creates_held_for(self, provider: str) -> float:
        return self.view.blocked_for(CREATES, provider)

    def on_block(self, callback: BlockCallback) -> None:
        """``callback(provider, seconds, what)`` when another process blocks a provider;
        ``what`` is ``"calls"`` (cooldown) or ``"creates"`` (task creation held)."""
        self.view.on_block(callback)

    async def _block(self, what: str, provider: str, seconds: float) -> None:
        safe_part(provider, "provider name")
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"a block lasts a finite number of seconds >= 0 (got {seconds!r})")
        self.view.block(what, provider, asyncio.get_running_loop().time() + seconds, notify=False)
        hash_key = self.keys.cooldowns if what == CALLS else self.keys.create_holds
        await self._redis(lambda: self._scripts["block"](
            keys=[hash_key], args=[provider, int(seconds * 1000), self._ttl_ms, self.keys.events, what,
                                   self.process_id]))

    # ------------------------------------------------------- pause / resume

    def on_state(self, callback: StateCallback, replay: bool = True) -> None:
        """``callback(ProviderState)`` when another process pauses or resumes a provider
        (within ``refresh_interval``, usually at once). ``replay``: called at once for
        every provider the fleet has paused now."""
        self.view.on_state(callback, replay)

    async def pause(self, provider: str, code: str, reason: str = "") -> None:
        """Pause ``provider`` for the whole fleet (ZERO_BALANCE, KEY_BANNED...)."""
        await self._set_pause(provider, True, code=code, reason=reason)

    async def resume(self, provider: str, why: str = "") -> None:
        """Resume ``provider`` for the whole fleet (the account can pay again)."""
        await self._set_pause(provider, False, reason=why)
        await self.resign(account_lease(provider))

    async def state(self, provider: str) -> ProviderState:
        """The fleet's state of ``provider``, read afresh (the last known one when Redis is away)."""
        if self.connected:
            await self._refresh()
        return self.view.state(provider)

    def paused(self, provider: str) -> bool:
        """Whether the fleet has ``provider`` paused, as this process knows now (no I/O)."""
        return self.view.state(provider).paused

    async def _set_pause(self, provider: str, paused: bool, *, code: str | None = None, reason: str = "") -> None:
        safe_part(provider, "provider name")
        reason = self._scrub(reason, 500)
        record = {"paused": int(paused), "code": code, "reason": reason, "origin": self.process_id}
        known = self.view.versions.get(provider, 0.0)
        self.view.versions[provider] = math.inf  # until written: what is read meanwhile is older
        self.view.set_state(ProviderState(provider, paused, code, reason, self.process_id), notify=False)
        self._unsent_pauses[provider] = (record, known)
        await self._redis(lambda: self._write_pause(provider, record, None))

    async def _write_pause(self, provider: str, record: dict[str, Any], expect: float | None) -> None:
        written, version = await self._scripts["pause"](
            keys=[self.keys.pauses],
            args=[provider, json.dumps(record, separators=(",", ":")), self._ttl_ms, self.keys.events,
                  self.process_id, "" if expect is None else int(expect)])
        if self._unsent_pauses.get(provider, (None,))[0] is record:
            del self._unsent_pauses[provider]
        if int(written):
            self.view.versions[provider] = float(version)
        else:
            # The fleet moved on while this process was away: its record stands (read next).
            self.view.versions[provider] = 0.0

    async def watch_account(
        self, provider: str, check: Callable[[], Awaitable[tuple[bool, str]]], *, interval: float,
        timeout: float | None = None,
    ) -> str | None:
        """Wait while ``provider`` is paused; one process of the fleet checks the account.

        The holder of the ``account-check:<provider>`` lease calls ``check()``
        every ``interval`` seconds (``(True, why)``: the account works again:
        the fleet resumes); the others wait for the resume, and take the lease
        over if its holder dies. Returns why it resumed, or None after
        ``timeout``. With Redis away every process checks for itself.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        name = account_lease(provider)
        try:
            while True:
                state = self.view.state(provider)
                if not state.paused:
                    return state.reason or "resumed"
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    return None
                if await self.lead(name):
                    wait = interval if left is None else min(interval, left)
                    if await self.view.wait_resumed(provider, wait):
                        continue
                    if deadline is not None and loop.time() >= deadline:
                        return None
                    try:
                        ok, why = await check()
                    except Exception:
                        logger.exception("Captcha account check for %s failed", provider)
                        continue
                    if ok:
                        await self.resume(provider, why)
                        return why
                else:
                    wait = min(interval, self.lease_ttl / 2)
                    await self.view.wait_resumed(provider, wait if left is None else min(wait, left))
        finally:
            await self.resign(name)

    # --------------------------------------------------------------- leases

    async def lead(self, name: str, *, hold_for: float | None = None) -> bool:
        """Take or keep the lease ``name``: True while this process holds it.

        Held leases are renewed with the heartbeat until :meth:`resign` (or for
        ``hold_for`` seconds at most); a killed holder's lease ends within
        ``lease_ttl``. With Redis away every process leads (local control).
        """
        key = self.keys.lease(name)
        reply = await self._redis(lambda: self._scripts["lease"](keys=[key], args=[self.process_id, self._lease_ms]))
        if isinstance(reply, _Missing):
            return True
        if int(reply):
            if name not in self._leases or hold_for is not None:
                self._leases[name] = None if hold_for is None else asyncio.get_running_loop().time() + hold_for
            return True
        self._leases.pop(name, None)
        return False

    async def resign(self, name: str) -> None:
        if self._leases.pop(name, False) is False and not self.connected:
            return
        await self._redis(lambda: self._scripts["resign"](
            keys=[self.keys.lease(name)], args=[self.process_id, self.keys.events, self._event("lease-free", n=name)]))

    async def leader(self, name: str) -> str | None:
        """The process id holding the lease ``name``, if any."""
        reply = await self._redis(lambda: self._client.get(self.keys.lease(name)))
        return None if isinstance(reply, _Missing) else reply

    # ------------------------------------------------------------ clearances

    async def put_clearance(self, identity: str, cookies: Iterable[SolutionCookie], user_agent: str | None,
                            ttl: float) -> None:
        """Share a passed session gate: requests of ``identity`` may send these cookies for ``ttl`` s."""
        key = self.keys.clearance(identity)
        clearance = Clearance(tuple(cookies), user_agent, float(ttl))
        if ttl <= 0:
            return
        self._remember(identity, clearance, asyncio.get_running_loop().time() + ttl)
        await self._redis(lambda: self._pipeline(lambda p: (
            p.set(key, clearance.to_json(), px=int(ttl * 1000)),
            p.publish(self.keys.events, self._event("clearance", i=identity))), transaction=True))

    async def get_clearance(self, identity: str) -> Clearance | None:
        """A clearance some process of the fleet got for ``identity``, still good; else None."""
        loop = asyncio.get_running_loop()
        cached = self._clearances.get(identity)
        if cached is not None:
            clearance, until = cached
            if until > loop.time() + 1.0:
                return Clearance(clearance.cookies, clearance.user_agent, until - loop.time())
            del self._clearances[identity]
        key = self.keys.clearance(identity)
        reply = await self._redis(lambda: self._pipeline(lambda p: (p.get(key), p.pttl(key))))
        if isinstance(reply, _Missing):
            return None
        text, pttl = reply
        if not text or pttl is None or int(pttl) < 1000:
            return None
        try:
            clearance = Clearance.from_json(text, int(pttl) / 1000)
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignoring a malformed fleet clearance")
            return None
        self._remember(identity, clearance, loop.time() + clearance.expires_in)
        return clearance

    def _remember(self, identity: str, clearance: Clearance, until: float) -> None:
        if len(self._clearances) >= CLEARANCES_CACHED:
            now = asyncio.get_running_loop().time()
            for old in [k for k, (_, u) in self._clearances.items() if u <= now] or list(self._clearances)[:100]:
                del self._clearances[old]
        self._clearances[identity] = (clearance, until)

    async def drop_clearance(self, identity: str) -> None:
        """The site refused a shared clearance: nobody should use it again."""
        self._clearances.pop(identity, None)
        await self._redis(lambda: self._client.delete(self.keys.clearance(identity)))

    async def claim_gate(self, identity: str, ttl: float) -> bool:
        """True: this process solves the gate of ``identity`` (for ``ttl`` s at most); False: another does."""
        return await self.lead(gate_lease(identity), hold_for=ttl)

    async def release_gate(self, identity: str) -> None:
        await self.resign(gate_lease(identity))

    async def wait_clearance(self, identity: str, timeout: float) -> Clearance | None:
        """Wait for the process solving ``identity``'s gate to share its clearance.

        None when nobody holds the claim any more (the solve failed, or its
        process died) or after ``timeout``: then solve it here.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        name = "clearance:" + identity
        lease = self.keys.lease(gate_lease(identity))
        wake = self._wake.setdefault(name, asyncio.Event())
        self._waiters[name] = self._waiters.get(name, 0) + 1
        try:
            while True:
                wake.clear()
                clearance = await self.get_clearance(identity)
                if clearance is not None:
                    return clearance
                holder = await self._redis(lambda: self._client.get(lease))
                if isinstance(holder, _Missing) or holder is None or holder == self.process_id:
                    return None
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(wake.wait(), min(left, self.refresh_interval))
                except asyncio.TimeoutError:
                    pass
        finally:
            # (One event per identity being waited for, not per identity ever seen.)
            self._waiters[name] -= 1
            if not self._waiters[name]:
                del self._waiters[name], self._wake[name]

    async def clearance_or_claim(self, identity: str, *, claim_ttl: float, wait: float) -> Clearance | None:
        """The fleet's clearance for ``identity`` (waiting up to ``wait`` s for one being solved), or
        None: solve it here, then :meth:`put_clearance` and :meth:`release_gate`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            clearance = await self.get_clearance(identity)
            if clearance is not None:
                return clearance
            if await self.claim_gate(identity, claim_ttl):
                # Shared between our look and our claim?
                clearance = await self.get_clearance(identity)
                if clearance is not None:
                    await self.release_gate(identity)
                return clearance
            left = deadline - loop.time()
            if left <= 0:
                return None
            clearance = await self.wait_clearance(identity, left)
            if clearance is not None:
                return clearance
            if loop.time() >= deadline:
                return None

    # --------------------------------------------------------------- timings

    def publish_timing(self, provider: str, kind: str, last_miss: float | None, hit: float) -> None:
        """A task of ``kind`` was last seen processing at ``last_miss`` s and ready at ``hit`` s (no await)."""
        safe_part(provider, "provider name")
        entry = {"k": str(kind), "m": last_miss, "h": float(hit)}
        if self._client is None:
            return
        if not self.connected:
            self._timing_backlog = (self._timing_backlog + [(provider, entry)])[-BACKLOG:]
            return
        self.spawn(self._redis(lambda: self._push_timing(provider, entry)))

    async def _push_timing(self, provider: str, entry: dict[str, Any]) -> None:
        key = self.keys.timings(provider)
        await self._pipeline(lambda p: (
            p.lpush(key, json.dumps(entry, separators=(",", ":"))), p.ltrim(key, 0, TIMINGS_KEPT - 1),
            p.pexpire(key, self._ttl_ms), p.publish(self.keys.events, self._event("timing", p=provider, **entry))))

    async def recent_timings(self, provider: str) -> list[tuple[str, float | None, float]]:
        """What the fleet observed lately at ``provider``, oldest first: (kind, last_miss, hit)."""
        reply = await self._redis(lambda: self._client.lrange(self.keys.timings(provider), 0, TIMINGS_KEPT - 1))
        if isinstance(reply, _Missing):
            return []
        out = []
        for text in reversed(reply):
            try:
                entry = json.loads(text)
                out.append((str(entry["k"]), None if entry["m"] is None else float(entry["m"]), float(entry["h"])))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def on_timing(self, callback: TimingCallback) -> None:
        """``callback(provider, kind, last_miss, hit)`` for every observation of the other processes."""
        self.view.on_timing(callback)

    async def share_timings(self, provider: str, planner: Any) -> Callable[[str, float | None, float], None]:
        """Feed ``planner`` (a :class:`~scrapy_captcha.polling.PollPlanner`) what the fleet learned
        about ``provider`` and learns from now on; returns the function that publishes
        this process's own observations: ``publish(kind, last_miss, hit)``."""
        for kind, last_miss, hit in await self.recent_timings(provider):
            planner.observe(kind, last_miss, hit)

        def fold(source: str, kind: str, last_miss: float | None, hit: float) -> None:
            if source == provider:
                planner.observe(kind, last_miss, hit)

        self.view.on_timing(fold)
        return lambda kind, last_miss, hit: self.publish_timing(provider, kind, last_miss, hit)

    # ------------------------------------------------------- parked requests

    async def write_parked(self, group: str, puts: dict[str, str], removes: Iterable[str]) -> list[str] | None:
        """One write of this process's parked-request journal in ``group``: entries added
        (id -> sealed request) and removed.

        Returns the ids another process took over from this journal meanwhile (it
        was taken for dead: cut off from Redis longer than a lease), or None when
        Redis is away (nothing written).
        """
        keys = [self.keys.parked(group, self.process_id), self.keys.parked_index(group),
                self.keys.parked_taken(group, self.process_id)]
        args: list[Any] = [self.process_id, self._ttl_ms, len(puts)]
        for entry, sealed in puts.items():
            args += [entry, sealed]
        args += list(removes)
        reply = await self._redis(lambda: self._scripts["parked_write"](keys=keys, args=args))
        return None if isinstance(reply, _Missing) else list(reply)

    async def parked_elsewhere(self, group: str) -> tuple[list[str], int] | None:
        """The other processes of ``group`` with parked requests: (the dead ones, entries the
        live ones hold). None when Redis is away."""
        index = self.keys.parked_index(group)
        reply = await self._redis(lambda: self._pipeline(lambda p: (
            p.time(), p.smembers(index), p.zrange(self.keys.members, 0, -1, withscores=True))))
        if isinstance(reply, _Missing):
            return None
        (sec, usec), holders, members = reply
        now = int(sec) * 1000 + int(usec) // 1000
        alive = {who for who, expiry in members if expiry > now}
        others = [who for who in holders if who != self.process_id]
        dead = [who for who in others if who not in alive]
        live = [who for who in others if who in alive]
        if not live:
            return dead, 0
        sizes = await self._redis(lambda: self._pipeline(
            lambda p: [p.hlen(self.keys.parked(group, who)) for who in live]))
        if isinstance(sizes, _Missing):
            return None
        return dead, sum(int(n) for n in sizes)

    async def take_parked(self, group: str, dead: list[str]) -> list[tuple[str, str]] | None:
        """Move the journals of ``dead`` processes (those whose lease has expired: checked
        again, atomically) into this process's own; their entries, exactly once across
        the fleet. None when Redis is away."""
        keys = [self.keys.members, self.keys.parked_index(group), self.keys.parked(group, self.process_id)]
        for who in dead:
            keys += [self.keys.parked(group, who), self.keys.parked_taken(group, who)]
        reply = await self._redis(lambda: self._scripts["parked_take"](
            keys=keys, args=[self.process_id, self._ttl_ms, *dead]))
        if isinstance(reply, _Missing):
            return None
        return [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]

    def before_close(self, hook: Callable[[], Awaitable[Any]]) -> None:
        """``await hook()`` when the fleet closes, before it leaves (Redis still in reach)."""
        self._before_close.append(hook)

    def derive_key(self, purpose: str) -> bytes:
        """32 bytes for ``purpose`` that only holders of the account's API key can compute
        (the namespace stands in when there is no key)."""
        material = self._secret.reveal() if self._secret is not None and self._secret.reveal() else self.keys.base
        return hmac.new(material.encode(), b"scrapy-captcha/" + purpose.encode(), hashlib.sha256).digest()

    # ---------------------------------------------------------------- misc

    async def members(self) -> list[str]:
        """The process ids alive in the fleet."""
        reply = await self._redis(lambda: self._pipeline(
            lambda p: (p.time(), p.zrange(self.keys.members, 0, -1, withscores=True))))
        if isinstance(reply, _Missing):
            return [self.process_id]
        (sec, usec), members = reply
        now = int(sec) * 1000 + int(usec) // 1000
        return [who for who, expiry in members if expiry > now]

    # ------------------------------------------------------------- internals

    @property
    def _lease_ms(self) -> int:
        return int(self.lease_ttl * 1000)

    @property
    def _ttl_ms(self) -> int:
        return int(self.state_ttl * 1000)

    def _event(self, name: str, **fields: Any) -> str:
        return json.dumps({"e": name, "o": self.process_id, **fields}, separators=(",", ":"))

    def _scrub(self, text: str, limit: int) -> str:
        """The key out first (a service may echo it), then what the crawl journal scrubs too."""
        key = self._secret.reveal() if self._secret else ""
        if key and key in text:
            text = text.replace(key, "<api key>")
        return scrub(text, limit)

    async def _pipeline(self, build: Callable[[Any], Any], transaction: bool = False) -> list[Any]:
        pipe = self._client.pipeline(transaction=transaction)
        build(pipe)
        return await pipe.execute()

    async def _redis(self, call: Callable[[], Awaitable[T]]) -> T | _Missing:
        """``call()`` while Redis is there; MISSING (go on locally) when it is not."""
        if not self.connected or self.closed:
            return MISSING
        try:
            return await call()
        except self._errors as exc:
            self._lost(exc)
            return MISSING

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a fleet write in the background; held until done, and waited for at close."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _lost(self, exc: BaseException) -> None:
        """Redis went away: local control from now on, said once."""
        if not self.connected and self.outages:
            return
        self.connected = False
        self.outages += 1
        self._share = LocalShare(
            FleetSnapshot(self._seen.usage, self._seen.members, dict(self._seen.limits)),
            self._spent + self._reserved,
        )
        if self._listener is not None and self._listener is not asyncio.current_task():
            self._listener.cancel()
        self._listener = None
        what = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        if self._seen.usage is None:
            share = "the whole budget and task limit, as a single process"
        else:
            share = f"1/{self._seen.members} of what the fleet had left of the budget and the task limit"
        logger.warning(
            "Captcha fleet: Redis at %s is unreachable (%s); this process goes on under local control (%s) "
            "and rejoins when Redis is back", self.url, self._scrub(what, 200), share)
        # Waiters look again: slots now come from the local share, and every process checks its account.
        for event in self._slot_wake.values():
            event.set()
        for event in self._wake.values():
            event.set()
        self.view.wake_waiters()

    async def _join(self) -> None:
        """(Re)join: subscribe, push what this process holds, read the fleet's state."""
        await self._client.connection_pool.disconnect()
        await self._client.ping()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.keys.events)
        if self._pubsub is not None:
            try:
                await _aclose(self._pubsub)
            except Exception:
                pass
        self._pubsub = pubsub
        async with self._write_lock:
            await self._beat_now()
            self.connected = True
            self._share = None
        rejoined = self.outages > 0
        self._listener = asyncio.ensure_future(self._listen(pubsub))
        if rejoined:
            await self._reassert()
        await self._refresh()
        if rejoined and self.connected:
            logger.info("Captcha fleet: Redis at %s is back; this process rejoined the fleet", self.url)

    async def _reassert(self) -> None:
        """After an outage: what this process knows that Redis may have lost, or not heard."""
        loop = asyncio.get_running_loop()
        for provider, (record, known) in list(self._unsent_pauses.items()):
            await self._write_pause(provider, record, known)
        current = await self._client.hkeys(self.keys.pauses)
        for provider, state in list(self.view.states.items()):
            if state.paused and provider not in current:
                # Redis lost a pause this process still honours: it stands until someone resumes it.
                await self._write_pause(provider, {"paused": 1, "code": state.code, "reason": state.reason,
                                                   "origin": state.origin}, 0)
        for what, table in self.view.blocked.items():
            hash_key = self.keys.cooldowns if what == CALLS else self.keys.create_holds
            for provider, until in list(table.items()):
                left = until - loop.time()
                if left > 0:
                    await self._scripts["block"](keys=[hash_key], args=[provider, int(left * 1000), self._ttl_ms,
                                                                        self.keys.events, what, self.process_id])
        for identity, (clearance, until) in list(self._clearances.items()):
            left = until - loop.time()
            if left > 1:
                await self._client.set(self.keys.clearance(identity), clearance.to_json(), px=int(left * 1000), nx=True)
        backlog, self._timing_backlog = self._timing_backlog, []
        for provider, entry in backlog:
            await self._push_timing(provider, entry)

    async def _push(self) -> None:
        async with self._write_lock:
            await self._redis(self._beat_now)

    async def _beat_now(self) -> None:
        """Write this process's absolute state and renew its membership (under the write lock)."""
        providers = list(self._open)
        reply = await self._scripts["beat"](
            keys=[self.keys.members, self.keys.spent, self.keys.reserved, *[self.keys.slots(p) for p in providers]],
            args=[self.process_id, self._lease_ms, self._ttl_ms, _num(self._spent), _num(self._reserved),
                  *[self._open[p] for p in providers]])
        self._seen.usage = float(reply[0])
        self._seen.members = max(1, int(reply[1]))

    async def _heartbeat(self) -> None:
        async with self._write_lock:
            if not self.connected:
                return
            await self._beat_now()
        loop = asyncio.get_running_loop()
        for name, until in list(self._leases.items()):
            if until is not None and loop.time() >= until:
                self._leases.pop(name, None)  # held long enough: let it lapse
                continue
            held = await self._scripts["lease"](keys=[self.keys.lease(name)], args=[self.process_id, self._lease_ms])
            if not int(held):
                self._leases.pop(name, None)

    async def _refresh(self) -> None:
        """Read the fleet's shared state (the fallback for a lost message)."""
        if not self.connected:
            return
        keys = self.keys
        (sec, usec), pauses, cooldowns, holds, spent, reserved, members = await self._pipeline(lambda p: (
            p.time(), p.hgetall(keys.pauses), p.hgetall(keys.cooldowns), p.hgetall(keys.create_holds),
            p.hvals(keys.spent), p.hvals(keys.reserved), p.zrange(keys.members, 0, -1, withscores=True)))
        now_ms = int(sec) * 1000 + int(usec) // 1000
        loop_now = asyncio.get_running_loop().time()
        for provider, record in pauses.items():
            self.view.pause_record(provider, record)
        for what, table in ((CALLS, cooldowns), (CREATES, holds)):
            for provider, until in table.items():
                left = (int(float(until)) - now_ms) / 1000
                if left > 0:
                    self.view.block(what, provider, loop_now + left, notify=True)
        self._seen.usage = sum(map(float, spent)) + sum(map(float, reserved))
        self._seen.members = max(1, sum(1 for _, expiry in members if expiry > now_ms))
        for event in self._slot_wake.values():
            event.set()

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        beat_every = self.lease_ttl / 3
        next_beat = loop.time() + beat_every
        while not self.closed:
            if not self.connected:
                await asyncio.sleep(RECONNECT_EVERY)
                try:
                    await self._join()
                except self._errors as exc:
                    if self.connected:
                        self._lost(exc)
                except Exception:
                    logger.exception("Captcha fleet: rejoining failed")
                next_beat = loop.time() + beat_every
                continue
            await asyncio.sleep(self.refresh_interval)
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + beat_every
                    await self._heartbeat()
                await self._refresh()
            except self._errors as exc:
                self._lost(exc)
            except Exception:
                logger.exception("Captcha fleet: reading the shared state failed")

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self._dispatch(message.get("data"))
        except asyncio.CancelledError:
            raise
        except self._errors as exc:
            if self._pubsub is pubsub:
                self._lost(exc)
        except Exception:
            logger.exception("Captcha fleet: the event listener failed")
            if self._pubsub is pubsub and self.connected:
                self._lost(RuntimeError("event listener failed"))

    def _dispatch(self, data: Any) -> None:
        event = _loads(data)
        if event is None:
            return
        name, origin = event.get("e"), event.get("o")
        loop_now = asyncio.get_running_loop().time()
        if name == "pause":
            self.view.pause_record(str(event.get("p")), event.get("r"))
        elif name in (CALLS, CREATES):
            self.view.block(name, str(event.get("p")), loop_now + float(event.get("ms", 0)) / 1000, notify=True)
        elif name == "slot":
            wake = self._slot_wake.get(str(event.get("p")))
            if wake is not None:
                wake.set()
        elif name == "timing":
            if origin != self.process_id:
                miss = event.get("m")
                self.view.timing(str(event.get("p")), str(event.get("k")), None if miss is None else float(miss),
                                 float(event.get("h", 0.0)))
        elif name == "clearance":
            wake = self._wake.get("clearance:" + str(event.get("i")))
            if wake is not None:
                wake.set()
        elif name == "lease-free":
            lease = str(event.get("n", ""))
            if lease.startswith("gate:"):
                wake = self._wake.get("clearance:" + lease[5:])
                if wake is not None:
                    wake.set()


def default_process_id() -> str:
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())[:60] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


def _num(value: float) -> str:
    return repr(float(value))


def _check_money(value: float, what: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0 (got {value!r})")


def _loads(data: Any) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        value = json.loads(data)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


async def _aclose(thing: Any) -> None:
    close = getattr(thing, "aclose", None) or thing.close
    await close()


__all__ = ["Fleet", "Slot", "mask_url", "default_process_id"]
