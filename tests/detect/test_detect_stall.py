"""The stalled alarm: it fires on memorised runs that never generalise (with a remedy) and
never on a run that later groks."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from grokwatch.columns import complete_row
from grokwatch.detect import detect_rows, main_detect
from grokwatch.runs import read_all_metrics

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "detect"
REAL = FIX / "real"


def label(d):
    return json.loads((d / "label.json").read_text())["label"]


def events(d):
    rows = [complete_row(r) for r in read_all_metrics(d / "metrics.csv")]
    return detect_rows(rows, json.loads((d / "config.json").read_text()))


GROK = sorted(d for d in REAL.iterdir() if label(d) == "grok")
NEVER = sorted(d for d in REAL.iterdir() if label(d) == "control"
               and json.loads((d / "config.json").read_text()).get("kind") == "grokking")


@pytest.mark.parametrize("d", GROK, ids=lambda d: d.name)
def test_never_on_a_run_that_groks(d):
    assert not [e for e in events(d) if e["kind"] == "stalled"]


def test_never_on_simple_grokkings_runs():
    for name in ("comprehension", "grokking"):
        with open(FIX / "simple-grokking" / f"{name}.csv") as f:
            rows = [{"step": float(r["epoch"]), "train_loss": float(r["train_loss"]),
                     "train_acc": float(r["train_acc"]) / 100, "test_loss": float(r["val_loss"]),
                     "test_acc": float(r["val_acc"]) / 100} for r in csv.DictReader(f)]
        assert "stalled" not in [e["kind"] for e in detect_rows(rows, step_unit="epoch")]


@pytest.mark.parametrize("d", NEVER, ids=lambda d: d.name)
def test_fires_on_every_memorised_run_that_never_generalises(d):
    st = [e for e in events(d) if e["kind"] == "stalled"]
    assert len(st) == 1
    e = st[0]
    assert e["step"] <= 11 * e["memorized_at"]
    assert "weight_norm_growing" in e["signals"] and "weight decay" in e["remedy"]
    assert e["message"].startswith("Training has stalled") and "try more weight decay" in e["message"]


def memorised(n=120, collapse=None, wn=True, test_loss=lambda s: 5.0 + s / 100, floor=1e-4):
    rows = []
    for i in range(n):
        s = 10.0 * i
        row = {"step": s, "train_acc": min(1.0, 0.01 + s / 200), "test_acc": 0.01 + 0.002 * math.sin(i),
               "train_loss": max(floor, 4.0 * math.exp(-s / 60)), "test_loss": test_loss(s)}
        if wn:
            row["weight_norm"] = 50 + s / 10
        if collapse is not None:
            row["softmax_collapse"] = collapse
        rows.append(row)
    return rows


def test_softmax_collapse_column_names_its_remedy():
    st = [e for e in detect_rows(memorised(collapse=0.9, wn=False)) if e["kind"] == "stalled"]
    assert len(st) == 1 and st[0]["signals"] == ["softmax_collapse"]
    assert "StableMax" in st[0]["remedy"] and "90.0% of the training samples" in st[0]["message"]


def test_a_collapsed_train_loss_is_a_stall_sign():
    st = [e for e in detect_rows(memorised(wn=False, floor=0.0)) if e["kind"] == "stalled"]
    assert len(st) == 1 and st[0]["signals"] == ["softmax_collapse"]
    assert "fp32 softmax has collapsed" in st[0]["message"]


def test_quiet_without_a_stall_sign_or_with_a_falling_test_loss():
    assert "stalled" not in [e["kind"] for e in detect_rows(memorised(wn=False))]
    falling = memorised(test_loss=lambda s: 8.0 - s / 400)
    assert "stalled" not in [e["kind"] for e in detect_rows(falling)]


def test_grokwatch_detect_prints_it(capsys):
    assert main_detect([str(REAL / "mlp-cpu-wd0-s0")]) == 0
    out = capsys.readouterr().out
    assert "mlp-cpu-wd0-s0 step 1140: stalled: Training has stalled" in out
