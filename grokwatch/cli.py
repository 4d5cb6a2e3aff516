"""The `grokwatch` command: parse arguments and dispatch. Subcommands import what they need
lazily, so `grokwatch status` never pays for Textual and nothing here imports torch."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

USAGE = """\
grokwatch                       the dashboard (starts the runner when there is work)
grokwatch --headless            run the queue in the foreground, print progress and alerts
grokwatch --config FILE         another experiments file (both modes)
grokwatch --demo                the built-in demo queue (both modes)
grokwatch init                  write a commented default experiments.toml
grokwatch status [--json]       table of runs
grokwatch export [RUN or PATH…] [-o FILE] [--long | --summary]
grokwatch stop [RUN…]           stop runs (checkpoint kept), or all runs and the runner
grokwatch retry RUN…            queue stopped/failed/diverged/lost runs again
grokwatch view PATH…            the dashboard over run directories, CSV files or other tools' logs
grokwatch plot [RUN|EXPERIMENT…] [-o FILE.png|.svg|.pdf] [--kind curve|sweep|phase]   figures (grokwatch[plot]);
                                no RUN: the latest experiment started (the others named)
grokwatch detect PATH [--json]  run the alert detectors over any CSV log or other tool's logs
"""

SUBCOMMANDS = ("init", "status", "export", "stop", "retry", "view", "detect", "plot")


def die(message: str, code: int = 2) -> int:
    print(f"grokwatch: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Every command: one clear line and exit 2 for what the system refuses (a read-only or full
    disk, a missing directory), a quiet exit when stdout is a pipe that was closed (`| head`);
    never a traceback for those."""
    try:
        return _main(argv)
    except BrokenPipeError:
        return closed_stdout()
    except OSError as exc:  # the last resort: commands say something better where they can
        return die(os_error_line(exc))


