"""stalled: a memorised run whose training has stalled in a way that predicts no
generalisation, with the remedy it suggests. Judged from the curves (and the progress-measure
columns a log has), never from the config.

At a row at least 4x the memorisation step (and 8 evaluations after it), while the test error
is still within 15% of the way from its baseline and no jump has come, all of:

- the test loss has not turned around: its 5-row median is flat or still rising — at least 3
  sigma above its level at the midpoint between memorisation and now — and within 0.01 decade
  of its highest since memorisation (every grokking run seen turns its test loss down well
  before the jump, RESEARCH.md; on the tune set of bench/detect_sets.py the last grokking run
  to turn did so at 3.8x its memorisation step);
- and one sign of a stall:
  * softmax collapse (Prieto et al. 2025, "Grokking at the edge of numerical stability"): a
    `softmax_collapse` column >= 0.5, or a mean train loss <= 1e-7 (fp32 cross-entropy is
    exactly 0 for a sample once every other logit is ~17 below the top one, so a mean that small
    means most samples have collapsed); remedy: StableMax, orthogonal gradients (⊥Grad) or more
    weight decay;
  * a weight norm still growing: the `weight_norm` column up at least 2% since that midpoint
    and at its highest (Omnigrok: generalisation follows the norm down into a "Goldilocks"
    band); remedy: more weight decay.
Once per run.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

from .jump import JumpRule
from .protocol import NO_EVENTS, Reading, RunContext
from .signals import INF, LOG10, Noise, at, count, pct, ring_median, unit_of

STALL_X = 4.0  # judged from this multiple of the memorisation step on
STALL_ROWS = 8  # and this many evaluations after it
U_MAX = 0.15  # test error still this near its baseline
RISE_DECADES = 0.0  # the test loss not below its level half-way since memorisation (and 3 sigma)
PEAK_DECADES = 0.01  # and this near its highest since memorisation
COLLAPSE_LOSS = 1e-7  # mean train loss at or below: most samples' fp32 softmax collapsed
COLLAPSE_FRACTION = 0.5  # a softmax_collapse column at or above
NORM_GROWTH = 0.02  # weight norm up this fraction over the second half
HISTORY = 64  # (step, level, norm) kept since memorisation, thinned to every other when full


class StallRule:
    """stalled (see the module docstring)."""

    needs_curves = True

    def __init__(self, ctx: RunContext) -> None:
        self.jump: JumpRule = ctx.peer(JumpRule)
        self.unit = unit_of(ctx.unit)
        self.fired = False
        self.ring: list[float] = []
        self.noise = Noise()
        self.l1: float | None = None
        self.hist: list[tuple[float, float, float | None]] = []
        self.hist_steps: list[float] = []
        self.stride = 1  # keep every stride-th row in hist
        self.seen = 0  # rows since memorisation
        self.peak = -INF
        self.wn_peak = -INF

    def update(self, r: Reading) -> Sequence[dict]:
        if self.fired:
            return NO_EVENTS
        jump = self.jump
        mem = jump.memorized_at
        if mem is None:
            return NO_EVENTS  # nothing to judge before memorisation
        row = r.row
        tl = row.get("test_loss")
        if tl is None or not 0 < tl < INF:
            return NO_EVENTS
        x = LOG10(tl)
        if self.l1 is not None:
            self.noise.add(x - self.l1)
        self.l1 = x
        level = ring_median(self.ring, x)
        step = r.step
        wn = row.get("weight_norm")
        wn = wn if wn is not None and 0 < wn < INF else None
        self._remember(step, level, wn)
        if level > self.peak:
            self.peak = level
        if wn is not None and wn > self.wn_peak:
            self.wn_peak = wn
        u = jump.fall_now
        if (not jump.waiting or u is None or u >= U_MAX or self.seen < STALL_ROWS
                or step + 1.0 < STALL_X * (mem + 1.0)):
            return NO_EVENTS
        mid = self._at(mem + 0.5 * (step - mem))
        if mid is None:
            return NO_EVENTS
        rise = level - mid[1]
        if rise < max(RISE_DECADES, 3.0 * self.noise.sigma()) or level < self.peak - PEAK_DECADES:
            return NO_EVENTS
        signs = self._signs(row, wn, mid)
        if not signs:
            return NO_EVENTS
        self.fired = True
        return (self._event(r, mem, mid, rise, signs),)

    def _remember(self, step: float, level: float, wn: float | None) -> None:
        """(step, level, norm) since memorisation, at most HISTORY of them, evenly thinned."""
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        h = self.hist
        h.append((step, level, wn))
        self.hist_steps.append(step)
        if len(h) >= HISTORY:
            self.hist = h[::2]
            self.hist_steps = self.hist_steps[::2]
            self.stride *= 2

    def _at(self, step: float) -> tuple[float, float, float | None] | None:
        """The remembered row nearest to `step` at or before it."""
        i = bisect_right(self.hist_steps, step)
        return self.hist[i - 1] if i else None

    def _signs(self, row: dict, wn: float | None, mid: tuple) -> list[tuple[str, str, str]]:
        """[(signal, what was seen, remedy)] for each sign of a stall present."""
        out = []
        sc = row.get("softmax_collapse")
        trl = row.get("train_loss")
        if sc is not None and sc >= COLLAPSE_FRACTION:
            out.append(("softmax_collapse", f"{pct(sc)} of the training samples' softmax has collapsed",
                        "StableMax, orthogonal gradients (⊥Grad) or more weight decay "
                        "(Prieto et al. 2025)"))
        elif trl is not None and 0 <= trl <= COLLAPSE_LOSS:
            out.append(("softmax_collapse", f"train loss is {trl:.2g}, the fp32 softmax has collapsed",
                        "StableMax, orthogonal gradients (⊥Grad) or more weight decay "
                        "(Prieto et al. 2025)"))
        wn_mid = mid[2]
        if wn is not None and wn_mid is not None and wn >= wn_mid * (1.0 + NORM_GROWTH) \
                and wn >= self.wn_peak:
            out.append(("weight_norm_growing",
                        f"the weight norm is still growing ({pct(wn / wn_mid - 1.0)} since "
                        f"{at(self.unit, mid[0])})",
                        "more weight decay (Omnigrok: generalisation follows the norm down)"))
        return out

    def _event(self, r: Reading, mem: float, mid: tuple, rise: float, signs: list) -> dict:
        unit = self.unit
        row = r.row
        a = row.get("test_acc")
        test = f"test accuracy is still {pct(a)}" if a is not None else "test error is still at its baseline"
        remedy = signs[0][2]
        seen = "; ".join(s[1] for s in signs)
        msg = (f"Training has stalled: train memorised at {at(unit, mem)}, and at {at(unit, r.step)} "
               f"({count(unit, r.step - mem)} later) {test}; the test loss is still rising "
               f"({10.0 ** rise:.2f}x since {at(unit, mid[0])}, no turnaround) and {seen}. Runs like "
               f"this have not generalised: try {remedy}.")
        return {"kind": "stalled", "step": r.step, "memorized_at": mem,
                "signal": "+".join(s[0] for s in signs), "signals": [s[0] for s in signs],
                "remedy": remedy, "test_loss_rise": round(10.0 ** rise, 3), "since_step": mid[0],
                "message": msg}
