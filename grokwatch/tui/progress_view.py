"""The progress view (view mode "progress", key P): the highlighted run's progress measures, each
on an axis of its own, beside its test accuracy, on the same step axis (log-x for grokking), so
that a circuit forming before the jump can be seen (Nanda et al. 2023: the restricted loss
falls, the excluded loss rises, the embedding's Fourier spectrum sparsens before test accuracy
moves). Lines mark where the run memorised, each alert kind first fired and where it generalised.

The measures are extra columns of the run's metrics.csv (the grokking kind logs them at
evaluation steps; a script can with `grokwatch.progress_stats`), which the dashboard's bounded
summaries do not hold: this module tails them from the file itself, in the chart's thread, a
chunk per build (a long file loads over a few builds, the chart says so), and keeps them per run.
A file whose header names none of them is read no further than its header.
"""

from __future__ import annotations

import math
import os
import threading
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .charts import (PALETTE, TEST, TRAIN, _axis_labels, _draw, _draw_markers, _Figure, _plot_dims,
                     _snap_extent, chart_markers, dim)
from .chartout import ChartCache, ChartJob, ChartOut
from .data.store import RunData
from .data.summary import reduce_columns
from .view import auto_logx

if TYPE_CHECKING:
    from ..tail import MetricsTail

# What the panels show, in the order they are stacked (the grokking kind's columns,
# experiments/progress.py COLUMNS, in the order Nanda et al. tell the story, then the weight norm).
MEASURES = ("restricted_loss", "excluded_loss", "fourier_sparsity", "softmax_collapse", "logit_scale",
            "weight_norm")
PROGRESS = MEASURES[:5]  # experiments/progress.py COLUMNS (a test keeps the two equal)
FOURIER = ("restricted_loss", "excluded_loss", "fourier_sparsity")
SHARES = ("softmax_collapse",)  # drawn on a 0–1 axis, as accuracy
CHUNK = 4 << 20  # bytes of CSV read per build
HEAD_BYTES = 4096  # read first, to see the header
MIN_PLOT_ROWS = 4  # a panel's plot area at least this high (plus its title line)
MIN_PANEL_WIDTH = 36


@dataclass
class _Series:
    """The measure columns of one run's CSV, as read so far."""

    tail: "MetricsTail"
    inode: int | None = None  # the file's, when `none` was decided
    steps: dict[str, array] = field(default_factory=dict)  # 8 bytes a value
    vals: dict[str, array] = field(default_factory=dict)
    none: bool = False  # the header names no progress measure: nothing more to read


_SERIES: dict[str, _Series] = {}
_LOCK = threading.Lock()


def _read(run: RunData) -> tuple[_Series, bool]:
    """The run's measures read so far, and whether more of the file is left to read."""
    from ..tail import MetricsTail

    key = str(run.csv)
    with _LOCK:
        s = _SERIES.get(key)
        if s is None:
            t = run.tail
            s = _SERIES[key] = _Series(MetricsTail(run.csv, getattr(t, "column_map", None),
                                                   getattr(t, "percent", None)))
        tail = s.tail
        if s.none:
            try:
                ino = os.stat(run.csv).st_ino
            except OSError:
                ino = None
            if ino == s.inode:
                return s, False
            s = _SERIES[key] = _Series(type(tail)(run.csv, tail.column_map, tail.percent))
            tail = s.tail
        rows = tail.read(CHUNK if tail.header else HEAD_BYTES)  # the header first, alone
        if tail.replaced:
            tail.replaced = False
            s.steps, s.vals, s.none = {}, {}, False
        header = tail.header or []  # canonical names
        if header and not any(m in header for m in PROGRESS):
            s.none = True
            try:
                s.inode = os.stat(run.csv).st_ino
            except OSError:
                s.inode = None
            return s, False
        if header and len(rows) < 64:
            rows += tail.read(CHUNK)
        for row in rows:
            step = row.get("step")
            if step is None:
                continue
            for m in MEASURES:
                v = row.get(m)
                if v is not None and math.isfinite(v):
                    s.steps.setdefault(m, array("d")).append(step)
                    s.vals.setdefault(m, array("d")).append(v)
        return s, tail.remaining() > 0


def forget(csv: str) -> None:
    """Drop what was read of one file (tests; a run removed from the store)."""
    with _LOCK:
        _SERIES.pop(csv, None)


