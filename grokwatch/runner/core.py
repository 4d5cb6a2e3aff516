"""The runner: turns experiments.toml into runs, schedules them over device slots through an
executor, supervises them, feeds their new metrics rows to the detectors, and writes events.

It runs detached (its own process session) for the TUI, or in the foreground for headless mode;
the loop is the same. It never imports torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..config import Config, ConfigError, RunSpec, expand_runs, load_config
from ..detect.kinds import is_alert_kind, kind_of
from ..experiments import get_spec, worker_env
from ..paths import ProjectPaths
from ..runs import (EXIT_REQUEUE, NO_SPACE, RESUMABLE_STATES, RETRYABLE_STATES, TERMINAL_STATES, MetricsTail,
                    RunPaths, is_disk_full, list_run_dirs, read_events, read_json,
                    tail_lines)
from ..status import RunStatus, ended_by_runner, queued_status
from .attempts import Attempts
from .control import attached_viewers, take_requests
from .diskguard import DiskGuard, dumps_event
from .devices import Slot, plan as plan_slots, query_gpus
from .gpumem import PeakBook, process_estimate, largest as largest_estimate
from .gpustats import GpuSampler
from .executors import Executor, JobRecord, JobState, make_executor
from .lock import RunnerLock
from . import packs

log = logging.getLogger("grokwatch.runner")

TICK_S = 0.5
VIEWER_GRACE_S = 5.0
STOP_KILL_AFTER_S = 60.0
MAX_STALLED_REQUEUES = 3  # requeues in a row with no progress before a run is failed


class StateDirUnwritable(Exception):
    """`.grokwatch/` cannot be written (read-only, immutable, another user's): the runner keeps
    its lock, runner.json and the control requests there, so it does not start. str() is the
    one line to show; nothing was started and no run was touched."""

    def __init__(self, state_dir: Path, exc: OSError):
        self.state_dir = state_dir
        why = exc.strerror or str(exc)
        super().__init__(f"cannot write {state_dir}/ ({why}): the runner keeps its lock, status and "
                         f"control requests there, so nothing was started and no run was touched; "
                         f"make the directory writable and start again")


def check_state_dir(state_dir: Path) -> None:
    """Raise StateDirUnwritable unless a file can be made in `state_dir` (a full disk is not
    this error: DiskGuard handles it)."""
    from ..runs import is_disk_full

    probe = state_dir / f".probe.{os.getpid()}"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(probe)
    except OSError as exc:
        if not is_disk_full(exc):
            raise StateDirUnwritable(state_dir, exc) from None


class RunnerBusy(Exception):
    """Another runner holds this project directory."""

    def __init__(self, holder: dict[str, Any]):
        self.holder = holder
        super().__init__(f"a runner is already running in this directory (host {holder.get('host')}, "
                         f"pid {holder.get('pid')}, serving {holder.get('config')})")


@dataclass
class ActiveRun:
    """What the runner keeps in memory for a run that is queued or running."""

    run_id: str
    paths: RunPaths
    info: dict[str, Any]  # config.json (written once, when the run was queued)
    state: str = "queued"
    slot: Slot | None = None
    record: JobRecord | None = None
    tail: MetricsTail | None = None
    detectors: Any = None
    seen_alerts: set = field(default_factory=set)
    latest: dict[str, float] = field(default_factory=dict)
    unreadable_told: int = 0  # rows of metrics.csv that could not be read, as last reported
    started_event: bool = False
    stop_requested_at: float | None = None
    retry_when_ended: bool = False  # a retry came while a stop was under way: apply it after
    order: int = 0


def _make_detectors(info: dict[str, Any]) -> Any:
    """The one hook through which every new metrics row reaches the detectors."""
    from ..detect import DetectorSet

    return DetectorSet(info)


LIFECYCLE = ("started", "done", "failed", "diverged", "stopped", "lost", "retried", "requeued")


def _last_lifecycle(paths: RunPaths) -> str | None:
    events, _ = read_events(paths.events)
    return next((e["kind"] for e in reversed(events) if e.get("kind") in LIFECYCLE), None)


def symlinked(paths: RunPaths) -> str | None:
    """Why a run directory must not be touched, or None. A run directory that is a symbolic
    link can point at anyone's files: retry would move them, stop would signal whatever pid its
    executor.json names. grokwatch makes real directories; a link was planted or copied in."""
    if paths.dir.is_symlink():
        return (f"{paths.run_id} is a symbolic link (to {os.readlink(paths.dir)}), not a run directory "
                f"grokwatch made; replace it with the directory itself to use it")
    return None


class Runner:
    def __init__(self, config_path: Path, project_dir: Path | None = None,
                 executor: Executor | None = None, foreground: bool = False,
                 on_event: Callable[[dict[str, Any]], None] | None = None):
        self.config_path = Path(config_path).resolve()
        self.project_dir = Path(project_dir or Path.cwd()).resolve()
        self.foreground = foreground
        self.on_event = on_event
        self.files = ProjectPaths(self.project_dir)
        self.lock = RunnerLock(self.project_dir)
        self.disk = DiskGuard(self._written_dirs, self._on_disk_change)
        self.config: Config | None = None
        self.config_mtime: float | None = None
        self.config_error: str | None = None
        self.executor = executor
        self.slots: list[Slot] = []
        self.slot_notes: list[str] = []  # why each device got the slots it has
        self.gpu_sampler: GpuSampler | None = None  # what the GPUs do (runner.json), when it has any
        self.gpu_peaks: PeakBook | None = None  # measured GPU memory per kind and shape (gpumem.py)
        self.gpu_process_mb: float | None = None  # the GPU memory per process the plan used
        self.active: dict[str, ActiveRun] = {}
        self.ran: set[str] = set()  # run ids this runner launched (headless exit code)
        self.final_states: dict[str, str] = {}
        self.shutting_down = False
        self._last_viewer = time.monotonic()
        self._alerts = None
        self._order = 0
        self.host = socket.gethostname()

    # ------------------------------------------------------------------ start-up

    def start(self) -> None:
        """Take the lock, read the config, re-adopt live runs, queue the rest. Raises
        ConfigError or RunnerBusy; nothing is written before the config proves valid."""
        config = load_config(self.config_path, self.project_dir)  # may raise ConfigError
        try:
            got = self.lock.acquire(self.config_path)
        except OSError as exc:  # the lock file cannot be made: a read-only .grokwatch/
            self.lock.release()
            raise StateDirUnwritable(self.files.state_dir, exc) from None
        if not got:
            raise RunnerBusy(self.lock.holder() or {})
        try:
            check_state_dir(self.files.state_dir)  # runner.json, events, requests: before any run is touched
        except StateDirUnwritable:
            self.lock.release()
            raise
        self.config = config
        self.config_mtime = self._mtime()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        if self.executor is None:
            self.executor = make_executor(config.settings.executor, config)
        s = config.settings
        own = self.executor.slots()  # a cluster's own (max_jobs); else this machine's devices
        gpus = None
        if own:
            self.slots, self.slot_notes = own, []
        else:
            gpus = query_gpus() if s.devices != "cpu" else None  # asked once: both plans use it
            planned = plan_slots(s.devices, s.max_parallel, s.threads_per_run, gpus=gpus)
            self.slots, self.slot_notes = planned.slots, planned.notes
            if any(x.device == "cuda" for x in self.slots):
                self.gpu_sampler = GpuSampler()
        self._setup_alerts()
        self.gpu_peaks = PeakBook(self.files.gpu_peaks, self._write)
        try:
            self._adopt_existing()
            self._sync_queue(expand_runs(config))
        except OSError as exc:  # a full disk: start anyway; the queue is synced once space is back
            if not is_disk_full(exc, self.runs_dir):
                raise
            self.disk.full(Path(getattr(exc, "filename", None) or self.runs_dir), exc)
        if not own and any(x.device == "cuda" for x in self.slots):
            self._plan_gpu_memory(gpus)
        log.info("runner %s on %s: %d slot(s): %s", os.getpid(), self.host, len(self.slots),
                 "; ".join(self.slot_notes) or ", ".join(f"{x.label}x{x.threads}t" for x in self.slots))
        self._write_runner_status()

    def _gpu_launches(self):
        """The queued runs that go to a GPU, cut into launch groups as the scheduler will."""
        queued = sorted((r for r in self.active.values()
                         if r.state == "queued" and r.info.get("device") == "cuda"), key=lambda r: r.order)
        return [[r.info for r in g] for g in packs.groups(self, queued)]

    def _plan_gpu_memory(self, gpus: list[dict] | None) -> None:
        """Remake the GPU part of the plan with the memory the queued GPU launches need: the
        largest process estimate among them (gpumem.py; a recorded peak where there is one).
        Runs adopted meanwhile keep their slots (a slot's memory is not part of its identity)."""
        groups = self._gpu_launches()
        est = largest_estimate(groups, self.gpu_peaks)
        if est is None:
            return
        assert self.config is not None
        s = self.config.settings
        runs = f"{est.runs} run{'s' if est.runs > 1 else ''}"
        basis = f"{est.basis}: the largest of {len(groups)} queued GPU launch(es), {runs} in it"
        planned = plan_slots(s.devices, s.max_parallel, s.threads_per_run, gpus=gpus,
                             per_process_mb=est.mb, memory_basis=basis)
        self.slots, self.slot_notes = planned.slots, planned.notes
        self.gpu_process_mb = est.mb

    def describe_slots(self) -> str:
        """One line: the executor's own (a cluster), else each device's slot count and threads."""
        own = self.executor.describe() if self.executor is not None else None
        if own:
            return own
        groups: dict[tuple[str, int], int] = {}
        for s in self.slots:
            groups[(s.label, s.threads)] = groups.get((s.label, s.threads), 0) + 1
        return ", ".join(f"{label} x{n} ({t} thread{'s' if t > 1 else ''} each)" if n > 1
                         else f"{label}x{t}t" for (label, t), n in groups.items())

    @property
    def runs_dir(self) -> Path:
        assert self.config is not None
        return self.config.runs_dir

    def _mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    def _setup_alerts(self) -> None:
        self._alerts = None
        if self.config and self.config.alerts.command:
            try:
                from ..alerts import AlertCommand
            except ImportError:
                return
            self._alerts = AlertCommand(self.config.alerts.command,
                                        timeout_s=self.config.alerts.command_timeout_s,
                                        on_error=lambda m: log.warning("alert command: %s", m))

    def _adopt_existing(self) -> None:
        """Runs left `running` by an earlier runner: adopt the live ones, mark the rest lost."""
        for paths in list_run_dirs(self.runs_dir):
            if symlinked(paths):  # never adopted, signalled or written: it may point anywhere
                log.warning("%s; it is left alone", symlinked(paths))
                continue
            status = read_json(paths.status, {}) or {}
            state = status.get("state")
            if state not in ("running", "starting", "requeued"):
                if state in TERMINAL_STATES:
                    self._reconcile_final_event(paths, state, status)
                if not (state == "queued" and paths.executor.exists()):
                    continue  # (queued with executor.json: maybe a cluster job still pending)
            record = JobRecord.load(paths.executor)
            info = read_json(paths.config, {})
            run = ActiveRun(paths.run_id, paths, info, state="running", record=record)
            alive = record is not None and self.executor.adopt(record)
            if alive:
                self._track(run)
                run.started_event = _last_lifecycle(paths) == "started"
                log.info("re-adopted %s (%s)", run.run_id, record)
            elif state == "queued":
                continue  # no live job: the queue decides, as for any queued run
            else:
                fresh = read_json(paths.status, {}) or {}
                if fresh.get("state") in TERMINAL_STATES:  # ended while no runner was watching
                    self._reconcile_final_event(paths, fresh["state"], fresh)
                elif fresh.get("state") == "requeued":
                    self._queue_existing(paths, info)
                else:
                    self._finish(run, "lost", "the worker vanished while no runner was watching "
                                 "(the machine rebooted, or it was killed)")

    def _reconcile_final_event(self, paths: RunPaths, state: str, status: dict) -> None:
        """A worker that ended while no runner watched leaves a state without an event: add it."""
        events, _ = read_events(paths.events)
        if not any(e.get("kind") == state for e in events[-5:]):
            self._event(paths, state, status.get("step", 0), self._state_message(state, status, paths))

    # ------------------------------------------------------------------ queue

    def _sync_queue(self, specs: list[RunSpec]) -> None:
        """Bring the queue in line with the config: new runs queued, removed queued runs dropped,
        running ones left alone, finished ones never re-run."""
        wanted = {s.run_id: s for s in specs}
        for spec in specs:
            if spec.run_id in self.active:
                continue
            paths = RunPaths(self.runs_dir / spec.run_id)
            if symlinked(paths):
                continue  # said once, at start-up (_adopt_existing)
            status = read_json(paths.status, {}) or {}
            state = status.get("state")
            if state in TERMINAL_STATES or state == "running":
                continue
            info = self._create_run_dir(paths, spec) if not paths.config.exists() else read_json(paths.config, {})
            self._queue_existing(paths, info, order=spec.order)
        for run_id, run in list(self.active.items()):
            if run.state == "queued" and run.info.get("experiment_file") == str(self.config_path) \
                    and run_id not in wanted and not Attempts.load(run.paths).retried:
                self._drop_queued(run)

    def _create_run_dir(self, paths: RunPaths, spec: RunSpec) -> dict[str, Any]:
        paths.dir.mkdir(parents=True, exist_ok=True)
        described = {}
        kind_spec = get_spec(spec.kind)
        if kind_spec.describe is not None:
            try:
                described = kind_spec.describe(spec.params) or {}
            except Exception as exc:  # noqa: BLE001 — a describe bug must not stop the queue
                log.warning("describe(%s) failed: %s", spec.kind, exc)
        assert self.config is not None
        planned = self._planned_slot(kind_spec.uses_gpu if spec.gpu is None else spec.gpu)
        info = {
            "run_id": spec.run_id, "experiment": spec.experiment, "kind": spec.kind,
            "seed": spec.seed, "params": spec.params, "sweep": spec.sweep, "preset": spec.preset,
            "experiment_file": str(self.config_path),
            "checkpoint_every_s": self.config.settings.checkpoint_every_s,
            # the device kind and thread count are fixed here, once: a run and its resumes use them
            "device": planned.device, "threads": planned.threads,
            "created": time.time(),
            "versions": {"python": sys.version.split()[0], "grokwatch": __version__},
            **{k: v for k, v in described.items() if k in ("n_train", "n_test", "total_steps")},
        }
        # status first: readers take config.json as the mark of a run directory
        self._write(paths.status, queued_status(spec.run_id, total_steps=info.get("total_steps")))
        self._write(paths.config, info)
        return info

    def _planned_slot(self, uses_gpu: bool) -> Slot:
        """The kind of slot a new run will get (its device and thread count): a GPU slot for a
        kind that uses one, a CPU slot for the others (so they never wait for a GPU)."""
        want = "cuda" if uses_gpu else "cpu"
        return next((s for s in self.slots if s.device == want), self.slots[0])

    def _queue_existing(self, paths: RunPaths, info: dict[str, Any], order: int | None = None) -> None:
        run = ActiveRun(paths.run_id, paths, info, state="queued",
                        order=self._order if order is None else order)
        self._order += 1
        status: RunStatus = read_json(paths.status, {}) or {}
        if status.get("state") != "queued":
            status.update({"state": "queued", "queued": time.time(), "pid": None})
            self._write(paths.status, status)
        self.active[run.run_id] = run

    def _drop_queued(self, run: ActiveRun) -> None:
        del self.active[run.run_id]
        never_ran = not run.paths.metrics.exists() and not run.paths.worker_log.exists()
        if never_ran:
            shutil.rmtree(run.paths.dir, ignore_errors=True)
            log.info("dropped %s (removed from %s)", run.run_id, self.config_path.name)
        else:
            self._finish(run, "stopped", f"removed from {self.config_path.name} while queued")

    # ------------------------------------------------------------------ the loop

    def _write(self, path: Path, obj: Any) -> None:
        """Every JSON file the runner writes (atomic; on a full disk: DiskGuard)."""
        self.disk.write_json(path, obj)

    def _written_dirs(self) -> list[Path]:
        dirs = [self.files.state_dir]
        if self.config is not None:
            dirs.append(self.runs_dir)
        return dirs

    def _on_disk_change(self, trouble: str | None) -> None:
        if trouble is None:
            self._project_event("disk_ok", "space is back: launching runs again")
            if self.config is not None:  # a run directory may be half made: the queue again
                self._sync_queue(expand_runs(self.config))
        else:
            self._project_event("disk_full", trouble)
        self._write_runner_status()

    def tick(self) -> None:
        """One round of the loop. A full disk is never fatal: it is noted (DiskGuard), and the
        round ends; the next one probes for space first."""
        try:
            self._tick()
        except OSError as exc:
            if not is_disk_full(exc, self.runs_dir if self.config else None):
                raise
            self.disk.full(Path(getattr(exc, "filename", None) or self.files.state_dir), exc)

    def _tick(self) -> None:
        if self.disk.trouble is not None:
            self.disk.probe()
        if self.lock.refresh():  # someone deleted .grokwatch/ (or the lock file): say who holds it
            log.warning("%s was deleted while this runner ran; written again (the project directory's "
                        "own lock kept any other runner out)", self.lock.path)
            self._write_runner_status()
        self._handle_requests()
        self._maybe_reload()
        self._poll()
        self._schedule()  # before the other runs' new rows: a freed slot is refilled first
        self._tail_metrics()
        if self._alerts is not None:
            self._alerts.poll()
        if self.gpu_sampler is not None and self.gpu_sampler.poll():
            self._write_runner_status()

    def run_forever(self) -> None:
        last_status = 0.0
        while not self.should_exit():
            t0 = time.monotonic()
            self.tick()
            if t0 - last_status > 2.0:
                self._write_runner_status()
                last_status = t0
            self.wait(max(0.0, TICK_S - (time.monotonic() - t0)))
        self.close()

    def wait(self, timeout: float) -> None:
        """Sleep until the next tick, or until the executor says a job may have ended (a local
        worker's exit: SIGCHLD), so a freed slot is refilled at once."""
        fd = self.executor.wakeup_fd() if self.executor is not None else None
        if fd is None:
            time.sleep(timeout)
            return
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        except (OSError, ValueError):
            time.sleep(timeout)
            return
        if ready:
            try:
                while os.read(fd, 4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass

    def should_exit(self) -> bool:
        if self.active:
            return False
        if self.shutting_down:
            return True
        if self.foreground:
            return True
        if attached_viewers(self.project_dir):
            self._last_viewer = time.monotonic()
            return False
        return time.monotonic() - self._last_viewer > VIEWER_GRACE_S

    def close(self) -> None:
        if self._alerts is not None:
            self._alerts.close()
        if self.gpu_sampler is not None:
            self.gpu_sampler.close()
        self._write_runner_status(running=False)
        self.lock.release()
        if self.executor is not None:
            self.executor.close()

    # ------------------------------------------------------------------ control

    def _handle_requests(self) -> None:
        requests, stale = take_requests(self.project_dir, self.lock.info)
        for s in stale:  # meant for a runner that is gone: said, never applied
            log.warning("%s", s.describe())
            self._project_event("request_dropped", s.describe())
        for req in requests:
            action, ids = req["action"], req.get("runs")
            log.info("request: %s %s", action, ids or "(all)")
            if action == "reload":
                self.config_mtime = None
            elif action == "stop":
                self.stop_runs(ids)
            elif action == "shutdown":
                self.stop_runs(None)
                self.shutting_down = True
            elif action == "retry":
                for run_id in ids or []:
                    self._request_retry(run_id)

    def _request_retry(self, run_id: str) -> None:
        """A retry request: a run still stopping (a stop just before) is retried once it has
        stopped, so the last request wins; any other refusal is said in one line."""
        run = self.active.get(run_id)
        if run is not None and run.stop_requested_at is not None:
            run.retry_when_ended = True
            return
        problem = self.retry(run_id)
        if problem:
            log.warning("retry refused: %s", problem)
            self._project_event("request_refused", f"retry refused: {problem}")

    def stop_runs(self, run_ids: list[str] | None) -> None:
        """SIGTERM running runs (they checkpoint). A queued run named by id ends `stopped`; when
        everything stops (shutdown, Ctrl-C) queued runs stay queued for the next runner."""
        for run_id, run in list(self.active.items()):
            if run_ids is not None and run_id not in run_ids:
                continue
            run.retry_when_ended = False  # a stop after a retry: the stop wins
            if run.state == "queued":
                del self.active[run_id]
                if run_ids is not None:
                    self._finish(run, "stopped", "stopped before it started")
            elif run.record is not None and run.stop_requested_at is None:
                run.stop_requested_at = time.monotonic()
                self.executor.cancel(run.record)

    def retry(self, run_id: str) -> str | None:
        """Queue a stopped/lost run to resume from its checkpoint, or a failed/diverged run (or
        one without a checkpoint) to restart from step 0 after moving its files to attempt-N/.
        Returns an error message or None."""
        paths = RunPaths(self.runs_dir / run_id)
        status = read_json(paths.status, {}) or {}
        state = status.get("state")
        if run_id in self.active:
            return f"{run_id} is already {self.active[run_id].state}"
        refused = symlinked(paths)
        if refused:
            return refused
        if state not in RETRYABLE_STATES:
            return f"{run_id} is {state}; only {', '.join(RETRYABLE_STATES)} runs can be retried"
        info = read_json(paths.config, {})
        resumable = state in RESUMABLE_STATES and (paths.dir / "checkpoint.json").exists()
        attempt = int(status.get("attempt", 1))
        if not resumable:
            attempt_dir = paths.dir / f"attempt-{attempt}"
            if attempt_dir.is_symlink():
                return f"{run_id}: {attempt_dir.name} is a symbolic link; grokwatch moves no files into it"
            attempt_dir.mkdir(exist_ok=True)
            for p in list(paths.dir.iterdir()):
                if p.name == "config.json" or p.name.startswith("attempt-"):
                    continue
                shutil.move(str(p), attempt_dir / p.name)
            shutil.copy2(paths.config, attempt_dir / "config.json")
            attempt += 1
        attempts = Attempts.load(paths)
        attempts.retried = True
        attempts.save(paths, self._write)
        self._write(paths.status, queued_status(
            run_id, step=status.get("step", 0) if resumable else 0, total_steps=info.get("total_steps"),
            attempt=attempt, started=status.get("started") if resumable else None))
        self._event(paths, "retried", status.get("step", 0) if resumable else 0,
                    f"{'resuming' if resumable else 'restarting'} {run_id} "
                    f"({'from its checkpoint' if resumable else f'from step 0, attempt {attempt}'})")
        self._queue_existing(paths, info)
        return None

    def _maybe_reload(self) -> None:
        mtime = self._mtime()
        if mtime == self.config_mtime or self.shutting_down:
            return
        self.config_mtime = mtime
        try:
            config = load_config(self.config_path, self.project_dir)
            specs = expand_runs(config)
        except ConfigError as err:
            msg = err.while_running  # the queue goes on: "nothing was started" would be wrong
            if msg != self.config_error:
                log.error("experiments file edit rejected; the previous queue keeps going: %s", msg)
                self._project_event("config_error", f"{msg} The previous queue keeps going.")
            self.config_error = msg
            self._write_runner_status()
            return
        if self.config_error:
            self._project_event("config_ok", f"{self.config_path.name} is valid again")
        self.config_error = None
        old_runs_dir = self.runs_dir
        self.config = config
        if config.runs_dir != old_runs_dir:
            log.warning("runs_dir changed; it takes effect when the runner restarts")
            config.settings.runs_dir = str(old_runs_dir)
        self._setup_alerts()
        before = set(self.active)
        self._sync_queue(specs)
        added = set(self.active) - before
        if self.gpu_process_mb is not None:
            est = largest_estimate(self._gpu_launches(), self.gpu_peaks)
            if est is not None and est.mb > self.gpu_process_mb:
                log.warning("the queued GPU runs now need up to %.0f MB per process (%s); the slots "
                            "were planned for %.0f MB: the plan is remade when the runner restarts",
                            est.mb, est.basis, self.gpu_process_mb)
        dropped = before - set(self.active)
        log.info("reloaded %s: %d run(s) queued, %d dropped", self.config_path.name, len(added), len(dropped))
        self._project_event("config_reloaded", f"reloaded {self.config_path.name}: {len(added)} run(s) "
                            f"added, {len(dropped)} dropped")
        self._write_runner_status()

    # ------------------------------------------------------------------ supervision

    def _schedule(self) -> None:
        if self.shutting_down or self.disk.trouble is not None:
            return
        busy = {run.slot for run in self.active.values() if run.state == "running" and run.slot}
        free = [s for s in self.slots if s not in busy]
        cap = self.executor.capacity()
        if cap is not None:
            running = sum(1 for r in self.active.values() if r.state == "running")
            free = free[: max(0, cap - running)] if cap < len(free) + running else free
        if not free:
            return
        queued = sorted((r for r in self.active.values() if r.state == "queued"), key=lambda r: r.order)
        picked = []
        for group in packs.groups(self, queued):  # a run alone, or a pack: one slot either way
            if not free:
                break
            slot = self._pick_slot(group[0], free)
            if slot is None:
                continue
            free.remove(slot)
            if len(group) > 1:
                packs.launch(self, group, slot)
            else:
                picked.append((group[0], slot))
        if not picked:
            return
        try:  # one call for all (a cluster: one job array); a failure fails only its runs
            results = self.executor.submit_many(
                [(run.paths.dir, self._launch_env(run, slot)) for run, slot in picked])
        except Exception as exc:  # noqa: BLE001 — an executor bug fails these runs, not the runner
            results = [exc] * len(picked)
        for (run, slot), result in zip(picked, results):
            if isinstance(result, Exception):
                log.error("could not start %s: %s", run.run_id, result)
                self.ran.add(run.run_id)  # it counts for the headless exit status
                self._finish(run, "failed", f"the executor could not start it: {result}")
            else:
                self._launched(run, slot, JobRecord(result))

    def _pick_slot(self, run: ActiveRun, free: list[Slot]) -> Slot | None:
        """A resumed run keeps the device kind and thread count it started with."""
        kind = run.info.get("device")
        if kind:
            same = [s for s in free if s.device == kind]
            if not same and not any(s.device == kind for s in self.slots):
                return free[0]  # that device is gone from this machine: run where we can
            if not same:
                return None
            return same[0]
        return free[0]

    def _launch_env(self, run: ActiveRun, slot: Slot) -> dict[str, str]:
        """The worker's environment: the slot's device, the run's recorded thread count."""
        info = run.info
        if not info.get("device"):  # queued by an older grokwatch, which wrote these at launch
            info.update({"device": slot.device, "threads": slot.threads})
            self._write(run.paths.config, info)
        threads = int(info.get("threads", slot.threads))
        env = {**slot.env, "GROKWATCH_RUN_DIR": str(run.paths.dir), "GROKWATCH_RUN_ID": run.run_id,
               **worker_env()}  # kinds registered in this process (experiments.register_kind)
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS"):
            env[k] = str(threads)
        return env

    def _launched(self, run: ActiveRun, slot: Slot, record: JobRecord) -> None:
        info = run.info
        threads = int(info.get("threads", slot.threads))
        record.setdefault("slot", slot.label)  # which GPU (or cpu) this launch got
        if slot.device == "cuda" and "gpu_memory_mb" not in record:  # (a pack's is set by packs.launch)
            record.update(process_estimate([info], self.gpu_peaks).record())
        self._write(run.paths.executor, record)
        run.record, run.slot, run.state = record, slot, "running"
        run.started_event = False
        run.tail = MetricsTail(run.paths.metrics)
        run.detectors = _make_detectors(info)
        run.seen_alerts = {(e.get("kind"), e.get("step")) for e in read_events(run.paths.events)[0]}
        self.ran.add(run.run_id)
        log.info("launched %s on %s (%d thread(s)): %s", run.run_id, slot.label, threads, record)

    def _track(self, run: ActiveRun) -> None:
        run.tail = MetricsTail(run.paths.metrics)
        run.detectors = _make_detectors(run.info)
        run.seen_alerts = {(e.get("kind"), e.get("step")) for e in read_events(run.paths.events)[0]}
        if run.info.get("device"):  # the same slot it had (its GPU), else one of its device kind
            label = run.record.get("slot") if run.record else None
            taken = {r.slot for r in self.active.values()}
            fits = [s for s in self.slots if s.device == run.info["device"] and s not in taken]
            run.slot = next((s for s in fits if s.label == label), fits[0] if fits else None)
        self.active[run.run_id] = run

    def _poll(self) -> None:
        running = {rid: r.record for rid, r in self.active.items()
                   if r.state == "running" and r.record is not None}
        if not running:
            return
        try:
            states = self.executor.poll(running)
        except Exception:  # noqa: BLE001
            log.exception("executor poll failed; will retry")
            return
        for run_id, js in states.items():
            run = self.active.get(run_id)
            if run is None:
                continue
            if js.phase in ("pending", "running"):
                self._note_job(run, js)
                self._note_running(run, js)
                if (run.stop_requested_at is not None
                        and time.monotonic() - run.stop_requested_at > STOP_KILL_AFTER_S):
                    log.warning("%s ignored SIGTERM for %.0f s; killing it", run_id, STOP_KILL_AFTER_S)
                    self.executor.kill(run.record)
                    run.stop_requested_at = time.monotonic()
                continue
            self._tail_run(run)  # the last rows, before the run leaves the active set
            self._on_exit(run, js)

    def _note_job(self, run: ActiveRun, js: JobState) -> None:
        """A cluster job's phase, pending reason and node go into executor.json (for status/TUI)."""
        if run.record is None or not run.record.is_cluster_job:
            return  # a local process: nothing to tell
        seen = {"phase": js.phase, "reason": js.reason, "node": js.node}
        if any(run.record.get(k) != v for k, v in seen.items()):
            run.record.update(seen, updated=time.time())
            self._write(run.paths.executor, run.record)

    def _note_running(self, run: ActiveRun, js: JobState) -> None:
        if run.started_event:
            return
        status = read_json(run.paths.status, {}) or {}
        if status.get("pid") and (status.get("state") == "running" or js.phase == "running"):
            run.started_event = True
            where = run.info.get("device", "cpu")
            self._event(run.paths, "started", status.get("step", 0),
                        f"{run.run_id} started on {where} (pid {status.get('pid')}"
                        f"{', node ' + js.node if js.node else ''})")

    def _on_exit(self, run: ActiveRun, js: JobState) -> None:
        status = read_json(run.paths.status, {}) or {}
        state = status.get("state")
        code = js.exit_code
        if status.get("reason") == NO_SPACE:  # the worker stopped on a full disk: so does launching
            self.disk.full(run.paths.dir)
        if state == "requeued" or code == EXIT_REQUEUE:
            step = status.get("step", 0)
            attempts = Attempts.load(run.paths)
            attempts.note_requeue(step)
            attempts.save(run.paths, self._write)
            if attempts.requeues_stalled >= MAX_STALLED_REQUEUES:
                self._finish(run, "failed", f"requeued {MAX_STALLED_REQUEUES + 1} times in a row without "
                             f"getting past step {step}; is the time limit shorter than a checkpoint "
                             f"interval plus start-up?")
                return
            self._event(run.paths, "requeued", status.get("step", 0),
                        f"{run.run_id} checkpointed at step {status.get('step', 0)} on a time-limit "
                        f"warning and was queued again; it resumes from its checkpoint")
            del self.active[run.run_id]
            self._queue_existing(run.paths, run.info)
            return
        # a cluster's verdict wins over the `stopped` a worker writes on any SIGTERM (a time limit,
        # someone else's scancel), unless the stop was asked for here
        if js.final_state is not None and (state not in TERMINAL_STATES or (
                state == "stopped" and run.stop_requested_at is None)):
            self._finish(run, js.final_state, js.reason or f"the executor reports {js.final_state}")
            return
        if state in TERMINAL_STATES:
            if not run.started_event and status.get("pid"):  # ended within one poll: say it started
                self._note_running(run, JobState("running", node=js.node))
            self._finish(run, state, self._state_message(state, status, run.paths),
                         worker_wrote=True)
            return
        if code is None:
            self._finish(run, "lost", "the worker vanished without a word "
                         f"({js.reason or 'no exit status'})")
        elif code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            self._finish(run, "lost", f"the worker was killed by {name} before it could write its state")
        else:
            self._finish(run, "failed", f"the worker exited with status {code} without writing its state")

    def _state_message(self, state: str, status: dict[str, Any], paths: RunPaths) -> str:
        run_id = status.get("run_id", "run")
        step = status.get("step", 0)
        kept = ("checkpoint kept; `grokwatch retry` resumes it" if (paths.dir / "checkpoint.json").exists()
                else "no checkpoint: `grokwatch retry` restarts it from step 0")
        return {
            "done": f"{run_id} finished at step {step}",
            "failed": f"{run_id} failed at step {step}: {status.get('error') or 'see worker.log'}",
            "diverged": f"{run_id} diverged at step {step}: {status.get('error') or ''}".rstrip(": "),
            "stopped": f"{run_id} stopped at step {step} ({kept})",
            "lost": f"{run_id} lost at step {step}: {status.get('error') or ''}".rstrip(": "),
        }.get(state, f"{run_id}: {state}")

    def _finish(self, run: ActiveRun, state: str, message: str, worker_wrote: bool = False) -> None:
        """Record a run's end: status.json (when the worker could not), the event, bookkeeping."""
        self.active.pop(run.run_id, None)
        status: RunStatus = read_json(run.paths.status, {}) or {}
        if not worker_wrote:
            status = ended_by_runner(status, run.run_id, state, message)  # type: ignore[arg-type]
            if state in ("failed", "lost"):
                status["log_tail"] = tail_lines(run.paths.worker_log, 20)
            self._write(run.paths.status, status)
        if self.gpu_peaks is not None and self.gpu_peaks.note(run.info, status):
            log.info("%s: measured GPU peak %s MB filed in %s", run.run_id, status.get("gpu_peak_reserved_mb"),
                     self.gpu_peaks.path.name)
        if state == "diverged" and ("divergence", status.get("step")) not in run.seen_alerts \
                and not any(k == "divergence" for k, _ in run.seen_alerts):
            self._event(run.paths, "divergence", status.get("step", 0), message, alert=True)
        if not worker_wrote:
            message = f"{run.run_id} {state} at step {status.get('step', 0)}: {message}"
        self._event(run.paths, state, status.get("step", 0), message)
        self.final_states[run.run_id] = state
        if run.retry_when_ended and state in RETRYABLE_STATES:
            problem = self.retry(run.run_id)
            if problem:
                self._project_event("request_refused", f"retry refused: {problem}")

    # ------------------------------------------------------------------ metrics and detectors

    def _tail_metrics(self) -> None:
        for run in list(self.active.values()):
            if run.state == "running":
                self._tail_run(run)

    def _tail_run(self, run: ActiveRun) -> None:
        if run.tail is None:
            return
        rows = run.tail.read()
        if run.tail.replaced:  # widened or rewritten, or the units flipped to percent (tail.rescaled):
            run.tail.replaced = False  # rows come again from the top, to fresh detectors
            run.detectors = _make_detectors(run.info)
        if run.tail.bad_lines and run.tail.bad_lines >= 2 * run.unreadable_told:
            self._unreadable(run)
        for row in rows:
            run.latest = row
            for alert in run.detectors.feed(row):
                key = (alert.get("kind"), alert.get("step"))
                if key in run.seen_alerts:
                    continue
                run.seen_alerts.add(key)
                self._event(run.paths, alert["kind"], alert.get("step", row.get("step", 0)),
                            alert.get("message", alert["kind"]), alert=is_alert_kind(alert["kind"]),
                            **{k: v for k, v in alert.items() if k not in ("kind", "step", "message")})

    def _unreadable(self, run: ActiveRun) -> None:
        """Rows of metrics.csv that cannot be read are said (1, 2, 4, 8... of them), never dropped
        in silence: an event, which headless prints and the dashboard lists."""
        n = run.unreadable_told = run.tail.bad_lines
        self._event(run.paths, "unreadable_rows", run.latest.get("step", 0),
                    f"{run.run_id}: {n} row(s) of metrics.csv could not be read; the first: "
                    f"{run.tail.first_bad!r}", count=n, first=run.tail.first_bad)

    # ------------------------------------------------------------------ events

    def _event(self, paths: RunPaths, kind: str, step: Any, message: str, alert: bool = False,
               **extra: Any) -> None:
        event = {"time": time.time(), "run_id": paths.run_id, "step": step, "kind": kind,
                 "message": message, **extra}
        if alert or kind_of(kind) is not None:
            event["alert"] = bool(alert)  # a detector's milestone says "alert": false
        self.disk.append_line(paths.events, dumps_event(event))
        log.info("event %s %s: %s", paths.run_id, kind, message)
        if self.on_event is not None:
            self.on_event(event)
        if alert and self._alerts is not None:
            run = self.active.get(paths.run_id)
            self._alerts.fire(event, run.latest if run else {})

    def _project_event(self, kind: str, message: str) -> None:
        event = {"time": time.time(), "run_id": None, "step": None, "kind": kind, "message": message}
        try:
            self.files.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
        self.disk.append_line(self.files.events, json.dumps(event) + "\n")
        if self.on_event is not None:
            self.on_event(event)

    def _write_runner_status(self, running: bool = True) -> None:
        try:
            self.files.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
        counts: dict[str, int] = {}
        for r in self.active.values():
            counts[r.state] = counts.get(r.state, 0) + 1
        self._write(self.files.runner_status, {
            "pid": os.getpid(), "host": self.host, "config": str(self.config_path),
            "runner_id": self.lock.runner_id,
            "runs_dir": str(self.runs_dir) if self.config else None,
            "running": running, "config_error": self.config_error, "counts": counts,
            "disk_full": self.disk.trouble,
            "slots": [s.label for s in self.slots], "slot_plan": self.slot_notes, "executor": self.executor.name if self.executor else None,
            "gpus": self.gpu_sampler.gpus if self.gpu_sampler else [],
            "gpus_sampled": self.gpu_sampler.sampled_at if self.gpu_sampler else None,
            "updated": time.time(),
        })
