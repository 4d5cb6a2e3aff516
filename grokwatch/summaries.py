"""Per-run summary table — the detectors' own summary of each run (grokwatch/detect/summary.py:
memorisation and generalisation steps, grokking delay, Liu et al.'s phase, the first step of each
kind of event) plus the final and best train/test values — one tidy row per run, the table that
sweep figures and phase diagrams are drawn from (`grokwatch export --summary`, `grokwatch plot`,
the dashboard's phase view). Standard library only (the runner and the TUI may import this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .columns import error_from_accuracy

PHASES = ("comprehension", "grokking", "memorization", "confusion")
VALUE_METRICS = ("error", "loss")


def detector_fields() -> list[str]:
    """The detectors' summary fields: memorization_step … first_<kind>_step (detect/summary.py)."""
    from .detect.summary import summary_fields

    return summary_fields()


def alert_kinds() -> tuple[str, ...]:
    """The kinds of the detectors' table, in its order (a first_<kind>_step column each)."""
    from .detect import KINDS

    return tuple(KINDS)


def summary_columns() -> list[str]:
    """The summary columns, in order (after run_id, experiment, seed and the swept keys)."""
    cols = list(detector_fields())
    for which in ("final", "best"):
        for split in ("train", "test"):
            for m in VALUE_METRICS:
                cols.append(f"{which}_{split}_{m}")
    return cols


@dataclass
class RunSummary:
    detected: dict[str, Any] = field(default_factory=dict)  # the detectors' summary (detect/summary.py)
    final: dict[str, float] = field(default_factory=dict)  # e.g. "test_error" -> last value
    best: dict[str, float] = field(default_factory=dict)  # lowest value
    rows: int = 0
    last_step: float | None = None

    @property
    def memorization_step(self) -> float | None:
        return self.detected.get("memorization_step")

    @property
    def generalization_step(self) -> float | None:
        return self.detected.get("generalization_step")

    @property
    def grokking_delay(self) -> float | None:
        return self.detected.get("grokking_delay")

    @property
    def phase(self) -> str:
        return str(self.detected.get("phase") or "confusion")

    def values(self) -> dict[str, Any]:
        """The summary columns (None where a value does not exist)."""
        out: dict[str, Any] = {k: self.detected.get(k) for k in detector_fields()}
        for which, d in (("final", self.final), ("best", self.best)):
            for split in ("train", "test"):
                for m in VALUE_METRICS:
                    out[f"{which}_{split}_{m}"] = d.get(f"{split}_{m}")
        return out


def summarize_rows(rows: Iterable[dict[str, float]], info: dict[str, Any] | None = None,
                   step_unit: str = "step") -> RunSummary:
    """One pass over a run's rows (canonical column names), through the run's detectors."""
    from .detect import DetectorSet
    from .detect.summary import summary_of

    ds = DetectorSet(info, step_unit)
    s = RunSummary()
    names = [f"{sp}_{m}" for sp in ("train", "test") for m in VALUE_METRICS]
    for row in rows:
        step = row.get("step")
        if step is None or step != step:
            continue
        s.rows += 1
        s.last_step = step
        ds.feed(row)
        for n in names:
            v = row.get(n)
            if v is None and n.endswith("_error") and f"{n[:-6]}_acc" in row:
                v = error_from_accuracy(row[f"{n[:-6]}_acc"])
            if v is None or not math.isfinite(v):
                continue
            s.final[n] = v
            b = s.best.get(n)
            if b is None or v < b:
                s.best[n] = v
    s.detected = summary_of(ds)
    return s


def summarize_run(run_dir: Path) -> tuple[dict[str, Any], RunSummary]:
    """(config.json, summary) of one run directory."""
    from .runs import RunPaths, read_all_metrics, read_json

    paths = RunPaths(Path(run_dir))
    info = read_json(paths.config, {}) or {}
    rows = read_all_metrics(paths.metrics) if paths.metrics.exists() else []
    return info, summarize_rows(rows, info)


def summary_table(run_dirs: list[Path], foreign: list[tuple[str, dict[str, Any], RunSummary, str]] | None = None
                  ) -> tuple[list[str], list[dict[str, Any]]]:
    """One tidy row per run: run_id, experiment, seed, every swept key (of any run), the summary
    columns, state. Returns (columns, rows). `foreign`: runs read from other tools' logs, as
    (run id, info, summary, state), after the run directories' (export.foreign_summaries)."""
    from .runs import RunPaths, read_json

    loaded = []
    sweep_keys: list[str] = []
    for d in run_dirs:
        info, s = summarize_run(d)
        state = (read_json(RunPaths(Path(d)).status, {}) or {}).get("state") or "queued"
        loaded.append((Path(d).name, info, s, state))
    loaded += foreign or []
    for _run_id, info, _s, _state in loaded:
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
