"""Render a :class:`~scrapy_captcha.journal.Journal` as one self-contained HTML page.

Inline CSS and inline SVG only: no script, no font, image or stylesheet from
anywhere (a Content-Security-Policy in the page says so too), so the file can
be mailed, archived or opened offline. Every piece of text that came from the
crawl (hosts, codes, provider names, details) is escaped where it is written.

    from scrapy_captcha.report import write
    write(journal, "captcha-report.html")
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .journal import BIN_EDGES, PASSED, SOLVED, Distribution, Journal

#: Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GOOD, BAD, WARN, MUTED, INK, GRID = "#009E73", "#D55E00", "#E69F00", "#9a9a9a", "#222222", "#e4e4e4"
STATE_COLORS = {
    "ok": "#8fd3b6",
    "paused": "#D55E00",
    "cooldown": "#E69F00",
    "out_of_rotation": "#8c8c8c",
    "circuit_open": "#CC79A7",
}
STATE_LABELS = {
    "ok": "ok",
    "paused": "paused",
    "cooldown": "cooldown",
    "out_of_rotation": "out of rotation",
    "circuit_open": "circuit open",
}
FAILOVER_COLOR = "#0072B2"
KIND_COLOR = "#a9b8c9"
WIDTH = 960
#: Rows of the gate table and bars of the drop charts before the rest is summed up.
MAX_ROWS = 40
MAX_BARS = 14

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #222; font: 15px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 20px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header p { margin: 0; color: #555; }
h2 { font-size: 18px; margin: 0 0 2px; }
h3 { font-size: 14.5px; margin: 14px 0 0; color: #333; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 10px; padding: 18px 20px 16px;
  margin-top: 18px; }
p.note { color: #5b5f66; margin: 2px 0 10px; font-size: 13.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px;
  margin: 20px 0 0; padding: 0; }
.card { background: #fff; border: 1px solid #e2e4e8; border-radius: 10px; padding: 12px 14px; margin: 0; }
.card dt { font-size: 12.5px; text-transform: uppercase; letter-spacing: .04em; color: #60656d; }
.card dd { margin: 2px 0 0; font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card dd small { display: block; overflow-wrap: anywhere; font-size: 12.5px; font-weight: 400; color: #5b5f66;
  margin-top: 2px; }
.card.bad dd { color: #b34700; }
figure { margin: 10px 0 4px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: #5b5f66; margin-top: 4px; }
ul.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px;
  font-size: 13px; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.sw { display: inline-block; width: 14px; height: 14px; border-radius: 3px; border: 1px solid rgba(0,0,0,.15); }
.sw.line { height: 3px; border: 0; border-radius: 0; }
.sw.dash { height: 0; border: 0; border-top: 2px dashed #444; border-radius: 0; }
.sw.hatch { background: repeating-linear-gradient(45deg, #bbb 0 3px, #fff 3px 6px); }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin-top: 12px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eceef1; }
th { font-weight: 600; color: #444; background: #fafbfc; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fcfcfd; }
.tag { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px; background: #eef1f5; }
.tag.passed { background: #dff3ea; color: #0b6b4a; }
.tag.failed { background: #fbe3d6; color: #9a3a00; }
.empty { text-align: center; padding: 56px 20px; }
.empty p.big { font-size: 22px; font-weight: 600; margin: 0 0 6px; }
footer { color: #6a6f76; font-size: 12.5px; margin-top: 22px; }
svg text { font-family: inherit; }
svg .ax { font-size: 12px; fill: #555; }
svg .lbl { font-size: 12.5px; fill: #333; }
svg .ttl { font-size: 13px; fill: #222; font-weight: 600; }
svg .val { font-size: 12px; fill: #333; font-variant-numeric: tabular-nums; }
"""


# ----------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_int(n: float) -> str:
    return f"{round(n):,}"


def fmt_money(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) < 1:
        return f"{x:.4f}"
    return f"{x:,.2f}"


