"""The run engine with real processes: workers started, killed, stopped, resumed; runners
killed and replaced; hot reload; one runner per directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (events_of, grok_exp, grokwatch, metric_steps, read_json, run_dirs, start_grokwatch,
                      state_of, tiny_toml, wait_for)


def _runner_pid(project: Path) -> int | None:
    from grokwatch.runner.lock import runner_holder

    holder = runner_holder(project)
    return holder.get("pid") if holder else None


def _start_runner(project: Path, config: Path) -> int:
    from grokwatch.runner.launch import ensure_runner

    holder = ensure_runner(config, project)
    assert holder, (project / ".grokwatch" / "runner.log").read_text()
    return holder["pid"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


@pytest.mark.slow
def test_headless_tiny_queue_leaves_complete_run_dirs(project):
    # a checkpoint every 0.1 s: the tiny runs finish within a second on a quiet machine, and a run that
    # is done writes no last checkpoint of its own
    (project / "tiny.toml").write_text(tiny_toml(grok_exp("a", seeds=(0, 1)), checkpoint_every_s=0.1))
    proc = grokwatch("--headless", "--config", "tiny.toml", "--progress-every", "1", cwd=project, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dirs = run_dirs(project)
    assert len(dirs) == 2
    for d in dirs:
        for name in ("config.json", "metrics.csv", "status.json", "events.jsonl", "worker.log"):
            assert (d / name).exists(), name
        assert list(d.glob("checkpoint.*"))
        assert state_of(d) == "done"
        cfg = read_json(d / "config.json")
        for key in ("run_id", "experiment", "kind", "seed", "params", "sweep", "device", "threads",
                    "n_train", "n_test", "versions"):
            assert key in cfg, key
        assert cfg["threads"] >= 1 and cfg["device"] == "cpu"
        kinds = [e["kind"] for e in events_of(d)]
        assert kinds[0] == "started" and kinds[-1] == "done"
        steps = metric_steps(d)
        assert steps == sorted(set(steps)) and steps[-1] == 300
    assert "[done]" in proc.stdout and "steps/s" in proc.stdout
    # status --json and export work on the result
    st = grokwatch("status", "--json", cwd=project, check=True)
    rows = json.loads(st.stdout)
    assert {r["state"] for r in rows} == {"done"}
    out = project / "all.csv"
    grokwatch("export", "-o", str(out), cwd=project, check=True)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("run_id,experiment,kind,seed,step,")
    assert len(lines) - 1 == sum(len(metric_steps(d)) for d in dirs)
    longp = grokwatch("export", "--long", dirs[0].name, cwd=project, check=True)
    assert longp.stdout.splitlines()[0].endswith("step,metric,value")
    # a done run is never run again
    again = grokwatch("--headless", "--config", "tiny.toml", cwd=project, timeout=60)
    assert again.returncode == 0
    assert "0 run(s) ran" in again.stdout
    # bad requests exit 2 with one line
    assert grokwatch("retry", dirs[0].name, cwd=project).returncode == 2
    assert grokwatch("stop", "no-such-run", cwd=project).returncode == 2


@pytest.mark.slow
def test_sigkill_worker_marks_it_lost_keeps_rows_others_finish(project):
    (project / "t.toml").write_text(tiny_toml(grok_exp("slow", steps=200000), grok_exp("quick")))
    proc = start_grokwatch("--headless", "--config", "t.toml", cwd=project)
    try:
        slow = wait_for(lambda: next((d for d in run_dirs(project) if d.name.startswith("slow")), None),
                        what="the slow run dir")
        wait_for(lambda: len(metric_steps(slow)) >= 5, timeout=90, what="rows from the slow run")
        rows_before = metric_steps(slow)
        pid = read_json(slow / "executor.json")["pid"]
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert state_of(slow) == "lost"
    assert metric_steps(slow)[: len(rows_before)] == rows_before
    status = read_json(slow / "status.json")
    assert "SIGKILL" in status["error"]
    quick = next(d for d in run_dirs(project) if d.name.startswith("quick"))
    assert state_of(quick) == "done"
    assert "lost" in out


@pytest.mark.slow
def test_sigterm_then_retry_resumes_without_duplicate_steps(project):
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("r", steps=4000)))
    pid = _start_runner(project, project / "experiments.toml")
    run = wait_for(lambda: (run_dirs(project) or [None])[0], what="run dir")
    wait_for(lambda: (project / "runs" / run.name / "checkpoint.json").exists(), timeout=90, what="a checkpoint")
    assert grokwatch("stop", run.name, cwd=project).returncode == 0
    wait_for(lambda: state_of(run) == "stopped", timeout=60, what="stopped")
    wait_for(lambda: any(e["kind"] == "stopped" for e in events_of(run)), what="stopped event")
    before = metric_steps(run)
    assert before and before[-1] < 4000
    wait_for(lambda: not _alive(pid), timeout=30, what="the runner to exit when drained")
    r = grokwatch("retry", run.name, cwd=project)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: state_of(run) == "done", timeout=150, what="the resumed run to finish")
    steps = metric_steps(run)
    assert steps[: len(before)] == before
    assert len(steps) == len(set(steps)) and steps == sorted(steps)
    assert steps[-1] == 4000
    assert not list(run.glob("attempt-*"))  # resumed in place, not restarted


@pytest.mark.slow
def test_killed_runner_is_replaced_and_live_workers_readopted(project):
    cfg = project / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("k", seeds=(0, 1), steps=5000)))
    pid = _start_runner(project, cfg)
    dirs = wait_for(lambda: len(run_dirs(project)) == 2 and run_dirs(project), what="two run dirs")
    wait_for(lambda: all(state_of(d) == "running" for d in dirs), timeout=90, what="both running")
    workers = {d.name: read_json(d / "executor.json")["pid"] for d in dirs}
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _runner_pid(project) is None, what="the lock to be released")
    assert all(_alive(w) for w in workers.values())
    pid2 = _start_runner(project, cfg)
    assert pid2 != pid
    time.sleep(2)
    # same workers, not new ones
    assert {d.name: read_json(d / "executor.json")["pid"] for d in dirs} == workers
    wait_for(lambda: all(any(e["kind"] == "done" for e in events_of(d)) for d in dirs), timeout=180,
             what="both done")
    for d in dirs:
        kinds = [e["kind"] for e in events_of(d)]
        assert kinds.count("started") == 1 and kinds.count("done") == 1, kinds
        steps = metric_steps(d)
        assert len(steps) == len(set(steps))


@pytest.mark.slow
def test_hot_reload_adds_and_drops_runs_and_survives_a_bad_edit(project):
    cfg = project / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("first", steps=20000), extra="max_parallel = 1"))
    _start_runner(project, cfg)
    first = wait_for(lambda: (run_dirs(project) or [None])[0], what="first run")
    wait_for(lambda: state_of(first) == "running", timeout=60, what="first running")
    cfg.write_text(tiny_toml(grok_exp("first", steps=20000), grok_exp("second"), extra="max_parallel = 1"))
    second = wait_for(lambda: next((d for d in run_dirs(project) if d.name.startswith("second")), None),
                      timeout=30, what="second queued")
    wait_for(lambda: state_of(second) == "queued", timeout=5, what="second queued")
    cfg.write_text("[[experiment]\nbroken")
    wait_for(lambda: (read_json(project / ".grokwatch" / "runner.json") or {}).get("config_error"),
             timeout=30, what="the bad edit to be reported")
    assert state_of(first) == "running"
    cfg.write_text(tiny_toml(grok_exp("first", steps=20000), extra="max_parallel = 1"))
    wait_for(lambda: not second.exists(), timeout=30, what="second to be dropped")
    assert state_of(first) == "running"
    kinds = [json.loads(l)["kind"] for l in (project / ".grokwatch" / "events.jsonl").read_text().splitlines()]
    assert "config_error" in kinds and "config_reloaded" in kinds
    assert grokwatch("stop", cwd=project).returncode == 0
    wait_for(lambda: state_of(first) == "stopped", timeout=60, what="stop all")
    wait_for(lambda: _runner_pid(project) is None, timeout=30, what="runner exit")


@pytest.mark.slow
def test_one_runner_per_directory(project):
    cfg = project / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("one", steps=3000)))
    (project / "other.toml").write_text(tiny_toml(grok_exp("two")))
    _start_runner(project, cfg)
    wait_for(lambda: run_dirs(project), what="a run")
    other = grokwatch("--headless", "--config", "other.toml", cwd=project, timeout=60)
    assert other.returncode == 2
    assert "already" in other.stderr and "experiments.toml" in other.stderr
    # the same file: follow the runner instead of starting another
    follow = grokwatch("--headless", cwd=project, timeout=180)
    assert "following" in follow.stdout
    assert follow.returncode == 0, follow.stdout + follow.stderr
    assert len(run_dirs(project)) == 1


@pytest.mark.slow
def test_ctrl_c_stops_runs_cleanly_and_exits_130(project):
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("c", steps=20000)))
    proc = start_grokwatch("--headless", cwd=project)
    run = wait_for(lambda: (run_dirs(project) or [None])[0], what="run")
    wait_for(lambda: len(metric_steps(run)) > 3, timeout=90, what="rows")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert state_of(run) == "stopped"
    assert (run / "checkpoint.json").exists()


@pytest.mark.slow
def test_sigusr1_checkpoints_requeues_and_resumes(project):
    """A cluster's "you will be killed soon": checkpoint, exit 75, queued again, resumed."""
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("u", steps=3000)))
    proc = start_grokwatch("--headless", cwd=project)
    try:
        run = wait_for(lambda: (run_dirs(project) or [None])[0], what="run")
        wait_for(lambda: len(metric_steps(run)) > 5, timeout=90, what="rows")
        first_pid = read_json(run / "executor.json")["pid"]
        os.kill(first_pid, signal.SIGUSR1)
        wait_for(lambda: (read_json(run / "executor.json") or {}).get("pid") not in (None, first_pid),
                 timeout=60, what="a new worker for the requeued run")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert state_of(run) == "done"
    steps = metric_steps(run)
    assert len(steps) == len(set(steps)) and steps[-1] == 3000
    kinds = [e["kind"] for e in events_of(run)]
    assert kinds.count("started") == 2 and "requeued" in kinds and kinds[-1] == "done", kinds


