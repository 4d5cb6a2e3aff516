"""`grokwatch --headless`: the runner in the foreground, progress and alerts as plain lines.

Where a runner already serves this directory with the same experiments file, headless follows
its progress from the run files instead of starting a second one. No Textual import here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .config import ConfigError, expand_runs, load_config, no_experiments_line
from .detect.kinds import kind_of
from .paths import ProjectPaths
from .runs import TERMINAL_STATES, MetricsTail, RunPaths, read_events, read_json
from .runner.core import Runner, RunnerBusy, StateDirUnwritable
from .runner.gpustats import format_gpus
from .runner.lock import runner_holder

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def fmt_num(v: float | None) -> str:
    if v is None:
        return "-"
    if v != v:
        return "nan"
    if v == 0 or 1e-3 <= abs(v) < 1e4:
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return f"{v:.3g}"


class Follower:
    """Prints what happens to a set of runs, from their files alone: events as they are
    appended, and every `progress_every_s` one progress line per running run."""

    def __init__(self, runs_dir: Path, run_ids: list[str], out: TextIO = sys.stdout,
                 progress_every_s: float = 5.0, project_dir: Path | None = None):
        self.runs_dir = runs_dir
        self.run_ids = list(run_ids)
        self.out = out
        self.out_closed = False
        self.progress_every_s = progress_every_s
        self.offsets: dict[str, int] = {}
        self.tails: dict[str, MetricsTail] = {}
        self.latest: dict[str, dict[str, float]] = {}
        self.rate: dict[str, tuple[float, float]] = {}  # run -> (step, time_s) a while ago
        self.last_progress = time.monotonic()
        self.project_events = ProjectPaths(project_dir).events if project_dir else None
        self.runner_status = ProjectPaths(project_dir).runner_status if project_dir else None
        self.project_offset = self._size(self.project_events) if self.project_events else 0
        for rid in self.run_ids:  # only what happens from now on
            self.offsets[rid] = self._size(RunPaths(runs_dir / rid).events)

    @staticmethod
    def _size(path: Path | None) -> int:
        try:
            return path.stat().st_size if path else 0
        except OSError:
            return 0

    def add(self, run_id: str) -> None:
        if run_id not in self.run_ids:
            self.run_ids.append(run_id)
            self.offsets.setdefault(run_id, 0)

    def print(self, line: str) -> None:
        """One line of output. When stdout is a pipe whose reader went away (`| head`), the runs
        keep going and the exit code still says how they ended: only the printing stops."""
        if self.out_closed:
            return
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            self.out_closed = True
            _silence(self.out)

    def tick(self) -> None:
        if self.project_events is not None:
            events, self.project_offset = read_events(self.project_events, self.project_offset)
            for e in events:
                self.print(f"{time.strftime('%H:%M:%S')} ! {e.get('message')}")
        for rid in self.run_ids:
            paths = RunPaths(self.runs_dir / rid)
            events, self.offsets[rid] = read_events(paths.events, self.offsets.get(rid, 0))
            for e in events:
                self.print(format_event(e))
        if time.monotonic() - self.last_progress >= self.progress_every_s:
            self.last_progress = time.monotonic()
            printed = False
            for rid in self.run_ids:
                line = self.progress_line(rid)
                if line:
                    self.print(line)
                    printed = True
            gpus = self.gpu_line() if printed else None
            if gpus:
                self.print(gpus)

    def gpu_line(self) -> str | None:
        """`12:00:05   gpu GPU0 37% 4.1/80G`: what the runner's GPUs do (runner.json's samples),
        once per round of progress lines; None on a box with no GPU."""
        if self.runner_status is None:
            return None
        status = read_json(self.runner_status, {}) or {}
        text = format_gpus(status.get("gpus")) if status.get("running") else ""
        return f"{time.strftime('%H:%M:%S')}   gpu {text}" if text else None

    def progress_line(self, run_id: str) -> str | None:
        paths = RunPaths(self.runs_dir / run_id)
        status = read_json(paths.status, {}) or {}
        if status.get("state") != "running":
            return None
        tail = self.tails.setdefault(run_id, MetricsTail(paths.metrics))
        for row in tail.read():
            self.latest[run_id] = row
        row = self.latest.get(run_id, {})
        step = row.get("step", status.get("step", 0)) or 0
        total = status.get("total_steps")
        t = row.get("time_s")
        rate = None
        prev = self.rate.get(run_id)
        if t is not None:
            if prev is not None and t > prev[1]:
                rate = (step - prev[0]) / (t - prev[1])
            elif t > 0:
                rate = step / t
            self.rate[run_id] = (step, t)
        eta = (total - step) / rate if rate and total else None
        where = f"{step:g}/{total}" if total else f"{step:g}"
        pct = f" ({100 * step / total:.0f}%)" if total else ""
        return (f"{time.strftime('%H:%M:%S')}   {run_id}: step {where}{pct}  "
                f"train_err {fmt_num(row.get('train_error'))}  test_err {fmt_num(row.get('test_error'))}  "
                f"{fmt_num(rate) if rate else '-'} steps/s  ETA {fmt_duration(eta)}")


RUN_EVENT_MARKS = {"failed": "x", "diverged": "x", "lost": "x", "stopped": "-", "done": "+",
                   "started": ">"}  # a run's own events; the detectors' kinds mark as their table says


def _silence(out: TextIO) -> None:
    """Point a closed pipe's descriptor at /dev/null, so later writes and the interpreter's last
    flush neither fail nor print a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def format_event(e: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", time.time())))
    kind = e.get("kind", "?")
    k = kind_of(kind)
    mark = k.mark if k is not None else RUN_EVENT_MARKS.get(kind, "*")
    label = f"ALERT {kind}" if e.get("alert") else kind
    message = str(e.get("message", ""))
    run_id = e.get("run_id")
    if isinstance(run_id, str) and run_id and not message.startswith(run_id):
        message = f"{run_id}: {message}"  # in a sweep, the line says which run (runner events already do)
    return f"{stamp} {mark:>2} [{label}] {message}"


def run_headless(config_path: Path, project_dir: Path, out: TextIO = sys.stdout,
                 progress_every_s: float = 5.0, export_to: Path | None = None) -> int:
    err = sys.stderr
    try:
        config = load_config(config_path, project_dir)
        specs = expand_runs(config)
    except ConfigError as exc:
        print(f"grokwatch: {exc}", file=err)
        return EXIT_BAD_CONFIG
    empty = no_experiments_line(config)
    if empty:  # nothing to queue: no runner, no files; the exit code says it ran nothing
        print(f"grokwatch: {empty}", file=err)
        return EXIT_BAD_CONFIG
    holder = runner_holder(project_dir)
    if holder:
        if Path(str(holder.get("config"))).resolve() != Path(config_path).resolve():
            print(f"grokwatch: a runner (pid {holder.get('pid')} on {holder.get('host')}) already serves "
                  f"this directory with {holder.get('config')}; it cannot also run {config_path}. "
                  f"Wait for it, stop it with `grokwatch stop`, or use another directory.", file=err)
            return EXIT_BAD_CONFIG
        return follow(config.runs_dir, [s.run_id for s in specs], holder, out, progress_every_s, project_dir)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    runner = Runner(config_path, project_dir, foreground=True)
    try:
        runner.start()
    except RunnerBusy as busy:
        return follow(config.runs_dir, [s.run_id for s in specs], busy.holder, out, progress_every_s,
                      project_dir)
    except (ConfigError, StateDirUnwritable) as exc:
        print(f"grokwatch: {exc}", file=err)
        return EXIT_BAD_CONFIG
    follower = Follower(runner.runs_dir, list(runner.active), out, progress_every_s, project_dir)
    _print_summary(follower, specs, runner)
    interrupted = False

    def on_sigint(_sig, _frame):
        nonlocal interrupted
        if interrupted:
            follower.print("grokwatch: second Ctrl-C: killing the runs now")
            for r in runner.active.values():
                if r.record:
                    runner.executor.kill(r.record)
            return
        interrupted = True
        follower.print("grokwatch: Ctrl-C: stopping every run (they checkpoint); Ctrl-C again to kill")
        runner.stop_runs(None)
        runner.shutting_down = True

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        while not runner.should_exit():
            t0 = time.monotonic()
            runner.tick()
            for rid in runner.active:
                follower.add(rid)
            follower.tick()
            runner.wait(max(0.0, 0.5 - (time.monotonic() - t0)))  # a worker's exit wakes it at once
        follower.tick()
    finally:
        runner.close()
        signal.signal(signal.SIGINT, old)
    states = {rid: runner.final_states.get(rid, "?") for rid in runner.ran}
    _print_end(follower, states, runner.runs_dir, export_to)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(s == "done" for s in states.values()) else EXIT_RUN_FAILED


def _print_summary(f: Follower, specs, runner: Runner) -> None:
    counts: dict[str, int] = {}
    held: list[str] = []
    for s in specs:
        st = (read_json(RunPaths(runner.runs_dir / s.run_id).status, {}) or {}).get("state", "queued")
        if s.run_id in runner.active:
            st = runner.active[s.run_id].state
        counts[st] = counts.get(st, 0) + 1
        if st in ("failed", "diverged", "stopped", "lost"):
            held.append(s.run_id)
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    # a cluster: one line, not 64 slots
    slots = runner.describe_slots()
    f.print(f"grokwatch: {len(specs)} run(s) in {runner.config_path.name} ({parts}); slots: {slots}; "
            f"runs in {runner.runs_dir}")
    if held:
        f.print(f"grokwatch: {len(held)} run(s) ended earlier and are not re-run; "
                f"`grokwatch retry {' '.join(held[:3])}{' …' if len(held) > 3 else ''}` queues them again")


def _print_end(f: Follower, states: dict[str, str], runs_dir: Path, export_to: Path | None) -> None:
    done = sum(1 for s in states.values() if s == "done")
    f.print(f"grokwatch: {len(states)} run(s) ran: {done} done"
            + "".join(f", {rid} {s}" for rid, s in states.items() if s != "done"))
    f.print(f"grokwatch: CSV logs in {runs_dir}/<run>/metrics.csv; one file: grokwatch export -o all.csv")
    if export_to is not None:
        from .export import ExportError, export_csv

        try:
            n = export_csv(runs_dir, None, export_to)
        except ExportError as exc:  # the runs are on record; only the one-file copy failed
            print(f"grokwatch: {exc}", file=sys.stderr)
            return
        f.print(f"grokwatch: exported {n} row(s) to {export_to}")


def follow(runs_dir: Path, run_ids: list[str], holder: dict, out: TextIO, progress_every_s: float,
           project_dir: Path) -> int:
    """Follow another runner's progress until every run of this config has ended."""
    f = Follower(runs_dir, run_ids, out, progress_every_s, project_dir)
    f.print(f"grokwatch: a runner (pid {holder.get('pid')} on {holder.get('host')}) is already running "
            f"this queue; following it (Ctrl-C stops following, not the runs)")
    interrupted = False

    def on_sigint(_sig, _frame):
        nonlocal interrupted
        interrupted = True

    old = signal.signal(signal.SIGINT, on_sigint)
    states: dict[str, str] = {}
    try:
        while not interrupted:
            f.tick()
            states = {rid: (read_json(RunPaths(runs_dir / rid).status, {}) or {}).get("state", "queued")
                      for rid in run_ids}
            if all(s in TERMINAL_STATES for s in states.values()):
                break
            if runner_holder(project_dir) is None:
                f.tick()
                f.print("grokwatch: the runner went away before the queue drained")
                break
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGINT, old)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(s == "done" for s in states.values()) else EXIT_RUN_FAILED
