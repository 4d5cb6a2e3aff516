"""Chart building: summaries → per-column min/max → a plotext figure → ANSI text.

Pure functions with no Textual import: the chart widget calls them from a thread worker, and
they are cheap because plotext only ever sees one or two points per pixel column (never raw
series: plotext costs ~16 µs per point). Log axes are drawn as log10 values on a linear axis
with explicit tick labels (plotext's own log axis breaks on a second build).

A run that grows by a few rows a second mostly leaves its picture as it was (the new rows land
in the last pixel column, inside its min–max). The figure is therefore recorded first and built
only when some point would move by about half a braille dot or more (`ChartCache`): plotext's
build is what a live chart costs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fmt
from .chartout import ChartCache, ChartJob, ChartOut  # noqa: F401  (re-exported)
from .data.store import RunData
from .data.summary import Reduced
from .view import METRIC_CYCLE, METRIC_NAMES, View, auto_logx, sweep_keys  # noqa: F401

TRAIN = (95, 175, 255)
TEST = (255, 135, 0)
PALETTE = [(255, 135, 0), (95, 175, 255), (135, 215, 95), (215, 95, 215), (255, 215, 95),
           (95, 215, 215), (255, 95, 95), (175, 175, 255)]
EMA_BETA = 0.85


def dim(c: tuple[int, int, int], f: float = 0.42) -> tuple[int, int, int]:
    return (int(c[0] * f + 30 * (1 - f)), int(c[1] * f + 30 * (1 - f)), int(c[2] * f + 30 * (1 - f)))


def ema(y: np.ndarray, beta: float = EMA_BETA) -> np.ndarray:
    """Debiased exponential moving average (as Adam debiases its moments)."""
    out = np.empty_like(y)
    acc = 0.0
    w = 0.0
    for i, v in enumerate(y.tolist()):
        acc = beta * acc + (1 - beta) * v
        w = beta * w + (1 - beta)
        out[i] = acc / w
    return out


def _figure(width: int, height: int):
    from plotext._figure import _figure_class

    f = _figure_class()
    w, h = max(width, 20), max(height, 5)
    f.plotsize(w, h)
    f._set_size(w, h)  # outside a real terminal plotext clamps to 80x23 otherwise
    f.theme("clear")
    return f


_DRAW = ("plot", "scatter")


def _quantum(span: float, dots: int) -> float:
    """A power of two between a quarter and half of one braille dot over `span`."""
    if not math.isfinite(span) or span <= 0 or dots <= 0:
        return 1.0
    return 2.0 ** math.floor(math.log2(span / dots / 2))


class _Figure:
    """Stands in for a plotext figure: records the calls; `build()` replays them into a real
    figure only when the picture would change (else the cached text comes back)."""

    def __init__(self, width: int, height: int, cache: ChartCache | None) -> None:
        self.width, self.height, self.cache = width, height, cache
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        if name not in ("plot", "scatter", "xticks", "yticks", "xlim", "ylim", "vertical_line", "text"):
            raise AttributeError(name)

        def record(*args, **kw) -> None:
            self.calls.append((name, args, kw))

        return record

    def signature(self) -> bytes:
        """Every call, with coordinates rounded to a fraction of a dot (see `_quantum`)."""
        def span(axis: int, lim: str) -> float:
            set_ = [a for n, a, _ in self.calls if n == lim]
            if set_ and len(set_[-1]) >= 2:
                return float(set_[-1][1]) - float(set_[-1][0])
            vals = [np.asarray(a[axis], dtype=float) for n, a, _ in self.calls if n in _DRAW and len(a) > axis]
            vals = [v[np.isfinite(v)] for v in vals]
            vals = [v for v in vals if len(v)]
            return float(max(v.max() for v in vals) - min(v.min() for v in vals)) if vals else 1.0

        w, h = max(self.width, 20), max(self.height, 5)
        qx, qy = _quantum(span(0, "xlim"), w * 2), _quantum(span(1, "ylim"), h * 4)

        def q(values, quantum: float) -> bytes:
            a = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0, posinf=1e300, neginf=-1e300)
            return np.round(a / quantum).astype(np.int64).tobytes()

        hsh = hashlib.blake2b(repr((w, h)).encode(), digest_size=16)
        for name, args, kw in self.calls:
            hsh.update(f"|{name}|{sorted(kw.items())!r}|".encode())
            if name in _DRAW:
                hsh.update(q(args[0], qx) + b"/" + q(args[1], qy))
            elif name in ("xlim", "ylim"):
                hsh.update(q(list(args), qx if name == "xlim" else qy))
            elif name == "vertical_line":
                hsh.update(q([args[0]], qx))
            elif name == "text":
                hsh.update(repr(args[0]).encode() + q([args[1]], qx) + q([args[2]], qy))
            else:  # ticks: positions and labels
                hsh.update(q(args[0], qx if name == "xticks" else qy) + repr(args[1:]).encode())
        return hsh.digest()

    def build(self) -> str:
        sig = self.signature() if self.cache is not None else b""
        if self.cache is not None and sig == self.cache.sig:
            self.cache.hits += 1
            return self.cache.ansi
        f = _figure(self.width, self.height)
        for name, args, kw in self.calls:
            getattr(f, name)(*args, **kw)
        ansi = f.build()
        if self.cache is not None:
            self.cache.sig, self.cache.ansi = sig, ansi
        return ansi


def _ytransform(y: np.ndarray, logy: bool, floor: float) -> np.ndarray:
    if not logy:
        return y
    return np.log10(np.maximum(y, floor))


def _axis_labels(f, x0: float, x1: float, logx: bool, y0: float, y1: float, logy: bool) -> None:
    if logx:
        xt = fmt.ticks_log(x0, x1)
        f.xticks(xt, [fmt.step(10 ** v) for v in xt])
    else:
        xt = fmt.ticks_linear(x0, x1)
        f.xticks(xt, [fmt.step(v) for v in xt])
    f.xlim(x0, x1 if x1 > x0 else x0 + 1)
    if logy:
        yt = fmt.ticks_log(y0, y1)
        f.yticks(yt, [f"{10 ** v:.2g}" for v in yt])


def _draw(f, r: Reduced, color, marker: str, logy: bool, floor: float) -> None:
    """A reduced series as its per-column min/max envelope (every spike kept)."""
    if len(r) == 0:
        return
    lo = _ytransform(r.lo, logy, floor)
    hi = _ytransform(r.hi, logy, floor)
    same = np.isclose(lo, hi)
    xs = np.repeat(r.x, 2)
    ys = np.empty(len(r) * 2)
    ys[0::2], ys[1::2] = lo, hi
    keep = np.ones(len(xs), dtype=bool)
    keep[1::2] = ~same
    xs, ys = xs[keep], ys[keep]
    if len(xs) == 1:
        f.scatter(xs.tolist(), ys.tolist(), color=color, marker=marker)
    else:
        f.plot(xs.tolist(), ys.tolist(), color=color, marker=marker)


def _draw_mean(f, x: np.ndarray, y: np.ndarray, color, marker: str, logy: bool, floor: float) -> None:
    if len(x) == 0:
        return
    yy = _ytransform(y, logy, floor)
    if len(x) == 1:
        f.scatter(x.tolist(), yy.tolist(), color=color, marker=marker)
    else:
        f.plot(x.tolist(), yy.tolist(), color=color, marker=marker)


def _yrange(series: list[np.ndarray], logy: bool, metric: str, floor: float) -> tuple[float, float]:
    vals = [s for s in series if len(s)]
    if not vals:
        return (0.0, 1.0)
    allv = np.concatenate(vals)
    allv = allv[np.isfinite(allv)]
    if not len(allv):
        return (0.0, 1.0)
    if logy:
        t = np.log10(np.maximum(allv, floor))
        return float(t.min()), float(t.max())
    lo, hi = float(allv.min()), float(allv.max())
    if metric in ("error", "acc"):
        lo = min(lo, 0.0)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi + (hi - lo) * 0.02


def _floor(series: list[np.ndarray]) -> float:
    """The lowest value a log axis shows (sweeps.log_floor: values zero to machine precision sit
    at the floor instead of stretching the axis)."""
    from ..sweeps import ZERO_REL

    pos = [s[np.isfinite(s) & (s > 0)] for s in series if len(s)]
    pos = [p for p in pos if len(p)]
    if not pos:
        return 1e-6
    allp = np.concatenate(pos)
    real = allp[allp >= allp.max() * ZERO_REL]  # as sweeps.log_floor, vectorised
    return max(float(real.min()) * 0.5, 1e-12)


def _plot_dims(width: int) -> int:
    return max(10, (width - 8) * 2)  # braille: two dots per cell


def _snap_extent(x0: float, x1: float, dots: int) -> tuple[float, float]:
    """The right end rounded up to a fraction of a dot: a run that grows a little keeps its
    columns (and its picture) until it has grown by a visible amount."""
    q = _quantum(x1 - x0, dots)
    return x0, max(x1, math.ceil(x1 / q) * q)


def seed_group(run: RunData, all_runs: list[RunData]) -> list[RunData]:
    """The run and the runs that differ from it only in seed (itself first)."""
    from .data.groups import group_key

    g = group_key(run)
    return [run] + [r for r in all_runs if r is not run and r.key != run.key and group_key(r) == g]


def seed_band(runs: list[RunData], metric: str, logx: bool, ncols: int, x0: float, x1: float) -> Reduced:
    """Over seeds, per chart column: the mean of the seeds' curves (`mean`), and their min and
    max (`lo`, `hi`: the band). A column counts the seeds that reached it."""
    span = (x1 - x0) or 1.0
    means = np.full((len(runs), ncols), np.nan)
    xs = np.full((len(runs), ncols), np.nan)
    for i, r in enumerate(runs):
        red = r.summary.reduce(metric, logx, ncols, x0, x1)
        if not len(red):
            continue
        col = np.clip(((red.x - x0) / span * ncols).astype(np.int64), 0, ncols - 1)
        means[i, col] = red.mean
        xs[i, col] = red.x
    have = ~np.isnan(means).all(axis=0)
    if not have.any():
        e = np.zeros(0)
        return Reduced(e, e, e, e)
    m, x = means[:, have], xs[:, have]
    return Reduced(np.nanmean(x, axis=0), np.nanmin(m, axis=0), np.nanmax(m, axis=0), np.nanmean(m, axis=0))


def _band(f, b: Reduced, c, color: bool, logy: bool, floor: float, mk: str = "braille") -> None:
    """A seed band: the min–max envelope faint, the mean over seeds bright."""
    _draw(f, b, dim(c) if color else c, "braille" if color else "·", logy, floor)
    _draw_mean(f, b.x, b.mean, c, mk, logy, floor)


def group_chart(runs: list[RunData], view: View, width: int, height: int, color: bool = True,
                cache: ChartCache | None = None) -> ChartOut:
    """A seed group as one run: train and test, each the mean over seeds with a min–max band."""
    from .data.groups import group_label

    lead = runs[0]
    logx = auto_logx(lead) if view.logx is None else view.logx
    m = view.metric
    ncols = _plot_dims(width)
    x0, x1 = _snap_extent(0.0, max(r.summary.x_extent(logx)[1] for r in runs), ncols)
    bands = [seed_band(runs, f"{split}_{m}", logx, ncols, x0, x1) for split in ("train", "test")]
    title = f"{group_label(lead.key, len(runs))} · {METRIC_NAMES[m]} vs step · mean of {len(runs)} seeds"
    if not any(len(b) for b in bands):
        return ChartOut("", [], title, note=f"no {METRIC_NAMES[m]} values yet", logx=logx)
    floor = _floor([b.lo for b in bands])
    f = _Figure(width, height, cache)
    colors = (TRAIN, TEST) if color else ("default", "default")
    for b, c, mk in zip(bands, colors, ("braille", "braille") if color else ("•", "braille")):
        _band(f, b, c, color, view.logy, floor, mk)
    y0, y1 = _yrange([b.lo for b in bands] + [b.hi for b in bands], view.logy, m, floor)
    _axis_labels(f, x0, x1, logx, y0, y1, view.logy)
    if not view.logy:
        f.ylim(y0, y1)
    legend = [(f"train {METRIC_NAMES[m]}", TRAIN if color else None),
              (f"test {METRIC_NAMES[m]}", TEST if color else None),
              ("line: mean over seeds, band: min–max", None)]
    if not color:
        legend = [("• train " + METRIC_NAMES[m], None), ("⣿ test " + METRIC_NAMES[m], None),
                  ("line: mean over seeds, ·: min–max", None)]
    return ChartOut(f.build(), legend, title, logx=logx, logy=bool(view.logy))


MEM_RGB, GEN_RGB = (95, 175, 255), (135, 215, 95)
SEVERITY_RGB = {"alarm": (255, 95, 95), "hint": (255, 215, 95), "milestone": GEN_RGB}


@dataclass
class Marker:
    step: float
    label: str
    rgb: tuple[int, int, int]


def chart_markers(run: RunData) -> list[Marker]:
    """Where the run memorised, each kind of alert first fired, and where it generalised — from
    the run's events (what the runner's detectors said; a plain CSV's own detectors)."""
    from ..detect import KINDS

    out: list[Marker] = []
    seen: set[str] = set()
    mem = None
    for ev in run.events:
        k = ev.get("kind")
        step = ev.get("step")
        if mem is None and isinstance(ev.get("memorized_at"), (int, float)):
            mem = float(ev["memorized_at"])
        if k in KINDS and k not in seen and isinstance(step, (int, float)):
            seen.add(k)
            kind = KINDS[k]
            out.append(Marker(float(step), kind.badge, SEVERITY_RGB.get(kind.severity, (200, 200, 200))))
    if mem is not None:
        out.insert(0, Marker(mem, "mem", MEM_RGB))
    return sorted(out, key=lambda m: m.step)


