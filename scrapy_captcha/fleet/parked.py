"""Parked requests survive a killed process: each process journals them in the fleet's Redis.

A shared scheduler (scrapy-redis) has no acknowledgement: a request a process
has taken from the queue is in that process's memory only. The requests the
middleware parks while their captcha gate is solved can wait there for minutes,
so a process killed mid-solve would take them all with it.

Each process writes the requests it parks into its own journal (a Redis HASH
under its process id: ``Request.to_dict(spider=...)``, which names callbacks
by their spider method, as scrapy-redis's queue does, pickled and sealed) and
removes them when they leave: re-issued, dropped into their errback, handed
back. Writes are batched: what one turn of the event loop parks and releases
is one Redis call. Every :data:`SWEEP_EVERY` seconds each process looks for
journals of processes whose fleet lease has expired, moves them into its own
(one Lua step: exactly one process gets each entry), re-queues the requests
with ``engine.crawl`` and removes them. A process that stops gracefully with
requests still parked (a shutdown) leaves them in its journal; the others, or
the next process of the crawl to start, re-queue them.

Which processes share journals (a *group*): the same spider, the same account,
and the same place requests go back to: scrapy-redis's queue key, or else the
same ``JOBDIR`` (a restarted job re-queues what its killed run had parked). A
crawl with neither has nowhere a request could go back to: no journal.

Sealed means AES-GCM under a key derived from the API key: Redis holds no
readable request (a request may carry a proxy's credentials or cookies), and
nothing is unpickled that a holder of the key did not write.

Delivery is at least once: a process killed between handing a request to the
scheduler and its next journal write (one event-loop turn) leaves an entry
another process re-queues too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import logging
import os
import pickle
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.request import request_from_dict

from ..meta import META_AFTER, META_DELIVER, META_PROBE, META_SENT

if TYPE_CHECKING:
    from scrapy import Request

    from .client import Fleet

logger = logging.getLogger("scrapy_captcha.fleet")

#: Internal: the journal entry of a parked request (copies made to re-issue it keep it).
META_PARKED = "_captcha_parked"
#: Seconds between two looks for the journals of dead processes.
SWEEP_EVERY = 2.0
#: Meta that names something in the process that parked the request (its loop
#: clock, pages it kept, probes it sent): meaningless in another process.
_LOCAL_META = (META_PARKED, META_SENT, META_PROBE, META_DELIVER, META_AFTER)
_NONCE = 12


def group_of(crawler: Any, fleet: Fleet) -> str | None:
    """The journal group of this crawl, or None when its requests have no shared home."""
    engine = crawler.engine
    scheduler = getattr(engine, "scheduler", None)
    if scheduler is None:  # Scrapy < 2.19
        slot = getattr(engine, "_slot", None)
        scheduler = getattr(slot, "scheduler", None)
    queue = getattr(scheduler, "queue", None)
    queue_key = getattr(queue, "key", None)
    jobdir = crawler.settings.get("JOBDIR")
    if isinstance(queue_key, str) and getattr(queue, "server", None) is not None:
        home = "queue:" + queue_key  # scrapy-redis (and its forks): one queue for the fleet
    elif jobdir:
        home = "jobdir:" + os.path.abspath(jobdir)
    else:
        return None
    # Keyed by the account: a process of another key (same explicit namespace) could not open the entries.
    name = f"{crawler.spider.name}\0{home}".encode()
    return hmac.new(fleet.derive_key("parked-group"), name, hashlib.sha256).hexdigest()[:24]


class ParkedRequests:
    """This process's journal of parked requests, and the re-queueing of dead processes' journals."""

    def __init__(self, fleet: Fleet, group: str, spider: Any, crawl: Callable[[Request], None], stats: Any = None,
                 *, sweep_every: float = SWEEP_EVERY):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # (a Scrapy dependency)

        self.fleet = fleet
        self.group = group
        self.spider = spider
        self.stats = stats
        self.sweep_every = sweep_every
        self._engine_crawl = crawl
        self._aead = AESGCM(fleet.derive_key("parked-requests"))
        self._aad = group.encode()
        self._ids = map(f"{secrets.token_hex(4)}.{{:x}}".format, itertools.count())
        #: entry -> request: every request parked here and journaled (or about to be).
        self._live: dict[str, Request] = {}
        #: Not written yet: entries to add, entries to remove.
        self._puts: dict[str, Request] = {}
        self._removes: set[str] = set()
        #: The journal must be written whole (Redis was away, or came back empty).
        self._resync = False
        #: Entries another process re-queued (it took this one for dead): not re-issued here.
        self._taken: set[str] = set()
        #: Entries the other live processes of the group hold (while > 0, this one stays open).
        self.elsewhere = 0
        self.closed = False
        self._outages = fleet.outages
        self._writer: asyncio.Task[None] | None = None
        # One write at a time: two over different connections could land a removal before its put.
        self._write_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, crawler: Any, fleet: Fleet) -> ParkedRequests | None:
        """Journal this crawl's parked requests in ``fleet`` (None: the crawl has no shared home
        for its requests, no scrapy-redis queue and no JOBDIR)."""
        group = group_of(crawler, fleet)
        if group is None:
            logger.debug("Captcha fleet: parked requests are not journaled (no shared scheduler queue, no JOBDIR)")
            return None
        parked = cls(fleet, group, crawler.spider, crawler.engine.crawl, crawler.stats)
        crawler.signals.connect(parked.spider_idle, signal=signals.spider_idle)
        fleet.before_close(parked.close)
        parked._sweeper = asyncio.ensure_future(parked._sweep_forever())
        logger.info("Captcha fleet: parked requests are journaled in Redis; those of a process that dies are "
                    "re-queued by the others")
        return parked

    # ------------------------------------------------------- the middleware

    def add(self, request: Request) -> None:
        """``request`` is parked here (its write goes out with this loop turn's batch)."""
        if request.meta.get(META_PARKED) in self._live:
            return
        entry = next(self._ids)
        request.meta[META_PARKED] = entry
        self._live[entry] = request
        self._puts[entry] = request
        self._schedule()

    def crawl(self, request: Request) -> None:
        """Re-issue a parked request (``engine.crawl``); its entry goes once the scheduler has it.

        Raises what ``engine.crawl`` raises (the spider has closed): the entry
        then stays journaled, for another process.
        """
        entry = request.meta.pop(META_PARKED, None)
        if entry is not None and entry in self._taken:
            # Re-queued by another process while this one was cut off from the fleet.
            self._taken.discard(entry)
            self._inc("captcha/parked/requeued_elsewhere")
            return
        if self.closed and entry in self._live and entry not in self._puts:
            # Its removal could not be written any more: the journal keeps it, for the others.
            raise RuntimeError("the fleet is closing: the request stays journaled")
        self._engine_crawl(request)
        if entry is not None:
            self._forget(entry)

    def spider_idle(self, spider: Any = None) -> None:
        if self.elsewhere:
            # A process that dies now leaves these to be re-queued: someone must be there to crawl them.
            raise DontCloseSpider("other processes of the crawl hold parked requests")

    # ------------------------------------------------------------- writing

    def _forget(self, entry: str) -> None:
        if self._live.pop(entry, None) is None:
            return
        if self._puts.pop(entry, None) is not None:
            return  # never written
        self._removes.add(entry)
        self._schedule()

    def _schedule(self) -> None:
        if self.closed or (self._writer is not None and not self._writer.done()):
            return  # (the running writer takes what was added meanwhile)
        self._writer = asyncio.ensure_future(self._write_all())

    async def _write_all(self) -> None:
        await asyncio.sleep(0)  # what the rest of this loop turn parks goes in the same write
        while (self._puts or self._removes or self._resync) and self.fleet.connected:
            if not await self._write():
                return

    async def _write(self) -> bool:
        """One write of what changed (or of every entry held, after an outage); False when Redis is away."""
        async with self._write_lock:
            return await self._write_changes()

    async def _write_changes(self) -> bool:
        resync = self._resync
        puts = dict(self._live) if resync else self._puts
        removes = self._removes
        self._puts, self._removes, self._resync = {}, set(), False
        sealed: dict[str, str] = {}
        for entry, request in puts.items():
            blob = self._seal(request)
            if blob is None:
                self._live.pop(entry, None)
            else:
                sealed[entry] = blob
        if not (sealed or removes):
            return True
        # (Never a wholesale replace: entries a take moved here whose reply was lost stay,
        # to be re-queued after this process; an entry is never written back once removed.)
        taken = await self.fleet.write_parked(self.group, sealed, removes)
        if taken is None:
            # Redis is away: every entry held is written again when it is back (it may have
            # come back empty), with every removal not yet made.
            self._resync = True
            self._removes |= removes
            return False
        if sealed and not resync:
            self._inc("captcha/parked/journaled", len(sealed))
        mine = [entry for entry in taken if self._live.pop(entry, None) is not None]
        if mine:
            self._taken.update(mine)
            logger.warning("Captcha fleet: another process re-queued %d requests parked here (this process "
                           "was out of the fleet longer than a lease): they are not re-issued here", len(mine))
        return True

    def _seal(self, request: Request) -> str | None:
        try:
            data = pickle.dumps(request.to_dict(spider=self.spider), protocol=pickle.HIGHEST_PROTOCOL)
        except (ValueError, TypeError, AttributeError, pickle.PicklingError) as exc:
            # A callback that is no spider method, meta that does not pickle: the
            # scheduler could not keep it either. It waits here, unjournaled.
            self._inc("captcha/parked/not_journaled")
            logger.debug("Captcha fleet: %s is not journaled: %s", request.url, exc)
            return None
        nonce = os.urandom(_NONCE)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, data, self._aad)).decode("ascii")

    def _open(self, sealed: str) -> Request:
        raw = base64.b64decode(sealed)
        # Authenticated first: only what a holder of the account's key wrote is unpickled.
        data = pickle.loads(self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], self._aad))
        request = request_from_dict(data, spider=self.spider)
        for key in _LOCAL_META:
            request.meta.pop(key, None)
        return request.replace(dont_filter=True)  # the dupefilter saw it when it was first scheduled

    # ----------------------------------------------------------- sweeping

    async def sweep(self) -> int:
        """Re-queue the parked requests of the group's dead processes; how many were re-queued."""
        if self.fleet.outages != self._outages and self.fleet.connected:
            # Back after an outage: Redis may have lost the journal.
            self._outages = self.fleet.outages
            self._resync = True
        if self._puts or self._removes or self._resync:
            self._schedule()  # (what could not be written while Redis was away)
        found = await self.fleet.parked_elsewhere(self.group)
        if found is None:
            return 0
        dead, self.elsewhere = found
        if not dead or self.closed:
            return 0
        entries = await self.fleet.take_parked(self.group, dead)
        requeued = 0
        for entry, sealed in entries or ():
            try:
                request = self._open(sealed)
            except Exception as exc:
                self._inc("captcha/parked/unreadable")
                logger.warning("Captcha fleet: a parked request of a stopped process cannot be read here "
                               "(%s: %s); it is dropped", type(exc).__name__, exc)
                self._removes.add(entry)
                continue
            try:
                self._engine_crawl(request)
            except RuntimeError:
                # Closing: it stays in this journal, for the next process to take.
                self._live[entry] = request
                continue
            requeued += 1
            self._removes.add(entry)
        if entries:
            self._schedule()
        if requeued:
            self._inc("captcha/parked/requeued", requeued)
            logger.info("Captcha fleet: re-queued %d parked requests of %d stopped process(es) of this crawl",
                        requeued, len(dead))
        return requeued

    async def _sweep_forever(self) -> None:
        while not self.closed:
            try:
                await self.sweep()
            except Exception:
                logger.exception("Captcha fleet: looking for parked requests of stopped processes failed")
            await asyncio.sleep(self.sweep_every)

    async def close(self) -> None:
        """Last writes (the fleet is closing). Requests still parked stay journaled: the
        crawl's other processes, or the next one to start, re-queue them."""
        if self.closed:
            return
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer], timeout=5.0)
        if (self._puts or self._removes or self._resync) and self.fleet.connected:
            await self._write()
        if self._live:
            self._inc("captcha/parked/left_journaled", len(self._live))
            logger.info("Captcha fleet: %d parked requests stay journaled in Redis; another process of this "
                        "crawl (a running one, or the next to start) re-queues them", len(self._live))

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)

    @property
    def held(self) -> int:
        """Requests parked here and journaled."""
        return len(self._live)
