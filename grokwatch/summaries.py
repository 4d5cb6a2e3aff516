"""Per-run summaries — when a run memorised, when it generalised, how long grokking took, which
phase it ended in, when each alert first fired, final and best values — the table that sweep
figures and phase diagrams are drawn from (`grokwatch export --summary`, `grokwatch plot`, the
dashboard's phase view).

Memorisation and the alerts come from the detectors themselves (a `DetectorSet` fed every row):
`memorization_step` is the detector's own `memorized_at` (train error ≤ 1% for 3 evaluations in a
row, the first of them; for logs without error or accuracy, train loss down one decade), and
`first_<kind>_step` is the first event of each alert kind the detectors raise over the rows.

`generalization_step` is the first evaluation with test accuracy ≥ 95%; runs that log no accuracy
(regression, loss-only logs) have none — an error or a loss has no level that means "generalised". `phase` follows Liu et al.'s names:

    comprehension  generalised, at most as long again after memorising as memorising took
                   (generalization_step < 2 × memorization_step), or without memorising
    grokking       generalised later than that: a delay at least as long as memorisation took
    memorization   memorised, never generalised (so far)
    confusion      neither (so far)

Standard library only (the runner and the TUI may import this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

GENERALIZED_ACC = 0.95  # test accuracy that counts as generalised
GROKKING_RATIO = 2.0  # generalised at >= this x the memorisation step: grokking (else comprehension)
PHASES = ("comprehension", "grokking", "memorization", "confusion")
VALUE_METRICS = ("error", "loss")


def alert_kinds() -> tuple[str, ...]:
    from .detect import ALERT_KINDS

    return tuple(ALERT_KINDS)


def summary_columns() -> list[str]:
    """The summary columns, in order (after run_id, experiment, seed and the swept keys)."""
    cols = ["memorization_step", "generalization_step", "grokking_delay", "phase"]
    cols += [f"first_{k}_step" for k in alert_kinds()]
    for which in ("final", "best"):
        for split in ("train", "test"):
            for m in VALUE_METRICS:
                cols.append(f"{which}_{split}_{m}")
    return cols


def phase_of(memorized: float | None, generalized: float | None) -> str:
    if generalized is not None:
        if memorized is not None and generalized >= GROKKING_RATIO * memorized and generalized > memorized:
            return "grokking"
        return "comprehension"
    return "memorization" if memorized is not None else "confusion"


@dataclass
class RunSummary:
    memorization_step: float | None = None
    generalization_step: float | None = None
    phase: str = "confusion"
    first_alert: dict[str, float] = field(default_factory=dict)  # kind -> first step
    final: dict[str, float] = field(default_factory=dict)  # e.g. "test_error" -> last value
    best: dict[str, float] = field(default_factory=dict)  # lowest value
    rows: int = 0
    last_step: float | None = None

    @property
    def grokking_delay(self) -> float | None:
        if self.memorization_step is None or self.generalization_step is None:
            return None
        return self.generalization_step - self.memorization_step

    def values(self) -> dict[str, Any]:
        """The summary columns (None where a value does not exist)."""
        out: dict[str, Any] = {"memorization_step": self.memorization_step,
                               "generalization_step": self.generalization_step,
                               "grokking_delay": self.grokking_delay, "phase": self.phase}
        for k in alert_kinds():
            out[f"first_{k}_step"] = self.first_alert.get(k)
        for which, d in (("final", self.final), ("best", self.best)):
            for split in ("train", "test"):
                for m in VALUE_METRICS:
                    out[f"{which}_{split}_{m}"] = d.get(f"{split}_{m}")
        return out


def summarize_rows(rows: Iterable[dict[str, float]], info: dict[str, Any] | None = None,
                   step_unit: str = "step") -> RunSummary:
    """One pass over a run's rows (canonical column names), through the run's detectors."""
    from .detect import DetectorSet

    ds = DetectorSet(info, step_unit)
    kinds = set(alert_kinds())
    s = RunSummary()
    names = [f"{sp}_{m}" for sp in ("train", "test") for m in VALUE_METRICS]
    for row in rows:
        step = row.get("step")
        if step is None or step != step:
            continue
        s.rows += 1
        s.last_step = step
        for ev in ds.feed(row):
            k = ev.get("kind")
            if k in kinds and k not in s.first_alert:
                s.first_alert[k] = ev.get("step", step)
        if s.generalization_step is None:
            a = row.get("test_acc")
            if a is not None and a >= GENERALIZED_ACC:
                s.generalization_step = step
        for n in names:
            v = row.get(n)
            if v is None and n.endswith("_error") and f"{n[:-6]}_acc" in row:
                v = 1.0 - row[f"{n[:-6]}_acc"]
            if v is None or not math.isfinite(v):
                continue
            s.final[n] = v
            b = s.best.get(n)
            if b is None or v < b:
                s.best[n] = v
    jump = ds.jump
    s.memorization_step = jump.mem_at if jump is not None else None
    s.phase = phase_of(s.memorization_step, s.generalization_step)
    return s


def summarize_run(run_dir: Path) -> tuple[dict[str, Any], RunSummary]:
    """(config.json, summary) of one run directory."""
    from .runs import RunPaths, read_all_metrics, read_json

    paths = RunPaths(Path(run_dir))
    info = read_json(paths.config, {}) or {}
    rows = read_all_metrics(paths.metrics) if paths.metrics.exists() else []
    return info, summarize_rows(rows, info)


def summary_table(run_dirs: list[Path]) -> tuple[list[str], list[dict[str, Any]]]:
    """One tidy row per run: run_id, experiment, seed, every swept key (of any run), the summary
    columns, state. Returns (columns, rows)."""
    from .runs import RunPaths, read_json

    loaded = []
    sweep_keys: list[str] = []
    for d in run_dirs:
        info, s = summarize_run(d)
        state = (read_json(RunPaths(Path(d)).status, {}) or {}).get("state") or "queued"
        loaded.append((Path(d).name, info, s, state))
        for k in info.get("sweep") or {}:
            if k not in sweep_keys:
                sweep_keys.append(k)
    cols = ["run_id", "experiment", "seed", *sweep_keys, *summary_columns(), "state"]
    rows = []
    for run_id, info, s, state in loaded:
        sweep = info.get("sweep") or {}
        row: dict[str, Any] = {"run_id": run_id, "experiment": info.get("experiment", ""),
                               "seed": info.get("seed", "")}
        for k in sweep_keys:
            row[k] = sweep.get(k)
        row.update(s.values())
        row["state"] = state
        rows.append(row)
    return cols, rows