def _milestones(run: RunData) -> tuple[float | None, float | None]:
    mem = gen = None
    for ev in run.events:
        if mem is None and isinstance(ev.get("memorized_at"), (int, float)):
            mem = float(ev["memorized_at"])
        if gen is None and ev.get("kind") == "generalized" and isinstance(ev.get("step"), (int, float)):
            gen = float(ev["step"])
    return mem, gen


def _narrow(label: str) -> str:
    """The label without characters two cells wide (the badge's ⚡): plotext gives every
    character one cell, so a wide one would push the chart's right border onto the next line."""
    from rich.cells import cell_len

    return "".join(ch for ch in label if cell_len(ch) == 1) or "*"


def _draw_markers(f, marks: list[Marker], logx: bool, x0: float, x1: float, y0: float, y1: float,
                  logy: bool, color: bool) -> None:
    """A vertical line per marker, its label at the top. Labels are placed by the cells they
    cover: one that would run into a label already placed goes a row down (at least one text
    row, so it cannot land on the same one in a small chart); one that fits in no row is left
    out, its line kept."""
    span = (x1 - x0) or 1.0
    cells = max(10, f.width - 8)  # the plot's width in cells, as _plot_dims counts it
    rows = max(1, f.height - 3)  # text rows inside the frame (frame and x ticks off)
    step = max((y1 - y0) * 0.08, (y1 - y0) / max(1, rows - 1))
    taken: list[list[tuple[int, int]]] = [[] for _ in range(max(1, min(rows, int(1 / 0.08))))]
    for m in marks:
        x = math.log10(max(m.step, 1.0)) if logx else m.step
        if not (x0 <= x <= x1):
            continue
        c = m.rgb if color else "default"
        f.vertical_line(x, color=c)
        label = _narrow(m.label)
        start = round((x - x0) / span * cells)
        end = start + len(label) + 1  # a blank cell between neighbours
        row = next((r for r, used in enumerate(taken) if all(end <= a or start >= b for a, b in used)), None)
        if row is None:
            continue
        taken[row].append((start, end))
        f.text(label, x, y1 - row * step, color=c, alignment="left")


