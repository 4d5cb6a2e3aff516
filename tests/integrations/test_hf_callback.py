"""GrokwatchCallback in a real Hugging Face Trainer, checked against the Trainer's own record
of the same run (`trainer_state.json`'s log_history)."""

from __future__ import annotations

import json

import pytest

from example_runs import assert_same_curves, by_step, client_run_dir, csv_rows, needs, run_example

pytestmark = [pytest.mark.slow, needs("transformers")]

NAMES = {"loss": "train_loss", "eval_loss": "test_loss", "eval_accuracy": "test_acc"}


def test_every_logged_value_is_in_the_run(tmp_path):
    run_example("hf_trainer.py", tmp_path, "--steps", "40", "--logging-steps", "5",
                "--eval-steps", "20", "--out", "out")
    history = json.loads((tmp_path / "out" / "trainer_state.json").read_text())["log_history"]
    d = client_run_dir(tmp_path)
    ours = by_step(csv_rows(d / "metrics.csv"))
    assert sorted(ours) == [5, 10, 15, 20, 25, 30, 35, 40]
    compared = 0
    for entry in history:
        if "train_runtime" in entry:  # the closing summary: not a point of the curve
            assert "train_runtime" not in ours[40] and ours[40]["train_loss"] != entry["train_loss"]
            continue
        for name, value in entry.items():
            if name != "step":
                assert ours[entry["step"]][NAMES.get(name, name)] == pytest.approx(value, rel=1e-12)
                compared += 1
    assert compared == 8 * 4 + 2 * 6  # loss, grad_norm, learning_rate, epoch; 2 evaluations
    assert ours[20]["test_error"] == pytest.approx(1 - ours[20]["test_acc"])
    status = json.loads((d / "status.json").read_text())
    assert status["state"] == "done" and status["total_steps"] == 40 and status["step"] == 40
    from grokwatch.readers import read_path

    ((_src, rows),) = read_path(tmp_path / "out")  # grokwatch reading trainer_state.json
    assert assert_same_curves(ours, rows) == 8 + 2 * 2  # train_loss; test_loss and test_acc
