"""The runner's scheduling, adoption and retry against a fake executor: no worker processes,
so each test is milliseconds, and every decision of the real runner is visible."""

from __future__ import annotations

import json

from fake_executor import FakeExecutor, events, make_project, start_runner

from grokwatch.runner.executors import JobRecord
from grokwatch.runs import read_json


def _ids(runner, state):
    return sorted(r for r, a in runner.active.items() if a.state == state)


def test_two_slots_run_the_queue_in_order_and_a_freed_slot_is_refilled(tmp_path):
    make_project(tmp_path, slots=2, seeds=(0, 1, 2, 3))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        queue = sorted(runner.active, key=lambda r: runner.active[r].order)
        runner.tick()
        assert ex.submitted == queue[:2] and len(_ids(runner, "running")) == 2
        runner.tick()
        assert len(ex.submitted) == 2  # no free slot: nothing more starts
        ex.start_worker(queue[0])
        ex.end(queue[0])
        runner.tick()
        assert ex.submitted == queue[:3]
        for rid in queue[1:3]:
            ex.end(rid)
        runner.tick()
        assert ex.submitted == queue
        ex.end(queue[3])
        runner.tick()
        assert not runner.active and runner.should_exit()
    finally:
        runner.close()
    for rid in queue:
        d = tmp_path / "runs" / rid
        assert read_json(d / "status.json")["state"] == "done"
        kinds = events(d)
        assert kinds[0] == "started" and kinds[-1] == "done" and kinds.count("done") == 1
        assert read_json(d / "executor.json")["slot"] == "cpu"
    assert runner.final_states == {rid: "done" for rid in queue}


def test_config_json_is_written_once_through_launch_requeue_and_retry(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        (rid,) = runner.active
        cfg = tmp_path / "runs" / rid / "config.json"
        before = cfg.read_bytes()
        info = json.loads(before)
        assert info["device"] == "cpu" and info["threads"] == 1  # fixed when queued
        runner.tick()
        ex.start_worker(rid, step=40)
        ex.end(rid, "requeued", 75, step=40)  # a time-limit warning
        runner.tick()
        assert read_json(tmp_path / "runs" / rid / "attempts.json")["requeue_step"] == 40
        runner.tick()  # launched again
        ex.end(rid, "failed", 1, step=50)
        runner.tick()
        assert runner.retry(rid) is None
        assert cfg.read_bytes() == before
        assert read_json(tmp_path / "runs" / rid / "attempts.json")["retried"] is True
        assert (tmp_path / "runs" / rid / "attempt-1" / "config.json").read_bytes() == before
    finally:
        runner.close()


def test_an_executor_that_cannot_start_one_run_fails_only_that_run(tmp_path):
    make_project(tmp_path, slots=2, seeds=(0, 1))
    runner = start_runner(tmp_path, FakeExecutor())
    queue = sorted(runner.active, key=lambda r: runner.active[r].order)
    runner.executor.fail_for = {queue[0]}
    try:
        runner.tick()
    finally:
        runner.close()
    status = read_json(tmp_path / "runs" / queue[0] / "status.json")
    assert status["state"] == "failed" and "no room for" in status["error"]
    assert runner.executor.submitted == [queue[1]]
    assert queue[0] in runner.ran


def test_a_new_runner_readopts_live_jobs_and_marks_vanished_ones_lost(tmp_path):
    make_project(tmp_path, slots=3, seeds=(0, 1, 2))
    ex = FakeExecutor()
    first = start_runner(tmp_path, ex)
    queue = sorted(first.active, key=lambda r: first.active[r].order)
    first.tick()
    for rid in queue:
        ex.start_worker(rid, step=10)
    first.tick()
    first.lock.release()  # the runner dies; its jobs do not
    ex.vanish(queue[1])
    ex.end(queue[2], "done")  # ended while no runner watched
    second = start_runner(tmp_path, ex)
    try:
        assert _ids(second, "running") == [queue[0]]
        assert ex.submitted == queue  # nothing launched twice
        second.tick()
        assert len(ex.submitted) == 3
        ex.end(queue[0])
        second.tick()
    finally:
        second.close()
    state = {rid: read_json(tmp_path / "runs" / rid / "status.json")["state"] for rid in queue}
    assert state == {queue[0]: "done", queue[1]: "lost", queue[2]: "done"}
    assert events(tmp_path / "runs" / queue[2]).count("done") == 1  # the missing event, added once
    assert events(tmp_path / "runs" / queue[0]).count("started") == 1


def test_retry_resumes_a_stopped_run_in_place_and_restarts_a_failed_one(tmp_path):
    make_project(tmp_path, slots=2, seeds=(0, 1))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        stopped, failed = sorted(runner.active, key=lambda r: runner.active[r].order)
        runner.tick()
        for rid in (stopped, failed):
            ex.start_worker(rid, step=30)
        (tmp_path / "runs" / stopped / "checkpoint.json").write_text("{}")
        ex.end(stopped, "stopped", 4, step=30)
        ex.end(failed, "failed", 1, step=30)
        runner.tick()
        assert runner.retry(stopped) is None and runner.retry(failed) is None
        assert "already queued" in runner.retry(stopped)
        d_stopped, d_failed = tmp_path / "runs" / stopped, tmp_path / "runs" / failed
        assert not list(d_stopped.glob("attempt-*"))
        assert read_json(d_stopped / "status.json")["step"] == 30
        assert (d_failed / "attempt-1" / "status.json").exists()
        assert read_json(d_failed / "status.json")["step"] == 0
        assert read_json(d_failed / "status.json")["attempt"] == 2
        runner.tick()
        assert ex.submitted[-2:] == [stopped, failed]
        assert events(d_stopped)[-1] == "retried"
    finally:
        runner.close()


def test_stop_by_id_cancels_running_and_ends_queued_runs_stopped(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0, 1))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        running, queued = sorted(runner.active, key=lambda r: runner.active[r].order)
        runner.tick()
        runner.stop_runs([running, queued])
        assert ex.cancelled == [(ex.job_of(running), False)]
        assert read_json(tmp_path / "runs" / queued / "status.json")["state"] == "stopped"
    finally:
        runner.close()


