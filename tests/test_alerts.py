"""`[alerts] command`: a real shell command per alert, in the background, never fatal."""

from __future__ import annotations

import os
import time

import pytest

from grokwatch.alerts import AlertCommand, alert_env

EVENT = {"time": 1.0, "run_id": "grok-add-s0-abc123", "step": 1240.0, "kind": "generalization_jump",
         "message": "Test accuracy jumped from 1.0% to 52.0% between steps 900 and 1240."}
LATEST = {"step": 1240.0, "test_acc": 0.52, "train_loss": 0.0012, "val/loss": 3.5, "lr": 1e-3}


def test_command_writes_a_file_with_the_alert_in_its_environment(tmp_path):
    out = tmp_path / "alert.txt"
    errors: list[str] = []
    cmd = (f'printf "%s|%s|%s|%s|%s|%s\\n" "$GROKWATCH_RUN_ID" "$GROKWATCH_KIND" "$GROKWATCH_STEP" '
           f'"$GROKWATCH_MESSAGE" "$GROKWATCH_METRIC_TEST_ACC" "$GROKWATCH_METRIC_VAL_LOSS" >> "{out}"')
    alerts = AlertCommand(cmd, timeout_s=10, on_error=errors.append)
    t0 = time.monotonic()
    assert alerts.fire(EVENT, LATEST)
    assert time.monotonic() - t0 < 1.0  # never waits for the command
    assert alerts.wait(10)
    fields = out.read_text().strip().split("|")
    assert fields == ["grok-add-s0-abc123", "generalization_jump", "1240", EVENT["message"], "0.52", "3.5"]
    assert errors == []
    assert alerts.poll() == 0


def test_fire_does_not_block_on_a_slow_command(tmp_path):
    alerts = AlertCommand(f"sleep 3; touch {tmp_path / 'late'}", timeout_s=10)
    t0 = time.monotonic()
    alerts.fire(EVENT, LATEST)
    assert time.monotonic() - t0 < 1.0
    assert alerts.poll() == 1
    alerts.close(wait_s=0.1)  # kills it
    time.sleep(0.2)
    assert not (tmp_path / "late").exists()
    assert alerts.poll() == 0


def test_failures_are_reported_not_raised(tmp_path):
    errors: list[str] = []
    for cmd in ("exit 3", "echo broken >&2; false", "no-such-command-grokwatch-test"):
        a = AlertCommand(cmd, on_error=errors.append)
        assert a.fire(EVENT, LATEST) is True
        assert a.wait(10)
    assert len(errors) == 3
    assert "exit 3" in errors[0]
    assert "broken" in errors[1]
    assert "not found" in errors[2]
    bad_shell = AlertCommand("true", shell=str(tmp_path / "no-shell"), on_error=errors.append)
    bad_shell.fire(EVENT, LATEST)
    assert bad_shell.wait(10)
    assert "could not start" in errors[3]


@pytest.mark.slow
def test_timeout_kills_the_command_and_its_children(tmp_path):
    errors: list[str] = []
    marker = tmp_path / "child-survived"
    # a pipeline: the shell and a grandchild; both must go at the timeout
    alerts = AlertCommand(f"(sleep 2; touch {marker}) & sleep 30", timeout_s=0.5, on_error=errors.append)
    t0 = time.monotonic()
    alerts.fire(EVENT, LATEST)
    assert alerts.wait(10)
    assert time.monotonic() - t0 < 5
    assert errors and "timed out after 0.5 s" in errors[0]
    time.sleep(2.5)
    assert not marker.exists()


def test_an_error_callback_that_raises_is_contained():
    def boom(_msg):
        raise RuntimeError("callback bug")

    alerts = AlertCommand("exit 1", on_error=boom)
    alerts.fire(EVENT, LATEST)
    assert alerts.wait(10)


def test_too_many_running_commands_are_skipped_and_reported():
    errors: list[str] = []
    alerts = AlertCommand("sleep 5", timeout_s=10, on_error=errors.append, max_running=2)
    assert alerts.fire(EVENT) and alerts.fire(EVENT)
    assert alerts.fire(EVENT) is False
    assert "still running" in errors[0]
    alerts.close(wait_s=0)
    assert alerts.poll() == 0


def test_empty_command_does_nothing():
    assert AlertCommand("  ").fire(EVENT, LATEST) is False


def test_no_zombies_without_poll(tmp_path):
    alerts = AlertCommand("true")
    for _ in range(5):
        alerts.fire(EVENT, LATEST)
    deadline = time.monotonic() + 10
    while alerts._threads and time.monotonic() < deadline:
        alerts.poll()
        time.sleep(0.05)
    # every child was waited for by its watcher thread: none left as a zombie
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pid = 0
    assert pid == 0


def test_alert_env_names():
    env = alert_env({"run_id": "r", "kind": "overfitting", "step": 3.5, "message": "m"},
                    {"test_acc": 1.0, "weight norm": 2.5, "flag": True, "name": "x"}, base={})
    assert env["GROKWATCH_STEP"] == "3.5"
    assert env["GROKWATCH_METRIC_TEST_ACC"] == "1"
    assert env["GROKWATCH_METRIC_WEIGHT_NORM"] == "2.5"
    assert "GROKWATCH_METRIC_FLAG" not in env and "GROKWATCH_METRIC_NAME" not in env
    assert '"kind": "overfitting"' in env["GROKWATCH_EVENT"]
