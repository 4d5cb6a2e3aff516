"""The overfitting rule on slow rises: a steady climb that is statistically clear fires long
before it is large; noise and plateaus stay quiet."""

from __future__ import annotations

import math
import random

from grokwatch.detect import detect_rows


def curve(rise: float, n_test: int = 10000, seed: int = 0, total: int = 3000):
    """Test error falls to 0.08 by step 300, then climbs linearly by `rise` until `total`;
    train error keeps falling."""
    rng = random.Random(seed)
    rows = []
    for s in range(0, total + 1, 20):
        clean = 1.0 / (1.0 + math.exp(-(s - 100) / 25.0))
        err = 0.9 - 0.82 * clean + rise * max(0.0, (s - 300) / (total - 300))
        err += rng.gauss(0.0, math.sqrt(err * (1 - err) / n_test))
        tr = max(0.0, 0.9 - 0.85 * clean - 0.04 * s / total)
        rows.append({"step": float(s), "test_acc": 1 - err, "train_acc": 1 - tr})
    return rows


def overfits(rows, n_test=10000):
    return [e for e in detect_rows(rows, {"n_test": n_test}) if e["kind"] == "overfitting"]


def test_a_slow_steady_rise_is_flagged_once_it_is_clear_not_once_it_is_large():
    ev = overfits(curve(0.03))
    assert len(ev) == 1
    e = ev[0]
    true_rise = 0.03 * (e["step"] - 300) / 2700
    assert true_rise < 0.02, e  # the old rule waited for 0.04 (half the minimum)
    assert "overfitting" in e["message"]


def test_plateaus_and_noise_stay_quiet():
    for seed in range(20):
        assert overfits(curve(0.0, seed=seed)) == []
        assert overfits(curve(0.0, n_test=500, seed=seed), n_test=500) == []
