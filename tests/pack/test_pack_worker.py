"""The pack worker as real processes: `python -m grokwatch.pack RUN_DIR...` is the one writer of
each member's run directory, obeys SIGTERM and the per-run `stop.request`, lets a diverging
member leave, and leaves every member resumable (alone by the single worker, or in a new pack)
after a stop or a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env, read_json, wait_for
from grokwatch.experiments import get_spec
from grokwatch.experiments.base import eval_schedule

TINY = {"modulus": 23, "width": 32, "lr": 1e-2, "steps": 200, "eval_every": 20, "eval_log_points": 4}
# long enough to still be running when the test acts on it (~1 ms a step)
# Adam with beta2 = 0 at lr 10: train loss ~1e12 times its first value by step 20
DIVERGES = {"lr": 10.0, "init_scale": 1.0, "weight_decay": 0.0, "betas": [0.99, 0.0]}
LONG = {"modulus": 31, "width": 64, "lr": 1e-2, "steps": 4000, "eval_every": 50, "eval_log_points": 4}


def make_run(run_dir: Path, params: dict, seed: int = 0, checkpoint_every_s: float = 60.0) -> Path:
    spec = get_spec("grokking")
    resolved = spec.resolve(params)
    config = {"run_id": run_dir.name, "experiment": "e", "kind": "grokking", "seed": seed,
              "params": resolved, "sweep": {}, "device": "cpu", "threads": 1,
              "checkpoint_every_s": checkpoint_every_s, **spec.describe(resolved)}
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


def env() -> dict[str, str]:
    e = cli_env()
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return e


def start(module: str, *dirs: Path, extra=()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *extra, *map(str, dirs)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def steps(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.csv").read_text().splitlines()[1:]
    return [int(float(line.split(",", 1)[0])) for line in lines if line]


def last_step(run_dir: Path) -> int:
    try:
        s = steps(run_dir)
    except OSError:
        return -1
    return s[-1] if s else -1


def status(run_dir: Path) -> dict:
    return read_json(run_dir / "status.json") or {}


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    a = make_run(tmp_path / "a", TINY)
    b = make_run(tmp_path / "b", {**TINY, "width": 48})
    code, err = finish(start("grokwatch.pack", a, b))
    assert code == 2 and err.strip().count("\n") == 0 and "do not share their shapes" in err
    assert not (a / "status.json").exists() and not (b / "metrics.csv").exists()


@pytest.mark.slow
def test_a_pack_writes_each_member_as_its_own_worker_and_a_diverging_member_leaves(tmp_path):
    good = [make_run(tmp_path / f"good{i}", {**TINY, "weight_decay": wd}, seed=i)
            for i, wd in enumerate((1.0, 0.3))]
    bad = make_run(tmp_path / "bad", {**TINY, **DIVERGES}, seed=7)
    proc = start("grokwatch.pack", good[0], bad, good[1], extra=("--id", "p1"))
    code, err = finish(proc)
    assert code == 0, err
    want = eval_schedule(200, 20, 4)
    for rd in good:
        st = status(rd)
        assert st["state"] == "done" and st["exit_code"] == 0 and st["step"] == 200
        assert st["pid"] == proc.pid and st["pack"] == "p1" and st["pack_size"] == 3
        assert steps(rd) == want  # its own metrics.csv, every evaluation once
        assert "member of pack p1" in (rd / "worker.log").read_text()
    st = status(bad)
    assert st["state"] == "diverged" and st["exit_code"] == 3 and "train_loss" in st["error"]
    assert steps(bad) and steps(bad)[-1] < 200
    assert "leaves pack p1" in (bad / "worker.log").read_text()


@pytest.mark.slow
def test_one_member_stops_on_its_request_the_rest_on_sigterm_and_each_resumes(tmp_path):
    a = make_run(tmp_path / "a", LONG, seed=0)
    b = make_run(tmp_path / "b", {**LONG, "weight_decay": 0.5}, seed=1)
    (a / "stop.request").write_text("stale")  # left over from an earlier attempt: ignored
    os.utime(a / "stop.request", (1, 1))
    proc = start("grokwatch.pack", a, b)
    try:
        wait_for(lambda: last_step(a) >= 100, timeout=90, interval=0.05, what="a's first rows")
        (a / "stop.request").write_text("")
        wait_for(lambda: status(a).get("state") == "stopped", timeout=30, what="a stopped")
        assert proc.poll() is None and status(b)["state"] == "running"  # b goes on
        assert not (a / "stop.request").exists()
        at = last_step(b)
        wait_for(lambda: last_step(b) > at, timeout=30, interval=0.05, what="b going on")
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 4, err
    for rd in (a, b):
        assert status(rd)["state"] == "stopped" and status(rd)["exit_code"] == 4
        assert 0 < read_json(rd / "checkpoint.json")["step"] < 4000
    # a resumes alone, through the single worker; b in a new pack
    ca, ea = finish(start("grokwatch.worker", a), timeout=180)
    cb, eb = finish(start("grokwatch.pack", b), timeout=180)
    assert (ca, cb) == (0, 0), ea + eb
    want = eval_schedule(4000, 50, 4)
    for rd in (a, b):
        assert status(rd)["state"] == "done"
        assert steps(rd) == want  # nothing logged twice, nothing missing


@pytest.mark.slow
def test_sigkill_leaves_every_member_resumable_from_its_own_checkpoint(tmp_path):
    runs = [make_run(tmp_path / f"r{i}", {**LONG, "lr": lr}, seed=i, checkpoint_every_s=0.3)
            for i, lr in enumerate((1e-2, 5e-3))]
    proc = start("grokwatch.pack", *runs)
    try:
        wait_for(lambda: all((read_json(rd / "checkpoint.json") or {}).get("step", 0) >= 100
                             for rd in runs), timeout=90, interval=0.05, what="checkpoints")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    for rd in runs:  # a dead writer: the runner's poll finds the pid gone and marks it lost
        assert status(rd)["state"] == "running" and status(rd)["pid"] == proc.pid
    code, err = finish(start("grokwatch.pack", *runs), timeout=180)
    assert code == 0, err
    want = eval_schedule(4000, 50, 4)
    for rd in runs:
        assert status(rd)["state"] == "done" and steps(rd) == want
        assert "resumed from its checkpoint" in (rd / "worker.log").read_text()
