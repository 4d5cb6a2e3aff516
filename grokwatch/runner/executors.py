"""How the runner starts, polls, cancels and re-adopts runs.

The runner talks to one `Executor`; local processes now, a cluster (Slurm) later, without the
runner, the TUI or the workers knowing the difference. What an executor needs to find a run
again after a runner restart goes into the record it returns from `submit`, which the runner
stores in the run's executor.json.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class JobState:
    """What an executor knows of one run right now."""

    phase: str  # "pending" | "running" | "exited" | "gone"
    exit_code: int | None = None  # for "exited"; negative = killed by that signal
    reason: str = ""  # e.g. Slurm's pending reason or end state
    node: str = ""
    final_state: str | None = None  # an executor's own verdict (e.g. Slurm TIMEOUT -> "failed")


class Executor(ABC):
    name = "abstract"

    @abstractmethod
    def submit(self, run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
        """Start the worker for `run_dir`; return the record to keep in executor.json."""

    @abstractmethod
    def poll(self, records: dict[str, dict[str, Any]]) -> dict[str, JobState]:
        """The state of many runs at once (one call for all: a cluster queries once per poll)."""

    @abstractmethod
    def cancel(self, record: dict[str, Any], requeue: bool = False) -> None:
        """Ask the run to stop (SIGTERM: checkpoint and exit), or to checkpoint for a requeue."""

    def kill(self, record: dict[str, Any]) -> None:
        """Stop at once, without a checkpoint (used when a stop was not obeyed)."""

    def capacity(self) -> int | None:
        """Runs this executor can hold at once beyond the device slots (None: slots decide)."""
        return None

    def close(self) -> None:
        pass


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of a process (clock ticks since boot), to tell a pid that was
    reused from the process we started."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        rest = data[data.rindex(b")") + 2:].split()
        return int(rest[19])
    except (ValueError, IndexError):
        return None


def _pid_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:].split()[0].decode()
    except (OSError, ValueError, IndexError):
        return None


class LocalExecutor(Executor):
    """Workers as child processes of the runner, each in its own process session (so a
    Ctrl-C in a headless terminal reaches the runner, which stops them cleanly)."""

    name = "local"

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable
        self.children: dict[int, subprocess.Popen] = {}
        self.host = socket.gethostname()

    def submit(self, run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
        log = open(Path(run_dir) / "worker.log", "ab")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen([self.python, "-m", "grokwatch.worker", str(run_dir)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=full_env, cwd=str(run_dir), start_new_session=True,
                                    close_fds=True)
        finally:
            log.close()
        self.children[proc.pid] = proc
        return {"executor": self.name, "pid": proc.pid, "start_time": process_start_time(proc.pid),
                "host": self.host, "submitted": time.time()}

    def _alive(self, record: dict[str, Any]) -> bool:
        pid = record.get("pid")
        if not isinstance(pid, int) or record.get("host") not in (None, self.host):
            return False
        state = _pid_state(pid)
        if state is None or state in ("Z", "X"):
            return False
        started = record.get("start_time")
        return started is None or process_start_time(pid) == started

    def poll(self, records: dict[str, dict[str, Any]]) -> dict[str, JobState]:
        out = {}
        for run_id, record in records.items():
            pid = record.get("pid")
            proc = self.children.get(pid) if isinstance(pid, int) else None
            if proc is not None:
                code = proc.poll()
                if code is None:
                    out[run_id] = JobState("running", node=self.host)
                else:
                    del self.children[pid]
                    out[run_id] = JobState("exited", exit_code=code)
            elif self._alive(record):
                out[run_id] = JobState("running", node=self.host)  # adopted: not our child
            else:
                out[run_id] = JobState("gone")
        return out

    def adopt(self, record: dict[str, Any]) -> bool:
        return self._alive(record)

    def _signal(self, record: dict[str, Any], sig: int) -> None:
        if self._alive(record) or record.get("pid") in self.children:
            try:
                os.kill(record["pid"], sig)
            except ProcessLookupError:
                pass

    def cancel(self, record: dict[str, Any], requeue: bool = False) -> None:
        self._signal(record, signal.SIGUSR1 if requeue else signal.SIGTERM)

    def kill(self, record: dict[str, Any]) -> None:
        self._signal(record, signal.SIGKILL)


def make_executor(name: str, config: Any = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "slurm":
        from .slurm import SlurmExecutor

        return SlurmExecutor(config)
    raise ValueError(f"unknown executor {name!r}")
