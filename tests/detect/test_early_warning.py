"""grokking_likely's early signals and its time-to-jump estimate, and `stalled` on a flat test
loss: on hand-made curves and on real runs of the tune set (tests/fixtures/detect/sets/tune,
made by bench/detect_sets.py; the held-out set is judged only by bench/detect_eval.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokwatch.columns import complete_row
from grokwatch.detect import detect_rows
from grokwatch.runs import read_all_metrics

from test_detect import jumps, make, mem, schedule, sig  # same directory (pytest prepends it)

TUNE = Path(__file__).resolve().parents[1] / "fixtures" / "detect" / "sets" / "tune"


def hints(events):
    return [e for e in events if e["kind"] == "grokking_likely"]


def grok_rows(center=3000.0):
    """Memorised by 300, test accuracy at chance until it climbs (half-way at `center`);
    accuracy columns only, so no loss or norm signal can speak."""
    return make(schedule(8000, 40), mem(300), lambda s: 0.01 + 0.98 * sig(s, center, 0.3),
                losses=False)


def test_the_test_error_leaving_its_baseline_gives_the_hint_and_an_estimate():
    ev = detect_rows(grok_rows(), {"params": {}, "n_test": 2000, "total_steps": 8000})
    h, j = hints(ev), jumps(ev)
    assert len(h) == 1 and len(j) == 1
    h = h[0]
    assert h["signal"] == "test_error_leaving_baseline" and h["step"] < j[0]["step"]
    true_mid = 3000.0
    lead = true_mid - h["step"]
    assert lead > 0.3 * (true_mid - 300)
    assert abs(h["expected_jump_step"] - true_mid) < 0.6 * lead  # real runs: median 0.17
    assert "expected half-way up around step" in h["message"]
    assert h["growth_exponent"] >= 3.5


def test_no_hint_when_its_own_estimate_lands_after_the_run_ends():
    rows = grok_rows()
    assert hints(detect_rows(rows, {"params": {}, "n_test": 2000, "total_steps": 8000}))
    short = detect_rows(rows, {"params": {}, "n_test": 2000, "total_steps": 1500})
    assert hints(short) == []


def test_no_hint_on_a_slow_drift_off_the_baseline():
    # test accuracy creeping up linearly after memorisation: u ~ step^1, far below step^3.5
    rows = make(schedule(6000, 40), mem(300), lambda s: 0.01 + 0.15 * s / 6000, losses=False)
    assert hints(detect_rows(rows, {"params": {}, "n_test": 5000, "total_steps": 6000})) == []


def test_stalled_on_a_flat_test_loss_with_a_growing_norm():
    steps = schedule(4000, 20)
    rows = make(steps, mem(300), lambda s: 0.01, wn=lambda s: 10 + s / 100)
    for r in rows:  # test loss up to memorisation, then flat
        r["test_loss"] = 4.6 + 2.0 * min(r["step"], 300) / 300
    ev = detect_rows(rows, {"params": {}, "n_test": 2000})
    st = [e for e in ev if e["kind"] == "stalled"]
    assert len(st) == 1 and st[0]["signal"] == "weight_norm_growing"
    assert 4 * 300 <= st[0]["step"] <= 5 * 300 + 100


def _tune(name):
    d = TUNE / name
    if not (d / "metrics.csv").exists():
        pytest.skip(f"{d} not generated (python bench/detect_sets.py --set tune)")
    rows = [complete_row(r) for r in read_all_metrics(d / "metrics.csv")]
    return rows, json.loads((d / "config.json").read_text()), json.loads((d / "label.json").read_text())


@pytest.mark.parametrize("name, signal", [
    ("mlp-s10", "test_error_leaving_baseline"),
    ("mlp-wd0-init1-tf0.5-s11", "test_error_leaving_baseline"),  # generalises without wd
    ("tf-paper-s10", "weight_norm_falling"),  # Power et al.'s transformer, x/y
])
def test_hint_on_real_runs_that_grok(name, signal):
    rows, info, lab = _tune(name)
    assert lab["label"] == "grok"
    ev = detect_rows(rows, info)
    h = hints(ev)
    t50 = next(r["step"] for r in rows if r["test_acc"] >= 0.5)
    assert len(h) == 1 and h[0]["signal"] == signal and h[0]["step"] < t50
    assert not [e for e in ev if e["kind"] == "stalled"]


@pytest.mark.parametrize("name, stall", [
    ("mlp-wd0-s10", "weight_norm_growing"),
    ("tf-paper-wd0-s10", "softmax_collapse"),
    # weight decay too small for its 2,500 steps: its own estimate lands past them (no hint),
    # and its norm still grows (stalled: "try more weight decay")
    ("mlp-wd0.1-s10", "weight_norm_growing"),
])
def test_no_hint_on_real_runs_that_never_grok(name, stall):
    rows, info, lab = _tune(name)
    assert lab["label"] == "never"
    ev = detect_rows(rows, info)
    assert hints(ev) == []
    st = [e for e in ev if e["kind"] == "stalled"]
    assert [e["signal"].split("+")[0] for e in st] == ([stall] if stall else [])
