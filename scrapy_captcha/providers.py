"""The configured providers, in order: each task goes to the first that can take it.

A provider leaves the rotation when its account cannot take work (PAUSE codes:
no balance, key banned...), when the service says to stop for a while
(COOLDOWN), or when it keeps failing at the transport level (a *circuit*
opens after :data:`CIRCUIT_AFTER` failed tasks in a row). The task that met
the condition goes to the next provider at once; so do all later tasks. A
provider out of rotation is watched in the background (getBalance at the pause
interval, after the cooldown, or one trial task after the circuit's rest) and
comes back as soon as it can pay. Only when no provider can take work does the
crawl pause (``CrawlControl``), and it resumes as soon as one is back.

A provider that answers MISCONFIGURED for a task (it does not offer the task
type, or refuses the task's shape) passes that task to the next one, and
stays in rotation for other tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import CaptchaError, Challenge, Identity, Reaction, Solution
from .service.errors import rule_for
from .solver import Solver

logger = logging.getLogger(__name__)

#: Tasks in a row a provider failed at the transport level before its circuit opens.
CIRCUIT_AFTER = 3
#: Seconds an open circuit rests before one trial task goes to it (times CAPTCHA_DELAY_SCALE).
CIRCUIT_REST = 60.0

OK, OUT, COOLDOWN, CIRCUIT = "ok", "out", "cooldown", "circuit"


class NoProvider(CaptchaError):
    """No configured provider can take work now; ``last`` is what the last one said."""

    def __init__(self, last: CaptchaError):
        # Whatever took the providers out, the crawl waits for one to come back.
        super().__init__(last.code, last.description, Reaction.PAUSE)
        self.last = last


@dataclass
class ProviderState:
    """Where one provider stands, as its tasks have found it."""

    name: str
    status: str = OK
    code: str | None = None
    reason: str = ""
    #: Loop time the provider left the rotation / may be tried again.
    since: float = 0.0
    until: float = 0.0
    #: Tasks in a row it failed at the transport level.
    faults: int = 0
    balance: float | None = None

    def usable(self, now: float) -> bool:
        # An open circuit lets one trial task through after its rest (half-open).
        return self.status == OK or (self.status == CIRCUIT and now >= self.until)

    def describe(self, now: float) -> str:
        if self.status == OK:
            return "ok"
        if self.status == COOLDOWN:
            return f"cooldown: {max(0.0, self.until - now):.0f}s left ({self.code})"
        if self.status == CIRCUIT:
            return f"circuit open ({self.code})"
        return f"paused: {self.code}"


class ProviderPool:
    def __init__(self, solvers: list[Solver], stats: Any = None, *, check_interval: float = 60.0,
                 delay_scale: float = 1.0, on_change: Callable[[ProviderState, str], None] | None = None,
                 journal: Any = None):
        if not solvers:
            raise ValueError("a provider pool needs at least one solver")
        self.solvers = solvers
        self.stats = stats
        self.check_interval = check_interval
        self.delay_scale = delay_scale
        #: Called with (state, what happened) whenever a provider leaves or rejoins.
        self.on_change = on_change
        self.states = {s.provider: ProviderState(s.provider) for s in solvers}
        #: The crawl report's journal (provider timeline, failovers, balances), or None.
        self.journal = journal
        #: Shared with the other processes of the account (fleet mode), or None.
        self.fleet: Any = None
        #: provider -> the least a task costs there (an account must hold that to come back).
        self.floor: Callable[[str], float] = lambda provider: 0.0
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._back: asyncio.Event | None = None
        self._warned: set[tuple[str, str]] = set()

    @property
    def primary(self) -> Solver:
        return self.solvers[0]

    def available(self) -> list[Solver]:
        now = asyncio.get_running_loop().time()
        return [s for s in self.solvers if self.states[s.provider].usable(now)]

    async def solve(self, challenge: Challenge, identity: Identity | None = None) -> tuple[Solution, Solver]:
        """The solution and the solver that produced it.

        Raises the error of a task that failed for reasons of its own (bad
        sitekey, unsolvable...), or :class:`NoProvider` when no provider can
        take work now (the crawl should pause until :meth:`wait_available`).
        """
        last: CaptchaError | None = None
        solvers = self.solvers
        loop = asyncio.get_running_loop()
        for i in range(len(solvers)):
            # (An index, not enumerate(): one live iterator less per pending solve.)
            solver = solvers[i]
            state = self.states[solver.provider]
            if not state.usable(loop.time()):
                continue
            try:
                solution = await solver.solve(challenge, identity)
            except CaptchaError as exc:
                exc.provider = solver.provider  # type: ignore[attr-defined]
                last = exc
                rule = rule_for(exc.code)
                reaction = exc.reaction or rule.reaction
                if rule.pause_all or rule.reaction in (Reaction.PAUSE, Reaction.COOLDOWN):
                    self._take_out(solver, exc, COOLDOWN if rule.reaction is Reaction.COOLDOWN else OUT)
                    continue
                if rule.exponential and reaction is Reaction.DROP and len(solvers) > 1:
                    # The service kept failing at the transport level for as long as the rule
                    # allows. With another provider to turn to, enough of that opens a circuit
                    # (alone, the crawl keeps its old course: these requests are given up).
                    state.faults += 1
                    if state.faults >= CIRCUIT_AFTER or state.status == CIRCUIT:
                        self._take_out(solver, exc, CIRCUIT)
                    if self._others_usable(solver, after=i):  # (the ones before it were tried)
                        continue
                    raise
                if rule.reaction is Reaction.MISCONFIGURED and self._others_usable(solver, after=i):
                    self._failover(solver, challenge, exc, solvers, i)
                    continue
                raise
            if state.faults or state.status == CIRCUIT:
                state.faults = 0
                if state.status == CIRCUIT:
                    self._bring_back(state, "a trial task passed")
            return solution, solver
        if last is None:
            # Every provider was already out of rotation.
            out = next(s for s in self.states.values() if s.status != OK)
            last = CaptchaError(out.code or "NO_PROVIDER", out.reason, Reaction.PAUSE)
        raise NoProvider(last)

    def _others_usable(self, solver: Solver, after: int = -1) -> bool:
        now = asyncio.get_running_loop().time()
        return any(self.states[s.provider].usable(now) for i, s in enumerate(self.solvers)
                   if s is not solver and i > after)

    def _failover(self, solver: Solver, challenge: Challenge, exc: CaptchaError, solvers: list[Solver],
                  i: int) -> None:
        if (solver.provider, exc.code) not in self._warned:
            self._warned.add((solver.provider, exc.code))
            following = next((s.provider for s in solvers[i + 1:]), "none")
            logger.warning("Captcha provider %s cannot solve %s (%s): trying %s",
                           solver.provider, challenge.kind, exc.code, following)
        if self.stats is not None:
            self.stats.inc_value(f"captcha/failover/{solver.provider}/{exc.code}")
        taking_over = next((s.provider for s in solvers[i + 1:]), None)
        if self.journal is not None and taking_over is not None:
            self.journal.failover(solver.provider, taking_over, exc.code)

    # --------------------------------------------------------------- fleet

    async def join_fleet(self, fleet: Any) -> None:
        """Share rotation, task slots, cooldowns and poll timings with the fleet."""
        self.fleet = fleet
        for solver in self.solvers:
            await solver.join_fleet(fleet)
        fleet.on_state(self._fleet_state)
        fleet.on_block(self._fleet_block)

    def _fleet_state(self, shared: Any) -> None:
        """Another process paused or resumed a provider of the account."""
        state = self.states.get(shared.provider)
        if state is None:
            return
        if shared.paused and state.status == OK:
            solver = next(s for s in self.solvers if s.provider == shared.provider)
            code = shared.code or "PAUSED_BY_FLEET"
            self._take_out(solver, CaptchaError(code, shared.reason, Reaction.PAUSE), OUT, shared=False)
        elif not shared.paused and state.status == OUT:
            self._bring_back(state, shared.reason or "resumed by the fleet", shared=False)

    def _fleet_block(self, provider: str, seconds: float, what: str) -> None:
        state = self.states.get(provider)
        if state is None or what != "calls" or state.status != OK:
            return
        solver = next(s for s in self.solvers if s.provider == provider)
        until = asyncio.get_running_loop().time() + seconds
        state.status, state.code, state.reason, state.until = COOLDOWN, "COOLDOWN_BY_FLEET", "", until
        self._notify(state, COOLDOWN)
        self._watchers[provider] = asyncio.ensure_future(
            self._watch(solver, CaptchaError("COOLDOWN_BY_FLEET", "", Reaction.COOLDOWN)))

    # ------------------------------------------------------------ rotation

    def _take_out(self, solver: Solver, exc: CaptchaError, status: str, *, shared: bool = True) -> None:
        """``shared``: this process met the condition (the fleet hears of it)."""
        state = self.states[solver.provider]
        loop = asyncio.get_running_loop()
        if state.status == status and state.code == exc.code and solver.provider in self._watchers:
            return
        rule = rule_for(exc.code)
        state.status, state.code, state.reason = status, exc.code, exc.description
        state.since = loop.time()
        rest = rule.delay if status == COOLDOWN else CIRCUIT_REST if status == CIRCUIT else 0.0
        state.until = state.since + rest * self.delay_scale
        others = [s.provider for s in self.available()]
        what = {OUT: "out of rotation", COOLDOWN: f"cooling down for {rest * self.delay_scale:g}s",
                CIRCUIT: "out of rotation (circuit open after repeated faults)"}[status]
        logger.warning("Captcha provider %s is %s: %s (%s). %s", solver.provider, what, exc.code,
                       exc.description or "no description",
                       f"Its work goes to {', '.join(others)}." if others else "No other provider can take work.")
        if self.stats is not None:
            self.stats.inc_value(f"captcha/provider/{solver.provider}/{status}/{exc.code}")
        self._notify(state, status)
        if shared and status == OUT and self.fleet is not None:
            self.fleet.spawn(self.fleet.pause(solver.provider, exc.code, exc.description))
        watcher = self._watchers.get(solver.provider)
        if watcher is not None and not watcher.done():
            watcher.cancel()
        if status == CIRCUIT:
            return  # the next task after its rest is the trial
        self._watchers[solver.provider] = asyncio.ensure_future(self._watch(solver, exc))

    async def _watch(self, solver: Solver, exc: CaptchaError) -> None:
        """Bring a provider back as soon as its account can take work."""
        state = self.states[solver.provider]
        rule = rule_for(exc.code)
        loop = asyncio.get_running_loop()
        try:
            if state.status == COOLDOWN:
                await asyncio.sleep(max(0.0, state.until - loop.time()))
                if not rule.check_before_resume:
                    self._bring_back(state, "cooldown over")
                    return
            if self.fleet is not None:
                # One process of the fleet checks the account; the others hear the verdict.
                if state.status == COOLDOWN:
                    await self.fleet.pause(solver.provider, exc.code, exc.description)
                why = await self.fleet.watch_account(solver.provider, lambda: self._check(solver),
                                                     interval=self.check_interval)
                if why is not None and state.status != OK:
                    self._bring_back(state, why)
                return
            while True:
                await asyncio.sleep(self.check_interval)
                ok, why = await self._check(solver)
                if ok:
                    self._bring_back(state, why)
                    return
        finally:
            if self._watchers.get(solver.provider) is asyncio.current_task():
                del self._watchers[solver.provider]

    async def _check(self, solver: Solver) -> tuple[bool, str]:
        """Whether the account can pay for a task again (and why, for the log)."""
        state = self.states[solver.provider]
        try:
            balance = await solver.balance()
        except CaptchaError as fault:
            logger.info("Captcha provider %s still unusable: %s", solver.provider, fault.code)
            return False, fault.code
        state.balance = balance
        if self.journal is not None:
            self.journal.balance(solver.provider, balance, unit="points" if solver.provider == "yescaptcha" else None)
        # A balance below one task's price is as good as none: the service refuses the task.
        floor = self.floor(solver.provider)
        if balance > 0 and balance >= floor:
            return True, f"balance {balance:g}"
        logger.info("Captcha provider %s balance is still %g", solver.provider, balance)
        return False, f"balance {balance:g}"

    def _bring_back(self, state: ProviderState, why: str, *, shared: bool = True) -> None:
        was = state.code
        state.status, state.code, state.reason, state.faults = OK, None, "", 0
        logger.warning("Captcha provider %s is back in rotation (%s; it was out for %s)", state.name, why, was)
        if self.stats is not None:
            self.stats.inc_value(f"captcha/provider/{state.name}/back")
        self._notify(state, f"back: {why}")
        if shared and self.fleet is not None and self.fleet.paused(state.name):
            self.fleet.spawn(self.fleet.resume(state.name, why))
        if self._back is not None:
            self._back.set()
            self._back = None

    def _notify(self, state: ProviderState, what: str) -> None:
        if self.journal is not None:
            label = {OK: "ok", OUT: f"paused:{state.code}", COOLDOWN: f"cooldown:{state.code}",
                     CIRCUIT: "circuit_open"}[state.status]
            self.journal.provider_state(state.name, label, detail=state.reason if state.status != OK else what)
            if state.status != OK:
                others = [s.provider for s in self.available()]
                if others:
                    self.journal.failover(state.name, others[0], state.code or state.status)
        if self.on_change is not None:
            self.on_change(state, what)

    async def wait_available(self) -> None:
        """Return once some provider can take work."""
        while not self.available():
            if self._back is None:
                self._back = asyncio.Event()
            event = self._back
            now = asyncio.get_running_loop().time()
            # An open circuit becomes usable by time alone, with nobody to set the event.
            rests = [s.until - now for s in self.states.values() if s.status == CIRCUIT]
            try:
                await asyncio.wait_for(event.wait(), timeout=max(0.0, min(rests)) if rests else None)
            except asyncio.TimeoutError:
                pass

    def call_stats(self) -> dict[str, int]:
        """``captcha/api_calls/*`` and ``captcha/backoff/*`` totals over every provider."""
        totals: dict[str, int] = {}
        for solver in self.solvers:
            for name, count in solver.stats.items():
                totals[f"captcha/api_calls/{name}"] = totals.get(f"captcha/api_calls/{name}", 0) + count
            for code, count in solver.faults.items():
                totals[f"captcha/backoff/{code}"] = totals.get(f"captcha/backoff/{code}", 0) + count
        return totals

    async def close(self) -> None:
        for watcher in list(self._watchers.values()):
            watcher.cancel()
        self._watchers.clear()
        for solver in self.solvers:
            await solver.close()
