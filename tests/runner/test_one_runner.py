"""Exactly one runner per project, whatever happens to the files under .grokwatch/ (real
processes: the defect was two runners launching the same run after `rm -rf .grokwatch`)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from conftest import (events_of, grok_exp, grokwatch, metric_steps, read_json, run_dirs, start_grokwatch,
                      state_of, tiny_toml, wait_for)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
    return proc.communicate(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["runner.lock", ".grokwatch"])
def test_deleting_the_lock_or_the_state_dir_never_makes_a_second_runner(project, what):
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("one", steps=3000)))
    first = start_grokwatch("--headless", "--progress-every", "1", cwd=project)
    second = None
    try:
        run = wait_for(lambda: (run_dirs(project) or [None])[0], timeout=60, what="the run dir")
        wait_for(lambda: len(metric_steps(run)) >= 3, timeout=120, what="rows from the run")
        worker = read_json(run / "executor.json")["pid"]
        target = project / ".grokwatch" / ("runner.lock" if what == "runner.lock" else "")
        if what == "runner.lock":
            target.unlink()
        else:
            shutil.rmtree(target)
        second = start_grokwatch("--headless", "--progress-every", "1", cwd=project)
        # the live runner writes its lock file (and its status) again and keeps scheduling
        lock = wait_for(lambda: read_json(project / ".grokwatch" / "runner.lock"), timeout=20,
                        what="the lock file written again")
        assert lock["pid"] == first.pid
        wait_for(lambda: (project / ".grokwatch" / "runner.json").exists(), timeout=20, what="runner.json again")
        out2, err2 = second.communicate(timeout=240)
        out1, err1 = first.communicate(timeout=120)
    finally:
        for p in (first, second):
            if p is not None:
                _kill(p)
    assert second.returncode == 0, out2 + err2
    assert "following it" in out2, out2
    assert first.returncode == 0, out1 + err1
    steps = metric_steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == 3000  # every step once, in order
    kinds = [e["kind"] for e in events_of(run)]
    assert kinds.count("started") == 1 and kinds.count("done") == 1, kinds
    assert read_json(run / "executor.json")["pid"] == worker  # never launched again
    assert state_of(run) == "done"


@pytest.mark.slow
def test_a_runner_keeps_taking_requests_after_its_state_dir_was_deleted(project):
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("long", steps=200000), grok_exp("next")))
    runner = start_grokwatch("--headless", cwd=project)
    try:
        long_run = wait_for(lambda: next((d for d in run_dirs(project) if d.name.startswith("long")), None),
                            timeout=60, what="the long run")
        wait_for(lambda: state_of(long_run) == "running", timeout=120, what="it running")
        shutil.rmtree(project / ".grokwatch")
        wait_for(lambda: (project / ".grokwatch" / "runner.lock").exists(), timeout=20, what="the lock again")
        stop = grokwatch("stop", long_run.name, cwd=project, timeout=60)
        assert stop.returncode == 0 and "asked the runner" in stop.stdout, stop.stdout + stop.stderr
        wait_for(lambda: state_of(long_run) == "stopped", timeout=60, what="the stop obeyed")
        out, err = runner.communicate(timeout=180)
    finally:
        _kill(runner)
    assert runner.returncode == 1, out + err  # one run stopped, the other done
    nxt = next(d for d in run_dirs(project) if d.name.startswith("next"))
    assert state_of(nxt) == "done"


def test_the_project_directory_lock_survives_the_lock_file(tmp_path):
    """In-process: with the lock file gone, a second RunnerLock still cannot take the project."""
    from grokwatch.runner.lock import RunnerLock, runner_holder

    first, second = RunnerLock(tmp_path), RunnerLock(tmp_path)
    assert first.acquire(tmp_path / "e.toml")
    try:
        shutil.rmtree(tmp_path / ".grokwatch")
        assert not second.acquire(tmp_path / "e.toml")
        assert first.refresh() is True and first.refresh() is False
        holder = runner_holder(tmp_path)
        assert holder["pid"] == os.getpid() and holder["runner_id"] == first.runner_id
    finally:
        first.release()
    assert runner_holder(tmp_path) is None
    assert second.acquire(tmp_path / "e.toml")
    second.release()


def test_holder_waits_briefly_for_a_live_runner_to_rewrite_its_lock_file(tmp_path):
    from grokwatch.runner.lock import RunnerLock

    lock = RunnerLock(tmp_path)
    assert lock.acquire(tmp_path / "e.toml")
    try:
        (tmp_path / ".grokwatch" / "runner.lock").unlink()
        t0 = time.monotonic()
        holder = RunnerLock(tmp_path).holder()  # nobody rewrites it here: an honest "?"
        assert holder == {"host": "?", "pid": "?", "config": "?"}
        assert time.monotonic() - t0 < 5
    finally:
        lock.release()
