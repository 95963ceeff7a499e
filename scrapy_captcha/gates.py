"""Gates and their scope: which requests wait for which solve, learned from responses.

A *gate* is one challenge being passed and the requests waiting for it. Its
*scope* says who else it stands in the way of:

* ``session``: the host (cookiejar, proxy) shows it for every URL until it is
  passed (interstitials, clearance cookies). One solve for all; requests to
  the host are held back unsent while it is solved (``CAPTCHA_HOLD_BACK``).
* ``page``: this URL's content needs the token; other URLs are fine. Each page
  is its own gate, solved concurrently; requests for the same URL share it.
* ``request``: the spider asked to pass an incidental widget
  (``meta["captcha"] = True``); one solve per request.

The scope is learned per (gate key, challenge), never assumed, from responses
to requests *sent after* the challenge was first seen (responses already in
flight say nothing about it):

* session evidence: other URLs show the same challenge and none comes back
  clean; clearance-cookie kinds are session by nature; a pass that clears
  other URLs;
* page evidence: another URL comes back clean while the challenge is open; a
  pass that does not clear the others.

Until there is session evidence requests keep flowing. While the scope is
unknown, one solve runs and other URLs showing the same challenge wait for
the verdict instead of paying for a solve each. A key that was wrong about
``session`` needs twice the evidence the next time (hysteresis), so a noisy
site does not flap.

This module holds state and decisions only: no Scrapy engine calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request

from .identity import proxy_key
from .model import CaptchaError, Challenge, Reaction
from .service.errors import rule_for

#: (host, cookiejar, proxy): what a site's session is tied to.
GateKey = tuple[Any, ...]
#: (kind, sitekey): which challenge a page showed.
ChallengeId = tuple[str, "str | None"]

UNKNOWN, PAGE, SESSION, REQUEST = "unknown", "page", "session", "request"
#: Kinds whose pass is a cookie for the whole site.
CLEARANCE_KINDS = frozenset({"cloudflare_challenge", "datadome", "aws_waf"})
#: Distinct other URLs that must show the challenge, none clean, before a key
#: is taken as session-gated.
SESSION_EVIDENCE = 3
#: Requests sent again after a session pass that must all show it again, none clean,
#: before the pass is taken to have cleared nothing (then it was the pages', not the site's).
AFTER_PASS_EVIDENCE = 3
#: While a session gate holds its key back, one held request at a time goes out
#: anyway as a probe (the first at once, the next after 1, 2, 4 s...), up to this
#: many: a probe that comes back clean shows the gate was not the site's after all.
MAX_PROBES = 3


def gate_key(request: Request) -> GateKey:
    """(host, cookiejar, proxy exit): the same before and after HttpProxyMiddleware ran."""
    parts = urlsplit(request.url)
    proxy = request.meta.get("proxy")
    return (parts.netloc.lower(), request.meta.get("cookiejar"), proxy_key(request) if proxy else None)


def challenge_id(challenge: Challenge) -> ChallengeId:
    return (challenge.kind, challenge.sitekey)


def page_of(url: str) -> str:
    """The page a URL names (the fragment is the browser's, not the site's)."""
    return url.split("#", 1)[0]


@dataclass(eq=False)
class Gate:
    """One challenge being passed, and the requests that wait for it."""

    key: GateKey
    challenge: Challenge
    first: Request
    scope: str
    waiting: list[Request] = field(default_factory=list)
    #: id(request) -> the challenge it showed; absent when it was held back
    #: unsent and showed nothing.
    shown: dict[int, ChallengeId] = field(default_factory=dict)
    #: Requests that showed this challenge on *another* URL while the scope was
    #: unknown: they wait for the verdict (page: a gate each; session: this one).
    tentative: list[Request] = field(default_factory=list)
    #: The solver that answered last (the one to report a bad token to).
    solver: Any = None
    #: None until decided, then whether its requests may proceed.
    passed: bool | None = None
    #: Where :class:`GateBook` files it.
    slot: tuple[Any, ...] = ()
    #: Solutions paid for while passing it, and requests it handed a page to directly.
    solutions: int = 0
    released: int = 0
    #: Passed with another process's clearance (fleet mode), not a solve of this one.
    borrowed: bool = False
    #: The challenge page's body, kept only where a task needs it (Cloudflare's page).
    page: bytes | None = None
    #: Held-back requests let through as probes, whether one is out, and when the next may go.
    probes: int = 0
    probe_out: bool = False
    next_probe: float = 0.0
    _decided: asyncio.Future[bool] | None = None

    @property
    def url(self) -> str:
        return page_of(self.first.url)

    @property
    def cid(self) -> ChallengeId:
        return challenge_id(self.challenge)

    def decided(self) -> asyncio.Future[bool]:
        """Resolves to :attr:`passed` once the gate is decided (made only when awaited)."""
        if self._decided is None:
            self._decided = asyncio.get_running_loop().create_future()
            if self.passed is not None:
                self._decided.set_result(self.passed)
        return self._decided

    def decide(self, proceed: bool) -> None:
        if self.passed is None:
            self.passed = proceed
            if self._decided is not None and not self._decided.done():
                self._decided.set_result(proceed)

    def all_waiting(self) -> list[Request]:
        return self.waiting + self.tentative

    def take_probe(self, now: float) -> bool:
        """Whether a request held back by this gate may go out now as a probe."""
        if self.probe_out or self.probes >= MAX_PROBES or now < self.next_probe:
            return False
        self.probe_out = True
        self.probes += 1
        return True

    def probe_back(self, now: float) -> None:
        self.probe_out = False
        self.next_probe = now + 2.0 ** (self.probes - 1)

    def split(self, exc: CaptchaError) -> tuple[list[Request], list[Request]]:
        """(requests that share the failure ``exc``, requests to fetch again).

        The service being unreachable or overloaded is everyone's fate. A failure
        of this task (bad sitekey, unsolvable, nowhere to post the token) is only
        the fate of requests that showed the same challenge on the same page: one
        held back unsent, or showing another sitekey or page, has not met it.
        """
        everyone = self.all_waiting()
        if rule_for(exc.code).reaction is Reaction.BACKOFF:
            return everyone, []
        mine = self.cid
        same = [r for r in self.waiting if self.shown.get(id(r)) == mine]
        return same, [r for r in everyone if not any(r is s for s in same)]


@dataclass
class Scope:
    """What is known of one challenge's reach under one gate key."""

    mode: str = UNKNOWN
    #: Loop time the newest gate of this challenge opened: responses to requests
    #: sent before it say nothing.
    epoch: float = float("-inf")
    #: Other URLs (sent after the epoch) that showed it, and clean responses.
    #: (None until the first: a crawl with a cookiejar per request has a scope per request.)
    challenged: set[str] | None = None
    clean: int = 0
    #: After a pass: re-issued requests that showed it again / came back clean.
    rechallenged: int = 0
    cleared: int = 0
    needed: int = SESSION_EVIDENCE
    #: How the mode was decided, for the DEBUG log and ``explain``.
    why: str = ""

    def reset_window(self, now: float) -> None:
        self.epoch = now
        self.challenged = None
        self.clean = 0

    def passed(self) -> None:
        """A new pass: what comes back after it is counted afresh."""
        self.rechallenged = self.cleared = 0


