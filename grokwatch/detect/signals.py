"""How the rules read a row: which curves a log has (`Signals`), the test and train values
they judge, how far a value has fallen below a baseline, a cheap noise scale, and the
wording shared by every message. Pure Python, O(1) per row.

With accuracy columns (a classification run) the curves are the errors, 1 - acc, in linear
units, and a fall is the fraction of the baseline error that is gone. Without them, the
curves are `test_error` (MSE for regression kinds) or `test_loss`, judged in log10 space: a
fall is counted in decades.
"""

from __future__ import annotations

import math

LOG10 = math.log10
INF = float("inf")
STEP_UNITS = ("step", "epoch")


def unit_of(unit: str | None) -> str:
    return unit if unit in STEP_UNITS else "step"


def fmt_step(s: float) -> str:
    return str(int(s)) if s == int(s) else f"{s:g}"


def at(unit: str, s: float) -> str:
    """'step 960' (or 'epoch 12' where the log's step column was an epoch column)."""
    return f"{unit} {fmt_step(s)}"


def count(unit: str, n: float) -> str:
    """'1 step', '640 steps', '3 epochs'."""
    return f"{fmt_step(n)} {unit}{'' if n == 1 else 's'}"


def pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def fall_below(base: float, y: float, bounded: bool) -> float:
    """How far `y` lies below the baseline `base`: the fraction of the baseline error gone
    (bounded; 0 for a baseline at 0), or decades (log mode). The one home of this formula."""
    if bounded:
        return (base - y) / base if base > 0 else 0.0
    return base - y


class Noise:
    """Cheap streaming noise scale: EMA of |row-to-row change|, outliers clipped; sigma of one
    value = 0.886 * mean|diff| for Gaussian noise."""

    __slots__ = ("mad", "n")

    def __init__(self) -> None:
        self.mad = 0.0
        self.n = 0

    def add(self, d: float) -> None:
        d = d if d >= 0 else -d
        n = self.n
        if n < 8:
            self.n = n + 1
            self.mad += (d - self.mad) / (n + 1)
        else:
            lim = 5.0 * self.mad
            self.mad += 0.1 * ((d if d < lim else lim) - self.mad)

    def sigma(self) -> float:
        return 0.886 * self.mad if self.n >= 5 else 0.0


class Signals:
    """Decides, from the first row that has a test curve, how the log is read: bounded
    (accuracy or error beside accuracy) or log space (error or loss alone)."""

    __slots__ = ("bounded", "decided", "what")

    def __init__(self) -> None:
        self.bounded: bool | None = None
        self.decided = False
        self.what = "loss"  # log mode: "error" (MSE) or "loss", for the messages

    def decide(self, row: dict) -> None:
        if "test_acc" in row or ("test_error" in row and "train_acc" in row):
            self.bounded = True
            self.decided = True
        elif "test_error" in row or "test_loss" in row:
            self.bounded = False
            self.decided = True
        if self.decided:
            self.what = "error" if "test_error" in row else "loss"


def test_value(row: dict, bounded: bool) -> float | None:
    """The test error in [0, 1] (bounded), else log10 of the test error or loss."""
    if bounded:
        v = row.get("test_error")
        if v is None:
            a = row.get("test_acc")
            if a is None:
                return None
            v = 1.0 - a
        return v if v == v and -1e-9 <= v <= 1.0 + 1e-9 else None
    v = row.get("test_error")
    return log_value(row.get("test_loss") if v is None else v)


def log_value(v: float | None) -> float | None:
    """log10 of a non-negative finite value (floored at 1e-12), else None."""
    if v is None or not v == v or v == INF or v < 0:
        return None
    return LOG10(v if v > 1e-12 else 1e-12)


def train_value(row: dict, bounded: bool) -> tuple[float | None, bool]:
    """(value, is_bounded): train error when known, else log10 train loss."""
    if bounded:
        v = row.get("train_error")
        if v is None:
            a = row.get("train_acc")
            if a is not None:
                v = 1.0 - a
        if v is not None and v == v and -1e-9 <= v <= 1.0 + 1e-9:
            return v, True
    v = row.get("train_error") if not bounded else None
    lv = log_value(row.get("train_loss") if v is None else v)
    return (None, bounded) if lv is None else (lv, False)


def med3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


def ring_median(ring: list[float], y: float) -> float:
    """Append `y` to a ring of the last 5 values; the median of what it holds (the upper
    middle one of an even count)."""
    ring.append(y)
    if len(ring) > 5:
        del ring[0]
    return sorted(ring)[len(ring) // 2]
