"""A fake executor for the runner's unit tests: jobs are entries in a dict, a "worker" is the
test writing status.json, an exit is the test saying so. Everything else is the real runner."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from grokwatch.runner.core import Runner
from grokwatch.runner.executors import Executor, JobRecord, JobState
from grokwatch.runs import atomic_write_json, read_json

TOML = """
[grokwatch]
devices = "cpu"
max_parallel = {slots}
threads_per_run = 1
checkpoint_every_s = 5
{extra}
[[experiment]]
name = "{name}"
kind = "grokking"
seeds = {seeds}
[experiment.params]
modulus = 23
steps = 100
width = 16
"""


class FakeExecutor(Executor):
    """Jobs live in `self.jobs` (job id -> phase, exit code, run dir), shared across runners so a
    "runner restart" can re-adopt them."""

    name = "fake"
    job_kind = "process"

    def __init__(self, fail_for: set[str] | None = None):
        self.jobs: dict[str, dict] = {}
        self.submitted: list[str] = []  # run ids, in launch order
        self.cancelled: list[tuple[str, bool]] = []
        self.fail_for = fail_for or set()
        self._n = 0

    def submit(self, run_dir: Path, env: dict[str, str]) -> JobRecord:
        run_id = Path(run_dir).name
        if run_id in self.fail_for:
            raise RuntimeError(f"no room for {run_id}")
        self._n += 1
        job = f"j{self._n}"
        self.jobs[job] = {"phase": "running", "exit_code": None, "dir": Path(run_dir), "env": env}
        self.submitted.append(run_id)
        return self.record(job=job, pid=100000 + self._n)

    def poll(self, records: dict[str, JobRecord]) -> dict[str, JobState]:
        out = {}
        for run_id, rec in records.items():
            job = self.jobs.get(rec.get("job"))
            if job is None:
                out[run_id] = JobState("gone")
            else:
                out[run_id] = JobState(job["phase"], exit_code=job["exit_code"])
        return out

    def adopt(self, record: JobRecord) -> bool:
        job = self.jobs.get(record.get("job"))
        return job is not None and job["phase"] == "running"

    def cancel(self, record: JobRecord, requeue: bool = False) -> None:
        self.cancelled.append((record.get("job"), requeue))

    # -- what a worker would do
    def job_of(self, run_id: str) -> str:
        return next(j for j, v in reversed(list(self.jobs.items())) if v["dir"].name == run_id)

    def start_worker(self, run_id: str, step: int = 0) -> None:
        d = self.jobs[self.job_of(run_id)]["dir"]
        status = read_json(d / "status.json", {}) or {}
        status.update({"state": "running", "pid": os.getpid(), "step": step, "started": time.time()})
        atomic_write_json(d / "status.json", status)

    def end(self, run_id: str, state: str = "done", code: int = 0, step: int = 100,
            write_state: bool = True) -> None:
        job = self.jobs[self.job_of(run_id)]
        if write_state:
            status = read_json(job["dir"] / "status.json", {}) or {}
            status.update({"state": state, "step": step, "exit_code": code, "ended": time.time(),
                           "pid": status.get("pid") or os.getpid()})
            atomic_write_json(job["dir"] / "status.json", status)
        job["phase"], job["exit_code"] = "exited", code

    def vanish(self, run_id: str) -> None:
        self.jobs[self.job_of(run_id)]["phase"] = "gone"


def make_project(tmp_path: Path, slots: int = 2, seeds=(0, 1, 2), name: str = "g", extra: str = "") -> Path:
    cfg = tmp_path / "experiments.toml"
    cfg.write_text(TOML.format(slots=slots, seeds=list(seeds), name=name, extra=extra))
    return cfg


def start_runner(tmp_path: Path, ex: FakeExecutor, **kw) -> Runner:
    runner = Runner(tmp_path / "experiments.toml", tmp_path, executor=ex, foreground=True, **kw)
    runner.start()
    return runner


def events(run_dir: Path) -> list[str]:
    try:
        return [json.loads(line)["kind"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    except OSError:
        return []