DIVERGING_SCRIPT = """
import json, math, sys, time
for step in range(0, 60, 10):
    loss = 1.0 / (step + 1) if step < 40 else float("nan")
    print("grokwatch: " + json.dumps({"step": step, "train_loss": loss if loss == loss else "NaN",
                                      "test_loss": 2.0}), flush=True)
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_nan_loss_diverges_alerts_and_runs_the_alert_command(project):
    """A NaN train loss: state `diverged`, a `divergence` alert, the user's alert command run with
    the alert in its environment, headless exit 1 — and the rows before it kept."""
    (project / "diverge.py").write_text(DIVERGING_SCRIPT)
    (project / "experiments.toml").write_text(f"""
[grokwatch]
devices = "cpu"
[alerts]
command = 'echo "$GROKWATCH_KIND $GROKWATCH_STEP $GROKWATCH_RUN_ID" >> {project}/alerts.txt'
[[experiment]]
name = "nan"
kind = "command"
command = ["{sys.executable}", "{project}/diverge.py"]
""")
    proc = grokwatch("--headless", cwd=project, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run = run_dirs(project)[0]
    assert state_of(run) == "diverged"
    assert metric_steps(run)[:5] == [0, 10, 20, 30, 40]
    kinds = [e["kind"] for e in events_of(run)]
    assert kinds.count("divergence") == 1 and kinds[-1] == "diverged", kinds
    lines = wait_for(lambda: (project / "alerts.txt").exists() and (project / "alerts.txt").read_text().split("\n"),
                     timeout=10, what="the alert command's file")
    assert lines[0].split() == ["divergence", "40", run.name]
    assert "[ALERT divergence]" in proc.stdout


@pytest.mark.slow
def test_stop_all_stops_running_runs_and_leaves_never_started_ones_queued(project):
    cfg = project / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("long", steps=20000), grok_exp("later"), extra="max_parallel = 1"))
    _start_runner(project, cfg)
    long_run = wait_for(lambda: next((d for d in run_dirs(project) if d.name.startswith("long")), None),
                        what="long run")
    later = wait_for(lambda: next((d for d in run_dirs(project) if d.name.startswith("later")), None),
                     what="later run")
    wait_for(lambda: state_of(long_run) == "running", timeout=60, what="long running")
    assert grokwatch("stop", cwd=project).returncode == 0
    wait_for(lambda: _runner_pid(project) is None, timeout=60, what="the runner to exit")
    assert state_of(long_run) == "stopped"
    assert state_of(later) == "queued"
    proc = grokwatch("--headless", cwd=project, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # ran `later` only; `long` waits for retry
    assert state_of(later) == "done" and state_of(long_run) == "stopped"
    assert "retry" in proc.stdout


def test_a_run_requeued_again_and_again_without_progress_is_failed(project):
    """A time limit shorter than start-up plus one checkpoint would requeue a run forever."""
    from grokwatch.runner.core import MAX_STALLED_REQUEUES, Runner
    from grokwatch.runner.executors import JobState
    from grokwatch.runs import atomic_write_json

    (project / "experiments.toml").write_text(tiny_toml(grok_exp("q")))
    runner = Runner(project / "experiments.toml", project, foreground=True)
    runner.start()
    try:
        (run_id, run), = runner.active.items()
        outcomes = []
        for _ in range(MAX_STALLED_REQUEUES + 1):
            run = runner.active[run_id]
            atomic_write_json(run.paths.status, {"run_id": run_id, "state": "requeued", "step": 40})
            runner._on_exit(run, JobState("exited", exit_code=75))
            outcomes.append(state_of(run.paths.dir))
    finally:
        runner.close()
    assert outcomes[:-1] == ["queued"] * MAX_STALLED_REQUEUES
    assert outcomes[-1] == "failed"
    assert "without getting past step 40" in read_json(run.paths.dir / "status.json")["error"]
