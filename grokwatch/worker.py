"""`python -m grokwatch.worker RUN_DIR`: train one run, everything read from and written to its
run directory.

Signals: SIGTERM = stop (checkpoint, state `stopped`, exit 4); SIGUSR1 = "you will be killed
soon" (checkpoint, state `requeued`, exit 75 so the executor runs it again). A second SIGTERM
stops at once without a checkpoint, for a kind stuck outside its loop.
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

from .status import RunStatus
from .runs import (EXIT_DIVERGED, EXIT_DONE, EXIT_FAILED, EXIT_REQUEUE, EXIT_STOPPED, RunPaths,
                   atomic_write_json, read_json, tail_lines)

LOG_TAIL_LINES = 20


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
        self.write_status()
        try:
            self.ctx = RunContext(self.paths.dir, self.config)
            self.ctx.on_status = lambda s: self.write_status(**s)
            train = load_runner(self.config["kind"])
            train(self.ctx)
            self.ctx.close()
        except StopRun as stop:
            self._close_ctx()
            if stop.requeue:
                self.write_status(state="requeued", exit_code=EXIT_REQUEUE, ended=time.time())
                return EXIT_REQUEUE
            self.write_status(state="stopped", exit_code=EXIT_STOPPED, ended=time.time())
            return EXIT_STOPPED
        except Diverged as exc:
            self._close_ctx()
            print(f"grokwatch: run diverged: {exc}", file=sys.stderr, flush=True)
            self.write_status(state="diverged", exit_code=EXIT_DIVERGED, error=str(exc),
                              ended=time.time())
            return EXIT_DIVERGED
        except BaseException as exc:  # noqa: BLE001 — any crash of a kind is a failed run
            self._close_ctx()
            if getattr(exc, "show_traceback", True):
                traceback.print_exc()
            else:  # e.g. a `command` run's non-zero exit: its own traceback is already in the log
                print(f"grokwatch: {exc}", file=sys.stderr)
            sys.stderr.flush()
            sys.stdout.flush()
            message = f"{type(exc).__name__}: {exc}"
            self.write_status(state="failed", exit_code=EXIT_FAILED, error=message,
                              log_tail=tail_lines(self.paths.worker_log, LOG_TAIL_LINES),
                              ended=time.time())
            return EXIT_FAILED
        self.write_status(state="done", exit_code=EXIT_DONE, ended=time.time(),
                          step=self.ctx.step)
        return EXIT_DONE

    def _close_ctx(self) -> None:
        if self.ctx is not None:
            try:
                self.status["step"] = self.ctx.step
                self.ctx.close()
            except Exception:  # noqa: BLE001
                pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m grokwatch.worker RUN_DIR", file=sys.stderr)
        return 2
    return Worker(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main())
