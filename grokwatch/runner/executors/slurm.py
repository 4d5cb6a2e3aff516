"""The Slurm executor: runs as Slurm batch jobs, watched from the login node.

Plain `sbatch`/`squeue`/`sacct`/`scancel` (no submitit; docs/slurm.md says why). A job's batch
script `exec`s `python -m grokwatch.worker RUN_DIR`, so the worker *is* the batch step's process:
Slurm's `--signal=B:USR1@N` reaches it before the time limit (it checkpoints and exits 75; the
runner queues it again and the next job resumes from the checkpoint), and a `grokwatch stop`
reaches it as `scancel --batch --signal=TERM` (it checkpoints, state `stopped`).

- submit: one `sbatch` per batch of launches; several runs go as one job array (`--array=0-N`).
  The worker's stdout/stderr go straight to the run's worker.log (through a symlink per array task
  in the submission directory, `.grokwatch/slurm/<stamp>/`, which also keeps the script).
- poll: one `squeue` call for all jobs, at most every `poll_interval_s`; `sacct` only for jobs that
  squeue no longer knows (ended more than MinJobAge ago) and to name who cancelled a job.
  Without accounting (`sacct` failing) everything but that still works.
- cancel: a pending job is cancelled (`scancel`); a running one is sent SIGTERM. The calls go out
  at the next poll, all stops at once (one squeue, at most two scancel). Job ids cancelled through
  grokwatch are remembered (`.grokwatch/slurm/cancelled`), so that any other end of a job is told
  apart from a user's stop.
- adopt: a runner restart finds jobs by the id kept in executor.json (one `squeue` for all).

States (JobState.final_state is the runner's verdict where the worker could not give one):
PENDING/REQUEUED/... -> pending with Slurm's reason; RUNNING/COMPLETING/SUSPENDED -> running on a node;
COMPLETED/FAILED -> exited with the exit status (the worker's status.json decides); CANCELLED by
grokwatch -> stopped; CANCELLED by someone else, TIMEOUT, NODE_FAIL, BOOT_FAIL, DEADLINE -> lost (retry
resumes from the checkpoint); OUT_OF_MEMORY -> failed; PREEMPTED -> requeued (exit 75), like a time limit.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ...paths import ProjectPaths
from ...runs import EXIT_REQUEUE, EXIT_STOPPED
from ..devices import Slot
from .base import Executor, JobRecord, JobState

log = logging.getLogger("grokwatch.runner.slurm")

SQUEUE_FIELDS = "JobArrayID:|,State:|,Reason:|,NodeList:|,exit_code:|,JobID:|"
SACCT_FIELDS = "JobID,State,ExitCode,Reason,NodeList"
MAX_ARRAY = 1000  # Slurm's default MaxArraySize is 1001 (task ids 0..1000)
COMMAND_TIMEOUT_S = 60.0
SCANCEL_TIMEOUT_S = 10.0
SIGNAL_WAIT_S = 3.0  # < scancel's 5 s retry
KEEP_SUBMISSIONS_S = 7 * 86400

# Slurm job states (long form, as squeue -O State and sacct print them)
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
LOST_STATES = {"TIMEOUT": "hit its time limit", "NODE_FAIL": "its node failed",
               "BOOT_FAIL": "its node failed to boot", "DEADLINE": "passed its deadline",
               "REVOKED": "was revoked by the federation"}
# Where a run's own env must not override Slurm's (the allocation decides the GPUs).
RUN_SPECIFIC_ENV = ("GROKWATCH_RUN_DIR", "GROKWATCH_RUN_ID")


class SlurmError(RuntimeError):
    """A Slurm command failed (its stderr, in one line, is the message)."""


@dataclass
class SlurmJob:
    """One line of squeue or sacct."""

    job_id: str  # "123" or "123_4" (array task)
    state: str  # long form, first word ("CANCELLED by 0" -> "CANCELLED")
    reason: str = ""
    node: str = ""
    exit_code: int | None = None  # negative: killed by that signal
    by_uid: int | None = None  # "CANCELLED by UID"
    raw_id: str = ""  # a started array task's own job id (squeue JobID)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _raw_status_to_code(raw: str) -> int | None:
    """squeue's exit_code is a wait(2) status: 768 -> exit 3, 15 -> killed by signal 15."""
    try:
        status = int(raw)
    except ValueError:
        return None
    if status & 0x7F:
        return -(status & 0x7F)
    return (status >> 8) & 0xFF


