"""The time-to-jump estimate the grokking_likely hint carries (grokwatch/detect/eta.py)."""

from __future__ import annotations

import math
import random

from grokwatch.detect.eta import JumpEta


def test_a_power_law_rise_is_extrapolated_to_its_midpoint():
    eta = JumpEta()
    for s in range(400, 700, 40):  # u = 0.5 * (s / 1000)^5: half-way up at step 1000
        eta.add(s, 0.5 * (s / 1000) ** 5, 0.001)
    assert math.isclose(eta.estimate(), 1000.0, rel_tol=1e-6)
    slope, n, residual = eta.exponent()
    assert math.isclose(slope, 5.0, rel_tol=1e-6) and n == 8 and residual < 1e-9


def test_noise_at_the_baseline_gives_no_estimate():
    rng = random.Random(0)
    eta = JumpEta()
    for s in range(400, 1000, 20):
        eta.add(s, rng.gauss(0.0, 0.002), 0.002)
    assert eta.estimate() is None


def test_only_the_trailing_points_clear_of_the_noise_count():
    eta = JumpEta()
    eta.add(100, 0.3, 0.001)  # an old outlier, then back in the noise
    eta.add(200, 0.0, 0.001)
    for s in (300, 400, 500):
        eta.add(s, 0.5 * (s / 1000) ** 3, 0.001)
    assert math.isclose(eta.estimate(), 1000.0, rel_tol=1e-6)
    eta.add(600, 0.0, 0.001)  # in the noise again: nothing to fit
    assert eta.estimate() is None


def test_a_falling_or_far_off_rise_gives_no_estimate():
    eta = JumpEta()
    for s, u in ((400, 0.08), (440, 0.06), (480, 0.04)):
        eta.add(s, u, 0.001)
    assert eta.estimate() is None
    slow = JumpEta()
    for s in (400, 500, 600):  # u ~ step^0.1: half-way only past 10x the step
        slow.add(s, 0.01 * (s / 400) ** 0.1, 0.001)
    assert slow.estimate() is None