def fmt_secs(s: float) -> str:
    """A duration for text: 4.2 s, 38 s, 12 min 05 s, 1 h 02 min."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    s = round(s)
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def fmt_clock(t: float) -> str:
    """A crawl time for an axis: 0, 45s, 5m, 5m30s, 1h, 1h30."""
    t = round(t, 3)
    if t < 60:
        return "0" if t == 0 else f"{t:g}s"
    s = round(t)
    if s < 3600:
        return f"{s // 60}m" + (f"{s % 60:02d}s" if s % 60 else "")
    return f"{s // 3600}h" + (f"{s % 3600 // 60:02d}" if s % 3600 // 60 else "")


def nice_step(span: float, target: int) -> float:
    raw = max(span, 1e-9) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag * 1.0000001:
            return m * mag
    return 10 * mag


def ticks(hi: float, target: int = 5, *, whole: bool = False) -> tuple[list[float], float]:
    """Tick values from 0 and the axis maximum (a tick), for data up to ``hi``; ``whole``: counts."""
    hi = hi if hi > 0 else 1.0
    step = nice_step(hi, target)
    if whole:
        step = max(1.0, math.ceil(step))
    top = math.ceil(hi / step - 1e-9) * step
    n = round(top / step)
    return [round(i * step, 10) for i in range(n + 1)], top


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(end: float, target: int = 8) -> list[float]:
    step = next((s for s in TIME_STEPS if end / s <= target), TIME_STEPS[-1] * math.ceil(end / (target * 86400)))
    return [i * step for i in range(int(end // step) + 1)]


def fmt_tick(v: float) -> str:
    return f"{v:,.10g}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"


# ------------------------------------------------------------------------ svg


class Svg:
    """An accessible inline SVG: ``role="img"``, a <title> and a <desc> summarising the data."""

    def __init__(self, uid: str, height: float, title: str, desc: str, width: float = WIDTH):
        self.uid = uid
        self.width = width
        self.height = height
        self.title = title
        self.desc = desc
        self.defs: list[str] = []
        self.parts: list[str] = []
        self.marks = 0

    def add(self, fragment: str, *, mark: bool = False) -> None:
        self.parts.append(fragment)
        if mark:
            self.marks += 1

    def text(self, x: float, y: float, s: str, cls: str = "ax", anchor: str = "start", extra: str = "") -> None:
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>{esc(s)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = GRID, width: float = 1,
             extra: str = "") -> None:
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                 f'stroke-width="{width:g}"{extra}/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "", extra: str = "") -> None:
        body = f"<title>{esc(tip)}</title>" if tip else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
                 f'fill="{fill}"{extra}>{body}</rect>', mark=True)

    def render(self) -> str:
        t, d = f"{self.uid}-t", f"{self.uid}-d"
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width:g} {self.height:g}" '
                f'role="img" aria-labelledby="{t} {d}" id="{self.uid}" data-marks="{self.marks}">'
                f'<title id="{t}">{esc(self.title)}</title><desc id="{d}">{esc(self.desc)}</desc>'
                f"{defs}{''.join(self.parts)}</svg>")


class Frame:
    """A plot area: data -> pixels, and its axes."""

    def __init__(self, svg: Svg, left: float, top: float, right: float, bottom: float,
                 x_max: float, y_max: float, x_min: float = 0.0):
        self.svg = svg
        self.left, self.top = left, top
        self.right, self.bottom = svg.width - right, svg.height - bottom
        self.x_min, self.x_max = x_min, (x_max if x_max > x_min else x_min + 1.0)
        self.y_max = y_max if y_max > 0 else 1.0

    def x(self, v: float) -> float:
        v = min(max(v, self.x_min), self.x_max)
        return self.left + (v - self.x_min) / (self.x_max - self.x_min) * (self.right - self.left)

    def y(self, v: float) -> float:
        v = min(max(v, 0.0), self.y_max)
        return self.bottom - v / self.y_max * (self.bottom - self.top)

    def x_axis(self, values: Iterable[float], label: str, fmt: Any = fmt_tick, grid: bool = True) -> None:
        svg = self.svg
        for v in values:
            x = self.x(v)
            if grid:
                svg.line(x, self.top, x, self.bottom)
            svg.line(x, self.bottom, x, self.bottom + 4, stroke="#888")
            svg.text(x, self.bottom + 17, fmt(v), anchor="middle")
        svg.line(self.left, self.bottom, self.right, self.bottom, stroke="#888")
        svg.text((self.left + self.right) / 2, self.bottom + 36, label, cls="lbl", anchor="middle")

    def y_axis(self, values: Iterable[float], label: str, fmt: Any = fmt_tick) -> None:
        svg = self.svg
        for v in values:
            y = self.y(v)
            svg.line(self.left, y, self.right, y)
            svg.text(self.left - 7, y + 4, fmt(v), anchor="end")
        svg.line(self.left, self.top, self.left, self.bottom, stroke="#888")
        cy = (self.top + self.bottom) / 2
        svg.text(16, cy, label, cls="lbl", anchor="middle", extra=f' transform="rotate(-90 16 {cy:.1f})"')


def legend(items: Sequence[tuple[str, str, str]]) -> str:
    """(label, colour, style) -> HTML legend; style is '', 'line', 'dash' or 'hatch'."""
    out = []
    for label, color, style in items:
        fill = "" if style in ("dash", "hatch") else f' style="background:{color}"'
        out.append(f'<li><span class="sw {style}"{fill}></span>{esc(label)}</li>')
    return f'<ul class="legend">{"".join(out)}</ul>'


def figure(svg: Svg, caption: str = "", legend_html: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{svg.uid}">{svg.render()}{legend_html}{cap}</figure>'


def colors_for(names: Iterable[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


# ------------------------------------------------------------------ the page


class _Page:
    def __init__(self, journal: Journal, title: str, end: float):
        self.j = journal
        self.title = title
        self.end = max(end, journal.last_t, 1.0)
        providers = [*journal.provider_log, *journal.solve_time_by_provider, *journal.spend_by_provider,
                     *(p for p, _ in journal.failed), *journal.balances]
        self.provider_colors = colors_for(providers)
        #: Kinds are not told apart by colour anywhere, so they get none that could be taken for a provider's.
        self.kind_colors = {kind: KIND_COLOR for kind in journal.solve_time_by_kind}
        self._uid = 0

    def uid(self) -> str:
        self._uid += 1
        return f"chart{self._uid}"

    # --------------------------------------------------------------- header

    def header(self) -> str:
        started = datetime.fromtimestamp(self.j.started_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (f"<header><h1>{esc(self.title)}</h1><p>Crawl started {esc(started)}; this report covers its "
                f"first {esc(fmt_secs(self.end))}. Times on the charts are crawl times (since the start).</p>"
                f"</header>")

    def cards(self) -> str:
        j = self.j
        cards: list[tuple[str, str, str, bool]] = []
        failed = j.failed_attempts
        attempts = f"{fmt_int(failed)} failed attempt{'s' if failed != 1 else ''}" if failed else "no failed attempt"
        cards.append(("Solved", fmt_int(j.solved), attempts, False))
        dropped = sum(j.dropped.values())
        top = max(j.dropped.items(), key=lambda kv: kv[1])[0] if j.dropped else ""
        cards.append(("Dropped", fmt_int(dropped), f"most: {clip(top, 40)}" if top else "no request dropped",
                      dropped > 0))
        rescheduled = sum(j.rescheduled.values())
        cards.append(("Rescheduled", fmt_int(rescheduled), "requests sent again for a fresh page", False))
        spend_note = j.unit
        if j.estimated_spend:
            spend_note += f"; {fmt_money(j.estimated_spend)} of it estimated from the price table"
        if j.unpriced:
            spend_note += f"; {fmt_int(j.unpriced)} solves without a price"
        cards.append(("Spend", fmt_money(j.total_spend), spend_note, False))
        if j.budget is None:
            cards.append(("Budget left", "—", "no CAPTCHA_BUDGET set", False))
        else:
            left = j.budget_left or 0.0
            cards.append(("Budget left", fmt_money(left), f"of {fmt_money(j.budget)}", left <= 0))
        times = merged(j.solve_time_by_kind.values())
        if times.count:
            cards.append(("Mean solve time", fmt_secs(times.mean),
                          f"median {fmt_secs(times.quantile(0.5))}, 90% under {fmt_secs(times.quantile(0.9))}",
                          False))
        if j.attempts:
            cards.append(("Polls per attempt", f"{j.polls / j.attempts:.1f}", f"{fmt_int(j.polls)} polls in all",
                          False))
        opened = j.gates_opened
        if opened:
            passed = sum(int(r[0]) for (_, _, o), r in j.gate_table.items() if o == PASSED)
            cards.append(("Gates", fmt_int(opened),
                          f"{fmt_int(passed)} passed, {fmt_int(j.gates_closed - passed)} not"
                          + (f", {fmt_int(len(j.open_gates))} open at the end" if j.open_gates else ""), False))
        for provider, (t, amount, unit) in j.balances.items():
            cards.append((f"Balance · {clip(provider, 20)}", fmt_money(amount),
                          f"{unit or j.unit.split(' ')[0]}, read at {fmt_clock(t)}", amount <= 0))
        out = []
        for label, value, note, bad in cards:
            out.append(f'<div class="card{" bad" if bad else ""}"><dt>{esc(label)}</dt>'
                       f"<dd>{esc(value)}<small>{esc(note)}</small></dd></div>")
        return f'<dl class="cards" aria-label="Summary">{"".join(out)}</dl>'

    # -------------------------------------------------------------- solves

    def solves(self) -> str:
        j = self.j
        if not j.attempts:
            return section("Solve times", "<p class=\"note\">No solve was attempted.</p>")
        parts = []
        if j.solve_time_by_kind:
            parts.append(self.box_plots())
            parts.append(self.histogram())
        parts.append(self.scatter())
        if j.failed:
            rows = sorted(j.failed.items(), key=lambda kv: -kv[1])
            body = "".join(f"<tr><td>{esc(p)}</td><td>{esc(c)}</td><td class=\"n\">{fmt_int(n)}</td></tr>"
                           for (p, c), n in rows[:MAX_ROWS])
            parts.append("<table><thead><tr><th>provider</th><th>failed attempts: code</th>"
                         f"<th class=\"n\">attempts</th></tr></thead><tbody>{body}</tbody></table>")
        return section("Solve times", "".join(parts),
                       "From task creation to the answer, for solved tasks; the scatter shows failed attempts too.")

    def box_plots(self) -> str:
        j = self.j
        groups = [("Per kind", [(k, d, self.kind_colors[k]) for k, d in sorted(
                      j.solve_time_by_kind.items(), key=lambda kv: -kv[1].count)]),
                  ("Per provider", [(p, d, self.provider_colors.get(p, MUTED)) for p, d in
                                    j.solve_time_by_provider.items()])]
        rows = sum(len(g[1]) + 1 for g in groups)
        row_h = 26
        svg = Svg(self.uid(), 40 + rows * row_h + 44, "Solve time distribution per kind and per provider",
                  "; ".join(f"{n}: median {fmt_secs(d.quantile(.5))}, n={d.count}"
                            for _, g in groups for n, d, _ in g))
        x_hi = max(d.quantile(0.99) for _, g in groups for _, d, _ in g) * 1.08
        values, top = ticks(x_hi, 8)
        frame = Frame(svg, 190, 22, 190, 44, top, 1)
        frame.bottom = 22 + rows * row_h
        frame.x_axis(values, "seconds from task creation to answer")
        y = 22.0
        for heading, items in groups:
            svg.text(8, y + 17, heading, cls="ttl")
            y += row_h
            for name, dist, color in items:
                mid = y + row_h / 2
                svg.text(182, mid + 4, clip(name, 24), cls="lbl", anchor="end")
                q = [dist.quantile(p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)]
                tip = (f"{name}: n={dist.count}, min {fmt_secs(dist.low)}, 5% {fmt_secs(q[0])}, "
                       f"quartiles {fmt_secs(q[1])} / {fmt_secs(q[2])} / {fmt_secs(q[3])}, 95% {fmt_secs(q[4])}, "
                       f"max {fmt_secs(dist.high)}, mean {fmt_secs(dist.mean)}")
                svg.line(frame.x(q[0]), mid, frame.x(q[4]), mid, stroke="#555", width=1.4)
                for v in (q[0], q[4]):
                    svg.line(frame.x(v), mid - 6, frame.x(v), mid + 6, stroke="#555", width=1.4)
                svg.rect(frame.x(q[1]), mid - 8, max(2.0, frame.x(q[3]) - frame.x(q[1])), 16, color, tip,
                         ' fill-opacity="0.75" stroke="#333" stroke-width="0.8" rx="2"')
                svg.line(frame.x(q[2]), mid - 8, frame.x(q[2]), mid + 8, stroke="#111", width=2.2)
                mx = frame.x(dist.mean)
                svg.add(f'<path d="M{mx:.1f} {mid - 4:.1f}l4 4l-4 4l-4 -4z" fill="#fff" stroke="#111" '
                        f'stroke-width="1"><title>mean {esc(fmt_secs(dist.mean))}</title></path>', mark=True)
                if dist.high > frame.x_max:
                    svg.add(f'<path d="M{frame.right + 2:.1f} {mid - 5:.1f}l7 5l-7 5z" fill="#555">'
                            f"<title>max {esc(fmt_secs(dist.high))}, beyond the axis</title></path>")
                svg.text(frame.right + 14, mid + 4,
                         f"n={fmt_int(dist.count)} · median {fmt_secs(q[2])}", cls="val")
                y += row_h
        return figure(svg, "Box: quartiles; bar: median; diamond: mean; whiskers: 5th to 95th percentile. "
                           "Percentiles come from 0.25 s bins (coarser above 10 s).")

    def histogram(self) -> str:
        j = self.j
        dists = j.solve_time_by_provider
        overall = merged(dists.values())
        x_hi = max(overall.quantile(0.99), 1.0)
        step = next((s for s in (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120) if x_hi / s <= 36), 300)
        n_bins = max(1, math.ceil(x_hi / step))
        x_top = n_bins * step
        counts = {p: spread(d, step, n_bins) for p, d in dists.items()}
        stacked = [sum(c[i] for c in counts.values()) for i in range(n_bins)]
        y_values, y_top = ticks(max(stacked), 5, whole=True)
        svg = Svg(self.uid(), 300, "Histogram of solve times, stacked by provider",
                  f"{fmt_int(overall.count)} solves in {step:g} s bins up to {fmt_secs(x_top)}; the last bin holds "
                  f"everything slower. Most common: {fmt_secs(step * stacked.index(max(stacked)))} to "
                  f"{fmt_secs(step * (stacked.index(max(stacked)) + 1))}.")
        frame = Frame(svg, 70, 14, 24, 48, x_top, y_top)
        frame.y_axis(y_values, "solves")
        base = [0.0] * n_bins
        for provider, c in counts.items():
            color = self.provider_colors.get(provider, MUTED)
            for i, v in enumerate(c):
                if v <= 0:
                    continue
                x0, x1 = frame.x(i * step), frame.x((i + 1) * step)
                y0, y1 = frame.y(base[i]), frame.y(base[i] + v)
                label = (f"≥ {fmt_secs(i * step)}" if i == n_bins - 1
                         else f"{fmt_secs(i * step)}–{fmt_secs((i + 1) * step)}")
                svg.rect(x0 + 0.5, y1, x1 - x0 - 1, y0 - y1, color, f"{provider}: {v:.0f} solves, {label}")
                base[i] += v
        x_values, _ = ticks(x_top, 10)
        frame.x_axis([v for v in x_values if v <= x_top], "seconds from task creation to answer", grid=False)
        return figure(svg, "The last bar also counts every slower solve.",
                      legend([(p, self.provider_colors.get(p, MUTED), "") for p in counts]))

    def scatter(self) -> str:
        j = self.j
        sample = j.solve_sample
        y_hi = max((s[1] for s in sample), default=1.0)
        y_values, y_top = ticks(y_hi * 1.05, 5)
        svg = Svg(self.uid(), 280, "Solve time over the crawl",
                  f"{len(sample)} of {fmt_int(j.attempts)} solve attempts (a uniform sample), each at the crawl "
                  f"time it ended; failed ones marked with a cross.")
        frame = Frame(svg, 70, 14, 24, 48, self.end, y_top)
        frame.y_axis(y_values, "seconds")
        frame.x_axis(time_ticks(self.end), "crawl time", fmt_clock)
        failed = 0
        for t, seconds, kind, provider, outcome in sample:
            x, y = frame.x(t), frame.y(seconds)
            tip = f"{kind} on {provider} at {fmt_clock(t)}: {fmt_secs(seconds)}, {outcome}"
            if outcome == SOLVED:
                svg.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{self.provider_colors.get(provider, MUTED)}"'
                        f' fill-opacity="0.7"><title>{esc(tip)}</title></circle>', mark=True)
            else:
                failed += 1
                svg.add(f'<path d="M{x - 3:.1f} {y - 3:.1f}l6 6m0 -6l-6 6" stroke="{BAD}" stroke-width="1.6">'
                        f"<title>{esc(tip)}</title></path>", mark=True)
        items = [(p, c, "") for p, c in self.provider_colors.items() if p in j.solve_time_by_provider]
        if failed:
            items.append(("failed attempt (×)", BAD, ""))
        note = ("" if len(sample) >= j.attempts
                else f"A uniform sample of {len(sample)} of {fmt_int(j.attempts)} attempts.")
        return figure(svg, note, legend(items))

    # --------------------------------------------------------------- spend

    def spend(self) -> str:
        j = self.j
        total = j.total_spend
        if not j.spend_by_provider:
            note = "No cost was reported or estimated for any solve."
            if j.budget is not None:
                note += f" Budget: {fmt_money(j.budget)}."
            return section("Spend over time", f'<p class="note">{esc(note)}</p>')
        width = j.grid.width
        lines: dict[str, list[tuple[float, float]]] = {}
        for provider in j.spend_by_provider:
            lines[provider] = cumulative(j.grid.get("spend:" + provider), width, self.end)
        steps = sorted({t for pts in lines.values() for t, _ in pts})
        total_line = [(t, sum(value_at(pts, t) for pts in lines.values())) for t in steps]
        budget_on_scale = j.budget is not None and 0 < j.budget <= 4 * max(total, 1e-9)
        y_hi = max(total, j.budget if budget_on_scale and j.budget is not None else 0.0) * 1.08
        y_values, y_top = ticks(y_hi, 5)
        desc = f"{fmt_money(total)} spent in {fmt_secs(self.end)} ({j.unit})"
        if j.budget is not None:
            desc += f"; budget {fmt_money(j.budget)}, {fmt_money(j.budget_left or 0.0)} left"
        svg = Svg(self.uid(), 300, "Cumulative spend over the crawl", desc)
        frame = Frame(svg, 80, 16, 24, 48, self.end, y_top)
        frame.y_axis(y_values, "spend")
        frame.x_axis(time_ticks(self.end), "crawl time", fmt_clock)
        items: list[tuple[str, str, str]] = []
        if len(lines) > 1:
            for provider, pts in lines.items():
                color = self.provider_colors.get(provider, MUTED)
                last = pts[-1][1] if pts else 0.0
                svg.add(polyline(frame, [(0.0, 0.0), *pts, (self.end, last)], color, 1.6,
                                 f"{provider}: {fmt_money(last)}"), mark=True)
                items.append((provider, color, "line"))
        pts = [(0.0, 0.0), *total_line, (self.end, total)]
        area = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in as_steps(pts))
        svg.add(f'<polygon points="{frame.x(0):.1f},{frame.y(0):.1f} {area} {frame.x(self.end):.1f},{frame.y(0):.1f}" '
                f'fill="{INK}" fill-opacity="0.06"/>')
        svg.add(polyline(frame, pts, INK, 2.4, f"total: {fmt_money(total)}"), mark=True)
        items.insert(0, ("total", INK, "line"))
        if j.budget is not None:
            if budget_on_scale:
                y = frame.y(j.budget)
                svg.line(frame.left, y, frame.right, y, stroke="#444", width=1.5, extra=' stroke-dasharray="6 4"')
                svg.text(frame.right - 4, y - 6, f"budget {fmt_money(j.budget)}", cls="val", anchor="end")
                items.append(("budget (CAPTCHA_BUDGET)", "#444", "dash"))
            else:
                svg.text(frame.right - 4, frame.top + 12,
                         f"budget {fmt_money(j.budget)} (off the scale)", cls="val", anchor="end")
        svg.text(frame.x(self.end) - 4, frame.y(total) - 8, fmt_money(total), cls="val", anchor="end")
        return section("Spend over time", figure(svg, f"Unit: {j.unit}.", legend(items)),
                       "What solves cost, summed from the start of the crawl.")

    # ------------------------------------------------------------ activity

    def activity(self) -> str:
        j = self.j
        names = [("solved", "solved", GOOD), ("failed", "failed attempts", WARN),
                 ("rescheduled", "rescheduled", "#56B4E9"), ("dropped", "dropped", BAD)]
        names = [n for n in names if any(j.grid.get(n[0]))]
        if not names:
            return ""
        width = j.grid.width
        n = max(len(j.grid.get(k)) for k, _, _ in names)
        merge = max(1, math.ceil(n / 120))
        bucket = width * merge
        series = {k: rebucket(j.grid.get(k), merge) for k, _, _ in names}
        bars = max(len(v) for v in series.values())
        heights = [sum(v[i] if i < len(v) else 0.0 for v in series.values()) for i in range(bars)]
        y_values, y_top = ticks(max(heights), 5, whole=True)
        svg = Svg(self.uid(), 260, "Solves, failures, reschedules and drops over the crawl",
                  f"Counts per {fmt_secs(bucket)} of crawl time. " + ", ".join(
                      f"{label}: {fmt_int(sum(series[k]))}" for k, label, _ in names))
        frame = Frame(svg, 70, 14, 24, 48, max(self.end, bars * bucket), y_top)
        frame.y_axis(y_values, f"per {fmt_secs(bucket)}")
        base = [0.0] * bars
        for key, label, color in names:
            for i, v in enumerate(series[key]):
                if v <= 0:
                    continue
                x0, x1 = frame.x(i * bucket), frame.x((i + 1) * bucket)
                y0, y1 = frame.y(base[i]), frame.y(base[i] + v)
                svg.rect(x0 + 0.3, y1, max(0.8, x1 - x0 - 0.6), y0 - y1, color,
                         f"{label}: {v:.0f} at {fmt_clock(i * bucket)}–{fmt_clock((i + 1) * bucket)}")
                base[i] += v
        frame.x_axis(time_ticks(frame.x_max), "crawl time", fmt_clock, grid=False)
        return section("Activity", figure(svg, "", legend([(label, c, "") for _, label, c in names])))

    # --------------------------------------------------------------- gates

    def gates(self) -> str:
        j = self.j
        if not j.gates_opened:
            return ""
        parts = [self.gate_timeline()]
        rows = sorted(j.gate_table.items(), key=lambda kv: (-kv[1][0], kv[0]))
        body = []
        for (host, scope, outcome), (count, released, dropped, total, longest) in rows[:MAX_ROWS]:
            cls = "passed" if outcome == PASSED else "failed"
            body.append(f"<tr><td>{esc(host)}</td><td>{esc(scope)}</td>"
                        f'<td><span class="tag {cls}">{esc(outcome)}</span></td>'
                        f'<td class="n">{fmt_int(count)}</td><td class="n">{fmt_int(released)}</td>'
                        f'<td class="n">{fmt_int(dropped)}</td><td class="n">{esc(fmt_secs(total / count))}</td>'
                        f'<td class="n">{esc(fmt_secs(longest))}</td></tr>')
        for opened, host, scope, _, _ in list(j.open_gates.values())[:MAX_ROWS]:
            body.append(f"<tr><td>{esc(host)}</td><td>{esc(scope)}</td><td><span class=\"tag\">open at the end"
                        f'</span></td><td class="n">1</td><td class="n">–</td><td class="n">–</td>'
                        f'<td class="n">{esc(fmt_secs(self.end - opened))}</td><td class="n">–</td></tr>')
        more = len(rows) - MAX_ROWS
        foot = f'<p class="note">{more} more rows not shown.</p>' if more > 0 else ""
        parts.append("<table><thead><tr><th>host</th><th>scope</th><th>outcome</th><th class=\"n\">gates</th>"
                     "<th class=\"n\">requests released</th><th class=\"n\">dropped</th><th class=\"n\">mean open</th>"
                     f"<th class=\"n\">longest</th></tr></thead><tbody>{''.join(body)}</tbody></table>{foot}")
        return section("Gates", "".join(parts),
                       "A gate is one challenge being passed and the requests waiting for it. Scope: session = the "
                       "whole host waited for one solve; page = only that URL; request = the spider asked for it.")

    def gate_timeline(self) -> str:
        j = self.j
        kept = [(g[0], g[1], g[3], g[5], g[2], g[8], g[6], g[7]) for g in j.gates]
        kept += [(g[0], self.end, g[2], "", g[1], g[4], 0, 0) for g in list(j.open_gates.values())[: j.max_events]]
        lanes = [s for s in ("session", "page", "request") if any(g[2] == s for g in kept)]
        max_rows = 10
        packed: dict[str, list[list[tuple[Any, ...]]]] = {}
        for scope in lanes:
            rows: list[list[tuple[Any, ...]]] = []
            ends: list[float] = []
            for gate in sorted((g for g in kept if g[2] == scope), key=lambda g: g[0]):
                # First fit, with a small gap so neighbouring bars stay apart.
                slot = next((i for i, e in enumerate(ends) if e <= gate[0] - self.end * 0.004), None)
                if slot is None:
                    if len(rows) < max_rows:
                        rows.append([])
                        ends.append(0.0)
                    slot = min(range(len(ends)), key=ends.__getitem__)
                rows[slot].append(gate)
                ends[slot] = max(ends[slot], gate[1])
            packed[scope] = rows
        bar_h = 9.0
        heights = {s: max(1, len(r)) * (bar_h + 3) + 10 for s, r in packed.items()}
        svg = Svg(self.uid(), 20 + sum(heights.values()) + 50, "Gate timeline by scope",
                  f"{fmt_int(len(kept))} gates drawn of {fmt_int(j.gates_opened)}: "
                  + ", ".join(f"{len([g for g in kept if g[2] == s])} {s}" for s in lanes)
                  + f"; {len([g for g in kept if g[3] not in (PASSED, '')])} not passed.")
        svg.defs.append(f'<pattern id="{svg.uid}-open" width="6" height="6" patternUnits="userSpaceOnUse" '
                        f'patternTransform="rotate(45)"><rect width="3" height="6" fill="#0072B2" '
                        f'fill-opacity="0.55"/></pattern>')
        frame = Frame(svg, 110, 14, 24, 48, self.end, 1)
        frame.bottom = svg.height - 48
        y = 16.0
        failed_codes: set[str] = set()
        for scope in lanes:
            h = heights[scope]
            svg.add(f'<rect x="{frame.left:.1f}" y="{y:.1f}" width="{frame.right - frame.left:.1f}" '
                    f'height="{h - 4:.1f}" fill="#f6f7f9"/>')
            svg.text(frame.left - 10, y + h / 2 + 2, scope, cls="lbl", anchor="end")
            for r, row in enumerate(packed[scope]):
                by = y + 5 + r * (bar_h + 3)
                for opened, closed, _, outcome, host, path, released, dropped in row:
                    x0 = frame.x(opened)
                    w = max(2.0, frame.x(closed) - x0)
                    if outcome == "":
                        fill, what = f"url(#{svg.uid}-open)", "still open at the end"
                    elif outcome == PASSED:
                        fill, what = GOOD, "passed"
                    else:
                        fill, what = BAD, f"failed: {outcome}"
                        failed_codes.add(outcome)
                    scopes = path.replace(">", " → ")
                    tip = (f"{host} ({scopes}), {fmt_clock(opened)}–{fmt_clock(closed)}: {what}; "
                           f"{released} released, {dropped} dropped")
                    svg.rect(x0, by, w, bar_h, fill, tip, ' rx="1.5"')
            y += h
        frame.x_axis(time_ticks(self.end), "crawl time", fmt_clock, grid=False)
        codes = f" ({', '.join(sorted(failed_codes)[:4])})" if failed_codes else ""
        items = [("passed", GOOD, ""), ("failed" + codes, BAD, "")]
        if j.open_gates:
            items.append(("open when the report was made", "#0072B2", "hatch"))
        note = ""
        if j.gates_closed > len(j.gates):
            note = (f"The first {fmt_int(len(j.gates))} of {fmt_int(j.gates_closed)} closed gates are drawn; "
                    "the table counts all.")
        return figure(svg, note, legend(items))

    # --------------------------------------------------------------- drops

    def drops(self) -> str:
        j = self.j
        if not j.dropped and not j.rescheduled:
            return ""
        parts = []
        if j.dropped:
            parts.append("<h3>Dropped, by reason</h3>")
            parts.append(self.bars(j.dropped, "Requests dropped, by reason", "requests dropped", BAD))
        if j.rescheduled:
            parts.append("<h3>Rescheduled, by code</h3>")
            parts.append(self.bars(j.rescheduled, "Requests rescheduled, by code", "requests rescheduled", "#56B4E9"))
        return section("Drops and reschedules", "".join(parts),
                       "A dropped request reached its errback with CaptchaDropped; a rescheduled one went back to "
                       "the scheduler to fetch a fresh page.")

    def bars(self, counts: dict[str, int], title: str, axis: str, color: str) -> str:
        rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(rows) > MAX_BARS:
            rows = rows[: MAX_BARS - 1] + [(f"{len(rows) - MAX_BARS + 1} other codes",
                                            sum(n for _, n in rows[MAX_BARS - 1:]))]
        total = sum(counts.values())
        row_h = 26
        svg = Svg(self.uid(), 24 + len(rows) * row_h + 48, title,
                  f"{fmt_int(total)} in all: " + ", ".join(f"{k} {n}" for k, n in rows))
        values, top = ticks(max(n for _, n in rows) * 1.12, 6, whole=True)
        frame = Frame(svg, 280, 12, 40, 48, top, 1)
        frame.bottom = 12 + len(rows) * row_h
        frame.x_axis(values, axis)
        for i, (code, n) in enumerate(rows):
            y = 12 + i * row_h
            svg.text(272, y + row_h / 2 + 4, clip(code, 40), cls="lbl", anchor="end")
            svg.rect(frame.left, y + 4, frame.x(n) - frame.left, row_h - 8, color,
                     f"{code}: {n} ({n / total:.0%})", ' rx="2"')
            svg.text(frame.x(n) + 6, y + row_h / 2 + 4, f"{fmt_int(n)} ({n / total:.0%})", cls="val")
        return figure(svg)

    # ----------------------------------------------------------- providers

    def providers(self) -> str:
        j = self.j
        names = list(dict.fromkeys([*j.provider_log, *j.solve_time_by_provider, *(p for p, _ in j.failed),
                                    *(f[1] for f in j.failovers), *(f[2] for f in j.failovers)]))
        if not names:
            return ""
        lane_h = 42
        spent = j.time_in_states(self.end)
        desc = "; ".join(
            f"{p}: " + ", ".join(f"{STATE_LABELS.get(s, s)} {fmt_secs(v)}" for s, v in spent.get(p, {}).items() if v)
            for p in names) or "no state change recorded"
        svg = Svg(self.uid(), 18 + len(names) * lane_h + 50, "Provider timeline: state of each solving service",
                  desc + f"; {fmt_int(sum(j.failover_count.values()))} failovers.")
        svg.defs.append(f'<pattern id="{svg.uid}-many" width="6" height="6" patternUnits="userSpaceOnUse" '
                        f'patternTransform="rotate(45)"><rect width="3" height="6" fill="#999"/></pattern>')
        frame = Frame(svg, 130, 14, 90, 48, self.end, 1)
        frame.bottom = 14 + len(names) * lane_h
        frame.x_axis(time_ticks(self.end), "crawl time", fmt_clock, grid=False)
        used: dict[str, bool] = {}
        for i, provider in enumerate(names):
            y = 16 + i * lane_h
            h = lane_h - 12
            svg.text(frame.left - 10, y + h / 2 + 4, clip(provider, 16), cls="lbl", anchor="end")
            svg.add(f'<rect x="{frame.left:.1f}" y="{y:.1f}" width="{frame.right - frame.left:.1f}" height="{h}" '
                    f'fill="#f1f2f4"><title>{esc(provider)}: no state known</title></rect>')
            log = j.provider_log.get(provider) or [[0.0, "ok", "", "no state change recorded"]]
            segments = [(t, state, code, detail, log[k + 1][0] if k + 1 < len(log) else None)
                        for k, (t, state, code, detail) in enumerate(log)]
            now = j.provider_now.get(provider)
            if now is not None and len(log) >= j.max_events and now[0] > log[-1][0]:
                # The journal stopped keeping this lane's changes: what happened between
                # the last one kept and the current state is hatched.
                last = segments.pop()
                x0 = frame.x(last[0])
                svg.rect(x0, y, max(1.0, frame.x(now[0]) - x0), h, f"url(#{svg.uid}-many)",
                         f"{provider}: more state changes than the journal keeps")
                used["many"] = True
                segments.append((now[0], now[1], now[2], "current state", None))
            for t, state, code, detail, until in segments:
                end = self.end if until is None else until
                label = STATE_LABELS.get(state, state) + (f": {code}" if code else "")
                tip = f"{provider} {label} from {fmt_clock(t)} to {fmt_clock(end)}" + (f" ({detail})" if detail else "")
                x0 = frame.x(t)
                svg.rect(x0, y, max(1.5, frame.x(end) - x0), h, STATE_COLORS.get(state, MUTED), tip)
                used[state] = True
                room = (frame.x(end) - x0 - 10) / 6.8  # characters that fit in the segment
                shown = label if len(label) <= room else STATE_LABELS.get(state, state) if state != "ok" else ""
                if state != "ok" and len(shown) <= room:
                    svg.text(x0 + 5, y + h / 2 + 4, shown, cls="val",
                             extra=' style="fill:#fff"' if state in ("paused", "circuit_open") else "")
            for t, source, target, code in j.failovers:
                if source != provider:
                    continue
                x = frame.x(t)
                svg.add(f'<path d="M{x - 4:.1f} {y - 2:.1f}h8l-4 7z" fill="{FAILOVER_COLOR}" stroke="#fff" '
                        f'stroke-width="0.6"><title>{esc(f"{fmt_clock(t)}: task handed to {target} ({code})")}'
                        f"</title></path>", mark=True)
                used["failover"] = True
            balance = j.balances.get(provider)
            if balance is not None:
                svg.text(frame.right + 6, y + h / 2 + 4, f"bal. {fmt_money(balance[1])}", cls="val")
        items = [(STATE_LABELS[s], STATE_COLORS[s], "") for s in STATE_COLORS if s in used]
        if "failover" in used:
            items.append(("failover: a task handed to the next provider (▼)", FAILOVER_COLOR, ""))
        if "many" in used:
            items.append((f"{fmt_int(j.provider_changes_unkept)} further changes, not drawn one by one", "#999",
                          "hatch"))
        body = figure(svg, "", legend(items))
        changes = sorted(((t, p, state, code, detail) for p, log in j.provider_log.items()
                          for t, state, code, detail in log), key=lambda c: c[0])
        changes = [c for c in changes if not (c[2] == "ok" and c[0] == 0.0)]
        if changes:
            rows = "".join(
                f"<tr><td class=\"n\">{esc(fmt_clock(t))}</td><td>{esc(p)}</td>"
                f"<td>{esc(STATE_LABELS.get(state, state))}</td><td>{esc(code)}</td><td>{esc(detail)}</td></tr>"
                for t, p, state, code, detail in changes[:MAX_ROWS])
            more = len(changes) - MAX_ROWS
            body += ("<table><thead><tr><th class=\"n\">at</th><th>provider</th><th>state</th><th>code</th>"
                     f"<th>detail</th></tr></thead><tbody>{rows}</tbody></table>"
                     + (f'<p class="note">{more} more changes not listed.</p>' if more > 0 else ""))
        if j.failover_count:
            rows = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td>"
                           f"<td class=\"n\">{fmt_int(n)}</td></tr>"
                           for (a, b, c), n in sorted(j.failover_count.items(), key=lambda kv: -kv[1])[:MAX_ROWS])
            body += ("<table><thead><tr><th>from</th><th>to</th><th>why</th><th class=\"n\">tasks</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
        return section("Providers", body, "Each lane is one solving service: when it worked, was paused by an "
                                          "account condition, cooled down, or was out of rotation.")

    # ----------------------------------------------------------------- page

    def render(self) -> str:
        j = self.j
        if j.is_empty():
            body = (f"{self.header()}<section class=\"empty\"><p class=\"big\">No captcha was met during this "
                    "crawl.</p><p class=\"note\">Nothing was solved, paid for, held back or dropped.</p></section>")
        else:
            body = "".join([self.header(), self.cards(), self.solves(), self.spend(), self.activity(), self.gates(),
                            self.drops(), self.providers()])
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"scrapy-captcha\"><title>{esc(self.title)}</title>"
            f"<style>{CSS}</style></head><body><main>{body}"
            f"<footer>Made by scrapy-captcha from its crawl journal. Times are seconds since the crawl started. "
            f"Distributions are binned; long crawls keep samples (see the notes under each chart).</footer>"
            "</main></body></html>\n"
        )


def section(title: str, body: str, note: str = "") -> str:
    intro = f'<p class="note">{esc(note)}</p>' if note else ""
    return f"<section><h2>{esc(title)}</h2>{intro}{body}</section>"


def as_steps(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A cumulative series drawn as steps: each value holds until the next is reached."""
    steps: list[tuple[float, float]] = []
    for t, v in points:
        if steps:
            steps.append((t, steps[-1][1]))
        steps.append((t, v))
    return steps