def _grid(n: int, width: int, height: int) -> tuple[int, int, int]:
    """(columns, rows, panels shown) for n panels: the fewest columns that give every panel
    MIN_PLOT_ROWS of plot; as many panels as fit when none does."""
    for cols in (1, 2, 3):
        rows = math.ceil(n / cols)
        if width // cols < MIN_PANEL_WIDTH:
            break
        if height // rows - 1 >= MIN_PLOT_ROWS + 2:  # title line, plot, x tick line(s)
            return cols, rows, n
    cols = max(1, min(3, width // MIN_PANEL_WIDTH))
    rows = max(1, height // (MIN_PLOT_ROWS + 3))
    return cols, rows, min(n, cols * rows)


def _ansi_rgb(text: str, rgb, color: bool) -> str:
    if not color or rgb is None:
        return text
    return f"\x1b[1;38;2;{rgb[0]};{rgb[1]};{rgb[2]}m{text}\x1b[0m"


def _panel(name: str, xs: np.ndarray, ys: np.ndarray, rgb, logx: bool, x0: float, x1: float,
           width: int, height: int, color: bool, marks, cache: ChartCache | None,
           accuracy: bool = False, train: tuple[np.ndarray, np.ndarray] | None = None,
           labels: bool = False) -> list[str]:
    """One small chart: its title line (the name, the latest value) and its plot lines."""
    ncols = _plot_dims(width)
    f = _Figure(width, height - 1, cache)
    if train is not None and len(train[0]):
        tr = reduce_columns(train[0], train[1], train[1], train[1], np.ones(len(train[0])), ncols, x0, x1)
        _draw(f, tr, dim(TRAIN) if color else "default", "braille" if color else "·", False, 1e-12)
    red = reduce_columns(xs, ys, ys, ys, np.ones(len(xs)), ncols, x0, x1)
    _draw(f, red, rgb if color else "default", "braille", False, 1e-12)
    share = accuracy or name in SHARES
    lo, hi = (0.0, 1.0) if share else (float(ys.min()), float(ys.max()))
    if hi <= lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    pad = 0.0 if share else (hi - lo) * 0.05
    y0, y1 = lo - pad, hi + pad
    if labels:
        _draw_markers(f, marks, logx, x0, x1, y0, y1, False, color)
    else:
        for m in marks:
            x = math.log10(max(m.step, 1.0)) if logx else m.step
            if x0 <= x <= x1:
                f.vertical_line(x, color=m.rgb if color else "default")
    _axis_labels(f, x0, x1, logx, y0, y1, False)
    f.ylim(y0, y1)
    last = float(ys[-1])
    now = f"{last:.1%}" if share else f"{last:.4g}"
    label = f" {name}  now {now}" + ("  (dim: train)" if train is not None else "")
    lines = f.build().split("\n")
    return [_ansi_rgb(label.ljust(width)[:width], rgb, color)] + lines


def _pad(line: str, width: int) -> str:
    from rich.text import Text

    n = Text.from_ansi(line).cell_len
    return line + " " * max(0, width - n)


def _accuracy(s, split: str, logx: bool, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray]:
    """A split's accuracy from the run's summary (1 - error for a log of errors only)."""
    r = s.reduce(f"{split}_acc", logx, 4096, x0, x1)
    if len(r):
        return r.x, r.mean
    r = s.reduce(f"{split}_error", logx, 4096, x0, x1)
    return r.x, 1.0 - r.mean


def _xs(steps, logx: bool) -> np.ndarray:
    a = np.array(steps, dtype=np.float64)  # a copy: the array may grow in the next build
    return np.log10(np.maximum(a, 1.0)) if logx else a


def progress_chart(run: RunData, logx_view: bool | None, width: int, height: int, color: bool = True,
                   cache: ChartCache | None = None) -> ChartOut:
    """Test accuracy on top, then each progress measure the run logs on its own axis."""
    logx = auto_logx(run) if logx_view is None else logx_view
    title = f"{run.key} · progress measures vs step"
    series, more = _read(run)
    have = [m for m in MEASURES if series.vals.get(m)]
    if not any(m in have for m in PROGRESS):  # a weight norm alone is no progress measure
        if more:
            return ChartOut("", [], title, note="reading the progress measures…", logx=logx, again=True)
        return ChartOut("", [], title, logx=logx, note=(
            f"{run.key} logs no progress measures ({', '.join(PROGRESS)}): the grokking kind logs them "
            f"(progress_measures = true), a script of your own can with grokwatch.progress_stats "
            f"(docs/own-scripts.md)"))
    s = run.summary
    ncols = _plot_dims(width)
    top = max([s.x_extent(logx)[1]] + [float(_xs(series.steps[m], logx).max()) for m in have])
    x0, x1 = _snap_extent(0.0, top, ncols)
    panels: list[tuple] = []
    acc, tr = (_accuracy(s, split, logx, x0, x1) for split in ("test", "train"))
    if len(acc[0]):
        panels.append(("test accuracy", acc[0], acc[1], TEST, True, tr))
    for i, m in enumerate(have):
        ys = np.array(series.vals[m], dtype=np.float64)
        panels.append((m, _xs(series.steps[m], logx), ys, PALETTE[(i + 1) % len(PALETTE)], False, None))
    cols, rows, shown = _grid(len(panels), width, height)
    pw, ph = width // cols, max(MIN_PLOT_ROWS + 2, height // rows)
    marks = chart_markers(run)
    caches = cache.summaries if cache is not None else None
    built: list[list[str]] = []
    for k, (name, xs, ys, rgb, accuracy, train) in enumerate(panels[:shown]):
        pc = None
        if caches is not None:
            pc = caches.setdefault(("progress-panel", k), ChartCache())
        built.append(_panel(name, xs, ys, rgb, logx, x0, x1, pw, ph, color, marks, pc, accuracy, train,
                            labels=k == 0))
    lines: list[str] = []
    for r in range(rows):
        row = built[r * cols:(r + 1) * cols]
        if not row:
            break
        for j in range(max(len(p) for p in row)):
            lines.append("".join(_pad(p[j] if j < len(p) else "", pw) for p in row))
    notes = []
    if shown < len(panels):
        notes.append(f"{len(panels) - shown} more measure(s) need a larger terminal: "
                     + ", ".join(p[0] for p in panels[shown:]))
    if not any(m in have for m in FOURIER):
        notes.append("no Fourier measures in this log (the grokking kind logs them for x+y and x-y only)")
    if more:
        notes.append("still reading the file…")
    legend = [("each on its own axis, same steps", None),
              ("│ lines: memorised, alerts, generalised", None)]
    return ChartOut("\n".join(lines), legend, title, note="; ".join(notes), logx=logx, again=more)


def draw_progress(job: ChartJob) -> ChartOut:
    """The view mode's builder (view.MODES)."""
    return progress_chart(job.runs[0], job.view.logx, job.width, job.height, job.color, job.cache)