def closed_stdout(code: int = 0) -> int:
    """stdout was a pipe whose reader went away (`grokwatch status | head`): stop printing,
    quietly. Pointing the descriptor at /dev/null keeps the interpreter's last flush from
    failing (and printing a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return code


def os_error_line(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    from .runs import protect_new_files

    protect_new_files()  # run files stay writable by their owner only, even under `umask 0`
    if argv and argv[0] in SUBCOMMANDS:
        return _dispatch(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="grokwatch", usage=USAGE,
                                     description="Watch grokking, overfitting and double descent live.")
    parser.add_argument("--headless", action="store_true", help="no screen: plain lines, CSV logs")
    parser.add_argument("--config", metavar="FILE", help="experiments file (default ./experiments.toml)")
    parser.add_argument("--demo", action="store_true", help="the built-in demo queue")
    parser.add_argument("--progress-every", type=float, default=5.0, metavar="S",
                        help="headless: seconds between progress lines (default 5)")
    parser.add_argument("--export", metavar="FILE", help="headless: write one CSV of all runs at the end")
    parser.add_argument("--version", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"grokwatch {__version__}")
        return 0
    if args.demo and args.config:
        return die("give --demo or --config, not both")
    project_dir = Path.cwd()
    config_path = _config_path(args.config, args.demo, project_dir, headless=args.headless)
    if args.headless:
        from .headless import run_headless

        return run_headless(config_path, project_dir, progress_every_s=args.progress_every,
                            export_to=Path(args.export) if args.export else None)
    from .tui.app import run_app

    return run_app(config_path=config_path, project_dir=project_dir,
                   explicit=bool(args.config or args.demo))


def _config_path(config: str | None, demo: bool, project_dir: Path, headless: bool) -> Path:
    from .config import demo_config_path

    if demo:
        return demo_config_path()
    if config:
        return Path(config).resolve()
    default = project_dir / "experiments.toml"
    if default.exists() or not headless:
        return default
    return demo_config_path()  # headless with no experiments.toml runs the demo queue


def _runs_dir(project_dir: Path) -> Path:
    """Where runs are: the live runner's, else experiments.toml's runs_dir, else ./runs."""
    from .paths import ProjectPaths
    from .runs import read_json

    info = read_json(ProjectPaths(project_dir).runner_status, {}) or {}
    if info.get("runs_dir"):
        return Path(info["runs_dir"])
    cfg = project_dir / "experiments.toml"
    if cfg.exists():
        try:
            from .config import load_config

            return load_config(cfg, project_dir).runs_dir
        except Exception:  # noqa: BLE001 — a broken file must not stop `status`
            pass
    return project_dir / "runs"


def _dispatch(cmd: str, argv: list[str]) -> int:
    project_dir = Path.cwd()
    if cmd == "init":
        return cmd_init(argv, project_dir)
    if cmd == "detect":
        from .detect import main_detect

        return main_detect(argv)
    if cmd == "view":
        from .tui.app import run_view

        try:
            return run_view(argv)
        except RuntimeError as exc:  # pathlib's resolve() of a symlink loop (Python < 3.13)
            if "symlink loop" not in str(exc).lower():
                raise
            return die(f"cannot open {str(exc).split('from', 1)[-1].strip()}: it is a symlink loop")
    runs_dir = _runs_dir(project_dir)
    if cmd == "status":
        return cmd_status(argv, runs_dir)
    if cmd == "export":
        return cmd_export(argv, runs_dir)
    if cmd == "plot":
        from .plot import main_plot

        return main_plot(argv, runs_dir)
    if cmd == "stop":
        return cmd_stop(argv, runs_dir, project_dir)
    if cmd == "retry":
        return cmd_retry(argv, runs_dir, project_dir)
    return die(f"unknown command {cmd}")


def cmd_init(argv: list[str], project_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch init")
    p.add_argument("--force", action="store_true", help="overwrite an existing experiments.toml")
    p.add_argument("-o", "--output", default="experiments.toml")
    args = p.parse_args(argv)
    from .template import experiments_toml

    target = project_dir / args.output
    if target.exists() and not args.force:
        return die(f"{target} already exists; use --force to overwrite it")
    target.write_text(experiments_toml(), encoding="utf-8")
    print(f"grokwatch: wrote {target}; edit it, then run `grokwatch` (or `grokwatch --headless`)")
    return 0


def _run_rows(runs_dir: Path) -> list[dict]:
    from .columns import complete_row
    from .runs import last_row, list_run_dirs, read_events, read_json

    rows = []
    for paths in list_run_dirs(runs_dir):
        info = read_json(paths.config, {}) or {}
        status = read_json(paths.status, {}) or {}
        last = complete_row(last_row(paths.metrics))  # error = 1 - accuracy for an accuracy-only log
        record = read_json(paths.executor, {}) or {}
        events, _ = read_events(paths.events)
        alerts = [e for e in events if e.get("alert")]
        rows.append({
            "run_id": paths.run_id, "experiment": info.get("experiment"), "kind": info.get("kind"),
            "seed": info.get("seed"), "sweep": info.get("sweep", {}), "state": status.get("state", "?"),
            "step": status.get("step", last.get("step")), "total_steps": status.get("total_steps"),
            "train_error": last.get("train_error"), "test_error": last.get("test_error"),
            "train_loss": last.get("train_loss"), "test_loss": last.get("test_loss"),
            "device": info.get("device"), "alerts": [e.get("kind") for e in alerts],
            "error": status.get("error"), "dir": str(paths.dir),
            "executor": record.get("executor"), "job_id": record.get("job_id"),
            "node": record.get("node"), "reason": record.get("reason"),
        })
    return rows


def cmd_status(argv: list[str], runs_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch status")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not runs_dir.is_dir():
        return die(f"no runs directory at {runs_dir}; start some runs with `grokwatch` or "
                   f"`grokwatch --headless`")
    rows = _run_rows(runs_dir)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    from .headless import fmt_num

    width = max([len(r["run_id"]) for r in rows] + [6])
    marked = False

    def value(r: dict, split: str) -> str:
        """The error; a run that logs a loss but no error (nor accuracy): its loss, marked *."""
        nonlocal marked
        if r[f"{split}_error"] is None and r[f"{split}_loss"] is not None:
            marked = True
            return fmt_num(r[f"{split}_loss"]) + "*"
        return fmt_num(r[f"{split}_error"])

    print(f"{'RUN':<{width}}  {'KIND':<14} {'STATE':<9} {'STEP':>13}  {'TRAIN_ERR':>9} {'TEST_ERR':>9}  "
          f"{'WHERE':<16} ALERTS")
    for r in rows:
        step = f"{r['step'] or 0}" + (f"/{r['total_steps']}" if r["total_steps"] else "")
        alerts = ",".join(sorted(set(r["alerts"])))
        where = r["device"] or ""
        if r["job_id"]:  # a cluster job: its id, and its node or why it waits
            where = f"job {r['job_id']}" + (f" {r['node']}" if r["node"] else "")
            if r["state"] == "queued" and r["reason"]:
                where += f" ({r['reason']})"
        print(f"{r['run_id']:<{width}}  {str(r['kind']):<14} {r['state']:<9} {step:>13}  "
              f"{value(r, 'train'):>9} {value(r, 'test'):>9}  {where:<16} {alerts}")
    if not rows:
        print("(no runs yet)")
    if marked:
        print("* the loss: the run logs no error or accuracy for that split")
    return 0


def _check_ids(runs_dir: Path, ids: list[str]) -> str | None:
    if not runs_dir.is_dir():
        return (f"no runs directory at {runs_dir}; start some runs with `grokwatch` or "
                f"`grokwatch --headless`")
    for rid in ids:
        if "/" in rid or not (runs_dir / rid / "config.json").exists():
            return f"no run {rid!r} in {runs_dir} (see `grokwatch status`)"
    return None


def cmd_export(argv: list[str], runs_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch export")
    p.add_argument("runs", nargs="*", help="run ids (default: all), or paths to other tools' logs "
                                           "(TensorBoard, W&B, HF Trainer, MLflow, CSV)")
    p.add_argument("-o", "--output")
    p.add_argument("--long", action="store_true", help="one row per run, step and metric")
    p.add_argument("--summary", action="store_true",
                   help="one row per run: memorisation and generalisation steps, phase, first alerts, values")
    args = p.parse_args(argv)
    if args.long and args.summary:
        return die("give --long or --summary, not both")
    # a path that is not a run id is another tool's logs (TensorBoard, W&B, ...: grokwatch.readers)
    paths = [r for r in args.runs if not (runs_dir / r / "config.json").exists() and Path(r).exists()]
    ids = [r for r in args.runs if r not in paths]
    problem = _check_ids(runs_dir, ids) if ids or not paths else None
    if problem:
        return die(problem)
    from .export import ExportError, export_csv, export_summary, foreign_runs, foreign_summaries
    from .readers import ReaderError

    out = Path(args.output) if args.output else None
    try:
        if args.summary:  # other tools' logs summarised as detect reads them (grokwatch.readers)
            n = export_summary(runs_dir, ids if paths else (ids or None), out,
                               foreign=foreign_summaries(paths) if paths else None)
        else:
            foreign = foreign_runs(paths) if paths else None
            n = export_csv(runs_dir, ids if paths else (ids or None), out, long=args.long,
                           foreign=foreign)
    except (ExportError, ReaderError) as exc:
        return die(str(exc))
    if args.output:
        print(f"grokwatch: wrote {n} row(s) to {args.output}")
    return 0


def cmd_stop(argv: list[str], runs_dir: Path, project_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch stop")
    p.add_argument("runs", nargs="*")
    args = p.parse_args(argv)
    problem = _check_ids(runs_dir, args.runs)
    if problem:
        return die(problem)
    from .runs import TERMINAL_STATES, read_json as _read_json

    for rid in args.runs:  # as retry refuses a done run: a run that already ended has nothing to stop
        state = (_read_json(runs_dir / rid / "status.json", {}) or {}).get("state")
        if state in TERMINAL_STATES:
            return die(f"{rid} is {state}: it has already ended, nothing to stop"
                       + ("; `grokwatch retry` resumes it" if state == "stopped" else ""))
    from .runner.lock import runner_holder

    holder = runner_holder(project_dir)
    if holder:
        problem = _request(project_dir, holder, "stop" if args.runs else "shutdown", args.runs or None)
        if problem:
            return die(problem)
        print(f"grokwatch: asked the runner to stop {', '.join(args.runs) if args.runs else 'every run and exit'}")
        return 0
    # No runner: stop orphaned workers directly (local processes, or Slurm jobs); they
    # checkpoint and say `stopped`, and the next runner records the event.
    from .runner.executors import REGISTRY, Executor, JobRecord, make_executor
    from .runs import ACTIVE_STATES, RunPaths, list_run_dirs, read_json

    executors: dict[str, Executor] = {}  # one of each kind named by an executor.json
    targets = args.runs or [p.run_id for p in list_run_dirs(runs_dir)]
    n = 0
    from .runner.core import symlinked

    for rid in targets:
        paths = RunPaths(runs_dir / rid)
        if symlinked(paths):
            print(f"grokwatch: not stopping {symlinked(paths)}", file=sys.stderr)
            continue
        record = JobRecord.load(paths.executor)
        state = (read_json(paths.status, {}) or {}).get("state")
        if not record or state not in ACTIVE_STATES or record.executor not in REGISTRY:
            continue
        if record.executor not in executors:
            executors[record.executor] = make_executor(record.executor, None)
        ex = executors[record.executor]
        if ex.adopt(record):  # a local pid is signalled only while its start time matches
            ex.cancel(record)
            n += 1
    for ex in executors.values():
        ex.close()  # a cluster sends its cancel requests here
    print(f"grokwatch: no runner is running here; asked {n} orphaned worker(s) to stop")
    return 0


def _request(project_dir: Path, holder: dict | None, action: str, runs: list[str] | None,
             sent: list[Path] | None = None) -> str | None:
    """Hand the runner a control request; the line to show when it cannot be written (a
    read-only or full .grokwatch/), None when it was. The request file goes into `sent`."""
    from .runner.control import send_request

    try:
        path = send_request(project_dir, action, runs, to=holder)  # for that runner (None: the next)
        if sent is not None:
            sent.append(path)
    except OSError as exc:
        who = (f"the runner (pid {holder.get('pid')} on {holder.get('host')}) is running, but "
               if holder else "")
        hint = (f"; or stop it and its runs with `kill {holder.get('pid')}` (they checkpoint)"
                if holder and action in ("stop", "shutdown") and isinstance(holder.get("pid"), int)
                else "")
        return (f"{who}its control requests cannot be written ({os_error_line(exc)}); nothing was "
                f"{'stopped' if action in ('stop', 'shutdown') else 'queued'}. Make .grokwatch/ "
                f"writable and try again{hint}")
    return None


def _orphaned(project_dir: Path, request: Path, wait_s: float = 10.0) -> bool:
    """True when the request file is still there but the runner it was addressed to has gone
    (the file is then removed). Waits while a runner holds the project and has not read it."""
    from .runner.lock import runner_holder

    deadline = time.monotonic() + wait_s
    while request.exists():
        if runner_holder(project_dir) is None:
            try:
                request.unlink()
            except FileNotFoundError:
                return False  # read after all
            return True
        if time.monotonic() > deadline:
            return False  # a live runner, just slow: it reads it in its own time
        time.sleep(0.05)
    return False


def cmd_retry(argv: list[str], runs_dir: Path, project_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch retry")
    p.add_argument("runs", nargs="+")
    args = p.parse_args(argv)
    problem = _check_ids(runs_dir, args.runs)
    if problem:
        return die(problem)
    from .runner.core import symlinked
    from .runs import RETRYABLE_STATES, RunPaths, read_json

    for rid in args.runs:
        if symlinked(RunPaths(runs_dir / rid)):
            return die(f"not retrying {symlinked(RunPaths(runs_dir / rid))}")
        state = (read_json(runs_dir / rid / "status.json", {}) or {}).get("state")
        if state not in RETRYABLE_STATES:
            return die(f"{rid} is {state}; only {', '.join(RETRYABLE_STATES)} runs can be retried")
    from .runner.launch import ensure_runner
    from .runner.lock import runner_holder

    sent: list[Path] = []
    holder = runner_holder(project_dir)
    problem = _request(project_dir, holder, "retry", args.runs, sent)
    if problem:
        return die(problem)
    if holder and _orphaned(project_dir, sent[0]):
        # The runner it went to was exiting (its queue had drained) and never read it: a request
        # for a runner that is gone is dropped by the next one, so send it again, for the next.
        problem = _request(project_dir, None, "retry", args.runs)
        if problem:
            return die(problem)
    if not runner_holder(project_dir):
        info = read_json(runs_dir / args.runs[0] / "config.json", {}) or {}
        config = project_dir / "experiments.toml"
        if not config.exists():
            config = Path(info.get("experiment_file") or config)
        from .runner.core import StateDirUnwritable

        try:
            holder = ensure_runner(config, project_dir)
        except StateDirUnwritable as exc:
            return die(str(exc))
        if not holder:
            return die(f"could not start a runner for {config}; see .grokwatch/runner.log", 1)
    print(f"grokwatch: queued {', '.join(args.runs)} again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