def polyline(frame: Frame, points: Sequence[tuple[float, float]], color: str, width: float, tip: str) -> str:
    pts = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in as_steps(points))
    return (f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{width:g}" '
            f'stroke-linejoin="round" stroke-linecap="round"><title>{esc(tip)}</title></polyline>')


# ---------------------------------------------------------------- data shaping


def merged(dists: Iterable[Distribution]) -> Distribution:
    out = Distribution()
    for d in dists:
        out.count += d.count
        out.total += d.total
        out.low = min(out.low, d.low)
        out.high = max(out.high, d.high)
        for i, n in d.bins.items():
            out.bins[i] = out.bins.get(i, 0) + n
    return out


def spread(dist: Distribution, step: float, n_bins: int) -> list[float]:
    """The distribution's counts re-binned to ``n_bins`` bins of ``step`` s (the last one open)."""
    out = [0.0] * n_bins
    for i, n in dist.bins.items():
        lo, hi = dist.bin_range(i)
        if i >= len(BIN_EDGES) or hi <= lo:
            out[min(n_bins - 1, int(lo / step))] += n
            continue
        # Spread evenly over the bin's width: the fine bins below 10 s make this nearly exact.
        first, last = int(lo / step), int(hi / step - 1e-9)
        for b in range(first, last + 1):
            overlap = min(hi, (b + 1) * step) - max(lo, b * step)
            if overlap > 0:
                out[min(b, n_bins - 1)] += n * overlap / (hi - lo)
    return out


