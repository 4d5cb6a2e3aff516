"""An SSH connection that drops: the dashboard runs on a pseudo-terminal as its controlling
terminal, then the terminal goes away (the master side closes, as sshd's does; the kernel sends
SIGHUP). The dashboard goes; the runner and its runs carry on to `done`, and nothing is `lost`."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from conftest import cli_env, events_of, run_dirs, state_of, wait_for

pytestmark = pytest.mark.slow

TRAIN = """
import json, time
for step in range(1, 81):
    print("grokwatch: " + json.dumps({"step": step, "train_loss": 1.0 / step}), flush=True)
    time.sleep(0.1)
"""


def _controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _rows(run) -> int:
    try:
        return len((run / "metrics.csv").read_text().splitlines())
    except OSError:
        return 0


def test_a_dropped_terminal_leaves_the_runner_and_its_runs_going(project):
    from grokwatch.runner.lock import runner_holder

    (project / "train.py").write_text(TRAIN)
    (project / "experiments.toml").write_text("""
[grokwatch]
devices = "cpu"

[[experiment]]
name = "ssh"
kind = "command"
command = ["python", "train.py"]
total_steps = 80
""")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**cli_env(), "TERM": "xterm-256color"}
    tui = subprocess.Popen([sys.executable, "-m", "grokwatch"], cwd=project, env=env, stdin=slave,
                           stdout=slave, stderr=slave, preexec_fn=_controlling_tty, close_fds=True)
    os.close(slave)
    screen = bytearray()

    def drain():  # a terminal reads what the dashboard draws
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data[-4096:])

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    closed = False
    try:
        run = wait_for(lambda: (run_dirs(project) or [None])[0], timeout=60, what="the run directory")
        wait_for(lambda: state_of(run) == "running" and _rows(run) > 3, timeout=60, what="rows")
        holder = runner_holder(project)
        assert holder and holder["pid"] != tui.pid
        os.close(master)  # the connection drops
        closed = True
        tui.wait(timeout=20)
        rows = _rows(run)
        wait_for(lambda: _rows(run) > rows, timeout=20, what="rows after the drop")
        assert runner_holder(project), "the runner went with the terminal"
        wait_for(lambda: state_of(run) == "done", timeout=60, what="the run to finish")
        assert _rows(run) == 81
        wait_for(lambda: "done" in [e["kind"] for e in events_of(run)], timeout=20, what="the done event")
        assert [e["kind"] for e in events_of(run)] == ["started", "done"]
    finally:
        if tui.poll() is None:
            tui.kill()
            tui.wait()
        if not closed:
            os.close(master)