def _sacct_code(text: str) -> int | None:
    """sacct's ExitCode is "code:signal"."""
    try:
        code, sig = (int(x) for x in text.split(":", 1))
    except ValueError:
        return None
    return -sig if sig else code


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    jobs = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 5 or not parts[0].strip():
            continue
        job_id, state, reason, node, raw = (p.strip() for p in parts[:5])
        raw_id = parts[5].strip() if len(parts) > 5 else ""
        reason = "" if reason in ("None", "(null)") else reason
        node = "" if node in ("None", "(null)", "None assigned") else node
        jobs[job_id] = SlurmJob(job_id, state.split()[0] if state else "", reason, node,
                                _raw_status_to_code(raw) if raw else None, raw_id=raw_id)
    return jobs


def parse_sacct(text: str) -> dict[str, SlurmJob]:
    jobs = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 5 or not parts[0].strip():
            continue
        job_id, state, code, reason, node = (p.strip() for p in parts[:5])
        words = state.split()
        by_uid = None
        if len(words) >= 3 and words[1] == "by":
            try:
                by_uid = int(words[2])
            except ValueError:
                pass
        reason = "" if reason in ("None", "(null)") else reason
        node = "" if node in ("None", "(null)", "None assigned") else node
        jobs[job_id] = SlurmJob(job_id, words[0] if words else "", reason, node, _sacct_code(code), by_uid)
    return jobs  # a job listed twice (requeued by Slurm) keeps its last line


def _base(job_id: str) -> str:
    return job_id.split("_", 1)[0]


def _in_range(task: int, spec: str) -> bool:
    """Is array task `task` in a task list such as "2-3,5,7-15:2%4"?"""
    for part in spec.split("%", 1)[0].split(","):
        lo, _, hi = part.partition("-")
        hi, _, step = hi.partition(":")
        try:
            a, b = int(lo), int(hi or lo)
            if a <= task <= b and (task - a) % int(step or 1) == 0:
                return True
        except ValueError:
            continue
    return False


def find_job(jobs: dict[str, SlurmJob], job_id: str) -> SlurmJob | None:
    """A job or array task in squeue/sacct lines. Array tasks that never started are folded into
    their array's own line: "123" (squeue, e.g. cancelled while pending) or "123_[4-9]" (sacct)."""
    job = jobs.get(job_id)
    if job is not None or "_" not in job_id:
        return job
    base, task = job_id.split("_", 1)
    try:
        t = int(task)
    except ValueError:
        return None
    for key, other in jobs.items():
        if key == base or (key.startswith(base + "_[") and _in_range(t, key[len(base) + 2:].rstrip("]"))):
            return SlurmJob(job_id, other.state, other.reason, other.node, other.exit_code, other.by_uid)
    return None


def _user_name(uid: int | None) -> str:
    if uid is None:
        return "someone else"
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


