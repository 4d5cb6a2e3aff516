"""Run directories are untrusted input: a checkpoint is loaded as data (never unpickled into
code), a checkpoint that cannot be loaded fails the run with a message that names it, and run
files are never writable by other users, whatever the umask."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import cli_env, events_of, grokwatch, grok_exp, read_json, run_dirs, state_of, tiny_toml, wait_for


class _Plant:
    """Unpickling this creates the file `marker`: what an attacker's checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _worker(run_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grokwatch.worker", str(run_dir)], env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def _mlp_run(run_dir: Path, steps: int = 200) -> None:
    from grokwatch.experiments import get_spec

    spec = get_spec("overfitting")
    params = spec.resolve({"steps": steps, "n_train": 100, "width": 16, "eval_every": 20,
                           "eval_log_points": 3}, "cpu-mlp")
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({
        "run_id": run_dir.name, "experiment": "m", "kind": "overfitting", "seed": 0, "params": params,
        "sweep": {}, "device": "cpu", "threads": 1, "checkpoint_every_s": 60.0, **spec.describe(params)}))


def test_planted_numpy_checkpoint_is_refused_not_unpickled(tmp_path):
    run = tmp_path / "runs" / "m"
    _mlp_run(run)
    marker = tmp_path / "pwned"
    with open(run / "checkpoint.npz", "wb") as f:
        planted = np.array([_Plant(marker)], dtype=object)
        np.savez(f, meta=planted, perm=planted,
                 **{f"{g}_{k}": planted for g in "wmv" for k in ("w1", "b1", "w2", "b2")})
    (run / "checkpoint.json").write_text(json.dumps({"step": 100, "file": "checkpoint.npz"}))
    proc = _worker(run)
    assert proc.returncode == 1
    assert not marker.exists()
    status = read_json(run / "status.json")
    assert status["state"] == "failed"
    assert f"checkpoint {run / 'checkpoint.npz'} was refused" in status["error"]
    assert "allow_pickle=False" in status["error"]
    assert "Traceback" not in proc.stderr and "was refused" in proc.stderr
    assert not (run / "metrics.csv").exists() or len((run / "metrics.csv").read_text().splitlines()) <= 1


def test_checkpoint_json_naming_a_missing_file_is_a_clear_failure(tmp_path):
    run = tmp_path / "runs" / "m"
    _mlp_run(run)
    (run / "checkpoint.json").write_text(json.dumps({"step": 100, "file": "checkpoint.npz"}))
    proc = _worker(run)
    assert proc.returncode == 1
    status = read_json(run / "status.json")
    assert status["state"] == "failed" and "checkpoint.npz was refused" in status["error"]
    assert "missing" in status["error"]


@pytest.mark.slow
def test_weights_only_checkpoint_keeps_every_rng_state(tmp_path):
    """The checkpoint holds tensors and plain data only, and still restores the numpy and
    python RNG streams exactly; a checkpoint of an earlier version (numpy's and python's own
    tuples in it) still loads."""
    import random

    import torch

    from grokwatch.experiments import get_spec
    from grokwatch.experiments.grokking import Trainer

    p = get_spec("grokking").resolve({"modulus": 23, "steps": 5, "width": 16, "batch_size": 64})
    t = Trainer(p, seed=0)
    t.train_step()
    t.save(tmp_path / "new.pt")
    old = {**t.state_dict(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate()}
    torch.save(old, tmp_path / "old.pt")
    expected = (np.random.random(), random.random())
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(tmp_path / "new.pt")) == []
    for name in ("new.pt", "old.pt"):
        np.random.seed(123)
        random.seed(123)
        u = Trainer(p, seed=5)
        u.load(tmp_path / name)
        assert u.step == 1
        assert (np.random.random(), random.random()) == expected, name


@pytest.mark.slow
def test_planted_pickle_is_not_executed_on_retry_and_the_run_fails_naming_it(project):
    """A real project: a grokking run, its directory then rewritten by someone else (state
    `stopped`, a checkpoint.pt that would create a file when unpickled). `grokwatch retry`
    must not run it: the run ends `failed` with a message naming the checkpoint."""
    (project / "experiments.toml").write_text(tiny_toml(grok_exp("g", steps=40)))
    r = grokwatch("--headless", cwd=project, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    run = run_dirs(project)[0]
    marker = project / "pwned"
    with open(run / "checkpoint.pt", "wb") as f:
        pickle.dump({"step": 20, "model": _Plant(marker)}, f)
    (run / "checkpoint.json").write_text(json.dumps({"step": 20, "file": "checkpoint.pt"}))
    status = read_json(run / "status.json")
    status["state"] = "stopped"
    (run / "status.json").write_text(json.dumps(status))
    r = grokwatch("retry", run.name, cwd=project)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: state_of(run) == "failed", timeout=120, what="the retried run to fail")
    assert not marker.exists(), "the planted pickle was executed"
    error = read_json(run / "status.json")["error"]
    assert f"checkpoint {run / 'checkpoint.pt'} was refused" in error
    assert "more than tensors and plain data" in error
    assert "Traceback" not in (run / "worker.log").read_text()
    failed = wait_for(lambda: [e for e in events_of(run) if e["kind"] == "failed"], timeout=30,
                      what="the failed event")
    assert "was refused" in failed[-1]["message"]
    # the way out the message names: retry restarts from step 0, the planted file moved aside
    r = grokwatch("retry", run.name, cwd=project)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: state_of(run) == "done", timeout=120, what="the restarted run to finish")
    assert (run / "attempt-1" / "checkpoint.pt").exists() and not marker.exists()


def _writable_by_others(root: Path) -> list[str]:
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                continue
            if st.st_mode & 0o022:
                bad.append(f"{oct(st.st_mode & 0o777)} {path.relative_to(root)}")
    return bad


def test_run_files_are_not_writable_by_others_under_umask_0(project):
    """`umask 0; grokwatch --headless`: every file and directory it makes (run files,
    checkpoints, the runner's state) is writable by its owner only."""
    (project / "experiments.toml").write_text("""
[grokwatch]
devices = "cpu"
checkpoint_every_s = 0.05

[[experiment]]
name = "m"
kind = "overfitting"
preset = "cpu-mlp"
[experiment.params]
steps = 150
n_train = 100
width = 16
eval_every = 30
""")
    proc = subprocess.run([sys.executable, "-m", "grokwatch", "--headless"], cwd=project, env=cli_env(),
                          capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = run_dirs(project)[0]
    assert (run / "checkpoint.npz").exists() and (run / "metrics.csv").exists()
    assert _writable_by_others(project) == []
