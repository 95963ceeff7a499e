"""What a crawl's captcha side did, recorded as plain data while it runs.

The middleware and crawl control call the recording methods of one
:class:`Journal` per crawl; :mod:`scrapy_captcha.report` draws it when the
spider closes. Recording is called from hot paths, so every method is O(1)
(amortised) and memory is bounded whatever the crawl's size: each series
keeps at most ``max_events`` individual events and aggregates beyond them
(counts, sums, fixed-bin histograms, time buckets whose width doubles when the
crawl outgrows them). A crawl of 1M pages and 100k solves holds the same few
hundred kilobytes as one of 1000.

Only plain data goes in: names and codes must be ``str`` (a Request, a
``Secret`` or a ``Proxy`` passed by mistake raises ``TypeError`` instead of
being kept), hosts are reduced to ``host[:port]`` (credentials and paths
removed) or hashed, and free-text details lose URL credentials, query strings
and ``key=value`` pairs that look like secrets. No API key, proxy credential,
cookie value or token has a place to go.

Times are seconds since the crawl started (the journal's creation).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

#: ``to_dict()["format"]``; ``from_dict`` refuses anything else.
FORMAT = "scrapy-captcha-journal/1"
#: The spend unit when the journal is not told another.
DEFAULT_UNIT = "USD (estimated where the provider does not price per task)"

SOLVED = "solved"
PASSED = "passed"
#: Gate scopes (see :mod:`scrapy_captcha.gates`).
SCOPES = ("page", "session", "request")
#: Provider states, drawn as lanes in the report. ``paused`` usually carries the
#: service's code (``paused:ERROR_ZERO_BALANCE``).
STATES = ("ok", "paused", "cooldown", "out_of_rotation", "circuit_open")
#: Name used for everything beyond a series' distinct-name limit.
OTHER = "(other)"

#: Upper edges of the solve-time histogram bins, in seconds: 0.25 s wide up to
#: 10 s, 1 s to 60 s, 5 s to 300 s, 30 s to 900 s; one open bin beyond.
BIN_EDGES: tuple[float, ...] = tuple(
    [i * 0.25 for i in range(1, 41)]
    + [float(s) for s in range(11, 61)]
    + [float(s) for s in range(65, 301, 5)]
    + [float(s) for s in range(330, 901, 30)]
)

_CONTROL = {c: " " for c in list(range(32)) + [127]}
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]*@")
_URL_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#]*)[?#]\S*")
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w-]*(?:key|token|secret|password|passwd|pwd|auth\w*|session\w*|cookie\w*|clearance))"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)


def _name(value: Any, what: str, limit: int = 80) -> str:
    """A short printable name; ``TypeError`` for anything but ``str`` (no objects kept)."""
    if type(value) is not str:
        raise TypeError(f"journal {what} must be a str, not {type(value).__name__}")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if not value.isprintable():
        value = value.translate(_CONTROL)
    return value or "(none)"


def _scope(value: Any) -> str:
    if value not in SCOPES:
        raise ValueError(f"gate scope must be one of {', '.join(SCOPES)}, not {value!r}")
    return str(value)


def _seconds(value: Any) -> float:
    number = float(value)
    return number if number > 0 and math.isfinite(number) else 0.0


def scrub(text: str, limit: int = 200) -> str:
    """Free text without URL credentials, query strings or ``key=value`` secrets; bounded."""
    text = _name(text, "detail", limit * 2)
    text = _URL_USERINFO.sub(r"\1", text)
    text = _URL_QUERY.sub(r"\1", text)
    text = _SECRET_PAIR.sub(r"\1\2…", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def host_only(value: str) -> str:
    """``host[:port]`` of a URL or netloc: no scheme, credentials, path or query."""
    value = _name(value, "host", 400).strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    for stop in "/?#":
        value = value.split(stop, 1)[0]
    value = value.rsplit("@", 1)[-1].lower()
    return (value[:100] or "(none)")


def hashed_host(host: str) -> str:
    return "host-" + hashlib.sha256(host.encode("utf-8", "replace")).hexdigest()[:12]


class Distribution:
    """Count, sum, min, max and a fixed-bin histogram of durations (bounded)."""

    __slots__ = ("bins", "count", "high", "low", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = 0.0
        #: bin index (see :data:`BIN_EDGES`) -> count
        self.bins: dict[int, int] = {}

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds < self.low:
            self.low = seconds
        if seconds > self.high:
            self.high = seconds
        i = bisect_right(BIN_EDGES, seconds)
        self.bins[i] = self.bins.get(i, 0) + 1

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def bin_range(self, i: int) -> tuple[float, float]:
        """The bin's [low, high) in seconds, clipped to the values seen."""
        lo = BIN_EDGES[i - 1] if i > 0 else 0.0
        hi = BIN_EDGES[i] if i < len(BIN_EDGES) else max(self.high, lo)
        return max(lo, min(self.low, hi)), min(hi, max(self.high, lo))

    def quantile(self, q: float) -> float:
        """Approximate quantile: exact at 0 and 1, else linear within the bin (≤ the bin's width off)."""
        if not self.count:
            return 0.0
        if q <= 0:
            return self.low
        if q >= 1:
            return self.high
        target = q * self.count
        seen = 0
        for i in sorted(self.bins):
            n = self.bins[i]
            if seen + n >= target:
                lo, hi = self.bin_range(i)
                return lo + (hi - lo) * ((target - seen) / n)
            seen += n
        return self.high

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total": self.total, "low": self.low if self.count else 0.0,
                "high": self.high, "bins": [[i, n] for i, n in sorted(self.bins.items())]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        dist = cls()
        dist.count = int(data["count"])
        dist.total = float(data["total"])
        dist.low = float(data["low"]) if dist.count else math.inf
        dist.high = float(data["high"])
        dist.bins = {int(i): int(n) for i, n in data["bins"] if 0 <= int(i) <= len(BIN_EDGES)}
        return dist