class SlurmExecutor(Executor):
    name = "slurm"
    job_kind = "cluster"
    poll_interval_s = 3.0  # the least time between two squeue calls (the runner ticks every 0.5 s)

    def __init__(self, config: Any = None, *, poll_interval_s: float | None = None):
        from ...config import SlurmSettings

        self.settings = getattr(config, "slurm", None) or SlurmSettings()
        project_dir = Path(getattr(config, "project_dir", None) or Path.cwd())
        self.work_dir = ProjectPaths(project_dir).slurm
        self.python = self.settings.python or sys.executable
        if poll_interval_s is not None:
            self.poll_interval_s = poll_interval_s
        self.host = socket.gethostname()
        self.uid = os.getuid()
        self._states: dict[str, JobState] = {}  # job id -> last known state
        self._final: dict[str, JobState] = {}  # job id -> end state (never asked again)
        self._refreshed_at: float | None = None
        self._counter = 0
        self.calls = {"sbatch": 0, "squeue": 0, "sacct": 0, "scancel": 0}  # for tests and bench
        self._cancelled = self._load_cancelled()
        self._to_stop: set[str] = set()
        self._to_kill: set[str] = set()
        self._to_requeue: set[str] = set()
        self._signallers: list[tuple[subprocess.Popen, float, list[str]]] = []
        self._last_outage_log = -1e9
        self._prune_submissions()

    @classmethod
    def from_config(cls, config: Any = None) -> "SlurmExecutor":
        return cls(config)

    # ------------------------------------------------------------------ slurm commands

    def _run(self, args: list[str], timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        self.calls[args[0]] = self.calls.get(args[0], 0) + 1
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SlurmError(f"`{args[0]}` is not installed here: the slurm executor needs the Slurm "
                             f"client commands (sbatch, squeue, sacct, scancel) on this machine") from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"`{args[0]}` did not answer within {timeout:.0f} s") from None

    # ------------------------------------------------------------------ slots

    def capacity(self) -> int | None:
        return self.settings.max_jobs

    def slots(self) -> list[Slot] | None:
        """max_jobs slots of the device kind the jobs ask for (the cluster, not this machine,
        has the devices); a run's threads are its cpus_per_run."""
        device = "cuda" if self.settings.gpus_per_run > 0 else "cpu"
        return [Slot(device, None, self.settings.cpus_per_run, i) for i in range(self.settings.max_jobs)]

    def describe(self) -> str | None:
        """One line for headless/status output instead of max_jobs slot labels."""
        s = self.settings
        parts = [f"up to {s.max_jobs} job(s)", f"{s.cpus_per_run} CPU(s)"]
        if s.gpus_per_run:
            parts.append(f"{s.gpus_per_run} GPU(s)")
        parts.append(f"time {s.time}")
        parts.append(f"partition {s.partition or '(default)'}")
        return "slurm: " + ", ".join(parts) + " each"

    # ------------------------------------------------------------------ submit

    def sbatch_directives(self, n_tasks: int, output: str, name: str = "grokwatch") -> list[str]:
        """sbatch's options (given on its command line; also kept as #SBATCH lines in the script)."""
        s = self.settings
        opts = [f"--job-name={name}", f"--time={s.time}",
                "--nodes=1", "--ntasks=1", f"--cpus-per-task={s.cpus_per_run}",
                f"--output={output}", "--open-mode=append", "--no-requeue", "--export=ALL"]
        if n_tasks > 1:
            opts.append(f"--array=0-{n_tasks - 1}")
        if s.signal_before_s > 0:
            opts.append(f"--signal=B:USR1@{s.signal_before_s}")
        if s.gpus_per_run > 0:
            opts.append(f"--gpus={s.gpus_per_run}")
        for key, opt in (("partition", "--partition"), ("mem", "--mem"), ("account", "--account"),
                         ("qos", "--qos")):
            if getattr(s, key):
                opts.append(f"{opt}={getattr(s, key)}")
        for item in s.sbatch_options:  # last, so that they win
            opts += shlex.split(item)
        return opts

    def _script(self, run_dirs: list[Path], env: dict[str, str], directives: list[str]) -> str:
        q = shlex.quote
        lines = ["#!/bin/bash",
                 f"# grokwatch: {len(run_dirs)} run(s), submitted {time.strftime('%Y-%m-%d %H:%M:%S')} "
                 f"from {self.host} (runner pid {os.getpid()})"]
        lines += [f"#SBATCH {d}" if not any(c.isspace() or c in "'\"" for c in d)
                  else f"# sbatch {q(d)}" for d in directives]
        lines.append("RUNS=(")
        lines += [f"  {q(str(d))}" for d in run_dirs]
        lines.append(")")
        lines.append('RUN_DIR="${RUNS[${SLURM_ARRAY_TASK_ID:-0}]}"')
        lines.append('export GROKWATCH_RUN_DIR="$RUN_DIR" GROKWATCH_RUN_ID="${RUN_DIR##*/}"')
        for k, v in sorted(env.items()):
            lines.append(f"export {k}={q(v)}")
        lines.append("export PYTHONUNBUFFERED=1")
        lines.append('cd "$RUN_DIR" || { echo "grokwatch: cannot enter $RUN_DIR on $(hostname): '
                     'is the runs directory on a file system this node shares?" >&2; exit 66; }')
        lines.append('echo "grokwatch: slurm job ${SLURM_JOB_ID}${SLURM_ARRAY_TASK_ID:+ (array '
                     '${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})} on $(hostname) at $(date -Is)'
                     '${CUDA_VISIBLE_DEVICES:+, CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES}"')
        lines += list(self.settings.setup)
        lines.append(f'exec {q(self.python)} -m grokwatch.worker "$RUN_DIR"')
        return "\n".join(lines) + "\n"

    def _job_env(self, env: dict[str, str]) -> dict[str, str]:
        out = {k: v for k, v in env.items() if k not in RUN_SPECIFIC_ENV}
        if self.settings.gpus_per_run > 0:
            out.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets it from the job's GPUs
        return out

    def submit(self, run_dir: Path, env: dict[str, str]) -> JobRecord:
        out = self.submit_many([(run_dir, env)])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def submit_many(self, items: list[tuple[Path, dict[str, str]]]) -> list[JobRecord | Exception]:
        """Submit several runs: one job array per group of runs with the same environment
        (at most MAX_ARRAY tasks each), one sbatch call per array. An array sbatch refused
        leaves its exception in place of each of its records."""
        groups: dict[tuple, list[int]] = {}
        for i, (_, env) in enumerate(items):
            key = tuple(sorted(self._job_env(env).items()))
            groups.setdefault(key, []).append(i)
        records: list[JobRecord | Exception | None] = [None] * len(items)
        for key, idx in groups.items():
            for start in range(0, len(idx), MAX_ARRAY):
                chunk = idx[start:start + MAX_ARRAY]
                try:
                    recs: list[JobRecord | Exception] = list(self._submit_group(
                        [Path(items[i][0]).resolve() for i in chunk], dict(key)))
                except (SlurmError, OSError) as exc:
                    recs = [exc] * len(chunk)
                for i, rec in zip(chunk, recs):
                    records[i] = rec
        return [r for r in records if r is not None]

    def _submission_dir(self) -> Path:
        self._counter += 1
        d = self.work_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{self._counter}"
        d.mkdir(parents=True, exist_ok=False)
        return d

    def _submit_group(self, run_dirs: list[Path], env: dict[str, str]) -> list[JobRecord]:
        sub = self._submission_dir()
        for i, run_dir in enumerate(run_dirs):  # task i's stdout+stderr -> that run's worker.log
            os.symlink(run_dir / "worker.log", sub / f"{i}.log")
        output = str(sub).replace("%", "%%") + ("/%a.log" if len(run_dirs) > 1 else "/0.log")
        names = [d.name for d in run_dirs]
        name = names[0] if len(names) == 1 else re.sub(r"(-s\d*)?[-_=.]*$", "", os.path.commonprefix(names))
        directives = self.sbatch_directives(len(run_dirs), output, f"gw-{name}" if name else "grokwatch")
        (sub / "job.sh").write_text(self._script(run_dirs, env, directives))
        proc = self._run(["sbatch", "--parsable", *directives, str(sub / "job.sh")])
        if proc.returncode != 0:
            raise SlurmError(f"sbatch failed: {_one_line(proc.stderr or proc.stdout)} "
                             f"(script: {sub / 'job.sh'})")
        job_id = proc.stdout.strip().split(";")[0]  # "123" or "123;cluster"
        (sub / "job_id").write_text(job_id + "\n")
        now = time.time()
        records = []
        for i, run_dir in enumerate(run_dirs):
            rec = self.record(job_id=job_id if len(run_dirs) == 1 else f"{job_id}_{i}",
                              submitted=now, host=self.host, script=str(sub / "job.sh"))
            if len(run_dirs) > 1:
                rec.update({"array_job_id": job_id, "array_task": i})
            records.append(rec)
            self._states[rec["job_id"]] = JobState("pending", reason="submitted")
        log.info("submitted %d run(s) as slurm job %s%s", len(run_dirs), job_id,
                 f" (array 0-{len(run_dirs) - 1})" if len(run_dirs) > 1 else "")
        return records

    # ------------------------------------------------------------------ poll

    def poll(self, records: dict[str, JobRecord]) -> dict[str, JobState]:
        self.flush()
        wanted = {run_id: str(rec.get("job_id") or "") for run_id, rec in records.items()}
        ids = {j for j in wanted.values() if j}
        stale = (self._refreshed_at is None
                 or time.monotonic() - self._refreshed_at >= self.poll_interval_s
                 or not ids <= (self._states.keys() | self._final.keys()))
        if stale and ids - self._final.keys():
            try:
                self.refresh(ids - self._final.keys())
            except SlurmError as exc:  # keep the last known states; try again after the interval
                self._refreshed_at = time.monotonic()
                self._outage(exc)
        out = {}
        for run_id, job_id in wanted.items():
            if not job_id:
                out[run_id] = JobState("gone", reason="executor.json names no slurm job")
            else:
                out[run_id] = (self._final.get(job_id) or self._states.get(job_id)
                               or JobState("pending", reason="Slurm does not answer"))
        return out

    def _outage(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_outage_log > 60:
            log.warning("%s; the runs are kept as they were and Slurm is asked again every %.0f s",
                        exc, self.poll_interval_s)
            self._last_outage_log = now

    def squeue(self, job_ids: Iterable[str] | None) -> dict[str, SlurmJob]:
        """What slurmctld knows of these jobs (None: all of this user's), in one call. Arrays are
        asked for whole (squeue does not list a task that never started by its own id): look
        tasks up with find_job."""
        args = ["squeue", "--noheader", "--array", "--states=all", f"--Format={SQUEUE_FIELDS}"]
        if job_ids is None:
            args.append(f"--user={self.uid}")
        else:
            ids = sorted({_base(j) for j in job_ids})
            if not ids:
                return {}
            args.append(f"--jobs={','.join(ids)}")
        proc = self._run(args)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:  # every id given is unknown to slurmctld
                return {}
            raise SlurmError(f"squeue failed: {_one_line(proc.stderr or proc.stdout)}")
        return parse_squeue(proc.stdout)

    def sacct(self, job_ids: Iterable[str]) -> dict[str, SlurmJob] | None:
        """The accounting record of ended jobs, in one call (whole arrays, as squeue); None where
        sacct does not work."""
        ids = sorted({_base(j) for j in job_ids})
        if not ids:
            return {}
        try:
            proc = self._run(["sacct", "--noheader", "--parsable2", "--allocations",
                              f"--format={SACCT_FIELDS}", f"--jobs={','.join(ids)}"])
        except SlurmError as exc:
            log.warning("%s", exc)
            return None
        if proc.returncode != 0:
            log.warning("sacct failed: %s", _one_line(proc.stderr or proc.stdout))
            return None
        return parse_sacct(proc.stdout)

    def refresh(self, job_ids: set[str] | None) -> None:
        """One squeue call (and a sacct call for jobs that need it); updates the cache."""
        live = self.squeue(job_ids)
        self._refreshed_at = time.monotonic()
        ids = set(live) if job_ids is None else set(job_ids)
        ask_sacct = set()
        found = {job_id: find_job(live, job_id) for job_id in ids}
        for job_id, job in found.items():
            if job is None or (job.state == "CANCELLED" and job_id not in self._cancelled):
                ask_sacct.add(job_id)  # ended long ago; or: who cancelled it?
        acct = self.sacct(ask_sacct) if ask_sacct else {}
        for job_id in ids:
            job = found[job_id]
            if job is not None and job.state == "CANCELLED" and acct:
                known = find_job(acct, job_id)
                job.by_uid = known.by_uid if known else None
            if job is None:
                old = find_job(acct, job_id) if acct else None
                if old is None:
                    why = "sacct does not work here" if acct is None else "nor does sacct"
                    self._states[job_id] = JobState("gone", reason=f"squeue no longer knows slurm job "
                                                    f"{job_id}, {why}")
                    self._final[job_id] = self._states[job_id]
                    continue
                if old.state in PENDING_STATES or old.state in RUNNING_STATES:
                    state = JobState("gone", reason=f"slurm job {job_id} vanished (slurmctld no longer "
                                     f"knows it; accounting last saw it {old.state})", node=old.node)
                    self._states[job_id] = self._final[job_id] = state
                    continue
                job = old
            state = self.job_state(job)
            self._states[job_id] = state
            if state.phase in ("exited", "gone"):
                self._final[job_id] = state

    def job_state(self, job: SlurmJob) -> JobState:
        """One Slurm job's state as the runner sees it."""
        s, jid = job.state, job.job_id
        if s in PENDING_STATES:
            return JobState("pending", reason=job.reason or s.lower(), node="")
        if s in RUNNING_STATES:
            return JobState("running", reason="" if s == "RUNNING" else s.lower(), node=job.node)
        code = job.exit_code
        if s == "COMPLETED":
            return JobState("exited", exit_code=0 if code is None else code, reason="COMPLETED",
                            node=job.node)
        if s == "FAILED":
            if code in (EXIT_REQUEUE, EXIT_STOPPED):  # the worker's own exits: status.json decides
                return JobState("exited", exit_code=code, reason="FAILED", node=job.node)
            what = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            return JobState("exited", exit_code=code, node=job.node, final_state="failed",
                            reason=f"slurm job {jid} FAILED ({what}"
                                   f"{', ' + job.reason if job.reason else ''}) before the worker wrote "
                                   f"its state; see worker.log")
        if s == "CANCELLED":
            if jid in self._cancelled:
                return JobState("exited", exit_code=code, reason=f"slurm job {jid} cancelled through "
                                f"grokwatch", node=job.node, final_state="stopped")
            return JobState("exited", exit_code=code, node=job.node, final_state="lost",
                            reason=f"slurm job {jid} was CANCELLED by {_user_name(job.by_uid)}, "
                                   f"not through grokwatch")
        if s == "PREEMPTED":  # the worker had SIGTERM (GraceTime) and checkpointed: run it again
            return JobState("exited", exit_code=EXIT_REQUEUE, node=job.node,
                            reason=f"slurm job {jid} was PREEMPTED; requeued")
        if s == "OUT_OF_MEMORY":
            mem = f" (mem = {self.settings.mem})" if self.settings.mem else ""
            return JobState("exited", exit_code=code, node=job.node, final_state="failed",
                            reason=f"slurm job {jid} ran OUT_OF_MEMORY{mem}: give it more [slurm] mem")
        if s in LOST_STATES:
            extra = ""
            if s == "TIMEOUT":
                extra = (f" (time = {self.settings.time}) before it could checkpoint and requeue "
                         f"(signal_before_s = {self.settings.signal_before_s})")
            return JobState("exited", exit_code=code, node=job.node, final_state="lost",
                            reason=f"slurm job {jid} {s}: it {LOST_STATES[s]}{extra}"
                                   f"{' on ' + job.node if job.node else ''}")
        return JobState("exited", exit_code=code, node=job.node, final_state="failed",
                        reason=f"slurm job {jid} ended {s}{': ' + job.reason if job.reason else ''}")

    # ------------------------------------------------------------------ adopt, cancel

    def adopt(self, record: JobRecord) -> bool:
        """Is the job of this record (from executor.json) still pending or running? The first call
        after a restart asks squeue for all of this user's jobs at once; the rest use that answer."""
        job_id = str(record.get("job_id") or "")
        if not job_id:
            return False
        fresh = self._refreshed_at is not None and time.monotonic() - self._refreshed_at < self.poll_interval_s
        if not fresh:
            try:
                live = self.squeue(None)
            except SlurmError as exc:  # keep watching it: the next poll that gets through decides
                self._outage(exc)
                return True
            self._refreshed_at = time.monotonic()
            for jid, job in live.items():
                self._states[jid] = self.job_state(job)
        state = self._states.get(job_id)
        if state is None:
            return False
        return state.phase in ("pending", "running")

    def _scancel(self, args: list[str]) -> bool:
        try:
            proc = self._run(["scancel", *args], timeout=SCANCEL_TIMEOUT_S)
        except SlurmError as exc:
            log.warning("%s", exc)
            return False
        if proc.returncode != 0:
            log.warning("scancel %s: %s", " ".join(args), _one_line(proc.stderr))
            return False
        return True

    def _signal(self, sig: str, job_ids: list[str]) -> None:
        """`scancel --batch --signal=SIG` without waiting for it. Slurm 22.05 delivers a signal to a
        running array task at once yet often answers "Job can not be altered now" and scancel tries
        again 5 s later: a second SIGTERM, which a worker takes as "stop now, skip the checkpoint".
        So the scancel is killed after SIGNAL_WAIT_S, and the runner never waits for it."""
        self._reap()
        self.calls["scancel"] = self.calls.get("scancel", 0) + 1
        try:
            proc = self._spawn(["scancel", "--batch", f"--signal={sig}", *job_ids])
        except OSError as exc:
            log.warning("scancel: %s", exc)
            return
        self._signallers.append((proc, time.monotonic() + SIGNAL_WAIT_S, job_ids))

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def _reap(self, wait: bool = False) -> None:
        keep = []
        for proc, deadline, ids in self._signallers:
            if wait and proc.poll() is None:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None and time.monotonic() < deadline:
                keep.append((proc, deadline, ids))
                continue
            if proc.poll() is None:
                proc.kill()  # its signal went out at once; its retry must not
            err = (proc.communicate()[1] or "") if proc.stderr else ""
            if proc.returncode not in (0, -9) and "can not be altered" not in err:
                log.warning("%s: %s", " ".join(proc.args), _one_line(err))
        self._signallers = keep

    def cancel(self, record: JobRecord, requeue: bool = False) -> None:
        """Stop: a running job's worker gets SIGTERM (checkpoint, `stopped`); a job that is not
        running yet is cancelled. Requeue: SIGUSR1 to a running job (checkpoint, exit 75).
        The scancel calls go out at the next poll (or flush), all stops in one or two calls."""
        job_id = str(record.get("job_id") or "")
        if not job_id or job_id in self._final:
            return
        if requeue:
            self._to_requeue.add(job_id)
            return
        self._remember_cancel(job_id)
        self._to_stop.add(job_id)

    def kill(self, record: JobRecord) -> None:
        """Cancel at once (Slurm's SIGTERM, then SIGKILL after its KillWait)."""
        job_id = str(record.get("job_id") or "")
        if job_id:
            self._remember_cancel(job_id)
            self._to_kill.add(job_id)

    def flush(self) -> None:
        """Send the stops, kills and requeues asked for since the last flush. Only a job that
        squeue says is RUNNING is signalled: `scancel --signal` on a pending job waits (and
        retries) until the job starts, and on an array task it can reach its pending siblings."""
        self._reap()
        kill, self._to_kill = sorted(self._to_kill), set()
        stop, self._to_stop = sorted(self._to_stop - set(kill)), set()
        requeue, self._to_requeue = sorted(self._to_requeue - set(kill) - set(stop)), set()
        if not (kill or stop or requeue):
            return
        if kill:
            self._scancel(kill)
        try:
            live = self.squeue(stop + requeue) if stop or requeue else {}
        except SlurmError as exc:
            self._to_stop.update(stop)  # tried again at the next poll
            self._to_requeue.update(requeue)
            self._outage(exc)
            return
        found = {j: find_job(live, j) for j in stop + requeue}
        running = {j for j, job in found.items() if job is not None and job.state == "RUNNING"}
        term = [j for j in stop if j in running]
        cancel = [j for j in stop if j not in running and found[j] is not None
                  and found[j].state in PENDING_STATES | RUNNING_STATES]
        if cancel:
            self._scancel(cancel)
        if term:
            self._signal("TERM", term)
        usr1 = [j for j in requeue if j in running]
        if usr1:
            self._signal("USR1", usr1)
        self._refreshed_at = None  # the next poll asks squeue again

    # ------------------------------------------------------------------ bookkeeping

    def close(self) -> None:
        try:
            self.flush()
        except SlurmError as exc:
            log.warning("%s", exc)
        self._reap(wait=True)

    def _load_cancelled(self) -> set[str]:
        try:
            lines = (self.work_dir / "cancelled").read_text().split()
        except OSError:
            return set()
        return set(lines[-10000:])

    def _remember_cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            with open(self.work_dir / "cancelled", "a") as f:
                f.write(job_id + "\n")
        except OSError as exc:
            log.warning("could not note the cancel of job %s: %s", job_id, exc)

    def _prune_submissions(self) -> None:
        """Submission directories (scripts, log symlinks) older than a week go."""
        try:
            entries = list(os.scandir(self.work_dir))
        except OSError:
            return
        cutoff = time.time() - KEEP_SUBMISSIONS_S
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < cutoff:
                    shutil.rmtree(e.path, ignore_errors=True)
            except OSError:
                pass


def slurm_available() -> str | None:
    """None when the Slurm client commands are here and a controller answers; else why not."""
    for cmd in ("sbatch", "squeue", "scancel"):
        if shutil.which(cmd) is None:
            return f"`{cmd}` is not installed"
    try:
        proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"scontrol ping: {exc}"
    if proc.returncode != 0 or "UP" not in proc.stdout:
        return f"no Slurm controller answers: {_one_line(proc.stdout + proc.stderr)}"
    return None
