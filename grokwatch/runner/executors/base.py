"""The executor interface: how the runner starts, polls, cancels and re-adopts runs.

Backends (local processes, Slurm jobs, …) subclass `Executor` and import this module, never the
reverse. The methods marked optional have defaults that are right for a simple backend, so the
runner calls them all unconditionally — it never asks "does this executor have X?":

| method | required | default |
| --- | --- | --- |
| `submit(run_dir, env)` | yes | — |
| `poll(records)` | yes | — |
| `cancel(record, requeue)` | yes | — |
| `kill(record)` | no | does nothing (a backend that can stop at once overrides it) |
| `submit_many(items)` | no | `submit` for each, an exception in place of a record that failed (a cluster submits one job array) |
| `adopt(record)` | no | `poll` says pending or running |
| `slots()` | no | None: the machine's devices decide (a cluster has its own: max_jobs) |
| `capacity()` | no | None: the slots decide |
| `describe()` | no | None: the slot labels describe it (a cluster prints one line) |
| `wakeup_fd()` | no | None: the runner's tick finds ended jobs (local: a self-pipe written on SIGCHLD) |
| `can_pack`, `submit_pack(run_dirs, env)` | no | False: runs go one by one (local: packs, grokwatch/runner/packs.py) |
| `close()` | no | nothing |
| `from_config(config)` | no | `cls()` |

What an executor needs to find a run again after a runner restart goes into the `JobRecord` it
returns from `submit`, which the runner keeps in the run's executor.json.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..devices import Slot

JobKind = Literal["process", "cluster"]
# Records written before `job_kind` existed came from these two backends only; naming them here
# keeps this module free of the registry (which imports it: no cycle).
_BEFORE_JOB_KIND: dict[str, JobKind] = {"local": "process", "slurm": "cluster"}


@dataclass
class JobState:
    """What an executor knows of one run right now."""

    phase: str  # "pending" | "running" | "exited" | "gone"
    exit_code: int | None = None  # for "exited"; negative = killed by that signal
    reason: str = ""  # e.g. Slurm's pending reason or end state
    node: str = ""
    final_state: str | None = None  # an executor's own verdict (e.g. Slurm TIMEOUT -> "failed")


class JobRecord(dict):
    """The contents of executor.json: a plain JSON object (so it is written and read as one)
    that says which executor made it and what kind of job it describes — a local `process`
    (pid + start time) or a `cluster` job (job id, node, phase) — so that no reader has to guess
    from the keys it happens to hold."""

    @classmethod
    def load(cls, path: Path) -> "JobRecord | None":
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls(obj) if isinstance(obj, dict) else None

    @property
    def executor(self) -> str:
        return str(self.get("executor") or "")

    @property
    def job_kind(self) -> JobKind | None:
        kind = self.get("job_kind")
        if kind in ("process", "cluster"):
            return kind
        return _BEFORE_JOB_KIND.get(self.executor)

    @property
    def is_cluster_job(self) -> bool:
        return self.job_kind == "cluster"

    @property
    def job_id(self) -> str:
        """A cluster job's id ("123", "123_4"); "" for a local process."""
        return str(self.get("job_id") or "") if self.is_cluster_job else ""


class Executor(ABC):
    """One way of running workers. Subclasses set `name` (the key in the registry and in
    executor.json) and `job_kind`."""

    name = "abstract"
    job_kind: JobKind = "process"

    @classmethod
    def from_config(cls, config: Any = None) -> "Executor":
        """Build it from the validated Config (or None: defaults)."""
        return cls()

    def record(self, **fields: Any) -> JobRecord:
        """A JobRecord of this executor's kind, for `submit` to return."""
        return JobRecord(executor=self.name, job_kind=self.job_kind, **fields)

    @abstractmethod
    def submit(self, run_dir: Path, env: dict[str, str]) -> JobRecord:
        """Start the worker for `run_dir`; return the record to keep in executor.json."""

    def submit_many(self, items: list[tuple[Path, dict[str, str]]]) -> "list[JobRecord | Exception]":
        """Start several runs at once (a cluster: one job array). One entry per item, in order:
        its record, or the exception that kept it from starting (that run alone fails).
        Default: one `submit` each."""
        out: list[JobRecord | Exception] = []
        for run_dir, env in items:
            try:
                out.append(self.submit(run_dir, env))
            except Exception as exc:  # noqa: BLE001 — reported per run by the runner
                out.append(exc)
        return out

    @abstractmethod
    def poll(self, records: dict[str, JobRecord]) -> dict[str, JobState]:
        """The state of many runs at once (one call for all: a cluster queries once per poll)."""

    @abstractmethod
    def cancel(self, record: JobRecord, requeue: bool = False) -> None:
        """Ask the run to stop (SIGTERM: checkpoint and exit), or to checkpoint for a requeue."""

    def kill(self, record: JobRecord) -> None:
        """Stop at once, without a checkpoint (used when a stop was not obeyed)."""

    def adopt(self, record: JobRecord) -> bool:
        """After a runner restart: is the job of this record still pending or running?"""
        return self.poll({"x": record})["x"].phase in ("pending", "running")

    def slots(self) -> "list[Slot] | None":
        """The executor's own run slots, or None to plan them from this machine's devices."""
        return None

    def capacity(self) -> int | None:
        """Runs this executor can hold at once beyond the device slots (None: slots decide)."""
        return None

    def describe(self) -> str | None:
        """One line for headless/status output instead of the slot labels (None: the labels)."""
        return None

    def wakeup_fd(self) -> int | None:
        """A file descriptor that becomes readable when a job may have ended (so the runner
        reacts at once instead of at its next tick), or None."""
        return None

    can_pack = False  # True: submit_pack starts several runs as one pack (grokwatch.pack)

    def submit_pack(self, run_dirs: list[Path], env: dict[str, str]) -> list[JobRecord]:
        """Start one process that trains these runs as a pack; one record per run, in order.
        Only called where `can_pack` is True."""
        raise NotImplementedError(f"the {self.name} executor does not run packs")

    def close(self) -> None:
        """Release what the executor holds (flush pending cancels, reap helpers)."""
