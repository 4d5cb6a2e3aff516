"""`python -m grokwatch.worker RUN_DIR`: train one run, everything read from and written to its
run directory.

Signals: SIGTERM = stop (checkpoint, state `stopped`, exit 4); SIGUSR1 = "you will be killed
soon" (checkpoint, state `requeued`, exit 75 so the executor runs it again). A second SIGTERM
stops at once without a checkpoint, for a kind stuck outside its loop.

A full disk is not a failure of the run: the worker removes its temporary files, records
`stopped` with the reason "no space left on device" (rewriting status.json in place when not even
a new small file fits) and exits 4, so `grokwatch retry` resumes from the last checkpoint once
there is space again.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .runs import (EXIT_DIVERGED, EXIT_DONE, EXIT_FAILED, EXIT_REQUEUE, EXIT_STOPPED, NO_SPACE,
                   RunPaths, atomic_write_json, is_disk_full, overwrite_json_in_place,
                   protect_new_files, read_json, tail_lines)
from .status import RunStatus

LOG_TAIL_LINES = 20


def say(message: str) -> None:
    """A line for worker.log; on a full disk (or a closed log) it is dropped, never raised."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class Worker:
    def __init__(self, run_dir: Path):
        self.paths = RunPaths(Path(run_dir).resolve())
        self.config: dict[str, Any] = read_json(self.paths.config)
        if not self.config:
            raise SystemExit(f"grokwatch.worker: no readable config.json in {run_dir}")
        previous = read_json(self.paths.status, {}) or {}
        self.status: RunStatus = {
            "run_id": self.config.get("run_id", self.paths.run_id),
            "state": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": previous.get("started") or time.time(),
            "resumed": time.time() if previous.get("step") else None,
            "step": previous.get("step", 0),
            "total_steps": self.config.get("total_steps"),
            "attempt": previous.get("attempt", 1),
            "exit_code": None,
            "error": None,
            "ended": None,
        }
        self.ctx = None

    def write_status(self, **changes: Any) -> None:
        self.status.update(changes)
        self.status["updated"] = time.time()
        atomic_write_json(self.paths.status, self.status)

    def write_final_status(self, **changes: Any) -> bool:
        """The last status: atomically where the disk allows, else rewritten in place (no new
        blocks needed), so a full disk still leaves the state on record. False if neither."""
        try:
            self.write_status(**changes)
            return True
        except OSError as exc:
            if not is_disk_full(exc, self.paths.dir):
                raise
        try:
            overwrite_json_in_place(self.paths.status, self.status)
            return True
        except OSError:
            return False

    def _on_signal(self, signum: int, _frame: Any) -> None:
        from .experiments.base import StopRun

        kind = "requeue" if signum == signal.SIGUSR1 else "stop"
        if self.ctx is None:
            raise StopRun(requeue=kind == "requeue")
        if self.ctx.stop_signal == "stop" and kind == "stop":
            raise StopRun(requeue=False)  # second SIGTERM: stop now
        self.ctx.stop_signal = kind

    def run(self) -> int:
        from .experiments import load_runner
        from .experiments.base import Diverged, RunContext, StopRun

        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGUSR1, self._on_signal)
        try:
            self.write_status()
        except OSError as exc:
            if is_disk_full(exc, self.paths.dir):
                return self._stopped_by_full_disk(exc)
            raise
        try:
            self.ctx = RunContext(self.paths.dir, self.config)
            self.ctx.on_status = lambda s: self.write_status(**s)
            train = load_runner(self.config["kind"])
            train(self.ctx)
            self.ctx.close()
        except StopRun as stop:
            self._close_ctx()
            if stop.requeue:
                self.write_final_status(state="requeued", exit_code=EXIT_REQUEUE, ended=time.time())
                return EXIT_REQUEUE
            self.write_final_status(state="stopped", exit_code=EXIT_STOPPED, ended=time.time())
            return EXIT_STOPPED
        except Diverged as exc:
            self._close_ctx()
            say(f"grokwatch: run diverged: {exc}")
            self.write_final_status(state="diverged", exit_code=EXIT_DIVERGED, error=str(exc),
                                    ended=time.time())
            return EXIT_DIVERGED
        except BaseException as exc:  # noqa: BLE001 — any crash of a kind is a failed run
            self._close_ctx()
            if is_disk_full(exc, self.paths.dir):
                return self._stopped_by_full_disk(exc)
            if getattr(exc, "show_traceback", True):
                try:
                    traceback.print_exc()
                except (OSError, ValueError):
                    pass
            else:  # e.g. a `command` run's non-zero exit: its own traceback is already in the log
                say(f"grokwatch: {exc}")
            flush_std_streams()
            message = f"{type(exc).__name__}: {exc}"
            try:
                self.write_status(state="failed", exit_code=EXIT_FAILED, error=message,
                                  log_tail=tail_lines(self.paths.worker_log, LOG_TAIL_LINES),
                                  ended=time.time())
            except OSError as err:
                if is_disk_full(err, self.paths.dir):
                    return self._stopped_by_full_disk(err)
                raise
            return EXIT_FAILED
        try:
            self.write_status(state="done", exit_code=EXIT_DONE, ended=time.time(),
                              step=self.ctx.step)
        except OSError as exc:
            if not is_disk_full(exc, self.paths.dir):
                raise
            # Every row is written; only the final state did not fit. A retry re-runs nothing
            # that was logged and ends `done` at once.
            return self._stopped_by_full_disk(exc)
        return EXIT_DONE

    def _stopped_by_full_disk(self, exc: BaseException) -> int:
        where = getattr(exc, "filename", None)
        saved = read_json(self.paths.dir / "checkpoint.json", {}) or {}
        resume = (f"resumes from the checkpoint at step {saved['step']}" if saved.get("step")
                  else "runs it again (no checkpoint yet; logged steps are not logged twice)")
        error = (f"{NO_SPACE}" + (f" (writing {where})" if where else "")
                 + f"; free some space, then `grokwatch retry {self.status['run_id']}` {resume}")
        say(f"grokwatch: stopped: {error}")
        self.write_final_status(state="stopped", exit_code=EXIT_STOPPED, error=error,
                                reason=NO_SPACE, ended=time.time())
        flush_std_streams()
        return EXIT_STOPPED

    def _close_ctx(self) -> None:
        if self.ctx is not None:
            try:
                self.status["step"] = self.ctx.step
                self.ctx.close()
            except Exception:  # noqa: BLE001
                pass


def flush_std_streams() -> None:
    """Flush stdout and stderr; where that fails (worker.log on a full disk), point them at
    /dev/null so the interpreter's own flush at exit cannot turn our exit code into 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
                stream.flush()
            except (OSError, ValueError):
                pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m grokwatch.worker RUN_DIR", file=sys.stderr)
        return 2
    protect_new_files()
    code = Worker(Path(argv[0])).run()
    flush_std_streams()
    return code


if __name__ == "__main__":
    _code = main()
    # Every run file is closed and its state written: skip the interpreter's teardown (tens to
    # hundreds of ms with numpy or torch loaded), so the runner can refill the slot at once
    # (bench/engine.py --sweep).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_code)
