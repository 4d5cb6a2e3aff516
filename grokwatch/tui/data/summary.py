"""A bounded summary of one run's metrics: min, max, sum and count per bin, in two bin sets.

* linear bins over steps: a fixed number of bins whose width doubles (merging neighbours)
  whenever the run outgrows them — a one-level min/max pyramid that never grows;
* log bins over log10(step): a fixed grid of bins per decade, so a log-x chart keeps full
  detail at the early steps where grokking curves do their interesting things.

Memory is fixed per run (about half a megabyte; a few kB for a run of at most RAW_ROWS rows,
which keeps its rows and bins them when drawn) whatever the number of rows, and every spike
survives: a bin keeps its min and max. Charts reduce bins to one min/max per pixel column.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ...columns import CORE_METRICS as METRICS  # the one list of metric names (and their order)

M_INDEX = {m: i for i, m in enumerate(METRICS)}
LIN_BINS = 1024
LOG_PER_DECADE = 128
LOG_DECADES = 12
LOG_BINS = LOG_PER_DECADE * LOG_DECADES
RAW_ROWS = 4096  # a summary of at most this many rows keeps them instead of bins
BINNED_KEPT = 16  # bins built from rows for charts, kept for the most recently drawn summaries
_BINNED: "OrderedDict[int, tuple[object, int, _Bins]]" = OrderedDict()
_BINNED_LOCK = threading.Lock()


@dataclass
class Reduced:
    """A series reduced to chart columns: x (bin centres, in the chart's x space), min, max, mean."""

    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def _empty(m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.full((m, n), np.inf), np.full((m, n), -np.inf), np.zeros((m, n)), np.zeros((m, n)))


class _Bins:
    """The two bin sets (linear with doubling width, log10 per decade) of min, max, sum, count."""

    def __init__(self) -> None:
        m = len(METRICS)
        self.lin_width = 1.0
        self.lin = _empty(m, LIN_BINS)
        self.log = _empty(m, LOG_BINS)

    def add(self, steps: np.ndarray, vals: np.ndarray) -> None:
        top = float(steps.max())
        while top / self.lin_width >= LIN_BINS:
            self._coarsen()
        lin_idx = (steps / self.lin_width).astype(np.int64)
        np.minimum(lin_idx, LIN_BINS - 1, out=lin_idx)
        log_idx = (np.log10(np.maximum(steps, 1.0)) * LOG_PER_DECADE).astype(np.int64)
        np.minimum(log_idx, LOG_BINS - 1, out=log_idx)
        self._add(self.lin, lin_idx, vals)
        self._add(self.log, log_idx, vals)

    def _coarsen(self) -> None:
        mn, mx, sm, ct = self.lin
        m = mn.shape[0]
        half = LIN_BINS // 2
        pad = _empty(m, half)
        self.lin = (
            np.concatenate([mn.reshape(m, half, 2).min(axis=2), pad[0]], axis=1),
            np.concatenate([mx.reshape(m, half, 2).max(axis=2), pad[1]], axis=1),
            np.concatenate([sm.reshape(m, half, 2).sum(axis=2), pad[2]], axis=1),
            np.concatenate([ct.reshape(m, half, 2).sum(axis=2), pad[3]], axis=1),
        )
        self.lin_width *= 2

    @staticmethod
    def _add(bins, idx: np.ndarray, vals: np.ndarray) -> None:
        mn, mx, sm, ct = bins
        nan = np.isnan(vals)
        if len(idx) > 1 and not (np.diff(idx) >= 0).all():
            order = np.argsort(idx, kind="stable")
            idx, vals, nan = idx[order], vals[order], nan[order]
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        g = idx[starts]
        gmin = np.fmin.reduceat(vals, starts, axis=0).T
        gmax = np.fmax.reduceat(vals, starts, axis=0).T
        gsum = np.add.reduceat(np.where(nan, 0.0, vals), starts, axis=0).T
        gcnt = np.add.reduceat((~nan).astype(np.float64), starts, axis=0).T
        mn[:, g] = np.fmin(mn[:, g], gmin)
        mx[:, g] = np.fmax(mx[:, g], gmax)
        sm[:, g] += gsum
        ct[:, g] += gcnt

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.lin + self.log)


