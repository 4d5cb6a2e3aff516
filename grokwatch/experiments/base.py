"""The interface between the worker and an experiment kind: `RunContext`.

A kind's `run(ctx)` trains and calls:
  ctx.log(step, **metrics)          one evaluation row -> metrics.csv (a step already logged
                                    is skipped, so a resumed run never logs a step twice)
  ctx.checkpoint_due()              True every `checkpoint_every_s` and when a stop signal is pending
  ctx.save_checkpoint(step, write, ext)   write(path) saves the state; after a pending signal
                                    this raises StopRun and the worker exits cleanly
  ctx.load_checkpoint(ext)          (path, step) of the latest checkpoint, or None
  ctx.resume(ext, load)             load(path) the latest checkpoint if there is one; a file that
                                    cannot be loaded safely raises CheckpointRefused (run `failed`)
  ctx.check_stop()                  raises StopRun if a signal is pending (nothing to save)
Standard library only: importing it must not import torch.
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import re
import time
from pathlib import Path
from typing import Any, Callable

from ..columns import error_from_accuracy, split_header
from ..detect.divergence import DivergenceRule
from ..runs import MetricsWriter, RunPaths, atomic_write_json, is_disk_full, read_json


class StopRun(Exception):
    """Raised at a safe point after a stop signal; `requeue` is True for SIGUSR1."""

    def __init__(self, requeue: bool = False):
        super().__init__("requeue requested" if requeue else "stop requested")
        self.requeue = requeue


class Diverged(Exception):
    """The run's loss became non-finite or exploded (the shared divergence rule)."""


class CheckpointRefused(Exception):
    """A checkpoint that could not be loaded safely (not plain tensors and data, truncated, from
    another version...). The run fails with this message; the file is never executed and never
    silently skipped, since a resumed run must continue exactly where it stopped."""

    show_traceback = False

    def __init__(self, path: Path, why: str):
        super().__init__(f"checkpoint {path} was refused: {why}. Nothing in it was run; "
                         f"`grokwatch retry` restarts this run from step 0 (its files move to "
                         f"attempt-N/)")
        self.path = path


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

    @property
    def metrics_columns(self) -> list[str]:
        """The columns of metrics.csv so far."""
        return list(self._writer().columns)

    def rescale_metrics(self, columns: list[str], factor: float) -> int:
        """Rescale columns of the rows already written (`runs.MetricsWriter.rescale`): a command
        run whose accuracy turned out to be in percent keeps metrics.csv in fractions."""
        return self._writer().rescale(columns, factor)

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
        try:
            write(tmp)
            os.replace(tmp, final)
        except BaseException as exc:  # a full disk, most often: the previous checkpoint stays whole
            full = is_disk_full(exc, self.run_dir)  # (asked before the partial file frees space)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if full and not isinstance(exc, OSError):  # torch.save hides the errno
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final)) from exc
            raise
        atomic_write_json(self.run_dir / "checkpoint.json",
                          {"step": int(step), "file": final.name, "time": time.time()})
        self._last_checkpoint = time.monotonic()
        self.check_stop()

    def load_checkpoint(self, ext: str = "pt") -> tuple[Path, int] | None:
        """(path, step) of the latest checkpoint, None when the run has none. Raises
        CheckpointRefused when checkpoint.json names a file that is gone. (The step inside the
        checkpoint is the one that counts: a crash between writing the file and checkpoint.json
        leaves the file newer than the json.)"""
        meta = read_json(self.run_dir / "checkpoint.json")
        path = self.run_dir / f"checkpoint.{ext}"
        step = meta.get("step") if isinstance(meta, dict) else None
        step = step if isinstance(step, int) and not isinstance(step, bool) else 0
        if path.is_file():
            return path, step
        if isinstance(meta, dict) and meta.get("file") == path.name:
            raise CheckpointRefused(path, f"checkpoint.json names it (step {step}) but the file is "
                                    f"missing or not a regular file")
        return None

    def resume(self, ext: str, load: Callable[[Path], None]) -> bool:
        """Load the latest checkpoint with `load(path)`; False when there is none. Any error
        while loading becomes CheckpointRefused naming the file and why."""
        found = self.load_checkpoint(ext)
        if found is None:
            return False
        try:
            load(found[0])
        except CheckpointRefused:
            raise
        except Exception as exc:  # noqa: BLE001 — any failure to load is a refusal, said plainly
            raise CheckpointRefused(found[0], checkpoint_error(exc)) from None
        return True

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


def checkpoint_error(exc: BaseException) -> str:
    """One line saying why a checkpoint did not load (torch's weights-only message is a page)."""
    text = str(exc)
    if text.startswith("Weights only load failed"):
        m = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (a reference to {m.group(1)})" if m else ""
        return f"it holds more than tensors and plain data{what}, so it was not unpickled"
    first = next((l.strip() for l in text.splitlines() if l.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def _last_time(path: Path) -> float | None:
    from ..runs import tail_lines
    try:
        with open(path, encoding="utf-8") as f:
            header = split_header(f.readline())
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
