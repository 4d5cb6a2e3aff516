"""examples/frameworks.toml (shortened) through the real `grokwatch --headless`: each
integration's records reach the run's metrics.csv through the worker's channel, and none
writes a run directory of its own."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, grokwatch
from example_runs import by_step, csv_rows, needs

pytestmark = [pytest.mark.slow, needs("torch"), needs("lightning", "pytorch_lightning"),
              needs("transformers"), needs("keras")]

SHORTER = {"epochs = 300": "epochs = 2", "steps = 1500": "steps = 20"}


def test_each_integration_under_grokwatch(tmp_path):
    text = (REPO / "examples" / "frameworks.toml").read_text()
    for old, new in SHORTER.items():
        assert text.count(old) == 2
        text = text.replace(old, new)
    text = text.replace('kind = "command"', f'kind = "command"\ncwd = "{REPO / "examples"}"')
    text = text.replace('devices = "auto"', 'devices = "cpu"\nmax_parallel = 2')
    (tmp_path / "frameworks.toml").write_text(text)
    proc = grokwatch("--headless", "--config", "frameworks.toml", "--progress-every", "60",
                     cwd=tmp_path, timeout=420)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = {d.name.split("-s0-")[0].split("-")[0]: d
            for d in (tmp_path / "runs").iterdir() if (d / "config.json").is_file()}
    assert set(runs) == {"lightning", "hf", "keras", "tensorboard"}, sorted(runs)
    rows = {name: by_step(csv_rows(d / "metrics.csv")) for name, d in runs.items()}
    # Lightning: 5 steps an epoch; train_acc every step, the epoch-mean train loss and the
    # validation at each epoch's end
    assert sorted(rows["lightning"]) == list(range(10))
    assert [s for s, r in rows["lightning"].items() if "test_acc" in r] == [4, 9]
    assert all("train_loss_step" in r and "train_acc" in r for r in rows["lightning"].values())
    # HF: the training loss every 5 steps, one evaluation at 20
    assert sorted(rows["hf"]) == [5, 10, 15, 20]
    assert {"train_loss", "test_loss", "test_acc"} <= set(rows["hf"][20])
    # Keras: one row per epoch, at the optimizer's step
    assert sorted(rows["keras"]) == [5, 10]
    assert all({"train_loss", "train_acc", "test_loss", "test_acc"} <= set(r)
               for r in rows["keras"].values())
    assert sorted(rows["tensorboard"]) == [0, 10, 20]
    for name, d in runs.items():
        status = json.loads((d / "status.json").read_text())
        assert status["state"] == "done", (name, status)
        log = (d / "worker.log").read_text()
        assert "not started by grokwatch" not in log, name
    assert json.loads((runs["hf"] / "status.json").read_text())["total_steps"] == 20
    assert not list(tmp_path.rglob("grokwatch-logs")) and not list((REPO / "examples").glob("grokwatch-logs"))
