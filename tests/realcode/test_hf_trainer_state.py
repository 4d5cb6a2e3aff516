"""HF Trainer runs, read from the `trainer_state.json` their authors checked in (no public HF
Trainer script that runs here was found: see docs/own-scripts.md, "Tried on real code").

- Jaypee34/Sentiment-Analysis-for-Customer-Feedback: DistilBERT fine-tuned for 3 epochs,
  `loss` every 50 steps, `eval_accuracy`/`eval_loss`/`eval_f1_macro` each epoch;
- aigoncharov/trainer_state_viz: a Trainer with six evaluation sets (`eval_dataset` a dict),
  so every metric is `eval_g<N>_<name>`: no name says which is the test curve; `--map` says it.
"""

from __future__ import annotations

import json

import pytest

from conftest import grokwatch
from realcode_helpers import read_csv, snapshot

SENTIMENT = "Jaypee34/Sentiment-Analysis-for-Customer-Feedback"
MULTI_EVAL = "aigoncharov/trainer_state_viz"
NAMES = {"loss": "train_loss", "eval_accuracy": "test_acc", "eval_loss": "test_loss"}


def state(tmp_path, repo):
    src, _commit = snapshot(tmp_path, repo, "trainer_state.json")
    return src, json.loads(src.read_text())["log_history"]


def export(tmp_path, path, *opts):
    out = tmp_path / "export.csv"
    p = grokwatch("export", str(path), "-o", str(out), *opts, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return {int(float(r["step"])): r for r in read_csv(out)}


@pytest.mark.slow
def test_every_log_history_entry_of_a_finetune(tmp_path):
    path, history = state(tmp_path, SENTIMENT)
    ours = export(tmp_path, path)
    assert sorted(ours) == sorted({e["step"] for e in history})  # 51 entries, 51 steps
    for e in history:
        row = ours[e["step"]]
        for key, value in e.items():
            if key in ("step", "epoch"):
                continue
            assert float(row[NAMES.get(key, key)]) == pytest.approx(value, rel=1e-12), key
    p = grokwatch("detect", "--json", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "percent" not in p.stderr  # fractions, as HF writes them


@pytest.mark.slow
def test_several_eval_sets_keep_their_names_and_map_picks_the_test_curve(tmp_path):
    path, history = state(tmp_path, MULTI_EVAL)
    ours = export(tmp_path, path)
    assert sorted(ours) == sorted({e["step"] for e in history})  # 216 entries, 31 steps
    assert not any(r.get("test_acc") for r in ours.values())  # no name says "the test set"
    for e in history:
        for key, value in e.items():
            if key.startswith("eval_g") and key.endswith(("_accuracy", "_loss")):
                assert float(ours[e["step"]][key]) == pytest.approx(value, rel=1e-12)
    # `detect --map` names it; the curve is then read as the test curve (fractions)
    p = grokwatch("detect", "--map", "eval_g0_accuracy=test_acc", "--map",
                  "eval_g0_loss=test_loss", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "percent" not in p.stderr
