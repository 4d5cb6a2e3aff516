"""generalized (a milestone, not an alert): the first row where test accuracy is >= 95% (the
step Grokfast-style work reports), or, for a log without accuracy, where the test error or loss
is 1.3 decades (a factor of 20, as an error of 5% is 20x below 100%) below where it started
(the median of its first 3 values). Once per run. It carries Liu et al.'s phase, measured by
then: test has passed their 90% level (`phase.py`).
"""

from __future__ import annotations

from typing import Sequence

from .jump import JumpRule
from .phase import phase_of
from .protocol import NO_EVENTS, Reading, RunContext
from .signals import at, count, pct, unit_of

GENERALIZED_ERROR = 0.05  # test accuracy >= 95%
GENERALIZED_DECADES = 1.3  # no accuracy: test error/loss 20x below its start


class GeneralizedRule:
    """generalized (see the module docstring)."""

    needs_curves = True

    def __init__(self, ctx: RunContext) -> None:
        self.jump: JumpRule = ctx.peer(JumpRule)
        self.bounded = bool(ctx.bounded)
        self.what = ctx.what
        self.unit = unit_of(ctx.unit)
        self.fired = False

    def update(self, r: Reading) -> Sequence[dict]:
        y = r.test
        if self.fired or y is None:
            return NO_EVENTS
        if self.bounded:
            if y > GENERALIZED_ERROR:
                return NO_EVENTS
        else:
            start = self.jump.clock.test_start
            if start is None or y > start - GENERALIZED_DECADES:
                return NO_EVENTS
        self.fired = True
        return (self._event(r.step, y),)

    def _event(self, step: float, y: float) -> dict:
        jump = self.jump
        clock = jump.clock
        t_tr, t_te = clock.train_at, clock.test_at
        phase = phase_of(t_tr, t_te)
        mem = jump.memorized_at
        unit = self.unit
        ev = {"kind": "generalized", "step": step, "memorized_at": mem, "phase": phase,
              "train_level_at": t_tr, "test_level_at": t_te,
              "level_gap": t_te - t_tr if t_tr is not None and t_te is not None else None}
        if self.bounded:
            ev["test_acc_now"] = round(1.0 - y, 6)
            head = f"Test accuracy reached {pct(1.0 - y)} at {at(unit, step)}"
        else:
            start = clock.test_start
            ev["fall_decades"] = round(start - y, 3)
            head = (f"Test {self.what} reached {10.0 ** y:.3g} at {at(unit, step)}, "
                    f"{10.0 ** (start - y):.0f}x below where it started")
        if mem is not None:
            head += f" (train memorised at {at(unit, mem)}, {count(unit, step - mem)} before)"
        gap = ev["level_gap"]
        if gap is not None:
            tail = (f"; test reached {'90%' if self.bounded else 'a tenth of its start'} "
                    f"{count(unit, gap)} after train did: {phase} (Liu et al. 2022)")
        else:
            tail = ""
        ev["message"] = f"{head}: generalised{tail}."
        return ev
