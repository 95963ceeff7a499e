"""What this process knows of the fleet's shared state, and who is told when it changes.

The view is fed from two sides, pub/sub messages (at once) and a periodic
read of the same hashes (the fallback when a message is lost): both go
through :meth:`FleetView.pause_record` / :meth:`FleetView.block`, which call
back only on a real change, so a change seen twice is reported once. What
this process changes itself goes into the view first and is not echoed back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import SolutionCookie

logger = logging.getLogger("scrapy_captcha.fleet")

#: The two kinds of block the services ask for.
CALLS, CREATES = "calls", "creates"


@dataclass(frozen=True)
class ProviderState:
    """Whether the fleet has a provider paused, and why."""

    provider: str
    paused: bool
    #: The error code that paused it (None when running).
    code: str | None = None
    #: Why it was paused, or why it was resumed ("balance 3.2").
    reason: str = ""
    #: The process that made the change.
    origin: str | None = None


@dataclass(frozen=True)
class Clearance:
    """A session gate passed by some process of the fleet: the cookies to send, with the user agent."""

    cookies: tuple[SolutionCookie, ...]
    user_agent: str | None = None
    #: Seconds it is still good for (as Redis counts).
    expires_in: float = 0.0

    def to_json(self) -> str:
        return json.dumps({"c": [[c.name, c.value, c.domain, c.path] for c in self.cookies], "ua": self.user_agent},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, expires_in: float) -> Clearance:
        data = json.loads(text)
        cookies = tuple(SolutionCookie(str(n), str(v), d, p or "/") for n, v, d, p in data["c"])
        return cls(cookies, data.get("ua"), expires_in)


StateCallback = Callable[[ProviderState], Any]
BlockCallback = Callable[[str, float, str], Any]
TimingCallback = Callable[[str, str, "float | None", float], Any]


def _call(callback: Callable[..., Any], *args: Any) -> None:
    # A bug in one subscriber must not stop the others, nor the listener.
    try:
        callback(*args)
    except Exception:
        logger.exception("Fleet callback %r failed", callback)


class FleetView:
    def __init__(self) -> None:
        self.states: dict[str, ProviderState] = {}
        #: provider -> version of the pause record the state comes from (inf while this
        #: process's own change is being written: older records read meanwhile are stale).
        self.versions: dict[str, float] = {}
        #: provider -> loop time until which it is blocked (calls / task creation).
        self.blocked: dict[str, dict[str, float]] = {CALLS: {}, CREATES: {}}
        self._on_state: list[StateCallback] = []
        self._on_block: list[BlockCallback] = []
        self._on_timing: list[TimingCallback] = []
        #: provider -> set when it is resumed (for whoever waits for that).
        self._resumed: dict[str, asyncio.Event] = {}

    # ----------------------------------------------------------- subscribers

    def on_state(self, callback: StateCallback, replay: bool = True) -> None:
        self._on_state.append(callback)
        if replay:
            for state in list(self.states.values()):
                if state.paused:
                    _call(callback, state)

    def on_block(self, callback: BlockCallback) -> None:
        self._on_block.append(callback)

    def on_timing(self, callback: TimingCallback) -> None:
        self._on_timing.append(callback)

    # -------------------------------------------------------------- updates

    def state(self, provider: str) -> ProviderState:
        return self.states.get(provider) or ProviderState(provider, False)

    def set_state(self, state: ProviderState, *, notify: bool) -> bool:
        """Record ``state``; True (and subscribers told, when ``notify``) if it changes the view."""
        old = self.states.get(state.provider)
        if old is not None and old.paused == state.paused:
            if state.paused:
                self.states[state.provider] = state  # the same pause, maybe a newer code: no news
            return False
        if old is None and not state.paused:
            self.states[state.provider] = state  # running, as assumed: no news
            return False
        self.states[state.provider] = state
        event = self._resumed.setdefault(state.provider, asyncio.Event())
        if state.paused:
            event.clear()
        else:
            event.set()
        if notify:
            for callback in list(self._on_state):
                _call(callback, state)
        return True

    def pause_record(self, provider: str, record: str | None) -> None:
        """A pause record as stored in Redis; a missing one says nothing (Redis may have lost it)."""
        if not record:
            return
        try:
            data = json.loads(record)
            state = ProviderState(provider, bool(data["paused"]), data.get("code"), data.get("reason") or "",
                                  data.get("origin"))
            version = float(data.get("v") or 0)
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignoring a malformed fleet pause record for %s", provider)
            return
        if version < self.versions.get(provider, 0.0):
            return  # older than what this process knows (read before a newer change)
        self.versions[provider] = version
        self.set_state(state, notify=True)

    def block(self, what: str, provider: str, until: float, *, notify: bool) -> None:
        """A block (loop time ``until``) seen in the fleet; longer blocks win."""
        table = self.blocked[what]
        loop = asyncio.get_running_loop()
        # (A small margin: the same block read again a little later is no news.)
        if until <= table.get(provider, 0.0) + 0.05 or until <= loop.time():
            return
        table[provider] = until
        if notify:
            for callback in list(self._on_block):
                _call(callback, provider, until - loop.time(), what)

    def blocked_for(self, what: str, provider: str) -> float:
        until = self.blocked[what].get(provider)
        if until is None:
            return 0.0
        return max(0.0, until - asyncio.get_running_loop().time())

    def timing(self, provider: str, kind: str, last_miss: float | None, hit: float) -> None:
        for callback in list(self._on_timing):
            _call(callback, provider, kind, last_miss, hit)

    async def wait_resumed(self, provider: str, timeout: float) -> bool:
        """True as soon as ``provider`` runs (at once if it does), False after ``timeout``."""
        if not self.state(provider).paused:
            return True
        event = self._resumed.setdefault(provider, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return not self.state(provider).paused

    def wake_waiters(self) -> None:
        """Wake whoever waits for a resume, to look again (Redis went away: local control now)."""
        for provider, event in self._resumed.items():
            if self.state(provider).paused:
                event.set()
                event.clear()
