"""GrokwatchLogger in a real Lightning Trainer, checked against Lightning's own CSVLogger
writing the same run."""

from __future__ import annotations

import json

import pytest

from example_runs import assert_same_curves, by_step, client_run_dir, csv_rows, needs, run_example

pytestmark = [pytest.mark.slow, needs("lightning", "pytorch_lightning")]

# grokwatch's names for Lightning's, as for a CSVLogger file with both twins: the epoch mean is
# the curve, the per-step values keep their name
NAMES = {"train_loss_step": "train_loss_step", "train_loss_epoch": "train_loss",
         "train_acc": "train_acc", "val_loss": "test_loss", "val_acc": "test_acc", "epoch": "epoch"}


def test_every_value_lightning_logged_is_in_the_run(tmp_path):
    run_example("lightning_logger.py", tmp_path, "--epochs", "3", "--csv", "csvlogs")
    (theirs_csv,) = list((tmp_path / "csvlogs").rglob("metrics.csv"))
    theirs = csv_rows(theirs_csv)
    d = client_run_dir(tmp_path)
    ours = by_step(csv_rows(d / "metrics.csv"))
    assert sorted(ours) == sorted({int(r["step"]) for r in theirs}) == list(range(15))
    compared = 0
    for row in theirs:
        step = int(row["step"])
        for name, value in row.items():
            if name == "step" or value == "":
                continue
            assert ours[step][NAMES[name]] == pytest.approx(float(value), rel=1e-12), (step, name)
            compared += 1
    assert compared >= 15 * 3  # train_loss_step, train_acc, epoch on every step, and more
    for values in ours.values():  # accuracy gives error
        assert values["train_error"] == pytest.approx(1 - values["train_acc"])
    assert [s for s, v in ours.items() if "train_loss" in v] == [4, 9, 14]  # epoch ends
    assert ours[4]["test_error"] == pytest.approx(1 - ours[4]["test_acc"])
    config = json.loads((d / "config.json").read_text())
    assert config["params"] == {"p": 23, "lr": 0.003, "weight_decay": 1.0}  # save_hyperparameters
    assert json.loads((d / "status.json").read_text())["state"] == "done"
    from grokwatch.readers import read_path

    ((_src, rows),) = read_path(tmp_path / "csvlogs")  # grokwatch reading the CSVLogger's files
    assert assert_same_curves(ours, rows) == 15 + 3 * 3  # train_acc; train_loss, test_loss, test_acc