def cumulative(values: list[float], width: float, end: float) -> list[tuple[float, float]]:
    points, running = [], 0.0
    for i, v in enumerate(values):
        if v:
            running += v
            points.append((min((i + 1) * width, end), running))
    return points


def value_at(points: list[tuple[float, float]], t: float) -> float:
    value = 0.0
    for pt, v in points:
        if pt > t:
            break
        value = v
    return value


def rebucket(values: list[float], merge: int) -> list[float]:
    return [sum(values[i:i + merge]) for i in range(0, len(values), merge)]


# --------------------------------------------------------------------- API


def render(journal: Journal, *, title: str = "Captcha report", now: float | None = None) -> str:
    """One self-contained HTML page for ``journal``.

    ``now``: the crawl time (seconds since its start) the report is drawn at:
    the end of every time axis; gates still open and providers' current states
    run up to it. Default: the journal's clock (for a journal loaded from JSON,
    the time it was saved).
    """
    end = journal.now() if now is None else float(now)
    return _Page(journal, title, end).render()


def write(journal: Journal, path: str | os.PathLike[str], *, title: str = "Captcha report",
          now: float | None = None) -> Path:
    """Render ``journal`` into ``path`` (replaced atomically: never a half-written report)."""
    target = Path(path)
    page = render(journal, title=title, now=now)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
