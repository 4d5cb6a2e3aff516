"""The interface between the worker and an experiment kind: `RunContext`.

A kind's `run(ctx)` trains and calls:
  ctx.log(step, **metrics)          one evaluation row -> metrics.csv (a step already logged
                                    is skipped, so a resumed run never logs a step twice)
  ctx.checkpoint_due()              True every `checkpoint_every_s` and when a stop signal is pending
  ctx.save_checkpoint(step, write, ext)   write(path) saves the state; after a pending signal
                                    this raises StopRun and the worker exits cleanly
  ctx.load_checkpoint(ext)          (path, step) of the latest checkpoint, or None
  ctx.check_stop()                  raises StopRun if a signal is pending (nothing to save)
Standard library only: importing it must not import torch.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

from ..columns import error_from_accuracy
from ..detect.divergence import DivergenceRule
from ..runs import MetricsWriter, RunPaths, atomic_write_json, read_json


class StopRun(Exception):
    """Raised at a safe point after a stop signal; `requeue` is True for SIGUSR1."""

    def __init__(self, requeue: bool = False):
        super().__init__("requeue requested" if requeue else "stop requested")
        self.requeue = requeue


class Diverged(Exception):
    """The run's loss became non-finite or exploded (the shared divergence rule)."""


class RunContext:
    def __init__(self, run_dir: Path, config: dict[str, Any]):
        self.paths = RunPaths(Path(run_dir))
        self.run_dir = self.paths.dir
        self.config = config
        self.params: dict[str, Any] = config["params"]
        self.seed: int = int(config.get("seed", 0))
        self.device: str = config.get("device", "cpu")
        self.threads: int = int(config.get("threads", 1))
        self.total_steps: int | None = config.get("total_steps")
        self.checkpoint_every_s: float = float(config.get("checkpoint_every_s", 60))
        self.stop_signal: str | None = None  # "stop" or "requeue", set by the signal handlers
        self.step = 0
        self._divergence = DivergenceRule()
        self._metrics: MetricsWriter | None = None
        self._t0 = time.monotonic()
        self._time_offset = 0.0
        self._last_checkpoint = time.monotonic()
        self._last_status = 0.0
        self.on_status: Callable[[dict[str, Any]], None] | None = None
        self.extra_columns: list[str] = []

    # ------------------------------------------------------------------ metrics

    def declare_columns(self, columns: list[str]) -> None:
        """Columns known up front go into the header at once (no widening rewrite later)."""
        self.extra_columns = list(columns)

    def _writer(self) -> MetricsWriter:
        if self._metrics is None:
            self._metrics = MetricsWriter(self.paths.metrics, self.extra_columns)
            last = _last_time(self.paths.metrics)
            if last is not None:
                self._time_offset = last
        return self._metrics

    @property
    def last_logged_step(self) -> float | None:
        return self._writer().last_step

    def log(self, step: int, **metrics: float) -> bool:
        """Append one evaluation row; returns False if this step was logged before (resume).

        Accuracy implies error (error = 1 - acc). Raises Diverged when the shared rule says so
        (after the row is written, so the bad value is on record).
        """
        row: dict[str, Any] = {"step": int(step),
                               "time_s": round(self._time_offset + time.monotonic() - self._t0, 3)}
        for k, v in metrics.items():
            row[k] = float(v) if v is not None else None
        for split in ("train", "test"):
            if f"{split}_acc" in row and f"{split}_error" not in row and row[f"{split}_acc"] is not None:
                row[f"{split}_error"] = error_from_accuracy(row[f"{split}_acc"])
        self.step = int(step)
        written = self._writer().write(row)
        self._maybe_status()
        problem = self._divergence.update({k: v for k, v in row.items() if v is not None})
        if problem:
            raise Diverged(problem)
        return written

    def _maybe_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_status is not None and (force or now - self._last_status >= 1.0):
            self._last_status = now
            self.on_status({"step": self.step, "total_steps": self.total_steps})

    def set_total_steps(self, total: int) -> None:
        self.total_steps = int(total)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_due(self) -> bool:
        return (self.stop_signal is not None
                or time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s)

    def save_checkpoint(self, step: int, write: Callable[[Path], None], ext: str = "pt") -> None:
        """Atomically save a checkpoint (write(tmp_path) saves the kind's state), then honour a
        pending stop signal by raising StopRun."""
        final = self.run_dir / f"checkpoint.{ext}"
        tmp = self.run_dir / f".checkpoint.tmp.{ext}"
        write(tmp)
        os.replace(tmp, final)
        atomic_write_json(self.run_dir / "checkpoint.json",
                          {"step": int(step), "file": final.name, "time": time.time()})
        self._last_checkpoint = time.monotonic()
        self.check_stop()

    def load_checkpoint(self, ext: str = "pt") -> tuple[Path, int] | None:
        meta = read_json(self.run_dir / "checkpoint.json")
        path = self.run_dir / f"checkpoint.{ext}"
        if not meta or not path.exists():
            return None
        return path, int(meta["step"])

    def check_stop(self) -> None:
        if self.stop_signal is not None:
            raise StopRun(requeue=self.stop_signal == "requeue")

    # ------------------------------------------------------------------ helpers

    def seed_everything(self) -> None:
        random.seed(self.seed)
        try:
            import numpy as np
            np.random.seed(self.seed % (2**32))
        except ImportError:
            pass

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()


def _last_time(path: Path) -> float | None:
    from ..runs import tail_lines
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except OSError:
        return None
    if "time_s" not in header:
        return None
    i = header.index("time_s")
    for line in reversed(tail_lines(path, 5)):
        fields = line.split(",")
        if len(fields) == len(header):
            try:
                v = float(fields[i])
            except ValueError:
                continue
            if math.isfinite(v):
                return v
    return None


def eval_schedule(total_steps: int, every: int, log_points: int = 0) -> list[int]:
    """Steps at which to evaluate: every `every` steps, plus `log_points` log-spaced steps
    (dense early, where a log-x chart needs them), plus step 0 and the last step."""
    steps = {0, total_steps}
    if every > 0:
        steps.update(range(0, total_steps + 1, every))
    if log_points > 0 and total_steps > 1:
        ratio = math.log(total_steps) / max(1, log_points - 1)
        steps.update(int(round(math.exp(i * ratio))) for i in range(log_points))
    return sorted(s for s in steps if 0 <= s <= total_steps)


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
