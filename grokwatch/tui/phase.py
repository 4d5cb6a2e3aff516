"""The phase diagram: for an experiment swept over two keys, a grid of cells (one per pair of swept
values) coloured by a run summary — generalisation step, grokking delay, phase, final or best test
error, memorisation step — with seeds averaged.

Pure Python, no Textual: the chart's thread worker calls `phase_chart`, which hands back ANSI text
like every chart. Summaries of finished runs come from grokwatch/summaries.py (the detectors'
own criteria), computed once per run and kept in the panel's cache; a build computes only as many
as fit in a time budget and asks to be built again for the rest, so the view fills in live.

A cell shows, in order of precedence: the summary of the seeds that finished (their mean; a phase:
the most common one), the progress of seeds still going (a bar), or how they ended (failed…).
"Never" (never generalised, never memorised) is its own mark, never the slow end of the scale.
Without colour (`NO_COLOR`) the scale is drawn with shade characters, ░▒▓█.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text

from . import fmt
from .chartout import ChartCache, ChartOut
from ..sweeps import log_spaced
from .view import PHASE_VALUES, View, sweep_keys

SUMMARY_BUDGET_S = 0.4  # per build: summaries of newly finished runs computed in this long at most
ACTIVE = ("queued", "starting", "running", "requeued", "live")

# what the diagram can show (view.PHASE_VALUES, in the order `v` cycles them): label, kind
LABELS: dict[str, tuple[str, str]] = {
    "generalization_step": ("generalisation step", "step"),
    "grokking_delay": ("grokking delay", "step"),
    "phase": ("phase", "phase"),
    "final_test_error": ("final test error", "error"),
    "best_test_error": ("best test error", "error"),
    "memorization_step": ("memorisation step", "step"),
}
NEVER = {"generalization_step": "never generalised", "grokking_delay": "never generalised",
         "memorization_step": "never memorised"}

# a sequential scale, low (fast, low error) to high: dark blue → teal → green → yellow
SCALE = [(48, 18, 110), (59, 82, 139), (33, 145, 140), (94, 201, 98), (180, 222, 44), (253, 231, 37)]
SHADES = "░▒▓█"
PHASE_STYLE = {"comprehension": ((94, 201, 98), "█", "comp"), "grokking": ((255, 135, 0), "▓", "grok"),
               "memorization": ((59, 82, 139), "▒", "mem"), "confusion": ((90, 90, 90), "░", "conf")}
NEVER_RGB = (150, 40, 60)
TEXT_DARK, TEXT_LIGHT = (15, 15, 15), (235, 235, 235)


@dataclass
class Cell:
    x: Any
    y: Any
    runs: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)  # the summary value of each finished seed (None: never)
    active: list[float] = field(default_factory=list)  # progress of seeds still going
    ended: list[str] = field(default_factory=list)  # states of seeds that ended without finishing

    @property
    def numbers(self) -> list[float]:
        return [v for v in self.values if isinstance(v, (int, float))]


def _sorted(vals: set) -> list:
    try:
        return sorted(vals, key=float)
    except (TypeError, ValueError):
        return sorted(vals, key=str)


def fixed_choices(runs: list[Any], experiment: str, axes: tuple[str, str]) -> tuple[list[str], list[tuple]]:
    """The swept keys other than the axes, and every combination of their values (sorted)."""
    keys = [k for k in sweep_keys(runs, experiment) if k not in axes]
    combos = {tuple(repr(r.sweep.get(k)) for k in keys) for r in runs
              if r.experiment == experiment and all(a in r.sweep for a in axes)}
    return keys, sorted(combos)


def axes_of(runs: list[Any], experiment: str) -> tuple[str, str] | None:
    keys = sweep_keys(runs, experiment)
    return (keys[0], keys[1]) if len(keys) >= 2 else None


def _summary(run: Any, cache: dict, deadline: float) -> Any:
    """The run's summary (grokwatch.summaries), computed once per finished run; None when the
    budget is spent (it comes on a later build)."""
    sig = (run.state, run.summary.rows, run.latest.get("step"))
    got = cache.get(run.key)
    if got is not None and got[0] == sig:
        return got[1]
    if time.monotonic() > deadline:
        return None
    from ..runs import read_all_metrics
    from ..summaries import summarize_rows

    s = summarize_rows(read_all_metrics(run.csv), run.info)
    cache[run.key] = (sig, s)
    return s


def cells_for(runs: list[Any], experiment: str, axes: tuple[str, str], fixed: tuple, value: str,
              cache: dict, budget_s: float = SUMMARY_BUDGET_S) -> tuple[dict, list, list, int]:
    """(cells by (x, y), x values, y values, summaries still to compute)."""
    xk, yk = axes
    others, _ = fixed_choices(runs, experiment, axes)
    deadline = time.monotonic() + budget_s
    cells: dict[tuple, Cell] = {}
    xs, ys = set(), set()
    pending = 0
    for r in runs:
        if r.experiment != experiment or xk not in r.sweep or yk not in r.sweep:
            continue
        if fixed and tuple(repr(r.sweep.get(k)) for k in others) != fixed:
            continue
        x, y = r.sweep[xk], r.sweep[yk]
        xs.add(x)
        ys.add(y)
        c = cells.setdefault((x, y), Cell(x, y))
        c.runs.append(r)
        state = r.state
        if state == "done":
            s = _summary(r, cache, deadline)
            if s is None:
                pending += 1
                c.active.append(1.0)
                continue
            c.values.append(s.phase if value == "phase" else s.values().get(value))
        elif state in ACTIVE:
            step, total = r.step, r.total
            c.active.append(min(1.0, step / total) if step and total else 0.0)
        else:
            c.ended.append(state)
    return cells, _sorted(xs), _sorted(ys), pending


def _mean(vals: list[float], kind: str) -> float:
    if kind == "step" and all(v > 0 for v in vals):
        return math.exp(sum(math.log(v) for v in vals) / len(vals))  # steps: geometric mean
    return sum(vals) / len(vals)


def cell_value(c: Cell, kind: str) -> Any:
    """What the cell shows: a number, a phase name, "never", or None (nothing finished)."""
    if not c.values:
        return None
    if kind == "phase":
        counts: dict[str, int] = {}
        for v in c.values:
            counts[v] = counts.get(v, 0) + 1
        return max(counts, key=lambda p: (counts[p], -list(PHASE_STYLE).index(p) if p in PHASE_STYLE else 0))
    nums = c.numbers
    if not nums:
        return "never"
    return _mean(nums, kind)


def _scale_pos(v: float, lo: float, hi: float, kind: str) -> float:
    if hi <= lo:
        return 0.5
    if kind == "step" and lo > 0:
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (v - lo) / (hi - lo)


def _rgb(t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)
    f = t - i
    a, b = SCALE[i], SCALE[i + 1]
    return (int(a[0] + (b[0] - a[0]) * f), int(a[1] + (b[1] - a[1]) * f), int(a[2] + (b[2] - a[2]) * f))


def _style(bg: tuple[int, int, int] | None, color: bool, bold: bool = False, dim: bool = False) -> Style:
    if not color or bg is None:
        return Style(bold=bold, dim=dim)
    lum = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    fg = TEXT_DARK if lum > 140 else TEXT_LIGHT
    return Style(bgcolor=f"rgb({bg[0]},{bg[1]},{bg[2]})", color=f"rgb({fg[0]},{fg[1]},{fg[2]})",
                 bold=bold, dim=dim)


def _fmt(v: Any, kind: str) -> str:
    if isinstance(v, str):
        return PHASE_STYLE[v][2] if v in PHASE_STYLE else v
    if kind == "step":
        return fmt.step(round(v))
    return fmt.num(v, 2)


@dataclass
class Look:
    """How one cell is drawn: its fill (two lines: a band and a label) and its style."""

    band: str  # one character repeated over the band
    label: str
    bg: tuple[int, int, int] | None
    dim: bool = False


def look(c: Cell, kind: str, lo: float, hi: float, color: bool) -> Look:
    v = cell_value(c, kind)
    running = len(c.active)
    more = "…" if running and v is not None else ""
    if v is None:
        if c.active:
            frac = sum(c.active) / len(c.active)
            return Look("", f"{frac * 100:.0f}%", None, dim=True)  # band: a progress bar
        if c.ended:
            return Look("·", c.ended[0][:6], None, dim=True)
        return Look(" ", "", None, dim=True)
    if v == "never":
        return Look("╳", "never" + more, NEVER_RGB)
    if kind == "phase":
        rgb, shade, name = PHASE_STYLE.get(v, ((90, 90, 90), "░", str(v)[:4]))
        return Look(shade if not color else " ", name + more, rgb)
    t = _scale_pos(v, lo, hi, kind)
    shade = SHADES[min(len(SHADES) - 1, int(t * len(SHADES)))]
    partial = "*" if len(c.numbers) < len(c.values) else ""  # some seeds never got there
    return Look(shade if not color else " ", _fmt(v, kind) + partial + more, _rgb(t))


def detail_line(c: Cell | None, axes: tuple[str, str], value: str, label: str, kind: str) -> str:
    """The highlighted run's cell in words: its value, the spread over seeds, what is missing."""
    if c is None:
        return "highlight a run of this experiment to read its cell"
    where = f"{axes[0]}={fmt_value(c.x)}, {axes[1]}={fmt_value(c.y)}"
    n = len(c.runs)
    parts = [where + ":"]
    v = cell_value(c, kind)
    nums = c.numbers
    if v is None:
        parts.append("no seed finished yet")
    elif kind == "phase":
        counts: dict[str, int] = {}
        for p in c.values:
            counts[p] = counts.get(p, 0) + 1
        parts.append(", ".join(f"{p} ×{k}" for p, k in sorted(counts.items(), key=lambda kv: -kv[1])))
    elif v == "never":
        parts.append(NEVER.get(value, "never"))
    else:
        mean = "geometric mean" if kind == "step" else "mean"
        parts.append(f"{label} {_fmt(v, kind)}")
        if len(nums) > 1:
            parts.append(f"({mean} of {len(nums)} seeds, min–max {_fmt(min(nums), kind)}–{_fmt(max(nums), kind)})")
        never = len(c.values) - len(nums)
        if never:
            parts.append(f"· {never} seed(s) {NEVER.get(value, 'never')}")
    if c.active:
        parts.append(f"· {len(c.active)} of {n} still going")
    if c.ended:
        parts.append(f"· {len(c.ended)} {'/'.join(sorted(set(c.ended)))}")
    return " ".join(parts)


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def phase_chart(runs: list[Any], current: Any, view: View, width: int, height: int, color: bool = True,
                cache: ChartCache | None = None, budget_s: float = SUMMARY_BUDGET_S) -> ChartOut:
    experiment = current.experiment
    axes = axes_of(runs, experiment)
    if axes is None:
        n = len(sweep_keys(runs, experiment))
        return ChartOut("", [], f"{experiment} · phase diagram",
                        note=f"{experiment} sweeps {n} key(s): a phase diagram needs two")
    value = view.phase_value if view.phase_value in PHASE_VALUES else PHASE_VALUES[0]
    label, kind = LABELS[value]
    others, combos = fixed_choices(runs, experiment, axes)
    fixed = combos[view.phase_fix % len(combos)] if others and combos else ()
    store = cache.summaries if cache is not None else {}
    cells, xs, ys, pending = cells_for(runs, experiment, axes, fixed, value, store, budget_s)
    title = f"{experiment} · phase diagram: {label} over {axes[0]} × {axes[1]}"
    if others:
        title += "  (" + ", ".join(f"{k}={v}" for k, v in zip(others, fixed)) + "; f: other values)"
    nums = [v for c in cells.values() for v in [cell_value(c, kind)] if isinstance(v, (int, float))]
    lo, hi = (min(nums), max(nums)) if nums else (0.0, 1.0)

    ylab = [fmt_value(y) for y in ys]
    margin = max([len(s) for s in ylab] + [len(axes[1]) + 2, 4]) + 1
    cw = max(4, min(10, (width - margin) // max(1, len(xs))))
    room = height - 4  # x labels, x title, legend
    ch = 2 if len(ys) * 2 <= room else 1
    cur_cell = None
    if current is not None and axes[0] in current.sweep and axes[1] in current.sweep:
        cur_cell = cells.get((current.sweep[axes[0]], current.sweep[axes[1]]))
    out = Text()
    out.append(f"{axes[1]}{' (log-spaced)' if log_spaced(ys) else ''}\n", style="bold")
    for yi in range(len(ys) - 1, -1, -1):  # largest value on top, as on a plot
        y = ys[yi]
        for line in range(ch):
            lab = ylab[yi] if line == ch - 1 else ""
            out.append(lab.rjust(margin - 1) + "│")
            for x in xs:
                c = cells.get((x, y))
                if c is None:
                    out.append(" " * cw)
                    continue
                lk = look(c, kind, lo, hi, color)
                is_cur = c is cur_cell
                text = _cell_text(c, lk, cw, line, ch)
                st = _style(lk.bg, color, bold=is_cur, dim=lk.dim)
                if is_cur:
                    st = st + Style(underline=True, reverse=not color)
                out.append(text, style=st)
            out.append("\n")
    out.append(" " * (margin - 1) + "└" + "─" * (cw * len(xs)) + "\n")
    xl = Text(" " * margin)
    for x in xs:
        xl.append(fmt_value(x)[:cw - 1].center(cw))
    out.append(xl)
    out.append("\n")
    xt = f"{axes[0]}{' (log-spaced)' if log_spaced(xs) else ''}"
    out.append(" " * margin + xt.center(cw * len(xs)) + "\n", style="bold")
    out.append(_legend(kind, lo, hi, color))
    ansi = _ansi(out, width, color)
    note = f"summarising {pending} finished run(s)…" if pending else ""
    detail = detail_line(cur_cell, axes, value, label, kind)
    return ChartOut(ansi, [(detail, None)], title, note=note, again=bool(pending))


def _cell_text(c: Cell, lk: Look, cw: int, line: int, ch: int) -> str:
    inner = cw - 1  # one column of gap between cells
    if ch == 2 and line == 0:
        if lk.band == "" and c.active:  # a progress bar
            return fmt.bar(sum(c.active) / len(c.active), inner) + " "
        return lk.band * inner + " "
    label = lk.label[:inner]
    if ch == 1 and lk.band not in ("", " "):
        return label.center(inner, lk.band) + " "
    return label.center(inner) + " "


def _legend(kind: str, lo: float, hi: float, color: bool) -> Text:
    t = Text()
    if kind == "phase":
        for name, (rgb, shade, _short) in PHASE_STYLE.items():
            t.append("  " if color else shade * 2, style=_style(rgb, color))
            t.append(f" {name}  ")
    else:
        t.append(_fmt(lo, kind) + " ")
        for k in range(len(SCALE) if color else len(SHADES)):
            if color:
                t.append("  ", style=_style(_rgb(k / (len(SCALE) - 1)), True))
            else:
                t.append(SHADES[k] * 2)
        t.append(" " + _fmt(hi, kind) + ("  (log scale)" if kind == "step" and lo > 0 else ""))
        t.append("   ")
        t.append(" never " if color else "╳╳ never", style=_style(NEVER_RGB, color))
    t.append("   ")
    t.append("██·· still running", style="dim")
    return t


def _ansi(text: Text, width: int, color: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=max(width, 20), color_system="truecolor" if color else "standard",
                      force_terminal=True, legacy_windows=False, no_color=not color, highlight=False)
    console.print(text, end="", overflow="crop", no_wrap=True, crop=True)
    return buf.getvalue()
