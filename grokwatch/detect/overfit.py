"""overfitting: test error turned up and keeps rising while train error keeps falling.

Judged on 5-row medians (a two-row outlier can neither make the minimum nor the rise): the
test error fell to a minimum, then rose above it by max(0.03, min(half the minimum, 0.1),
4 sigma) (log mode: 0.1 decade, 4 sigma), for 2 rows, still at 1.5x the minimum's step, near
its highest since, while the train curve kept going down (by 10%, 0.005 absolute; log mode
0.05 decade). Once per run. The bump of an epoch-wise double-descent curve *is* test error
rising while train error falls, and it fires: nothing at that point can know that a second
descent will come (for double_descent runs the message says so). Runs of one row (a
random-features fit per run) give no alerts.
"""

from __future__ import annotations

import math
from typing import Sequence

from .protocol import NO_EVENTS, Reading, RunContext
from .signals import INF, Noise, at, med3, pct, ring_median, unit_of


class OverfitRule:
    """overfitting (see the module docstring)."""

    needs_curves = True
    ROWS = 2
    SPAN = 0.5  # the rise must still hold at (1 + SPAN) x the minimum's step
    TREND_ROWS = 8  # a slow rise is judged over at least this many rows since the minimum
    TREND_T = 5.0  # its slope this many standard errors above zero
    TREND_FLOOR = 0.005  # and a fitted rise of at least this much error (log mode: decades)
    TREND_FLOOR_LOG = 0.02

    def __init__(self, ctx: RunContext) -> None:
        self.what = ctx.what
        self.unit = unit_of(ctx.unit)
        self.bounded = bool(ctx.bounded)
        self.n_test = ctx.n_test if ctx.n_test and ctx.n_test > 0 else None
        self.kind = ctx.kind
        self.fired = False
        self.noise = Noise()
        self.y1: float | None = None
        self.ring: list[float] = []
        self.z1: float | None = None
        self.z2: float | None = None
        self.start: float | None = None
        self.m = INF
        self.m_at: float | None = None
        self.z_m: float | None = None
        self.y_max = -INF
        self.run = 0
        self.trend = _Trend()  # least squares of the raw test curve since the minimum

    def update(self, r: Reading) -> Sequence[dict]:
        y = r.test
        if self.fired or y is None:
            return NO_EVENTS
        if self.y1 is not None:
            self.noise.add(y - self.y1)
        self.y1 = y
        zm3 = self._train_median(r.train, r.train_bounded)
        m5 = ring_median(self.ring, y)
        if len(self.ring) < 5:
            return NO_EVENTS
        if self.start is None:
            self.start = m5
        step = r.step
        if m5 < self.m:
            self.m, self.m_at, self.z_m = m5, step, zm3
            self.y_max = m5
            self.run = 0
            self.trend.reset()
            self.trend.add(0.0, y)
            return NO_EVENTS
        self.trend.add(step - self.m_at, y)
        if m5 > self.y_max:
            self.y_max = m5
        rising = self._rising(m5, zm3)
        if not rising:
            self.run = 0
            rising = self._trending(step, m5, zm3)
            if not rising:
                return NO_EVENTS
            self.run = self.ROWS  # a clear trend needs no further rows
        else:
            self.run += 1
        if self.run < self.ROWS or (step + 1.0) < (1.0 + self.SPAN) * (self.m_at + 1.0):
            return NO_EVENTS
        self.fired = True
        return (self._event(step, self.m, m5, m5 - self.m, zm3),)

    def _train_median(self, z: float | None, z_bounded: bool) -> float | None:
        """The train curve's 3-row median (None until 3 rows of the same kind as the test's)."""
        zm3 = None
        if z is not None and z_bounded == self.bounded:
            if self.z1 is not None and self.z2 is not None:
                zm3 = med3(self.z2, self.z1, z)
            self.z2, self.z1 = self.z1, z
        return zm3

    def _threshold(self) -> float:
        """How far above its minimum the test curve must rise: noise-aware, with a floor."""
        m = self.m
        sig = self.noise.sigma()
        if self.bounded:
            if self.n_test is not None and 0 < m < 1:
                sb = math.sqrt(m * (1.0 - m) / self.n_test)
                if sb > sig:
                    sig = sb
            return max(0.03, min(0.5 * m, 0.1), 4.0 * sig)
        return max(0.1, 4.0 * sig)

    def _rising(self, m5: float, zm3: float | None) -> bool:
        """Test clearly above its minimum (which was itself well below the start), near its
        highest since, while train kept going down."""
        m = self.m
        thr = self._threshold()
        z_m = self.z_m
        ok = (m5 - m >= thr and self.start - m >= thr and m5 >= self.y_max - 0.5 * (self.y_max - m)
              and zm3 is not None and z_m is not None)
        if not ok:
            return False
        margin = max(0.005, 0.1 * z_m) if self.bounded else 0.05
        return zm3 <= z_m - margin

    def _trending(self, step: float, m5: float, zm3: float | None) -> bool:
        """A slow rise that is statistically clear: over the rows since the minimum (at least
        TREND_ROWS) the least-squares slope of the test curve is TREND_T standard errors above
        zero (the error from the fit's residuals, at least the row-to-row noise), the fitted
        rise is above its floor and the smoothed curve agrees, while train kept falling."""
        tr = self.trend
        if tr.n < self.TREND_ROWS or zm3 is None or self.z_m is None:
            return False
        sig = self.noise.sigma()
        fit = tr.fit(sig)
        if fit is None:
            return False
        slope, se = fit
        rise = slope * (step - self.m_at)
        floor = max(self.TREND_FLOOR if self.bounded else self.TREND_FLOOR_LOG, 2.0 * sig)
        if slope <= self.TREND_T * se or rise < floor or m5 - self.m < 0.5 * rise:
            return False
        if self.start - self.m < self._threshold():
            return False  # the test curve never fell: not a minimum
        margin = max(0.005, 0.1 * self.z_m) if self.bounded else 0.05
        return zm3 <= self.z_m - margin

    def _event(self, step: float, m: float, m3: float, rise: float, zm3: float) -> dict:
        z_m = self.z_m
        ev = {"kind": "overfitting", "step": step, "min_step": self.m_at,
              "signal": "bounded" if self.bounded else "log"}
        at_min, at_now = at(self.unit, self.m_at), at(self.unit, step)
        if self.bounded:
            ev.update(min_error=round(m, 6), error_now=round(m3, 6),
                      train_error_then=round(z_m, 6), train_error_now=round(zm3, 6))
            msg = (f"Test error rose from {pct(m)} at {at_min} to {pct(m3)} at {at_now} while "
                   f"train error kept falling ({pct(z_m)} -> {pct(zm3)}): overfitting.")
        else:
            ev.update(min_value=round(10.0 ** m, 6), value_now=round(10.0 ** m3, 6),
                      rise_factor=round(10.0 ** rise, 3))
            msg = (f"Test {self.what} rose {10.0 ** rise:.2f}x, from {10.0 ** m:.3g} at {at_min} "
                   f"to {10.0 ** m3:.3g} at {at_now}, while train {self.what} kept falling "
                   f"({10.0 ** z_m:.3g} -> {10.0 ** zm3:.3g}): overfitting.")
        if self.kind == "double_descent":
            msg += " In a double-descent run this may be the bump before the second descent."
        ev["message"] = msg
        return ev


class _Trend:
    """Streaming least squares of y on x (x = steps since the minimum): O(1) per row."""

    __slots__ = ("n", "sx", "sy", "sxx", "sxy", "syy")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.sx = self.sy = self.sxx = self.sxy = self.syy = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y
        self.syy += y * y

    def fit(self, sigma: float) -> tuple[float, float] | None:
        """(slope, its standard error), the residual scatter floored at `sigma`; None when the
        rows do not spread in x."""
        n = self.n
        sxx = self.sxx - self.sx * self.sx / n
        if sxx <= 0.0:
            return None
        sxy = self.sxy - self.sx * self.sy / n
        syy = self.syy - self.sy * self.sy / n
        slope = sxy / sxx
        s2 = (syy - slope * sxy) / (n - 2)
        if s2 < sigma * sigma:
            s2 = sigma * sigma
        return slope, math.sqrt(s2 / sxx)
