"""A full disk, for real: a 2 MB tmpfs holds the run directory and a filler file eats what is
left. The worker must record `stopped` with the reason (so `retry` resumes from its checkpoint),
leave no temporary file and no half row, and the resumed run must end with exactly the rows of an
uninterrupted one. Needs root to mount a tmpfs; skipped with the reason where that fails."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fill_disk, cli_env, read_json, wait_for

NO_SPACE = "no space left on device"





def mlp_run(run_dir: Path, steps: int, checkpoint_every_s: float = 0.05) -> dict:
    from grokwatch.experiments import get_spec

    spec = get_spec("overfitting")
    params = spec.resolve({"steps": steps, "n_train": 100, "width": 16, "eval_every": 100,
                           "eval_log_points": 0}, "cpu-mlp")
    config = {"run_id": run_dir.name, "experiment": "m", "kind": "overfitting", "seed": 0,
              "params": params, "sweep": {}, "device": "cpu", "threads": 1,
              "checkpoint_every_s": checkpoint_every_s, **spec.describe(params)}
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "status.json").write_text(json.dumps({"run_id": run_dir.name, "state": "queued"}))
    return config


def start_worker(run_dir: Path) -> subprocess.Popen:
    """As the local executor starts it: stdout and stderr into the run's worker.log."""
    log = open(run_dir / "worker.log", "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "grokwatch.worker", str(run_dir)], env=cli_env(),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def metrics_lines(run_dir: Path) -> list[list[str]]:
    return [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()]


def leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".") or ".tmp" in p.name)


@pytest.mark.slow
def test_disk_full_mid_run_stops_with_the_reason_and_retry_resumes_exactly(small_disk, tmp_path):
    steps = 10_000
    straight_dir = tmp_path / "straight"
    mlp_run(straight_dir, steps, checkpoint_every_s=3600)
    assert subprocess.run([sys.executable, "-m", "grokwatch.worker", str(straight_dir)], env=cli_env(),
                          capture_output=True, timeout=120).returncode == 0
    straight = metrics_lines(straight_dir)

    run = small_disk / "runs" / "m"
    mlp_run(run, steps)
    proc = start_worker(run)
    try:
        wait_for(lambda: (read_json(run / "checkpoint.json") or {}).get("step", 0) > 0, timeout=60,
                 interval=0.01, what="a first checkpoint")
        filler = fill_disk(small_disk)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    status = read_json(run / "status.json")
    assert code == 4, (run / "worker.log").read_text()
    assert status["state"] == "stopped" and status["reason"] == NO_SPACE
    assert NO_SPACE in status["error"] and "grokwatch retry m" in status["error"]
    assert leftovers(run) == []
    lines = metrics_lines(run)
    assert all(len(f) == len(lines[0]) for f in lines), "a half-written row was left behind"
    assert 1 < len(lines) < len(straight)
    saved = read_json(run / "checkpoint.json")["step"]

    filler.unlink()  # space is back: the retry resumes from the checkpoint
    proc = start_worker(run)
    assert proc.wait(timeout=120) == 0, (run / "worker.log").read_text()
    assert read_json(run / "status.json")["state"] == "done"
    resumed = metrics_lines(run)
    without_time = lambda rows: [r[:1] + r[2:] for r in rows]  # noqa: E731
    assert without_time(resumed) == without_time(straight)
    assert "resumed" in read_json(run / "status.json") and saved > 0
    assert leftovers(run) == []


def test_disk_already_full_when_the_worker_starts_still_records_the_state(small_disk):
    """Not even a small new file fits: the worker rewrites status.json in place, says why, and
    exits 4 (`stopped`, resumable) instead of leaving `queued` and an empty log."""
    run = small_disk / "runs" / "m"
    mlp_run(run, 100)
    fill_disk(small_disk)
    proc = subprocess.run([sys.executable, "-m", "grokwatch.worker", str(run)], env=cli_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4, proc.stderr
    status = read_json(run / "status.json")
    assert status["state"] == "stopped" and status["reason"] == NO_SPACE, status
    assert "Traceback" not in proc.stderr and NO_SPACE in proc.stderr
    assert leftovers(run) == []


def test_atomic_write_on_a_full_disk_leaves_the_old_file_and_no_temporary(small_disk):
    from grokwatch.runs import atomic_write_json, overwrite_json_in_place

    path = small_disk / "status.json"
    atomic_write_json(path, {"state": "running", "pad": "x" * 300})
    fill_disk(small_disk)
    with pytest.raises(OSError) as err:
        atomic_write_json(path, {"state": "stopped"})
    assert err.value.errno == errno.ENOSPC
    assert json.loads(path.read_text())["state"] == "running"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "status.json"]
    overwrite_json_in_place(path, {"state": "stopped"})  # the last resort needs no new block
    assert json.loads(path.read_text()) == {"state": "stopped"}


@pytest.mark.slow
def test_a_torch_checkpoint_on_a_full_disk_is_a_full_disk_and_keeps_the_previous_one(small_disk):
    """torch.save reports a full disk as a bare RuntimeError; the checkpoint writer still says
    ENOSPC (so the worker stops, resumable), removes its partial file, keeps the last good one."""
    from grokwatch.experiments import get_spec
    from grokwatch.experiments.base import RunContext
    from grokwatch.experiments.grokking import Trainer
    from grokwatch.runs import is_disk_full

    run = small_disk / "runs" / "g"
    run.mkdir(parents=True)
    params = get_spec("grokking").resolve({"modulus": 23, "steps": 5, "width": 512})
    ctx = RunContext(run, {"params": params, "seed": 0})
    trainer = Trainer(params, seed=0)
    ctx.save_checkpoint(1, trainer.save, "pt")
    good = (run / "checkpoint.pt").read_bytes()
    filler = fill_disk(small_disk)
    with open(filler, "r+b") as f:  # room for half a checkpoint
        f.truncate(filler.stat().st_size - len(good) // 2)
    with pytest.raises(OSError) as err:
        ctx.save_checkpoint(2, trainer.save, "pt")
    assert err.value.errno == errno.ENOSPC and is_disk_full(err.value)
    assert (run / "checkpoint.pt").read_bytes() == good
    assert read_json(run / "checkpoint.json")["step"] == 1
    assert leftovers(run) == []