def run_chart(run: RunData, view: View, width: int, height: int, color: bool = True,
              cache: ChartCache | None = None) -> ChartOut:
    """Train and test curves of one run against step."""
    logx = auto_logx(run) if view.logx is None else view.logx
    m = view.metric
    names = (f"train_{m}", f"test_{m}")
    s = run.summary
    ncols = _plot_dims(width)
    x0, x1 = _snap_extent(*s.x_extent(logx), ncols)
    red = [s.reduce(n, logx, ncols, x0, x1) for n in names]
    title = f"{run.key} · {METRIC_NAMES[m]} vs step" + ("  (preview: loading all rows…)" if run.preview else "")
    present = [n for n, r in zip(names, red) if len(r)]
    if not present:
        return ChartOut("", [], title, note=f"no {METRIC_NAMES[m]} values yet", logx=logx)
    floor = _floor([r.lo for r in red])
    f = _Figure(width, height, cache)
    colors = (TRAIN, TEST) if color else ("default", "default")
    markers = ("braille", "braille") if color else ("•", "braille")
    for r, c, mk in zip(red, colors, markers):
        if view.smooth:
            if color:
                _draw(f, r, dim(c), "braille", view.logy, floor)
            else:
                _draw(f, r, c, "·", view.logy, floor)
            _draw_mean(f, r.x, ema(r.mean), c, mk, view.logy, floor)
        else:
            _draw(f, r, c, mk, view.logy, floor)
    y0, y1 = _yrange([r.lo for r in red] + [r.hi for r in red], view.logy, m, floor)
    _draw_markers(f, chart_markers(run), logx, x0, x1, y0, y1, view.logy, color)
    _axis_labels(f, x0, x1, logx, y0, y1, view.logy)
    if not view.logy:
        f.ylim(y0, y1)
    mem, gen = _milestones(run)
    if mem is not None and gen is not None:
        title += (f"  ·  memorised at {fmt.step(mem)}, generalised at {fmt.step(gen)}: "
                  f"grokking delay {fmt.step(gen - mem)} steps")
    legend = [(f"train {METRIC_NAMES[m]}", TRAIN if color else None),
              (f"test {METRIC_NAMES[m]}", TEST if color else None)]
    if not color:
        legend = [("• train " + METRIC_NAMES[m], None), ("⣿ test " + METRIC_NAMES[m], None)]
    return ChartOut(f.build(), legend, title, logx=logx, logy=bool(view.logy))


