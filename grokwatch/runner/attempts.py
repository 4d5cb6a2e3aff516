"""The runner's bookkeeping of a run's retries and requeues, in `attempts.json`.

It used to live in config.json, which the contract says is written once: config.json now holds
what the run *is*; this file what the runner has done with it. One writer (the runner), atomic
replace; a missing or unreadable file means "never retried, never requeued".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..runs import RunPaths, atomic_write_json, read_json


@dataclass
class Attempts:
    retried: bool = False  # queued again by `grokwatch retry`: kept even when the config drops it
    requeue_step: float | None = None  # the step of the last requeue (a time-limit warning)
    requeues_stalled: int = 0  # requeues in a row that got no further than the one before

    @classmethod
    def load(cls, paths: RunPaths) -> "Attempts":
        obj = read_json(paths.attempts, {})
        if not isinstance(obj, dict):
            return cls()
        return cls(retried=bool(obj.get("retried")), requeue_step=obj.get("requeue_step"),
                   requeues_stalled=int(obj.get("requeues_stalled") or 0))

    def save(self, paths: RunPaths, write: Callable[[Path, Any], None] = atomic_write_json) -> None:
        write(paths.attempts, asdict(self))

    def note_requeue(self, step: float) -> None:
        self.requeues_stalled = self.requeues_stalled + 1 if self.requeue_step == step else 0
        self.requeue_step = step