class Summary:
    """Bounded min/max/mean bins of the six core metrics of one run. Thread-safe.

    A run of at most RAW_ROWS rows keeps its rows instead (a few kB, where the bins take half a
    megabyte: `grokwatch view` of thousands of small logs stays in bounded memory) and bins them
    only when a chart asks; the picture is the same either way, since a bin's min, max, sum and
    count do not depend on the order its rows arrived in.
    """

    def __init__(self) -> None:
        m = len(METRICS)
        self.lock = threading.Lock()
        self._bins: _Bins | None = None
        self._raw_steps = np.zeros(0)
        self._raw_vals = np.zeros((0, m))
        self._token = object()  # this summary's mark in the cache of bins built from rows
        self.rows = 0
        self.last_step = -math.inf
        self.best_min = np.full(m, np.inf)
        self.best_max = np.full(m, -np.inf)
        self.present = np.zeros(m, dtype=bool)
        self.version = 0

    # pickling (the bulk loader builds summaries in a worker process)
    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        del d["lock"], d["_token"]
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self.lock = threading.Lock()
        self._token = object()

    # the bins (a small run's are built from its rows on demand)
    def bins(self) -> _Bins:
        with self.lock:
            return self._current_bins()

    def _current_bins(self) -> _Bins:
        if self._bins is not None:
            return self._bins
        key = id(self)
        with _BINNED_LOCK:
            hit = _BINNED.get(key)
            if hit is not None and hit[0] is self._token and hit[1] == self.version:
                _BINNED.move_to_end(key)
                return hit[2]
        b = _Bins()
        if len(self._raw_steps):
            b.add(self._raw_steps, self._raw_vals)
        with _BINNED_LOCK:
            _BINNED[key] = (self._token, self.version, b)
            while len(_BINNED) > BINNED_KEPT:
                _BINNED.popitem(last=False)
        return b

    @property
    def lin(self):
        return self.bins().lin

    @property
    def log(self):
        return self.bins().log

    @property
    def lin_width(self) -> float:
        return self.bins().lin_width

    @property
    def nbytes(self) -> int:
        """What this summary holds in memory (its bins, or its rows while it has few)."""
        if self._bins is not None:
            return self._bins.nbytes
        return self._raw_steps.nbytes + self._raw_vals.nbytes

    # ------------------------------------------------------------------ feeding

    def feed(self, steps: np.ndarray, vals: np.ndarray) -> None:
        """Add rows: `steps` (N,), `vals` (N, len(METRICS)) with NaN for a missing value."""
        if len(steps) == 0:
            return
        steps = np.asarray(steps, dtype=np.float64)
        vals = np.asarray(vals, dtype=np.float64)
        ok = np.isfinite(steps)
        if not ok.all():
            steps, vals = steps[ok], vals[ok]
            if len(steps) == 0:
                return
        steps = np.maximum(steps, 0.0)
        vals = np.where(np.isfinite(vals), vals, np.nan)
        with self.lock:
            if self._bins is not None:
                self._bins.add(steps, vals)
            elif self.rows + len(steps) > RAW_ROWS:
                self._bins = _Bins()
                if len(self._raw_steps):
                    self._bins.add(self._raw_steps, self._raw_vals)
                self._bins.add(steps, vals)
                self._raw_steps, self._raw_vals = np.zeros(0), np.zeros((0, len(METRICS)))
            else:
                self._raw_steps = np.concatenate([self._raw_steps, steps])
                self._raw_vals = np.concatenate([self._raw_vals, vals])
            self.rows += len(steps)
            self.last_step = max(self.last_step, float(steps.max()))
            with np.errstate(invalid="ignore"):
                self.best_min = np.fmin(self.best_min, np.nanmin(vals, axis=0, initial=np.inf))
                self.best_max = np.fmax(self.best_max, np.nanmax(vals, axis=0, initial=-np.inf))
            self.present |= ~np.isnan(vals).all(axis=0)
            self.version += 1

    # ------------------------------------------------------------------ reading

    def has(self, metric: str) -> bool:
        return bool(self.present[M_INDEX[metric]])

    def x_extent(self, log: bool) -> tuple[float, float]:
        """The x range of the data in chart space (log10(step) when `log`)."""
        last = max(self.last_step, 1.0) if self.rows else 1.0
        return (0.0, math.log10(last)) if log else (0.0, last)

    def reduce(self, metric: str, log: bool, ncols: int, x0: float, x1: float) -> Reduced:
        """The metric reduced to at most `ncols` columns over [x0, x1] in chart space."""
        i = M_INDEX[metric]
        with self.lock:
            bins = self._current_bins()
            if log:
                mn, mx, sm, ct = (a[i].copy() for a in bins.log)
                centres = (np.arange(LOG_BINS) + 0.5) / LOG_PER_DECADE
                centres[0] = 0.0
            else:
                mn, mx, sm, ct = (a[i].copy() for a in bins.lin)
                centres = (np.arange(LIN_BINS) + 0.5) * bins.lin_width
                last = self.last_step
        keep = ct > 0
        if not log and keep.any():  # the last bin's centre may lie past the data
            centres = np.minimum(centres, max(last, 0.0))
        return reduce_columns(centres[keep], mn[keep], mx[keep], sm[keep], ct[keep], ncols, x0, x1)


def reduce_columns(x, mn, mx, sm, ct, ncols: int, x0: float, x1: float) -> Reduced:
    """Group bins into `ncols` equal columns over [x0, x1]: per column min, max, mean."""
    if len(x) == 0 or ncols <= 0:
        e = np.zeros(0)
        return Reduced(e, e, e, e)
    span = (x1 - x0) or 1.0
    col = np.clip(((x - x0) / span * ncols).astype(np.int64), 0, ncols - 1)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    lo = np.minimum.reduceat(mn, starts)
    hi = np.maximum.reduceat(mx, starts)
    s = np.add.reduceat(sm, starts)
    c = np.add.reduceat(ct, starts)
    xs = np.add.reduceat(x * ct, starts) / c
    return Reduced(xs, lo, hi, s / c)