def compare_chart(runs: list[RunData], view: View, width: int, height: int, color: bool = True,
                  cache: ChartCache | None = None, all_runs: list[RunData] | None = None) -> ChartOut:
    """Several runs overlaid: test curves bright, train curves dim, one colour per run."""
    m = view.metric
    logx = (any(auto_logx(r) for r in runs)) if view.logx is None else view.logx
    ncols = _plot_dims(width)
    x0, x1 = _snap_extent(0.0, max((r.summary.x_extent(logx)[1] for r in runs), default=1.0), ncols)
    f = _Figure(width, height, cache)
    reds = []
    groups = [seed_group(r, all_runs) if view.seeds and all_runs else [r] for r in runs]
    if view.seeds:
        x1 = _snap_extent(0.0, max((g.summary.x_extent(logx)[1] for grp in groups for g in grp),
                                   default=1.0), ncols)[1]
    for grp in groups:
        if len(grp) > 1:
            reds.append((seed_band(grp, f"train_{m}", logx, ncols, x0, x1),
                         seed_band(grp, f"test_{m}", logx, ncols, x0, x1)))
            continue
        r = grp[0]
        reds.append((r.summary.reduce(f"train_{m}", logx, ncols, x0, x1),
                     r.summary.reduce(f"test_{m}", logx, ncols, x0, x1)))
    allseries = [x.lo for pair in reds for x in pair] + [x.hi for pair in reds for x in pair]
    floor = _floor(allseries)
    legend = []
    markers = ["braille", "•", "+", "x", "o", "*", "^", "#"]
    for k, (r, (tr, te)) in enumerate(zip(runs, reds)):
        c = PALETTE[k % len(PALETTE)] if color else "default"
        mk = "braille" if color else markers[k % len(markers)]
        if len(groups[k]) > 1:  # a seed group: its mean bright (test) or dim (train), the band faint
            from .data.groups import group_label

            _draw_mean(f, tr.x, tr.mean, dim(c) if color else c, mk, view.logy, floor)
            _band(f, te, c, color, view.logy, floor, mk)
            name = group_label(r.key, len(groups[k]))
            legend.append((name if color else f"{mk if mk != 'braille' else '⣿'} {name}", c if color else None))
            continue
        if view.smooth:
            _draw_mean(f, tr.x, ema(tr.mean), dim(c) if color else c, mk, view.logy, floor)
            _draw_mean(f, te.x, ema(te.mean), c, mk, view.logy, floor)
        else:
            _draw(f, tr, dim(c) if color else c, mk, view.logy, floor)
            _draw(f, te, c, mk, view.logy, floor)
        legend.append((r.key if color else f"{mk if mk != 'braille' else '⣿'} {r.key}",
                       c if color else None))
    if not any(len(x) for pair in reds for x in pair):
        return ChartOut("", legend, "compare", note=f"no {METRIC_NAMES[m]} values yet", logx=logx)
    y0, y1 = _yrange(allseries, view.logy, m, floor)
    _axis_labels(f, x0, x1, logx, y0, y1, view.logy)
    if not view.logy:
        f.ylim(y0, y1)
    title = f"compare {len(runs)} runs · {METRIC_NAMES[m]} vs step (bright: test, dim: train)"
    return ChartOut(f.build(), legend, title, logx=logx, logy=bool(view.logy))


