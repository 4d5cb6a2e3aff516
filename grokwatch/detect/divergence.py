"""The one divergence rule, shared by the worker (state `diverged`) and the runner's detector
(the `divergence` alert), so the two can never disagree."""

from __future__ import annotations

import math
from typing import Sequence

from .protocol import NO_EVENTS, Reading, RunContext

LOSS_COLUMNS = ("train_loss", "test_loss")
EXPLOSION_FACTOR = 1e4  # train loss this many times its first logged value
EXPLOSION_ABSOLUTE = 1e12


class DivergenceRule:
    """Streaming: feed rows, get a message the first time the run has diverged.

    Diverged means a non-finite loss, or a train loss that exploded: more than
    `EXPLOSION_FACTOR` times its first logged value (or above `EXPLOSION_ABSOLUTE`). Test loss
    is allowed to blow up — at the double-descent interpolation peak it legitimately does —
    and so is a spike far above the train loss's *minimum* (grokking's slingshots).
    """

    def __init__(self, unit: str = "step") -> None:
        self.unit = unit if unit in ("step", "epoch") else "step"  # for the message only
        self.first_train_loss: float | None = None
        self.fired = False

    def update(self, row: dict[str, float]) -> str | None:
        if self.fired:
            return None
        for col in LOSS_COLUMNS:
            v = row.get(col)
            if v is not None and not math.isfinite(v):
                self.fired = True
                return f"{col} is {v} at {self.unit} {_step(row)}"
        v = row.get("train_loss")
        if v is None:
            return None
        if self.first_train_loss is None:
            self.first_train_loss = abs(v)
            return None
        limit = EXPLOSION_ABSOLUTE
        if self.first_train_loss > 0:
            limit = min(limit, EXPLOSION_FACTOR * self.first_train_loss)
        if v > limit:
            self.fired = True
            return (f"train_loss exploded to {v:.3g} at {self.unit} {_step(row)} "
                    f"(first logged {self.first_train_loss:.3g})")
        return None


class DivergenceAlert:
    """The `divergence` alert: `DivergenceRule` as a detector rule (it needs no curves, so it
    judges a log from its first row)."""

    needs_curves = False

    def __init__(self, ctx: RunContext) -> None:
        self.rule = DivergenceRule(ctx.unit)

    def update(self, r: Reading) -> Sequence[dict]:
        problem = self.rule.update(r.row)
        if not problem:
            return NO_EVENTS
        return ({"kind": "divergence", "step": r.step, "message": f"Run diverged: {problem}."},)


def _step(row: dict[str, float]) -> str:
    s = row.get("step")
    if not isinstance(s, (int, float)) or not math.isfinite(s):
        return "?"
    return str(int(s)) if s == int(s) else f"{s:g}"
