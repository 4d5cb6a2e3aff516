"""Streaming alert detectors, shared by the runner (one `DetectorSet` per run, fed each new
metrics row), `grokwatch detect` and `grokwatch view`.

    ds = DetectorSet(run_info)          # the run's config.json (or None for a foreign CSV)
    ds = DetectorSet(None, step_unit="epoch")   # a log whose step column was `epoch`
    for row in rows:                    # canonical column names, any may be missing
        for event in ds.feed(row):      # {"kind", "step", "message", ...details}
            ...

The kinds of event, and the rule that raises each, are the table in `kinds.py`; what a rule
is, `protocol.py`; each rule is a module of its own (`divergence.py`, `jump.py`, `hint.py`,
`overfit.py`, `stall.py`, `milestone.py`) whose docstring says how it judges; `signals.py` is how
they read a row, `phase.py` Liu et al.'s grokking-or-comprehension rule, `summary.py` a run's
summary from the same rules. Standard library only (the TUI and the runner import this; never
torch, not even numpy on the per-row path).
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Iterable

from .divergence import DivergenceRule
from .kinds import KINDS, AlertKind, is_alert_kind, kind_of, register
from .protocol import Reading, RunContext
from .signals import STEP_UNITS, Signals, test_value, train_value

__all__ = ["ALERT_KINDS", "KINDS", "AlertKind", "is_alert_kind", "kind_of", "register", "DetectorSet",
           "DetectInputError", "detect_rows", "detect_file", "main_detect", "step_unit",
           "DivergenceRule", "rule_classes"]

_RULES: dict[tuple[str, ...], tuple[type, ...]] = {}


def __getattr__(name: str) -> Any:
    if name == "ALERT_KINDS":  # the table's kind names, in order (registered ones included)
        return tuple(KINDS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rule_classes() -> tuple[type, ...]:
    """The rule classes the table of kinds names, in its order, each once ("module:Class";
    a module name starting with a dot is relative to this package)."""
    key = tuple(k.rule for k in KINDS.values())
    found = _RULES.get(key)
    if found is None:
        out: list[type] = []
        for path in key:
            mod, _, name = path.partition(":")
            cls = getattr(importlib.import_module(mod, __name__), name)
            if cls not in out:
                out.append(cls)
        _RULES[key] = found = tuple(out)
    return found


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

    The rules are the ones `kinds.KINDS` names, built in its order: those that need no
    curves (divergence) at once, the others when the first row shows which curves the log
    has (`signals.Signals`). Each gets one `protocol.Reading` per row.

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
        self.signals = Signals()
        self.context = RunContext(kind=self.kind, n_test=self.n_test,
                                  weight_decay=self.weight_decay, unit=self.step_unit,
                                  run_info=info)
        self.rules: list[Any] = self._build(curves=False)
        self._reading = Reading(0.0, {})
        self.last_step: float | None = None
        self.rows = 0
        self.events: list[dict] = []  # every event so far, in order

    def _build(self, curves: bool) -> list[Any]:
        """The rules of the table, in its order: with `curves` False only those that need no
        curves; with True all of them (the ones built before are kept)."""
        ctx = self.context
        have = {type(r): r for r in getattr(self, "rules", ())}
        out = []
        for cls in rule_classes():
            rule = have.get(cls)
            if rule is None and (curves or not cls.needs_curves):
                rule = cls(ctx)
                ctx._register(rule)
            if rule is not None:
                out.append(rule)
        return out

    def rule(self, cls: type) -> Any:
        """This run's instance of rule `cls` (None before it is built)."""
        return next((r for r in self.rules if type(r) is cls), None)

    @property
    def jump(self) -> Any:
        """The JumpRule (its public view: `memorized_at`, ...), None until the curves are known."""
        from .jump import JumpRule

        return self.rule(JumpRule)

    def feed(self, row: dict[str, float]) -> list[dict]:
        step = row.get("step")
        if step is None or step != step or step in (math.inf, -math.inf):
            return []
        last = self.last_step
        if last is not None and step <= last:
            return []
        self.last_step = step
        self.rows += 1
        sig = self.signals
        if not sig.decided:
            sig.decide(row)
            if sig.decided:
                ctx = self.context
                ctx.bounded, ctx.what = bool(sig.bounded), sig.what
                self.rules = self._build(curves=True)
        r = self._reading  # one per run, refilled per row: rules read it, never keep it
        r.step, r.row = step, row
        if sig.decided:
            bounded = sig.bounded
            r.test = test_value(row, bounded)
            r.train, r.train_bounded = train_value(row, bounded)
        out: list[dict] = []
        for rule in self.rules:
            evs = rule.update(r)
            if evs:
                out.extend(evs)
        if out:
            for ev in out:
                _add_context(ev, row)
            self.events.extend(out)
        return out


_STEP_FIELDS = ("step", "memorized_at", "departed_at", "over_steps", "delay", "min_step",
                "peak_step", "train_level_at", "test_level_at", "level_gap", "since_step")


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