# ----------------------------------------------------------------------------- sweep


def _final_or_best(r: RunData, name: str, best: bool) -> float | None:
    if best:
        from .data.summary import M_INDEX

        i = M_INDEX[name]
        v = r.summary.best_max[i] if name.endswith("_acc") else r.summary.best_min[i]
        if np.isfinite(v):
            return float(v)
        return None
    v = r.latest.get(name)
    if v is None and name.endswith("_acc"):
        e = r.latest.get(name.replace("_acc", "_error"))
        v = None if e is None else 1.0 - e
    return v


@dataclass
class SweepPoint:
    x: Any
    mean: float
    lo: float
    hi: float
    n: int


def sweep_points(runs: list[RunData], experiment: str, key: str, name: str,
                 best: bool) -> tuple[list[SweepPoint], int]:
    """One point per sweep value: the mean over seeds (and other swept keys) with min–max.
    Finished runs count; where a value has none finished yet, its running runs stand in."""
    groups: dict[Any, list[tuple[float, bool]]] = {}
    for r in runs:
        if r.experiment != experiment or key not in r.sweep:
            continue
        v = _final_or_best(r, name, best)
        if v is None or not math.isfinite(v):
            continue
        groups.setdefault(r.sweep[key], []).append((v, r.state == "done"))
    live = 0
    pts = []
    for x, vals in groups.items():
        done = [v for v, d in vals if d]
        use = done or [v for v, _ in vals]
        if not done:
            live += 1
        pts.append(SweepPoint(x, float(np.mean(use)), float(min(use)), float(max(use)), len(use)))
    try:
        pts.sort(key=lambda p: float(p.x))
    except (TypeError, ValueError):
        pts.sort(key=lambda p: str(p.x))
    return pts, live