def test_records_say_what_kind_of_job_they_are():
    assert not JobRecord(executor="local", pid=1).is_cluster_job  # written before job_kind existed
    assert JobRecord(executor="slurm", job_id="12_3").is_cluster_job
    assert JobRecord(executor="slurm", job_id="12_3").job_id == "12_3"
    assert JobRecord(executor="local", job_id="nonsense").job_id == ""
    assert JobRecord(executor="mine", job_kind="cluster", job_id="7").job_id == "7"


def test_a_worker_stopped_by_a_full_disk_pauses_launching_until_space_is_back(tmp_path):
    from grokwatch.runs import NO_SPACE, atomic_write_json

    make_project(tmp_path, slots=1, seeds=(0, 1))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        first, second = sorted(runner.active, key=lambda r: runner.active[r].order)
        runner.tick()
        ex.start_worker(first)
        ex.end(first, "stopped", 4, step=10)
        d = tmp_path / "runs" / first
        atomic_write_json(d / "status.json", {**read_json(d / "status.json"), "reason": NO_SPACE})
        runner.tick()
        assert ex.submitted == [first] and runner.disk.trouble  # nothing launched on a full disk
        assert read_json(tmp_path / ".grokwatch" / "runner.json")["disk_full"]
        runner.tick()  # this disk has room: the probe finds it, launching goes on
        assert runner.disk.trouble is None and ex.submitted == [first, second]
    finally:
        runner.close()
    kinds = [json.loads(line)["kind"] for line in (tmp_path / ".grokwatch" / "events.jsonl").read_text().splitlines()]
    assert kinds[-2:] == ["disk_full", "disk_ok"]
