"""A worker's exit wakes the runner at once (SIGCHLD on a self-pipe), instead of waiting for
the next tick: the runner's wait returns long before its timeout when a child ends."""

from __future__ import annotations

import signal
import subprocess
import time

from fake_executor import make_project

from grokwatch.runner.core import Runner
from grokwatch.runner.executors.local import LocalExecutor


def test_a_child_exit_ends_the_runners_wait_and_close_restores_sigchld(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    before = signal.getsignal(signal.SIGCHLD)
    ex = LocalExecutor()
    runner = Runner(tmp_path / "experiments.toml", tmp_path, executor=ex, foreground=True)
    assert ex.wakeup_fd() is not None
    child = subprocess.Popen(["sleep", "0.3"])
    t0 = time.monotonic()
    runner.wait(30.0)
    assert time.monotonic() - t0 < 15.0  # woken by the exit, not by the 30 s timeout
    child.wait()
    t0 = time.monotonic()
    runner.wait(0.2)  # the pipe was drained: no stale wakeup
    assert time.monotonic() - t0 >= 0.15
    ex.close()
    assert signal.getsignal(signal.SIGCHLD) == before


def test_without_a_wakeup_fd_the_wait_is_the_tick(tmp_path):
    from fake_executor import FakeExecutor

    make_project(tmp_path, slots=1, seeds=(0,))
    runner = Runner(tmp_path / "experiments.toml", tmp_path, executor=FakeExecutor(), foreground=True)
    t0 = time.monotonic()
    runner.wait(0.2)
    assert time.monotonic() - t0 >= 0.15