def _numeric(xs: list[Any]) -> bool:
    try:
        [float(x) for x in xs]
    except (TypeError, ValueError):
        return False
    return not any(isinstance(x, bool) for x in xs)


def sweep_chart(runs: list[RunData], experiment: str, view: View, width: int, height: int,
                color: bool = True, cache: ChartCache | None = None) -> ChartOut:
    keys = sweep_keys(runs, experiment)
    if not keys:
        return ChartOut("", [], f"{experiment} · sweep", note=f"{experiment} has no swept parameter")
    key = view.sweep_key if view.sweep_key in keys else keys[0]
    m = view.metric
    ofexp = [r for r in runs if r.experiment == experiment]
    dd = bool(ofexp) and all(r.kind == "double_descent" for r in ofexp)
    logy = view.logy if view.logy is not None else dd  # a double-descent peak flattens a linear axis
    which = "best" if view.best else "final"
    data = {split: sweep_points(runs, experiment, key, f"{split}_{m}", view.best)
            for split in ("train", "test")}
    xs_all = [p.x for pts, _ in data.values() for p in pts]
    numeric = bool(xs_all) and _numeric(xs_all)
    positive = numeric and all(float(x) > 0 for x in xs_all)
    if view.logx is None:
        logx = positive and max(float(x) for x in xs_all) / min(float(x) for x in xs_all) >= 20
    else:
        logx = view.logx and positive
    title = f"{experiment} · {which} {METRIC_NAMES[m]} vs {key}" + (
        f"  (other keys: {', '.join(k for k in keys if k != key)}; w cycles)" if len(keys) > 1 else "")
    if not xs_all:
        return ChartOut("", [], title, note="no finished runs yet", logx=logx)
    cats = sorted({str(x) for x in xs_all}) if not numeric else []

    def xpos(x: Any) -> float:
        if not numeric:
            return float(cats.index(str(x)))
        return math.log10(float(x)) if logx else float(x)

    allv = [np.array([p.lo for pts, _ in data.values() for p in pts]),
            np.array([p.hi for pts, _ in data.values() for p in pts])]
    floor = _floor(allv)
    f = _Figure(width, height, cache)
    for split, base in (("train", TRAIN), ("test", TEST)):
        pts, _ = data[split]
        if not pts:
            continue
        c = base if color else "default"
        for p in pts:
            if p.hi > p.lo:
                _draw_mean(f, np.array([xpos(p.x)] * 2), np.array([p.lo, p.hi]),
                           dim(c) if color else c, "braille" if color else "│", logy, floor)
        _draw_mean(f, np.array([xpos(p.x) for p in pts]), np.array([p.mean for p in pts]), c,
                   "braille" if color else ("•" if split == "train" else "braille"), logy, floor)
        f.scatter([xpos(p.x) for p in pts], _ytransform(np.array([p.mean for p in pts]), logy,
                                                         floor).tolist(), color=c, marker="●")
    y0, y1 = _yrange(allv, logy, m, floor)
    xp = [xpos(x) for x in xs_all]
    lo, hi = min(xp), max(xp)
    pad = (hi - lo) * 0.04 or 0.5
    if numeric:
        ticks = sorted(set(xp))
        if len(ticks) > 12:
            ticks = fmt.ticks_log(lo, hi) if logx else fmt.ticks_linear(lo, hi)
        labels = [fmt.step(10 ** t) if logx else fmt.step(t) for t in ticks]
        f.xticks(ticks, labels)
    else:
        f.xticks(list(range(len(cats))), cats)
    f.xlim(lo - pad, hi + pad)
    threshold = _threshold(ofexp, key) if dd and numeric else None
    if threshold is not None and min(float(x) for x in xs_all) <= threshold[0] <= max(float(x) for x in xs_all):
        tx = xpos(threshold[0])
        c = (255, 95, 95) if color else "default"
        f.vertical_line(tx, color=c)
        f.text(f" {threshold[1]}", tx, y1, color=c, alignment="left")
    if logy:
        yt = fmt.ticks_log(y0, y1)
        f.yticks(yt, [f"{10 ** v:.2g}" for v in yt])
    else:
        f.ylim(y0, y1)
    live = max(data["train"][1], data["test"][1])
    note = f"{live} value(s) still running: their current values stand in" if live else ""
    n = max((p.n for pts, _ in data.values() for p in pts), default=0)
    legend = [(f"train {METRIC_NAMES[m]}", TRAIN if color else None),
              (f"test {METRIC_NAMES[m]}", TEST if color else None),
              (f"mean of ≤{n} run(s), bar: min–max", None)]
    if threshold is not None:
        legend.append((f"│ interpolation threshold {threshold[1]}", None))
    return ChartOut(f.build(), legend, title, note=note, logx=logx, logy=bool(logy))


def _threshold(runs: list[RunData], key: str) -> tuple[float, str] | None:
    from ..sweeps import interpolation_threshold

    return interpolation_threshold([r.info for r in runs], key)


# ----------------------------------------------------------------------------- the view modes' builders
# (named in view.MODES; each takes the ChartJob the panel hands its thread)


def draw_run(job: ChartJob) -> ChartOut:
    if job.view.seeds:
        group = seed_group(job.runs[0], job.all_runs)
        if len(group) > 1:
            return group_chart(group, job.view, job.width, job.height, job.color, job.cache)
    return run_chart(job.runs[0], job.view, job.width, job.height, job.color, job.cache)


def draw_compare(job: ChartJob) -> ChartOut:
    return compare_chart(job.runs, job.view, job.width, job.height, job.color, job.cache, job.all_runs)


def draw_sweep(job: ChartJob) -> ChartOut:
    return sweep_chart(job.all_runs, job.runs[0].experiment, job.view, job.width, job.height, job.color,
                       job.cache)


def draw_phase(job: ChartJob) -> ChartOut:
    from .phase import phase_chart

    return phase_chart(job.all_runs, job.runs[0], job.view, job.width, job.height, job.color, job.cache)