class TimeGrid:
    """Sums per time bucket for several named series sharing one bucket width.

    At most ``limit`` buckets: when a time falls beyond them, every series
    merges pairs of buckets and the width doubles (log2 times over a crawl).
    """

    def __init__(self, limit: int, width: float = 1.0):
        self.limit = max(2, limit)
        self.width = width
        self.series: dict[str, list[float]] = {}

    def add(self, name: str, t: float, amount: float = 1.0) -> None:
        i = int(t / self.width)
        while i >= self.limit:
            self._coarsen()
            i = int(t / self.width)
        values = self.series.get(name)
        if values is None:
            values = self.series[name] = []
        if i >= len(values):
            values.extend([0.0] * (i + 1 - len(values)))
        values[i] += amount

    def _coarsen(self) -> None:
        for name, v in self.series.items():
            self.series[name] = [v[j] + (v[j + 1] if j + 1 < len(v) else 0.0) for j in range(0, len(v), 2)]
        self.width *= 2

    def get(self, name: str) -> list[float]:
        return self.series.get(name, [])


class Journal:
    """Bounded, append-only record of the captcha side of one crawl.

    ``max_events``: individual events kept per series (solve sample, gates,
    provider changes, failovers, balances); ``max_buckets``: time buckets per
    series; ``max_names``: distinct kinds/providers/codes per series (the rest
    are counted as ``(other)``); ``max_hosts``: distinct hosts in the gate
    table; ``hosts``: ``"show"`` (host[:port]) or ``"hash"``.
    ``clock`` gives seconds (monotonic); the crawl's start is its value at creation.
    """

    def __init__(
        self,
        *,
        max_events: int = 1000,
        max_buckets: int = 480,
        max_names: int = 48,
        max_hosts: int = 200,
        hosts: str = "show",
        unit: str = DEFAULT_UNIT,
        clock: Callable[[], float] = time.monotonic,
        started_at: float | None = None,
    ):
        if hosts not in ("show", "hash"):
            raise ValueError(f"hosts must be 'show' or 'hash', not {hosts!r}")
        if max_events < 1 or max_buckets < 2 or max_names < 1 or max_hosts < 1:
            raise ValueError("journal limits must be positive (max_buckets at least 2)")
        self.max_events = max_events
        self.max_names = max_names
        self.max_hosts = max_hosts
        self.hosts = hosts
        self.unit = _name(unit, "unit", 120)
        self._clock = clock
        self._origin = clock()
        #: Wall-clock time the crawl started (epoch seconds), for the report's header.
        self.started_at = time.time() if started_at is None else float(started_at)
        #: Latest time any event was recorded at.
        self.last_t = 0.0
        self.grid = TimeGrid(max_buckets)
        self._rng = random.Random(0x5EED)

        # solves
        self.solve_time_by_kind: dict[str, Distribution] = {}
        self.solve_time_by_provider: dict[str, Distribution] = {}
        self.solved_by_kind: dict[str, int] = {}
        #: (provider, outcome code) -> failed solve attempts
        self.failed: dict[tuple[str, str], int] = {}
        self.attempts = 0
        self.polls = 0
        #: Reservoir sample of solve attempts: [t, seconds, kind, provider, outcome].
        self.solve_sample: list[list[Any]] = []

        # spend
        self.spend_by_provider: dict[str, float] = {}
        self.estimated_spend = 0.0
        self.unpriced = 0
        self.budget: float | None = None
        #: provider -> [t, amount, unit or None]
        self.balances: dict[str, list[Any]] = {}
        #: Balance readings: [t, provider, amount].
        self.balance_log: list[list[Any]] = []

        # requests
        self.dropped: dict[str, int] = {}
        self.rescheduled: dict[str, int] = {}

        # gates
        #: ref -> [opened, host, scope, kind, scopes seen ("page>session")]
        self.open_gates: dict[int, list[Any]] = {}
        #: Closed gates, oldest first, at most ``max_events``: [opened, closed, host,
        #: scope, kind, outcome, released, dropped, scopes it went through ("page>session")].
        self.gates: list[list[Any]] = []
        self.gates_closed = 0
        #: (host, scope, outcome) -> [gates, released, dropped, seconds open total, longest]
        self.gate_table: dict[tuple[str, str, str], list[float]] = {}
        self._gate_hosts: set[str] = set()
        self.untracked_gates = 0

        # providers
        #: provider -> [t, state, code, detail] changes, oldest first (at most ``max_events`` each).
        self.provider_log: dict[str, list[list[Any]]] = {}
        #: provider -> [t since, state, code] now.
        self.provider_now: dict[str, list[Any]] = {}
        #: provider -> state -> seconds spent in it (closed spans only; see :meth:`time_in_states`).
        self.provider_time: dict[str, dict[str, float]] = {}
        self.provider_changes_unkept = 0
        #: [t, from provider, to provider, code], at most ``max_events``.
        self.failovers: list[list[Any]] = []
        self.failover_count: dict[tuple[str, str, str], int] = {}

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """Seconds since the crawl started."""
        return max(0.0, self._clock() - self._origin)

    def _t(self, t: float | None) -> float:
        t = self.now() if t is None else _seconds(t)
        if t > self.last_t:
            self.last_t = t
        return t

    def _key(self, table: dict[Any, Any], name: str) -> str:
        return name if name in table or len(table) < self.max_names else OTHER

    # ------------------------------------------------------------- recording

    def solve(
        self,
        kind: str,
        provider: str,
        seconds: float,
        *,
        polls: int = 0,
        cost: float | None = None,
        outcome: str = SOLVED,
        estimated: bool = False,
        t: float | None = None,
    ) -> None:
        """One solve attempt that ended: ``outcome`` is ``"solved"`` or the error code.

        ``cost`` is what it cost (None: not known), ``estimated`` whether that
        figure is the price table's rather than the service's.
        """
        t = self._t(t)
        kind = _name(kind, "kind")
        provider = _name(provider, "provider")
        outcome = _name(outcome, "outcome")
        seconds = _seconds(seconds)
        self.attempts += 1
        self.polls += max(0, int(polls))
        if outcome == SOLVED:
            kind_key = self._key(self.solved_by_kind, kind)
            self.solved_by_kind[kind_key] = self.solved_by_kind.get(kind_key, 0) + 1
            dist = self.solve_time_by_kind.get(kind_key)
            if dist is None:
                dist = self.solve_time_by_kind[kind_key] = Distribution()
            dist.add(seconds)
            provider_key = self._key(self.solve_time_by_provider, provider)
            dist = self.solve_time_by_provider.get(provider_key)
            if dist is None:
                dist = self.solve_time_by_provider[provider_key] = Distribution()
            dist.add(seconds)
            self.grid.add("solved", t)
        else:
            failed_key = (self._key(self.solve_time_by_provider, provider), outcome)
            if failed_key not in self.failed and len(self.failed) >= self.max_names:
                failed_key = (failed_key[0], OTHER)
            self.failed[failed_key] = self.failed.get(failed_key, 0) + 1
            self.grid.add("failed", t)
        if cost is not None:
            self.spend(provider, cost, estimated=estimated, t=t)
        elif outcome == SOLVED:
            self.unpriced += 1
        # Reservoir sample (Algorithm R): every attempt equally likely to be kept.
        sample = self.solve_sample
        if len(sample) < self.max_events:
            sample.append([t, seconds, kind, provider, outcome])
        else:
            j = self._rng.randrange(self.attempts)
            if j < self.max_events:
                sample[j] = [t, seconds, kind, provider, outcome]

    def spend(self, provider: str, amount: float, *, estimated: bool = False, t: float | None = None) -> None:
        """Money spent outside a recorded solve (``solve(cost=...)`` records its own)."""
        t = self._t(t)
        amount = float(amount)
        if not math.isfinite(amount) or amount == 0:
            return
        key = self._key(self.spend_by_provider, _name(provider, "provider"))
        self.spend_by_provider[key] = self.spend_by_provider.get(key, 0.0) + amount
        if estimated:
            self.estimated_spend += amount
        self.grid.add("spend:" + key, t, amount)

    def drop(self, code: str, *, count: int = 1, t: float | None = None) -> None:
        """``count`` requests given up with reason ``code`` (their errback was called)."""
        self._count_requests(self.dropped, "dropped", code, count, t)

    def reschedule(self, code: str, *, count: int = 1, t: float | None = None) -> None:
        """``count`` requests sent back to the scheduler after ``code``."""
        self._count_requests(self.rescheduled, "rescheduled", code, count, t)

    def _count_requests(self, by_code: dict[str, int], series: str, code: str, count: int, t: float | None) -> None:
        t = self._t(t)
        if count <= 0:
            return
        key = self._key(by_code, _name(code, "code"))
        by_code[key] = by_code.get(key, 0) + count
        self.grid.add(series, t, count)

    def gate_opened(self, ref: int, host: str, scope: str, *, kind: str | None = None, t: float | None = None) -> None:
        """A gate opened. ``ref`` identifies it until :meth:`gate_closed` (e.g. ``id(gate)``);
        ``host`` may be a URL or netloc: only ``host[:port]`` (or its hash) is kept."""
        t = self._t(t)
        if len(self.open_gates) >= 100 * self.max_events and ref not in self.open_gates:
            self.untracked_gates += 1  # a caller that never closes its gates must not grow us
            return
        shown = host_only(host)
        if self.hosts == "hash":
            shown = hashed_host(shown)
        scope = _scope(scope)
        self.open_gates[int(ref)] = [t, shown, scope, _name(kind, "kind") if kind is not None else "", scope]
        self.grid.add("gates:" + scope, t)

    def gate_scope(self, ref: int, scope: str, *, t: float | None = None) -> None:
        """An open gate's scope was learned again (page -> session, session -> page)."""
        self._t(t)
        gate = self.open_gates.get(int(ref))
        scope = _scope(scope)
        if gate is not None and gate[2] != scope:
            gate[2] = scope
            if len(gate[4]) < 80:
                gate[4] += ">" + scope

    def gate_closed(
        self, ref: int, outcome: str, *, released: int = 0, dropped: int = 0, t: float | None = None
    ) -> None:
        """A gate was decided: ``outcome`` ``"passed"`` or the failure code (``handed_back``...);
        ``released``: requests re-issued, ``dropped``: requests given up with it."""
        t = self._t(t)
        gate = self.open_gates.pop(int(ref), None)
        if gate is None:
            return
        opened, host, scope, kind, path = gate
        outcome = _name(outcome, "outcome")
        self.gates_closed += 1
        if len(self.gates) < self.max_events:
            self.gates.append([opened, t, host, scope, kind, outcome, int(released), int(dropped), path])
        if host not in self._gate_hosts:
            if len(self._gate_hosts) < self.max_hosts:
                self._gate_hosts.add(host)
            else:
                host = "(other hosts)"
        row_key = (host, scope, outcome)
        if row_key not in self.gate_table and len(self.gate_table) >= self.max_hosts * 4:
            row_key = ("(other hosts)", scope, outcome if outcome == PASSED else OTHER)
        row = self.gate_table.get(row_key)
        if row is None:
            row = self.gate_table[row_key] = [0, 0, 0, 0.0, 0.0]
        open_for = max(0.0, t - opened)
        row[0] += 1
        row[1] += int(released)
        row[2] += int(dropped)
        row[3] += open_for
        row[4] = max(row[4], open_for)
        self.grid.add("gates_passed" if outcome == PASSED else "gates_failed", t)

    def provider_state(self, provider: str, state: str, *, detail: str = "", t: float | None = None) -> None:
        """A provider's state: ``ok``, ``paused`` (or ``paused:CODE``), ``cooldown``,
        ``out_of_rotation`` or ``circuit_open``; ``detail`` says why (scrubbed of secrets).
        A repeat of the current state (same code) is ignored."""
        t = self._t(t)
        provider = _name(provider, "provider")
        detail = scrub(detail)
        base, _, code = _name(state, "state").partition(":")
        base = base.strip().lower().replace(" ", "_").replace("-", "_")
        if base not in STATES:
            raise ValueError(f"provider state must be one of {', '.join(STATES)} (paused:CODE), not {state!r}")
        code = _name(code.strip(), "code") if code.strip() else ""
        current = self.provider_now.get(provider)
        if current is None and provider not in self.provider_now and len(self.provider_now) >= self.max_names:
            return
        if current is not None:
            if current[1] == base and current[2] == code:
                return
            spent = self.provider_time.setdefault(provider, {})
            spent[current[1]] = spent.get(current[1], 0.0) + max(0.0, t - current[0])
        self.provider_now[provider] = [t, base, code]
        log = self.provider_log.setdefault(provider, [])
        if len(log) < self.max_events:
            log.append([t, base, code, detail if detail != "(none)" else ""])
        else:
            self.provider_changes_unkept += 1

    def failover(self, from_provider: str, to_provider: str, code: str, *, t: float | None = None) -> None:
        """A task ``from_provider`` could not take went to ``to_provider`` (``code``: why)."""
        t = self._t(t)
        key = (_name(from_provider, "provider"), _name(to_provider, "provider"), _name(code, "code"))
        if key not in self.failover_count and len(self.failover_count) >= self.max_names:
            key = (key[0], key[1], OTHER)
        self.failover_count[key] = self.failover_count.get(key, 0) + 1
        if len(self.failovers) < self.max_events:
            self.failovers.append([t, *key])

    def set_budget(self, amount: float | None) -> None:
        """``CAPTCHA_BUDGET`` (None: no cap), in the journal's :attr:`unit`."""
        if amount is not None and not (math.isfinite(float(amount)) and float(amount) >= 0):
            raise ValueError(f"a budget is a finite number >= 0 or None, not {amount!r}")
        self.budget = None if amount is None else float(amount)

    def balance(self, provider: str, amount: float, *, unit: str | None = None, t: float | None = None) -> None:
        """The account balance a provider reported (``unit``: e.g. ``"points"``; None: the spend unit)."""
        t = self._t(t)
        provider = _name(provider, "provider")
        if provider not in self.balances and len(self.balances) >= self.max_names:
            return
        amount = float(amount)
        if not math.isfinite(amount):
            return
        self.balances[provider] = [t, amount, _name(unit, "unit") if unit is not None else None]
        if len(self.balance_log) < self.max_events:
            self.balance_log.append([t, provider, amount])

    # --------------------------------------------------------------- reading

    @property
    def solved(self) -> int:
        return sum(self.solved_by_kind.values())

    @property
    def failed_attempts(self) -> int:
        return sum(self.failed.values())

    @property
    def total_spend(self) -> float:
        return sum(self.spend_by_provider.values())

    @property
    def budget_left(self) -> float | None:
        return None if self.budget is None else self.budget - self.total_spend

    @property
    def gates_opened(self) -> int:
        return self.gates_closed + len(self.open_gates) + self.untracked_gates

    def is_empty(self) -> bool:
        """True when the crawl met no captcha (no solve, gate, drop, reschedule, spend or pause)."""
        return not (
            self.attempts or self.gates_opened or self.dropped or self.rescheduled or self.spend_by_provider
            or self.failovers or any(s[1] != "ok" for s in self.provider_now.values())
        )

    def time_in_states(self, until: float | None = None) -> dict[str, dict[str, float]]:
        """provider -> state -> seconds, the current state counted up to ``until`` (default: now)."""
        end = self.now() if until is None else until
        out = {p: dict(spent) for p, spent in self.provider_time.items()}
        for provider, (since, state, _code) in self.provider_now.items():
            spent = out.setdefault(provider, {})
            spent[state] = spent.get(state, 0.0) + max(0.0, end - since)
        return out

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` rebuilds an equal journal (its clock stopped)."""
        return {
            "format": FORMAT,
            "unit": self.unit,
            "started_at": self.started_at,
            "now": max(self.now(), self.last_t),
            "last_t": self.last_t,
            "limits": {"max_events": self.max_events, "max_buckets": self.grid.limit,
                       "max_names": self.max_names, "max_hosts": self.max_hosts, "hosts": self.hosts},
            "grid": {"width": self.grid.width, "series": self.grid.series},
            "solves": {
                "attempts": self.attempts, "polls": self.polls,
                "solved_by_kind": self.solved_by_kind,
                "by_kind": {k: d.to_dict() for k, d in self.solve_time_by_kind.items()},
                "by_provider": {k: d.to_dict() for k, d in self.solve_time_by_provider.items()},
                "failed": [[p, c, n] for (p, c), n in self.failed.items()],
                "sample": self.solve_sample,
            },
            "spend": {"by_provider": self.spend_by_provider, "estimated": self.estimated_spend,
                      "unpriced": self.unpriced, "budget": self.budget,
                      "balances": self.balances, "balance_log": self.balance_log},
            "requests": {"dropped": self.dropped, "rescheduled": self.rescheduled},
            "gates": {
                "open": [[ref, *g] for ref, g in self.open_gates.items()],
                "closed": self.gates, "closed_count": self.gates_closed,
                "table": [[*k, *v] for k, v in self.gate_table.items()],
                "hosts": sorted(self._gate_hosts), "untracked": self.untracked_gates,
            },
            "providers": {
                "log": self.provider_log, "now": self.provider_now, "time": self.provider_time,
                "unkept": self.provider_changes_unkept,
                "failovers": self.failovers,
                "failover_count": [[*k, n] for k, n in self.failover_count.items()],
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Journal:
        """A journal from :meth:`to_dict`'s data. ``ValueError`` when it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a scrapy-captcha journal (expected format {FORMAT!r})")
        try:
            return cls._load(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"a damaged scrapy-captcha journal: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _load(cls, data: dict[str, Any]) -> Journal:
        limits = data["limits"]
        stopped = float(data["now"])
        journal = cls(
            max_events=int(limits["max_events"]), max_buckets=int(limits["max_buckets"]),
            max_names=int(limits["max_names"]), max_hosts=int(limits["max_hosts"]), hosts=str(limits["hosts"]),
            unit=str(data["unit"]), clock=lambda: stopped, started_at=float(data["started_at"]),
        )
        journal._origin = 0.0
        journal.last_t = float(data["last_t"])
        journal.grid.width = float(data["grid"]["width"])
        journal.grid.series = {str(k): [float(x) for x in v] for k, v in data["grid"]["series"].items()}

        solves = data["solves"]
        journal.attempts = int(solves["attempts"])
        journal.polls = int(solves["polls"])
        journal.solved_by_kind = _counts(solves["solved_by_kind"])
        journal.solve_time_by_kind = {str(k): Distribution.from_dict(d) for k, d in solves["by_kind"].items()}
        journal.solve_time_by_provider = {str(k): Distribution.from_dict(d) for k, d in solves["by_provider"].items()}
        journal.failed = {(str(p), str(c)): int(n) for p, c, n in solves["failed"]}
        journal.solve_sample = [[float(t), float(s), str(k), str(p), str(o)] for t, s, k, p, o in solves["sample"]]

        spend = data["spend"]
        journal.spend_by_provider = {str(k): float(v) for k, v in spend["by_provider"].items()}
        journal.estimated_spend = float(spend["estimated"])
        journal.unpriced = int(spend["unpriced"])
        journal.budget = None if spend["budget"] is None else float(spend["budget"])
        journal.balances = {str(p): [float(t), float(a), None if u is None else str(u)]
                            for p, (t, a, u) in spend["balances"].items()}
        journal.balance_log = [[float(t), str(p), float(a)] for t, p, a in spend["balance_log"]]

        journal.dropped = _counts(data["requests"]["dropped"])
        journal.rescheduled = _counts(data["requests"]["rescheduled"])

        gates = data["gates"]
        journal.open_gates = {int(ref): [float(t), str(h), str(s), str(k), str(p)]
                              for ref, t, h, s, k, p in gates["open"]}
        journal.gates = [[float(o), float(c), str(h), str(s), str(k), str(out), int(r), int(d), str(p)]
                         for o, c, h, s, k, out, r, d, p in gates["closed"]]
        journal.gates_closed = int(gates["closed_count"])
        journal.gate_table = {(str(h), str(s), str(o)): [int(n), int(r), int(d), float(tot), float(mx)]
                              for h, s, o, n, r, d, tot, mx in gates["table"]}
        journal._gate_hosts = {str(h) for h in gates["hosts"]}
        journal.untracked_gates = int(gates["untracked"])

        providers = data["providers"]
        journal.provider_log = {str(p): [[float(t), str(s), str(c), str(d)] for t, s, c, d in log]
                                for p, log in providers["log"].items()}
        journal.provider_now = {str(p): [float(t), str(s), str(c)] for p, (t, s, c) in providers["now"].items()}
        journal.provider_time = {str(p): {str(s): float(v) for s, v in spent.items()}
                                 for p, spent in providers["time"].items()}
        journal.provider_changes_unkept = int(providers["unkept"])
        journal.failovers = [[float(t), str(a), str(b), str(c)] for t, a, b, c in providers["failovers"]]
        journal.failover_count = {(str(a), str(b), str(c)): int(n) for a, b, c, n in providers["failover_count"]}
        return journal


def _counts(data: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in data.items()}
