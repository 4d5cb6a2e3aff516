"""How far off the jump is: an estimate the grokking_likely hint carries when it can make one.

Before a grokking jump the test error leaves its baseline slowly and then faster. On the runs
of the tune set (bench/detect_sets.py) the fall below the baseline, u = (b - e) / b, grew
close to a power of the step in the evaluations before the jump's midpoint (a straight line in
log u against log step; a line in log u against the step, an exponential, came out early by a
median 42% of the true lead, the power law by 19%). So: fit log u against log step over the
trailing evaluations where u stands clear of the noise, and extrapolate to u = 1/2 (test
accuracy half-way up: the jump's midpoint, what `bench/detect_eval.py` measures the lead
against). No estimate when the fit has fewer than 3 points, does not rise, lands beyond 10x
the current step, or the log has no accuracy (a loss has no known level that marks the jump).
Pure Python; `estimate` runs once per run (the hint fires once).
"""

from __future__ import annotations

import math
from collections import deque

TARGET = 0.5  # the fall that marks the jump's midpoint
MIN_POINTS = 3
NOISE_K = 2.0  # a point counts when u is this many sigma above 0
U_MIN = 0.005  # and at least this (half a percentage point of the baseline error)
MAX_AHEAD = 10.0  # no estimate beyond this multiple of the current step


class JumpEta:
    """Collects (step, u, sigma_u) after memorisation; `estimate()` gives the step."""

    __slots__ = ("points",)

    def __init__(self, keep: int = 10) -> None:
        self.points: deque = deque(maxlen=keep)

    def add(self, step: float, u: float | None, sigma_u: float) -> None:
        if u is not None and step > 0:
            self.points.append((step, u, sigma_u))

    def clear(self) -> list[tuple[float, float]]:
        """(log step, log u) of the trailing run of points clear of the noise, newest first
        (an old outlier above the noise says nothing)."""
        pts = []
        for s, u, sg in reversed(self.points):
            if u < U_MIN or u < NOISE_K * sg:
                break
            pts.append((math.log(s), math.log(u)))
        return pts

    def exponent(self) -> tuple[float, int, float] | None:
        """(d log u / d log step, number of points, RMS residual of log u) of the trailing
        clear points, or None."""
        pts = self.clear()
        fit = self._fit(pts)
        if fit is None:
            return None
        slope, last, at_last, n = fit
        res = math.sqrt(sum((y - (at_last + slope * (x - last))) ** 2 for x, y in pts) / n)
        return slope, n, res

    def estimate(self) -> float | None:
        """The step at which u is expected to reach 1/2, or None."""
        fit = self._fit(self.clear())
        if fit is None:
            return None
        slope, last, fit_now, _ = fit
        if slope <= 0 or fit_now >= math.log(TARGET):
            return None
        ahead = (math.log(TARGET) - fit_now) / slope
        if ahead > math.log(MAX_AHEAD):
            return None
        return math.exp(last + ahead)

    @staticmethod
    def _fit(pts):
        """Least squares of log u on log step: (slope, newest log step, fit there, n)."""
        if len(pts) < MIN_POINTS:
            return None
        n = len(pts)
        mx = sum(x for x, _ in pts) / n
        my = sum(y for _, y in pts) / n
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        if sxx <= 0:
            return None
        slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
        last = pts[0][0]  # pts runs newest first
        return slope, last, my + slope * (last - mx), n
