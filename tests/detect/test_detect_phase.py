"""Grokking or comprehension (Liu et al. 2022's criterion), the `generalized` milestone and the
per-run summary, on the real fixtures and on logs written by Liu et al.'s co-author's code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grokwatch.columns import complete_row
from grokwatch.detect import detect_rows
from grokwatch.detect.kinds import KINDS, is_alert_kind
from grokwatch.detect.phase import DELAY, phase_of
from grokwatch.detect.summary import summarize, summary_fields
from grokwatch.headless import format_event
from grokwatch.runs import read_all_metrics

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "detect"
REAL = FIX / "real"
GROK = sorted(d.name for d in REAL.iterdir()
              if json.loads((d / "label.json").read_text()).get("label") == "grok")


def first(rows, key, level):
    return next((r["step"] for r in rows if r.get(key) is not None and r[key] >= level), None)


def real_rows(name):
    return [complete_row(r) for r in read_all_metrics(REAL / name / "metrics.csv")]


def simple_grokking(name):
    """A log written by okitouni/simple-grokking (accuracy in percent, an epoch column)."""
    with open(FIX / "simple-grokking" / f"{name}.csv") as f:
        return [{"step": float(r["epoch"]), "train_loss": float(r["train_loss"]),
                 "train_acc": float(r["train_acc"]) / 100, "test_loss": float(r["val_loss"]),
                 "test_acc": float(r["val_acc"]) / 100} for r in csv.DictReader(f)]


def test_liu_phases():
    assert phase_of(36, 90) == "comprehension"
    assert phase_of(12, 12 + DELAY + 1) == "grokking"
    assert phase_of(12, 12 + DELAY) == "comprehension"
    assert phase_of(300, None) == "memorization"
    assert phase_of(None, None) == "confusion"


@pytest.mark.parametrize("name", GROK)
def test_every_jump_and_milestone_carries_liu_phase_on_the_real_runs(name):
    rows = real_rows(name)
    info = json.loads((REAL / name / "config.json").read_text())
    truth = phase_of(first(rows, "train_acc", 0.9), first(rows, "test_acc", 0.9))
    assert truth == json.loads((REAL / name / "label.json").read_text())["phase"]
    ev = detect_rows(rows, info)
    jump = next(e for e in ev if e["kind"] == "generalization_jump")
    gen = next(e for e in ev if e["kind"] == "generalized")
    assert jump["phase"] == truth and jump["phase_basis"] == "estimated"
    assert truth in jump["message"] and "Liu et al." in jump["message"]
    assert gen["phase"] == truth and gen["step"] == first(rows, "test_acc", 0.95)
    assert gen["test_level_at"] == first(rows, "test_acc", 0.9)
    s = summarize(rows, info)
    assert s["phase"] == truth and s["generalization_step"] == gen["step"]
    assert s["first_generalization_jump_step"] == jump["step"]


def test_the_transformer_and_tf05_fixtures_are_comprehension_by_liu_criterion():
    for name in ("transformer-cpu-s0", "mlp-cpu-tf0.5-s3"):
        jump = next(e for e in detect_rows(real_rows(name)) if e["kind"] == "generalization_jump")
        assert jump["phase"] == "comprehension"
        assert "comprehension rather than grokking" in jump["message"]
    jump = next(e for e in detect_rows(real_rows("mlp-cpu-s0")) if e["kind"] == "generalization_jump")
    assert jump["phase"] == "grokking" and jump["level_gap"] > DELAY


def test_simple_grokking_comprehension_control_and_its_grokking_run():
    rows = simple_grokking("comprehension")
    ev = detect_rows(rows, step_unit="epoch")
    jump = next(e for e in ev if e["kind"] == "generalization_jump")
    assert jump["phase"] == "comprehension" and jump["memorized_at"] == 43
    assert "epochs after train did" in jump["message"]
    gen = next(e for e in ev if e["kind"] == "generalized")
    assert (gen["train_level_at"], gen["test_level_at"], gen["phase"]) == (36, 90, "comprehension")
    rows = simple_grokking("grokking")
    ev = detect_rows(rows, step_unit="epoch")
    assert next(e for e in ev if e["kind"] == "generalization_jump")["phase"] == "grokking"
    gen = next(e for e in ev if e["kind"] == "generalized")
    assert gen["phase"] == "grokking" and gen["test_level_at"] == 3700


def test_generalized_is_a_milestone_not_an_alert():
    k = KINDS["generalized"]
    assert k.severity == "milestone" and not k.alert and not is_alert_kind("generalized")
    line = format_event({"time": 0, "run_id": "r", "kind": "generalized", "alert": False,
                         "message": "Test accuracy reached 95.1% at step 1380"})
    assert "[generalized] r: Test accuracy reached" in line and "ALERT" not in line


def test_generalized_from_losses_alone():
    rows = [{"step": float(s), "train_loss": 4.5 * 0.5 ** (s / 20) + 1e-4,
             "test_loss": 4.6 if s < 400 else 4.6 * 0.8 ** ((s - 400) / 5)} for s in range(0, 800, 10)]
    gen = [e for e in detect_rows(rows) if e["kind"] == "generalized"]
    assert len(gen) == 1 and gen[0]["fall_decades"] >= 1.3 and "x below where it started" in gen[0]["message"]


def test_summary_fields_and_a_run_that_never_generalises():
    assert summary_fields()[:4] == ["memorization_step", "generalization_step", "grokking_delay", "phase"]
    assert all(f"first_{k}_step" in summary_fields() for k in KINDS)
    rows = real_rows("mlp-cpu-wd0-s0")
    s = summarize(rows, json.loads((REAL / "mlp-cpu-wd0-s0" / "config.json").read_text()))
    assert s["phase"] == "memorization" and s["generalization_step"] is None
    assert s["memorization_step"] == 280 and s["grokking_delay"] is None
    assert s["first_generalization_jump_step"] is None
    s = summarize(real_rows("mlp-cpu-s0"))
    assert s["grokking_delay"] == s["generalization_step"] - s["memorization_step"] == 1380 - 319
