"""grokking_likely (a hint): after memorisation, before any jump, one of (first that speaks):

- the test error is leaving its baseline fast (`test_error_leaving_baseline`): over the last
  5+ evaluations its fall below the baseline, u = (b - e) / b, stands clear of the noise
  (>= 2 sigma each, now >= 0.02 and 6 sigma) and grows at least as fast as step^3.5 (log u
  against log step, RMS residual <= 0.3), with u still < 0.3 (the jump alert needs 0.4).
  On the tune set the runs that grokked left at step^4.0-7.2, the slow drifts of runs that
  never did at step^3.0 or slower;
- the test loss turned around (`test_loss_turnaround`): its robust level (5-row median,
  slew-limited to 3 sigma per row) is >= 0.05 decade and 4 sigma below its peak for 3 rows,
  after staying near the peak for at least 15% of the peak's step (a turnaround, not a
  spike), with the test error still within 15% of the way from its baseline;
- the weight norm is falling (`weight_norm_falling`): >= 5% off its post-memorisation peak
  for 3 rows, with the test error still within 15% of the way from its baseline (Omnigrok).
  The curve alone decides, never the config's weight decay.

The event carries `expected_jump_step`, when one can be made: where test accuracy is expected
half-way up (detect/eta.py). A hint whose own estimate lands after the run's last step
(`total_steps` in its config) is held back — on course, but not within this run — and asked
again on the next row. Once per run. Reads JumpRule's public view (memorisation, the fall,
its noise, whether it waits). The progress-measure columns were tried as signals on the tune
set and did not separate the runs earlier than these (docs/detectors.md).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Sequence

from .eta import JumpEta
from .jump import JumpRule
from .protocol import NO_EVENTS, Reading, RunContext
from .signals import INF, LOG10, Noise, at, count, pct, ring_median, unit_of


class HintRule:
    """grokking_likely (see the module docstring)."""

    needs_curves = True
    LOSS_TURN_DECADES = 0.05
    WNORM_FALL = 0.05
    ROWS = 3
    U_MAX = 0.15  # test error still this near its baseline (fraction of the way down)
    LEAVE_U = 0.02  # leaving the baseline: at least this fall ...
    LEAVE_SIGMA = 6.0  # ... and this many sigma
    LEAVE_EXPONENT = 3.5  # ... growing at least as fast as step**this
    LEAVE_POINTS = 5
    LEAVE_RESIDUAL = 0.3  # ... and steadily: RMS residual of log u about the power law
    LEAVE_U_MAX = 0.3  # and still before the jump alert's 40%

    def __init__(self, ctx: RunContext) -> None:
        self.jump: JumpRule = ctx.peer(JumpRule)
        self.unit = unit_of(ctx.unit)
        self.fired = False
        self.l1: float | None = None
        self.level: float | None = None
        self.ring: list[float] = []
        self.hist: deque = deque(maxlen=8)  # recent (step, level)
        self.near_from: float | None = None  # since when the level is near its peak
        self.below_at: float | None = None  # when it first fell a threshold below it
        self.noise = Noise()
        self.loss_peak = -INF
        self.loss_peak_at: float | None = None
        self.loss_run = 0
        self.wn_peak = -INF
        self.wn_peak_at: float | None = None
        self.wn_run = 0
        self.eta = JumpEta()
        total = ctx.run_info.get("total_steps")
        self.last_step = float(total) if isinstance(total, (int, float)) and total > 0 else None

    def update(self, r: Reading) -> Sequence[dict]:
        if self.fired:
            return NO_EVENTS
        jump = self.jump
        u = jump.fall_now
        armed = jump.waiting and u is not None and u < self.U_MAX
        row, step = r.row, r.step
        b = jump.baseline_error
        if b:
            self.eta.add(step, u, jump.sigma / b)
        event = None
        if jump.memorized_at is not None and b and jump.waiting and u is not None \
                and u < self.LEAVE_U_MAX:
            event = self._leaving(step, u, jump.sigma / b, row)
        tl = row.get("test_loss")
        if event is None and tl is not None and 0 < tl < INF:
            event = self._loss_turned(step, LOG10(tl), armed, row)
        wn = row.get("weight_norm")
        if event is None and wn is not None and 0 < wn < INF and jump.memorized_at is not None:
            event = self._norm_falling(step, wn, armed, row)
        if event is None:
            return NO_EVENTS
        eta = event["expected_jump_step"]
        if eta is not None and self.last_step is not None and eta > self.last_step:
            return NO_EVENTS  # on course, but not within this run's steps: asked again next row
        self.fired = True
        return (event,)

    def _robust_level(self, x: float) -> float:
        """The 5-row median, slew-limited to 3 sigma per row, so that a loss spike
        (slingshot, bad batch) cannot make a peak while a real trend carries it along."""
        l1 = self.l1
        self.l1 = x
        noise = self.noise
        if l1 is not None:
            noise.add(x - l1)
        med = ring_median(self.ring, x)
        lev = self.level
        if lev is None or len(self.ring) < 5:
            self.level = lev = med
        else:
            d = med - lev
            lim = 3.0 * noise.sigma()
            if lim > 0:
                d = lim if d > lim else (-lim if d < -lim else d)
            self.level = lev = lev + d
        return lev

    def _loss_turned(self, step: float, x: float, armed: bool, row: dict) -> dict | None:
        lev = self._robust_level(x)
        thr = 4.0 * self.noise.sigma()
        if thr < self.LOSS_TURN_DECADES:
            thr = self.LOSS_TURN_DECADES
        hist = self.hist
        event = None
        if lev > self.loss_peak:
            # a new peak: since when has the level been within `thr` of it? (scan the
            # recent rows; if all of them are, the older start stands)
            enter = None
            for t_h, l_h in reversed(hist):
                if l_h < lev - thr:
                    break
                enter = t_h
            else:
                if self.near_from is not None:
                    enter = self.near_from
            self.near_from = enter if enter is not None else step
            self.loss_peak, self.loss_peak_at = lev, step
            self.loss_run = 0
            self.below_at = None
        elif lev <= self.loss_peak - thr:
            if self.below_at is None:
                self.below_at = step
            # a turnaround, not a bump: the level stayed near its peak for a while
            broad = self.below_at - self.near_from >= 0.15 * (self.loss_peak_at + 1.0)
            if armed and broad:
                self.loss_run += 1
                if self.loss_run >= self.ROWS:
                    event = self._loss_event(step, row, lev)
            else:
                self.loss_run = 0
        else:
            self.loss_run = 0
        hist.append((step, lev))
        return event

    def _norm_falling(self, step: float, wn: float, armed: bool, row: dict) -> dict | None:
        if wn > self.wn_peak:
            self.wn_peak, self.wn_peak_at = wn, step
            self.wn_run = 0
        elif armed and wn <= self.wn_peak * (1.0 - self.WNORM_FALL):
            self.wn_run += 1
            if self.wn_run >= self.ROWS:
                return self._wn_event(step, row, wn)
        else:
            self.wn_run = 0
        return None

    def _leaving(self, step: float, u: float, sigma_u: float, row: dict) -> dict | None:
        if u < self.LEAVE_U or u < self.LEAVE_SIGMA * sigma_u:
            return None
        fit = self.eta.exponent()
        if fit is None or fit[1] < self.LEAVE_POINTS or fit[0] < self.LEAVE_EXPONENT \
                or fit[2] > self.LEAVE_RESIDUAL:
            return None
        since = float(round(math.exp(self.eta.clear()[-1][0])))
        return self._event(step, row, "test_error_leaving_baseline", since,
                           {"growth_exponent": round(fit[0], 2), "fall_now": round(u, 4)},
                           f"Test error is leaving its baseline fast (its fall growing like "
                           f"{self.unit}^{fit[0]:.1f}) since")

    def _loss_event(self, step: float, row: dict, m: float) -> dict:
        drop = 1.0 - 10.0 ** (m - self.loss_peak)
        return self._event(step, row, "test_loss_turnaround", self.loss_peak_at,
                           {"peak_test_loss": round(10.0 ** self.loss_peak, 6),
                            "test_loss_now": round(10.0 ** m, 6)},
                           f"Test loss is falling, down {pct(drop)} from its peak at")

    def _wn_event(self, step: float, row: dict, wn: float) -> dict:
        drop = 1.0 - wn / self.wn_peak
        return self._event(step, row, "weight_norm_falling", self.wn_peak_at,
                           {"peak_weight_norm": round(self.wn_peak, 6),
                            "weight_norm_now": round(wn, 6)},
                           f"Weight norm is shrinking, down {pct(drop)} since")

    def _event(self, step: float, row: dict, signal: str, peak_at: float, fields: dict,
               what: str) -> dict:
        mem = self.jump.memorized_at
        eta = self.eta.estimate()
        if eta is not None:
            eta = float(round(eta))
            when = (f"; test accuracy expected half-way up around {at(self.unit, eta)} "
                    f"(in ~{count(self.unit, max(0.0, eta - step))})")
        else:
            when = ""
        return {"kind": "grokking_likely", "step": step, "signal": signal, "memorized_at": mem,
                "peak_step": peak_at, "expected_jump_step": eta, **fields,
                "message": (f"{what} {at(self.unit, peak_at)}, while {self._test_words(row)} and "
                            f"train memorised at {at(self.unit, mem)}: grokking may follow{when}.")}

    def _test_words(self, row: dict) -> str:
        """'test accuracy is still only 3.1% (baseline 1.0%)' and the like."""
        b = self.jump.baseline_error
        a = row.get("test_acc")
        if a is not None:
            base = f" (baseline {pct(1.0 - b)})" if b is not None else ""
            return f"test accuracy is still only {pct(a)}{base}"
        e = row.get("test_error")
        if e is not None:
            base = f" (baseline {b:.3g})" if b is not None else ""
            return f"test error is still {e:.3g}{base}"
        return "test error is still near its baseline"
