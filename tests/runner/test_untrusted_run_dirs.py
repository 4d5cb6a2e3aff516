"""Run directories that are symbolic links are refused for destructive operations; signals go
only to a pid whose start time matches (never for "start_time": null); the process identity
check works without /proc (the `ps` path, forced with GROKWATCH_NO_PROC=1)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest

from conftest import grokwatch
from fake_executor import FakeExecutor, make_project, start_runner

from grokwatch.runner import proc
from grokwatch.runner.executors import JobRecord
from grokwatch.runner.executors.local import LocalExecutor
from grokwatch.runs import read_json


@pytest.fixture
def sleeper():
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


def _record(pid, start_time):
    return JobRecord(executor="local", job_kind="process", pid=pid, start_time=start_time,
                     host=socket.gethostname())


def _wait_dead(child, timeout=10.0):
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_retry_refuses_a_run_dir_that_is_a_symlink_and_moves_nothing(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        (rid,) = runner.active
        runner.tick()
        ex.end(rid, "failed", 1, step=5)
        runner.tick()
        real = tmp_path / "runs" / rid
        decoy = tmp_path / "decoy"
        real.rename(decoy)
        (decoy / "precious.txt").write_text("keep me")
        real.symlink_to(decoy)
        problem = runner.retry(rid)
        assert problem and "symbolic link" in problem
        assert sorted(p.name for p in decoy.iterdir() if p.name.startswith("attempt")) == []
        assert (decoy / "precious.txt").read_text() == "keep me"
        # a planted attempt-N link is refused too
        real.unlink()
        decoy.rename(real)
        (real / "attempt-1").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        (tmp_path / "elsewhere").mkdir()
        problem = runner.retry(rid)
        assert problem and "attempt-1 is a symbolic link" in problem
        assert not list((tmp_path / "elsewhere").iterdir())
    finally:
        runner.close()


def test_cli_retry_of_a_symlinked_run_is_one_line_exit_2(tmp_path):
    (tmp_path / "runs").mkdir()
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "config.json").write_text("{}")
    (decoy / "status.json").write_text('{"state": "failed"}')
    (tmp_path / "runs" / "x-s0-abcdef").symlink_to(decoy)
    out = grokwatch("retry", "x-s0-abcdef", cwd=tmp_path)
    assert out.returncode == 2 and "symbolic link" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in decoy.iterdir()) == ["config.json", "status.json"]


def test_stop_without_a_runner_never_signals_through_a_symlink_or_a_null_start_time(tmp_path, sleeper):
    (tmp_path / "runs").mkdir()
    start = proc.process_start_time(sleeper.pid)
    for name, start_time, link in (("null-s0-aaaaaa", None, False), ("link-s0-bbbbbb", start, True)):
        d = (tmp_path / "decoy-" / name) if link else tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
        (d / "status.json").write_text('{"state": "running"}')
        (d / "executor.json").write_text(json.dumps(_record(sleeper.pid, start_time)))
        if link:
            (tmp_path / "runs" / name).symlink_to(d)
    out = grokwatch("stop", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "asked 0 orphaned worker(s)" in out.stdout and "symbolic link" in out.stderr
    time.sleep(0.5)
    assert sleeper.poll() is None  # alive: nobody signalled it


def test_signals_only_reach_the_process_whose_start_time_matches(sleeper):
    ex = LocalExecutor()
    start = proc.process_start_time(sleeper.pid)
    ex.cancel(_record(sleeper.pid, None))  # unprovable: never
    ex.cancel(_record(sleeper.pid, start + 1 if isinstance(start, int) else start + "x"))  # reused pid
    time.sleep(0.3)
    assert sleeper.poll() is None
    assert ex.adopt(_record(sleeper.pid, start)) and not ex.adopt(_record(sleeper.pid, None))
    ex.cancel(_record(sleeper.pid, start))
    assert _wait_dead(sleeper) and sleeper.returncode == -signal.SIGTERM


def test_the_ps_path_identifies_processes_without_proc(monkeypatch, sleeper):
    monkeypatch.setenv("GROKWATCH_NO_PROC", "1")
    start = proc.process_start_time(sleeper.pid)
    assert isinstance(start, str) and len(start.split()) >= 4  # e.g. "Tue Dec  1 18:40:02 2026"
    assert proc.pid_state(sleeper.pid) in ("S", "R", "D")
    assert proc.same_process(sleeper.pid, start) and not proc.same_process(sleeper.pid, None)
    ex = LocalExecutor()
    assert ex.adopt(_record(sleeper.pid, start))  # re-adoption works where /proc is missing
    assert not ex.adopt(_record(sleeper.pid, "Thu Jan  1 00:00:00 1970"))
    ex.cancel(_record(sleeper.pid, start))
    assert _wait_dead(sleeper)
    assert proc.process_start_time(sleeper.pid) is None and not proc.is_alive(sleeper.pid)


def test_a_zombie_is_not_alive_on_either_path(monkeypatch):
    child = subprocess.Popen(["true"])
    time.sleep(0.5)  # exited, not reaped: a zombie
    try:
        assert proc.pid_state(child.pid) == "Z" and not proc.is_alive(child.pid)
        monkeypatch.setenv("GROKWATCH_NO_PROC", "1")
        assert proc.pid_state(child.pid) == "Z" and not proc.is_alive(child.pid)
    finally:
        child.wait()
