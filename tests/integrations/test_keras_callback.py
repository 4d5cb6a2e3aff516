"""GrokwatchCallback in a real Keras 3 `fit` (torch backend), checked against Keras' own
CSVLogger writing the same run."""

from __future__ import annotations

import json

import pytest

from example_runs import assert_same_curves, by_step, client_run_dir, csv_rows, needs, run_example

pytestmark = [pytest.mark.slow, needs("keras"), needs("torch")]  # the torch backend

NAMES = {"loss": "train_loss", "accuracy": "train_acc", "val_loss": "test_loss",
         "val_accuracy": "test_acc", "epoch": "epoch"}
STEPS_PER_EPOCH = 5  # 264 training pairs, batches of 64


def test_every_epoch_keras_logged_is_in_the_run(tmp_path):
    run_example("keras_fit.py", tmp_path, "--epochs", "3", "--every-n-batches", "2",
                "--csv", "training.log")
    theirs = csv_rows(tmp_path / "training.log")
    d = client_run_dir(tmp_path)
    ours = by_step(csv_rows(d / "metrics.csv"))
    epoch_ends = [STEPS_PER_EPOCH * (int(r["epoch"]) + 1) for r in theirs]
    assert epoch_ends == [5, 10, 15]
    # every second batch too (Keras' running means), at the optimizer's step
    assert sorted(ours) == [2, 4, 5, 7, 9, 10, 12, 14, 15]
    for row, step in zip(theirs, epoch_ends):
        for name, value in row.items():
            assert ours[step][NAMES[name]] == pytest.approx(float(value), rel=1e-9), (step, name)
        assert ours[step]["test_error"] == pytest.approx(1 - ours[step]["test_acc"])
    assert set(ours[2]) == {"step", "time_s", "train_loss", "train_acc", "train_error"}
    status = json.loads((d / "status.json").read_text())
    assert status["state"] == "done" and status["total_steps"] == 3 * STEPS_PER_EPOCH
    from grokwatch.readers import read_path

    ((_src, rows),) = read_path(tmp_path / "training.log")  # the CSVLogger's file: step = epoch
    assert assert_same_curves(ours, rows, key="epoch") == 3 * 4  # losses and accuracies