class GateBook:
    """Every open gate, and the scope learned for each (key, challenge)."""

    #: Keys whose scopes are remembered (a crawl with a cookiejar per request
    #: would otherwise keep one per request).
    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self.gates: dict[tuple[Any, ...], Gate] = {}
        #: key -> cid -> what is known of its reach.
        self.scopes: dict[GateKey, dict[ChallengeId, Scope]] = {}
        #: (key, cid) -> its open page gates, oldest first (the first one leads).
        self._pages: dict[tuple[GateKey, ChallengeId], list[Gate]] = {}
        #: Gate keys with at least one open gate: the only ones whose responses
        #: are evidence (and whose requests may be held back).
        self.open_keys: dict[GateKey, int] = {}

    def __bool__(self) -> bool:
        return bool(self.gates)

    def __iter__(self) -> Iterator[Gate]:
        return iter(list(self.gates.values()))

    def scope(self, key: GateKey, challenge: Challenge) -> Scope:
        cid = challenge_id(challenge)
        scopes = self.scopes.get(key)
        if scopes is None:
            if len(self.scopes) >= self.MAX_KEYS:
                for old in [k for k in self.scopes if k not in self.open_keys][: self.MAX_KEYS // 10]:
                    del self.scopes[old]
            scopes = self.scopes[key] = {}
        scope = scopes.get(cid)
        if scope is None:
            scope = scopes[cid] = Scope()
            if challenge.kind in CLEARANCE_KINDS:
                scope.mode, scope.why = SESSION, f"{challenge.kind} sets a clearance cookie for the site"
        return scope

    # ------------------------------------------------------------- gates

    @staticmethod
    def slot(scope_mode: str, key: GateKey, challenge: Challenge, request: Request) -> tuple[Any, ...]:
        if scope_mode == SESSION:
            return (SESSION, key)
        if scope_mode == REQUEST:
            return (REQUEST, key, id(request))
        return (PAGE, key, page_of(request.url), challenge_id(challenge))

    def get(self, slot: tuple[Any, ...]) -> Gate | None:
        return self.gates.get(slot)

    def session_gate(self, key: GateKey) -> Gate | None:
        return self.gates.get((SESSION, key))

    def leading(self, key: GateKey, cid: ChallengeId) -> Gate | None:
        """The oldest open page gate of ``cid`` under ``key`` (it finds out the scope)."""
        pages = self._pages.get((key, cid))
        return pages[0] if pages else None

    def open(self, slot: tuple[Any, ...], gate: Gate) -> None:
        gate.slot = slot
        self.gates[slot] = gate
        self.open_keys[gate.key] = self.open_keys.get(gate.key, 0) + 1
        if gate.scope == PAGE:
            self._pages.setdefault((gate.key, gate.cid), []).append(gate)

    def close(self, gate: Gate) -> None:
        if self.gates.get(gate.slot) is not gate:
            return
        del self.gates[gate.slot]
        self._unlist(gate)
        left = self.open_keys[gate.key] - 1
        if left:
            self.open_keys[gate.key] = left
        else:
            del self.open_keys[gate.key]

    def _unlist(self, gate: Gate) -> None:
        pages = self._pages.get((gate.key, gate.cid))
        if pages and gate in pages:
            pages.remove(gate)
            if not pages:
                del self._pages[(gate.key, gate.cid)]

    def promote(self, gate: Gate) -> None:
        """A page gate becomes its key's session gate (session evidence arrived)."""
        if self.gates.get(gate.slot) is gate:
            del self.gates[gate.slot]
        self._unlist(gate)
        gate.scope = SESSION
        gate.slot = (SESSION, gate.key)
        self.gates[gate.slot] = gate

    def demote(self, gate: Gate) -> None:
        """A session gate becomes the page gate of the page that showed it first."""
        if self.gates.get(gate.slot) is gate:
            del self.gates[gate.slot]
        gate.scope = PAGE
        gate.slot = (PAGE, gate.key, gate.url, gate.cid)
        self.gates[gate.slot] = gate
        self._pages.setdefault((gate.key, gate.cid), []).insert(0, gate)

    # ----------------------------------------------------------- evidence

    def evidence(
        self, key: GateKey, url: str, shown: ChallengeId | None, sent: float
    ) -> list[tuple[Scope, ChallengeId]]:
        """A response under ``key`` to a request sent at ``sent``: the scopes whose mode it changed."""
        changed = []
        page = page_of(url)
        for cid, scope in (self.scopes.get(key) or {}).items():
            if sent < scope.epoch:
                continue
            if scope.mode == SESSION:
                if shown is None and scope.epoch > float("-inf") and cid[0] not in CLEARANCE_KINDS:
                    # A page came back clean while the "site's" challenge stood: it is not the site's.
                    scope.mode = PAGE
                    scope.needed *= 2
                    scope.clean += 1
                    scope.why = "a page sent while it was held as the site's came back clean"
                    changed.append((scope, cid))
                continue
            if shown is None:
                scope.clean += 1
            elif shown == cid and all(g.url != page for g in self._pages.get((key, cid), ())):
                if scope.challenged is None:
                    scope.challenged = set()
                scope.challenged.add(page)
            else:
                continue
            if scope.clean == 0 and scope.challenged is not None and len(scope.challenged) >= scope.needed:
                scope.mode = SESSION
                scope.why = f"{len(scope.challenged)} other URLs showed it and none came back clean"
                changed.append((scope, cid))
            elif scope.mode == UNKNOWN and scope.clean > 0:
                scope.mode = PAGE
                scope.why = "another URL came back clean while it was open"
                changed.append((scope, cid))
        return changed

    def after_pass(self, key: GateKey, cid: ChallengeId, rechallenged: bool) -> Scope | None:
        """A request sent again after ``cid`` was passed came back: did the pass clear it?

        Returns the scope when its mode changed.
        """
        scope = (self.scopes.get(key) or {}).get(cid)
        if scope is None:
            return None
        if rechallenged:
            scope.rechallenged += 1
        else:
            scope.cleared += 1
        if scope.mode == UNKNOWN:
            scope.mode = PAGE if rechallenged else SESSION
            scope.why = ("a pass did not clear the other URLs that showed it" if rechallenged
                         else "a pass cleared other URLs that showed it")
            return scope
        if scope.mode == SESSION and scope.rechallenged >= AFTER_PASS_EVIDENCE and scope.cleared == 0:
            # Wrong about session: it takes more evidence next time.
            scope.mode = PAGE
            scope.needed *= 2
            scope.why = f"{scope.rechallenged} URLs showed it again after a pass"
            return scope
        return None
