"""The local executor: workers as child processes of the runner.

Each worker runs in its own process session, so a Ctrl-C in a headless terminal reaches the
runner, which stops them cleanly. A worker is identified by pid *and* start time (runner/proc.py):
a run is adopted, and signalled, only while both match, so a reused pid is never taken for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .. import packs
from ..proc import process_start_time, same_process
from .base import Executor, JobRecord, JobState


class LocalExecutor(Executor):
    name = "local"
    job_kind = "process"

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable
        self.children: dict[int, subprocess.Popen] = {}
        self.host = socket.gethostname()
        self._pipe: tuple[int, int] | None = None
        self._previous_handler: Any = None

    def wakeup_fd(self) -> int | None:
        """The read end of a self-pipe written on SIGCHLD: a worker's exit wakes the runner at
        once, so its slot is refilled within milliseconds, not at the next tick. None where a
        signal handler cannot be installed (not the main thread)."""
        if self._pipe is None:
            if threading.current_thread() is not threading.main_thread():
                return None
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            previous = signal.getsignal(signal.SIGCHLD)

            def on_child(signum: int, frame: Any) -> None:
                try:
                    os.write(w, b"c")
                except OSError:  # the pipe is full: a wakeup is pending anyway
                    pass
                if callable(previous):
                    previous(signum, frame)

            signal.signal(signal.SIGCHLD, on_child)
            self._pipe, self._previous_handler = (r, w), previous
        return self._pipe[0]

    def close(self) -> None:
        if self._pipe is not None:
            try:
                if threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGCHLD, self._previous_handler or signal.SIG_DFL)
            finally:
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None

    def submit(self, run_dir: Path, env: dict[str, str]) -> JobRecord:
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
        return self.record(pid=proc.pid, start_time=process_start_time(proc.pid), host=self.host,
                           submitted=time.time())

    can_pack = True

    def submit_pack(self, run_dirs: list[Path], env: dict[str, str]) -> list[JobRecord]:
        """One `python -m grokwatch.pack` process for these runs; a record per member (runner/packs.py)."""
        proc, pack_id = packs.start_pack(self.python, run_dirs, env)
        self.children[proc.pid] = proc
        started = process_start_time(proc.pid)
        return [self.record(pid=proc.pid, start_time=started, host=self.host, submitted=time.time(),
                            **packs.member_fields(pack_id, run_dirs, d)) for d in run_dirs]

    def _alive(self, record: JobRecord) -> bool:
        """The recorded process still runs on this host (pid and start time both match)."""
        if record.get("host") not in (None, self.host):
            return False
        return same_process(record.get("pid"), record.get("start_time"))

    def poll(self, records: dict[str, JobRecord]) -> dict[str, JobState]:
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
        return packs.members_that_left(records, out)

    def adopt(self, record: JobRecord) -> bool:
        return self._alive(record)

    def _signal(self, record: JobRecord, sig: int) -> None:
        pid = record.get("pid")
        # our own child cannot have been reused (it is not reaped yet); anyone else must prove
        # it is the process we started
        if (isinstance(pid, int) and pid in self.children) or self._alive(record):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def cancel(self, record: JobRecord, requeue: bool = False) -> None:
        if packs.is_member(record):  # one member of a pack: its stop.request, not a signal
            packs.request_stop(record)
            return
        self._signal(record, signal.SIGUSR1 if requeue else signal.SIGTERM)

    def kill(self, record: JobRecord) -> None:
        if packs.is_member(record):  # never SIGKILL every member for one of them
            packs.request_stop(record)
            return
        self._signal(record, signal.SIGKILL)
