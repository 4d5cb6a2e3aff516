"""Control requests carry a time and the runner they were meant for: a stale one is reported
and dropped, never applied by the next runner; a stop/retry race ends as the last request asked."""

from __future__ import annotations

import json
import time

from fake_executor import FakeExecutor, events, make_project, start_runner

from grokwatch.runner.control import UNADDRESSED_MAX_AGE_S, control_dir, judge, send_request
from grokwatch.runs import read_json


def _project_events(tmp_path):
    path = tmp_path / ".grokwatch" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _state(tmp_path, rid):
    return read_json(tmp_path / "runs" / rid / "status.json")["state"]


def test_a_stop_meant_for_a_killed_runner_is_reported_and_dropped_by_the_next(tmp_path):
    make_project(tmp_path, slots=2, seeds=(0,))
    ex = FakeExecutor()
    first = start_runner(tmp_path, ex)
    (rid,) = first.active
    first.tick()
    ex.start_worker(rid)
    send_request(tmp_path, "shutdown")  # addressed to `first`, which dies before reading it
    assert json.loads(next(control_dir(tmp_path).iterdir()).read_text())["runner"]["pid"] == first.lock.info["pid"]
    first.lock.release()
    second = start_runner(tmp_path, ex)
    try:
        second.tick()
        assert not second.shutting_down and ex.cancelled == []
        assert rid in second.active and _state(tmp_path, rid) == "running"
    finally:
        second.close()
    (dropped,) = [e for e in _project_events(tmp_path) if e["kind"] == "request_dropped"]
    assert "shutdown (every run)" in dropped["message"] and "which is gone" in dropped["message"]
    assert not list(control_dir(tmp_path).iterdir())


def test_a_request_for_this_runner_is_applied(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        (rid,) = runner.active
        runner.tick()
        send_request(tmp_path, "stop", [rid])
        runner.tick()
        assert ex.cancelled == [(ex.job_of(rid), False)]
    finally:
        runner.close()


def test_a_request_sent_when_no_runner_ran_is_for_the_next_one_only_while_fresh():
    me = {"runner_id": "abc", "pid": 10, "host": "h", "started": 1000.0}
    assert judge({"action": "retry", "time": 990.0, "runner": None}, me, now=1001.0) is None
    old = judge({"action": "retry", "time": 1000.0 - UNADDRESSED_MAX_AGE_S - 5, "runner": None}, me, now=1001.0)
    assert old and "no runner came" in old
    assert judge({"action": "stop", "runner": None}, me) == "it carries no time"
    assert judge({"action": "stop", "time": 1000.0, "runner": {"runner_id": "abc", "pid": 10}}, me) is None
    assert "pid 11" in judge({"action": "stop", "time": 1000.0, "runner": {"runner_id": "x", "pid": 11}}, me)
    # a runner of an older version wrote no runner_id: pid and host decide
    assert judge({"action": "stop", "time": 1000.0, "runner": {"pid": 10, "host": "h"}},
                 {"pid": 10, "host": "h"}) is None


def test_stop_then_retry_while_it_is_stopping_ends_queued_again(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        (rid,) = runner.active
        runner.tick()
        ex.start_worker(rid, step=20)
        send_request(tmp_path, "stop", [rid])
        time.sleep(0.002)
        send_request(tmp_path, "retry", [rid])  # before the worker has stopped
        runner.tick()
        assert ex.cancelled == [(ex.job_of(rid), False)]
        (tmp_path / "runs" / rid / "checkpoint.json").write_text("{}")
        ex.end(rid, "stopped", 4, step=20)
        runner.tick()
        assert events(tmp_path / "runs" / rid)[-2:] == ["stopped", "retried"]
        assert rid in runner.active
        assert len(ex.submitted) == 2  # resumed: the last request (retry) won
    finally:
        runner.close()


def test_retry_then_stop_ends_stopped(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0, 1))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        first, second = sorted(runner.active, key=lambda r: runner.active[r].order)
        runner.tick()
        ex.end(first, "failed", 1, step=5)
        runner.tick()  # `second` starts in the one slot
        send_request(tmp_path, "retry", [first])
        time.sleep(0.002)
        send_request(tmp_path, "stop", [first])
        runner.tick()
        assert _state(tmp_path, first) == "stopped"
        assert first not in runner.active
    finally:
        runner.close()


def test_a_refused_retry_is_said_in_one_line(tmp_path):
    make_project(tmp_path, slots=1, seeds=(0,))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        (rid,) = runner.active
        runner.tick()
        send_request(tmp_path, "retry", [rid])
        runner.tick()
    finally:
        runner.close()
    (refused,) = [e for e in _project_events(tmp_path) if e["kind"] == "request_refused"]
    assert rid in refused["message"] and "already running" in refused["message"]
