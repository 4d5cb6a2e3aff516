"""Streaming alert detectors, shared by the runner (one `DetectorSet` per run, fed each new
metrics row), `grokwatch detect` and `grokwatch view`.

    ds = DetectorSet(run_info)          # the run's config.json (or None for a foreign CSV)
    ds = DetectorSet(None, step_unit="epoch")   # a log whose step column was `epoch`
    for row in rows:                    # canonical column names, any may be missing
        for event in ds.feed(row):      # {"kind", "step", "message", ...details}
            ...

Alert kinds: `generalization_jump`, `grokking_likely` (a hint), `overfitting`, `divergence`.
The rules are described in `grokwatch/detect/rules.py`. Standard library only (the TUI and
the runner import this; never torch, not even numpy on the per-row path).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .divergence import DivergenceRule
from .rules import STEP_UNITS, HintRule, JumpRule, OverfitRule, Signals, _test_value, _train_value

ALERT_KINDS = ("generalization_jump", "grokking_likely", "overfitting", "divergence")

__all__ = ["ALERT_KINDS", "DetectorSet", "DetectInputError", "detect_rows", "detect_file",
           "main_detect", "step_unit", "DivergenceRule"]


def _positive_int(v: Any) -> int | None:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class DetectorSet:
    """All alert rules for one run. `feed(row)` returns the new alert events (usually none).

    Amortised O(1) per row; rows whose step is missing or not after the previous row's are
    ignored (a resumed run never logs a step twice, but a re-read file may repeat rows).

    `step_unit` is what the `step` column counts: "step" (default) or "epoch", where it was
    read from an epoch column (see `cli.step_unit`). It changes the wording of the messages
    only ("between epochs 40 and 55"); the event fields keep their names (`step`, `delay`...).
    """

    def __init__(self, run_info: dict | None = None, step_unit: str = "step") -> None:
        info = run_info if isinstance(run_info, dict) else {}
        params = info.get("params") if isinstance(info.get("params"), dict) else {}
        self.run_info = info
        self.kind: str | None = info.get("kind") if isinstance(info.get("kind"), str) else None
        self.n_test = _positive_int(info.get("n_test"))
        self.weight_decay = _float_or_none(params.get("weight_decay"))
        self.step_unit = step_unit if step_unit in STEP_UNITS else "step"
        self.divergence = DivergenceRule(self.step_unit)
        self.signals = Signals()
        self.jump: JumpRule | None = None
        self.hint: HintRule | None = None
        self.overfit: OverfitRule | None = None
        self.last_step: float | None = None
        self.rows = 0
        self.events: list[dict] = []  # every event so far, in order

    def _setup(self, bounded: bool, row: dict) -> None:
        what = "error" if "test_error" in row else "loss"
        unit = self.step_unit
        self.jump = JumpRule(bounded, self.n_test, what, unit=unit)
        self.hint = HintRule(self.weight_decay, unit=unit)
        self.overfit = OverfitRule(bounded, self.n_test, self.kind, what, unit=unit)

    def feed(self, row: dict[str, float]) -> list[dict]:
        step = row.get("step")
        if step is None or step != step or step in (math.inf, -math.inf):
            return []
        last = self.last_step
        if last is not None and step <= last:
            return []
        self.last_step = step
        self.rows += 1
        out: list[dict] = []
        problem = self.divergence.update(row)
        if problem:
            out.append({"kind": "divergence", "step": step, "message": f"Run diverged: {problem}."})
        sig = self.signals
        if not sig.decided:
            sig.decide(row)
            if not sig.decided:
                if out:
                    self.events.extend(out)
                return out
            self._setup(bool(sig.bounded), row)
        bounded = sig.bounded
        jump = self.jump
        y = _test_value(row, bounded)
        tr, tr_bounded = _train_value(row, bounded)
        ev = jump.update(step, y, tr, tr_bounded)
        if ev is not None:
            out.append(ev)
        if not self.hint.fired:
            ev = self.hint.update(step, row, jump)
            if ev is not None:
                out.append(ev)
        if not self.overfit.fired:
            ev = self.overfit.update(step, y, tr, tr_bounded)
            if ev is not None:
                out.append(ev)
        if out:
            for ev in out:
                _add_context(ev, row)
            self.events.extend(out)
        return out


_STEP_FIELDS = ("step", "memorized_at", "departed_at", "over_steps", "delay", "min_step",
                "peak_step")


def _add_context(ev: dict, row: dict) -> None:
    """Integral steps as ints (events.jsonl reads `"step": 960`, not 960.0); the row's main
    metrics at the alert."""
    for k in _STEP_FIELDS:
        v = ev.get(k)
        if isinstance(v, float) and math.isfinite(v) and v == int(v):
            ev[k] = int(v)
    for k in ("test_acc", "train_acc", "test_error", "train_error", "test_loss", "train_loss",
              "time_s"):
        v = row.get(k)
        if v is not None and k not in ev:
            ev[k] = v


def detect_rows(rows: Iterable[dict[str, float]], run_info: dict | None = None,
                step_unit: str = "step") -> list[dict]:
    """Every event a fresh DetectorSet raises over `rows`."""
    ds = DetectorSet(run_info, step_unit)
    out: list[dict] = []
    for row in rows:
        out.extend(ds.feed(row))
    return out


from .cli import DetectInputError, detect_file, main_detect, step_unit  # noqa: E402
