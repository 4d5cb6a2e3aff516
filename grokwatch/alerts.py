"""`[alerts] command = "..."`: a shell command run once per alert, in the background.

    alerts = AlertCommand("notify-send grokwatch \\"$GROKWATCH_MESSAGE\\"", timeout_s=30,
                          on_error=log.warning)
    alerts.fire(event, latest_row)      # returns at once; never raises
    alerts.poll()                       # optional: reap finished commands, enforce timeouts
    alerts.close()                      # at exit: wait a little, then kill what is left

The command runs through `/bin/sh -c` in its own process group, with the alert in its
environment:

    GROKWATCH_RUN_ID, GROKWATCH_KIND, GROKWATCH_STEP, GROKWATCH_MESSAGE
    GROKWATCH_EVENT        the whole event as one JSON object
    GROKWATCH_METRIC_<NAME> the run's latest metrics (GROKWATCH_METRIC_TEST_ACC, ...)

stdin is /dev/null; stdout and stderr go to a temporary file (their tail goes into the error
report).
A command still running after `timeout_s` is sent SIGTERM, then SIGKILL. A failure (cannot
start, non-zero exit, timeout) is reported through `on_error(message)` (default: the
`grokwatch.alerts` logger) and never raised: an alert hook must not take the runner down.

Each fired command gets a small watcher thread that starts it, waits for it (so there are no
zombies even if nobody calls `poll`), kills it at its timeout and reports failures. At most `max_running`
commands run at once; alerts beyond that are dropped and reported.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable

log = logging.getLogger("grokwatch.alerts")

_NAME = re.compile(r"[^A-Z0-9_]+")
OUTPUT_TAIL = 400  # characters of the command's output quoted in an error


def _env_name(metric: str) -> str:
    return "GROKWATCH_METRIC_" + (_NAME.sub("_", str(metric).upper()).strip("_") or "X")


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v) if math.isfinite(v) else str(v)
    return "" if v is None else str(v)


def alert_env(event: dict[str, Any], latest: dict[str, Any] | None,
              base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment an alert command sees."""
    env = dict(os.environ if base is None else base)
    for k in [k for k in env if k.startswith("GROKWATCH_METRIC_")]:
        del env[k]
    for name, value in (latest or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            env[_env_name(name)] = _fmt(value)
    env["GROKWATCH_RUN_ID"] = _fmt(event.get("run_id", ""))
    env["GROKWATCH_KIND"] = _fmt(event.get("kind", ""))
    env["GROKWATCH_STEP"] = _fmt(event.get("step", ""))
    env["GROKWATCH_MESSAGE"] = _fmt(event.get("message", ""))
    try:
        env["GROKWATCH_EVENT"] = json.dumps(event, sort_keys=True, default=str)
    except (TypeError, ValueError):
        env["GROKWATCH_EVENT"] = "{}"
    return env


class AlertCommand:
    def __init__(self, command: str, timeout_s: float = 30, on_error: Callable[[str], None] | None = None,
                 max_running: int = 8, shell: str = "/bin/sh"):
        self.command = command
        self.timeout_s = float(timeout_s)
        self.on_error = on_error
        self.max_running = max_running
        self.shell = shell
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._procs: dict[int, subprocess.Popen] = {}
        self._seq = 0
        self._closing = False
        self.fired = 0
        self.failed = 0

    # -- public -------------------------------------------------------------------------

    def fire(self, event: dict[str, Any], latest: dict[str, Any] | None = None) -> bool:
        """Run the command for `event` in the background: returns at once (the process is
        started by a watcher thread, so not even a slow fork blocks the caller). False when it
        was skipped (no command, too many still running). Never raises."""
        try:
            if not self.command or not self.command.strip():
                return False
            busy = self.poll()
            if busy >= self.max_running:
                self._report(f"{busy} alert commands still running; skipped the one for "
                             f"{event.get('kind')} at step {_fmt(event.get('step'))}")
                return False
            env = alert_env(event, latest)
            label = f"{event.get('kind', '?')} at step {_fmt(event.get('step', '?'))}"
            self.fired += 1
            self._seq += 1
            t = threading.Thread(target=self._run, args=(env, label), daemon=True,
                                 name=f"grokwatch-alert-{self._seq}")
            with self._lock:
                self._threads[self._seq] = t
            t.start()
            return True
        except Exception as exc:  # noqa: BLE001 — an alert hook must never raise into the runner
            self._report(f"could not run {self.command!r}: {exc}")
            return False

    def poll(self) -> int:
        """Forget finished commands; returns how many are still running. (The watcher threads
        reap the processes and enforce the timeouts themselves; calling this is optional.)"""
        with self._lock:
            for k, t in list(self._threads.items()):
                if not t.is_alive():
                    del self._threads[k]
            return len(self._threads)

    def running(self) -> int:
        return self.poll()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every fired command has finished (tests); True when none is left."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.poll() == 0

    def close(self, wait_s: float = 2.0) -> None:
        """Give running commands `wait_s` to finish, then kill them (at runner exit)."""
        if self.wait(wait_s):
            return
        self._closing = True  # watcher threads that have not started their command yet won't
        deadline = time.monotonic() + 5.0
        while self.poll() and time.monotonic() < deadline:
            with self._lock:
                procs = list(self._procs.values())
            for proc in procs:
                _kill_group(proc, signal.SIGKILL)
            self.wait(0.1)
        self._closing = False

    # -- internals ----------------------------------------------------------------------

    def _report(self, message: str) -> None:
        self.failed += 1
        try:
            if self.on_error is not None:
                self.on_error(message)
            else:
                log.warning("alert command: %s", message)
        except Exception:  # noqa: BLE001
            log.exception("alert command error callback failed")

    def _run(self, env: dict[str, str], label: str) -> None:
        """Start one command, wait for it (reaping it), kill it at its timeout, report
        failures. Only the shell is waited for: a grandchild it left in the background is its
        own business."""
        try:
            out = tempfile.TemporaryFile()
        except OSError as exc:
            self._report(f"could not run {self.command!r} ({label}): {exc}")
            return
        try:
            if self._closing:
                out.close()
                return
            proc = subprocess.Popen([self.shell, "-c", self.command], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        except Exception as exc:  # noqa: BLE001
            out.close()
            self._report(f"could not start {self.command!r} ({label}): {exc}")
            return
        with self._lock:
            self._procs[proc.pid] = proc
        try:
            try:
                rc = proc.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    _kill_group(proc, signal.SIGKILL)
                    proc.wait()
                self._report(f"{self.command!r} ({label}) timed out after {self.timeout_s:g} s "
                             f"and was killed{_tail(out)}")
                return
            if rc == 127:
                self._report(f"{self.command!r} ({label}): command not found (exit 127){_tail(out)}")
            elif rc != 0:
                how = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
                self._report(f"{self.command!r} ({label}) failed: {how}{_tail(out)}")
        except Exception as exc:  # noqa: BLE001
            self._report(f"{self.command!r} ({label}): {exc}")
        finally:
            with self._lock:
                self._procs.pop(proc.pid, None)
            try:
                out.close()
            except OSError:
                pass


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass


def _tail(out: Any) -> str:
    """The last lines of a command's output file, for an error report."""
    try:
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - 4 * OUTPUT_TAIL))
        data = out.read()
    except (OSError, ValueError):
        return ""
    if not data:
        return ""
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return ""
    if len(text) > OUTPUT_TAIL:
        text = "..." + text[-OUTPUT_TAIL:]
    return ": " + " | ".join(text.splitlines()[-5:])
