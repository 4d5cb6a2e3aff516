"""The shape of a run's status.json, in one place.

Four places build it — the runner (queued, and an end the worker could not write), the worker
(while it lives), the training context's progress updates, and the client's own runs
(`log()` outside grokwatch) — and every reader (TUI, status, export, headless) reads it. The
TypedDict is what they agree on; `total=False` because each writer fills the keys it knows.
"""

from __future__ import annotations

import time
from typing import Literal, TypedDict

State = Literal["queued", "running", "done", "failed", "diverged", "stopped", "lost", "requeued"]


class RunStatus(TypedDict, total=False):
    run_id: str
    state: State
    pid: int | None  # the worker's pid while it runs (None once queued again or ended by the runner)
    host: str
    step: int | float
    total_steps: int | None
    attempt: int  # 1, then +1 for each restart from step 0 (files of earlier ones in attempt-N/)
    queued: float  # unix times
    started: float | None
    resumed: float | None
    updated: float
    ended: float | None
    exit_code: int | None
    error: str | None  # why it failed, stopped or was lost, in one line
    reason: str  # why a worker stopped by itself (e.g. "no space left on device")
    log_tail: list[str]  # the last lines of worker.log, for a failed or lost run
    gpu_peak_allocated_mb: float  # CUDA only: the allocator's peaks so far, MB (runner/gpumem.py)
    gpu_peak_reserved_mb: float


def queued_status(run_id: str, step: int | float = 0, total_steps: int | None = None,
                  attempt: int | None = None, started: float | None = None) -> RunStatus:
    """status.json of a run waiting for a slot (new, requeued, or retried)."""
    status: RunStatus = {"run_id": run_id, "state": "queued", "step": step, "total_steps": total_steps,
                         "queued": time.time(), "pid": None}
    if attempt is not None:
        status["attempt"] = attempt
        status["started"] = started
    return status


def ended_by_runner(status: RunStatus, run_id: str, state: State, message: str) -> RunStatus:
    """A run the worker could not close itself (lost, failed to start, …): the runner's verdict."""
    out: RunStatus = {**status}  # type: ignore[typeddict-item]
    out.update({"run_id": run_id, "state": state, "error": message, "ended": time.time(), "pid": None})
    return out
