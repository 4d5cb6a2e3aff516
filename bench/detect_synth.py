"""Synthetic labelled curves for the detector evaluation (`bench/detect_eval.py`).

Every curve is a list of metric rows (canonical column names) plus a label:
  grok       test accuracy sits at its baseline after memorisation, then rises fast
  noise      memorised; test accuracy flat at some level, binomial noise at a realistic
             test-set size (plus, sometimes, extra correlated noise and heavy-tailed outliers)
  drift      memorised; test accuracy rises slowly: log-linearly (<= 0.3 per decade of steps),
             linearly over >= 50x the onset step, or by a small amount (<= 0.2)
  borderline memorised; test accuracy rises linearly in steps over 5-50x its onset step: on
             the log-step scale that is 0.5-0.9 decades for 10->90%, as fast as the slowest
             real grokking (the issue's MLP: ~0.8). Not a control and not a target: reported
             to show where the line is
  spike      noise + single-row outliers up, multi-row dips down, test-loss spikes
  ordinary   train and test learn together (test a little behind) to a generalisation gap
  overfit    test error falls, bottoms, then rises while train error keeps falling
  plateau    test error falls and stays flat while train error keeps falling
  slowrise   overfitting that is slow: test error climbs steadily by 0.015-0.06 after its minimum
Steps are evaluated like the built-in kinds do (every k steps plus log-spaced points), or
log-spaced only, or linearly only.
"""

from __future__ import annotations

import math

import numpy as np

TEST_SIZES = (100, 200, 500, 1000, 2000, 5000, 10000)
CLASSES = (2, 10, 97, 113)


def schedule(rng: np.random.Generator, total: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # every k plus log-spaced points (the built-in kinds)
        every = max(1, total // int(rng.integers(40, 200)))
        s = set(range(0, total + 1, every))
        s.update(np.unique(np.round(np.logspace(0, math.log10(total), 20)).astype(int)).tolist())
    elif kind == 1:  # log-spaced only
        n = int(rng.integers(40, 150))
        s = set(np.unique(np.round(np.logspace(0, math.log10(total), n)).astype(int)).tolist())
        s.add(0)
    else:  # linear
        every = max(1, total // int(rng.integers(50, 400)))
        s = set(range(0, total + 1, every))
    return np.array(sorted(s), dtype=float)


def sig_log(t: np.ndarray, center: float, width_dec: float) -> np.ndarray:
    """A rise from 0 to 1 whose 10->90% part spans `width_dec` decades of steps around `center`."""
    k = 4.394 / max(width_dec, 1e-3)  # 2*ln(9) / width
    x = np.log10(np.maximum(t, 1.0) / center)
    return 1.0 / (1.0 + np.exp(-k * x))


def binom(rng, p: np.ndarray, n: int) -> np.ndarray:
    p = np.clip(p, 0.0, 1.0)
    return rng.binomial(n, p) / n


def _rows(steps, train_acc, test_acc, train_loss=None, test_loss=None, wn=None):
    rows = []
    for i, s in enumerate(steps):
        r = {"step": float(s), "train_acc": float(train_acc[i]), "test_acc": float(test_acc[i]),
             "train_error": 1.0 - float(train_acc[i]), "test_error": 1.0 - float(test_acc[i])}
        if train_loss is not None:
            r["train_loss"] = float(train_loss[i])
            r["test_loss"] = float(test_loss[i])
        if wn is not None:
            r["weight_norm"] = float(wn[i])
        rows.append(r)
    return rows


def _losses(rng, steps, train_acc, test_acc, n_classes, mem_at, jump_at=None):
    """Cross-entropy-like losses: train falls with its accuracy; test rises after memorisation
    (over-confidence) and falls by decades when test accuracy rises."""
    l0 = math.log(n_classes)
    tr = l0 * (1.0 - train_acc) + 1e-3 + 1e-3 * rng.random(len(steps))
    over = 1.0 + rng.uniform(0.2, 1.5) * np.clip(np.log10(np.maximum(steps, 1) / mem_at), 0, 3)
    te = l0 * over * (1.0 - test_acc) ** 1.5 + 1e-3
    return tr, te * np.exp(rng.normal(0, 0.01, len(steps)))


def memorise(rng, steps, mem_at, w=None):
    """Train accuracy reaching 1 at about `mem_at` (0.99 at about mem_at * 10**(0.35 w))."""
    w = rng.uniform(0.3, 1.0) if w is None else w
    return np.clip(sig_log(steps, mem_at / 10 ** (w * 0.7), w), 0, 1)


def grok_curve(rng) -> dict:
    n_classes = int(rng.choice(CLASSES))
    n_test = int(rng.choice(TEST_SIZES[2:]))
    mem_at = float(10 ** rng.uniform(1.2, 3.5))
    width = float(rng.uniform(0.05, 0.8))  # decades for 10->90%
    # train accuracy reaches 0.99 at mem99; the test rise is at most 30% done by then
    w_tr = rng.uniform(0.3, 1.0)
    mem99 = mem_at * 10 ** (0.35 * w_tr)
    ratio = float(10 ** rng.uniform(0.193 * width, 1.5))  # jump centre / mem99
    center = mem99 * ratio
    total = int(center * 10 ** rng.uniform(0.4, 1.0))
    steps = schedule(rng, total)
    chance = 1.0 / n_classes
    base = chance * rng.uniform(0.3, 1.5) if n_classes > 2 else 0.5
    final = float(rng.uniform(0.85, 1.0))
    tr_acc = memorise(rng, steps, mem_at, w_tr)
    rise = sig_log(steps, center, width)
    te_p = base + (final - base) * rise
    te_acc = binom(rng, te_p, n_test)
    tr_acc = np.maximum(tr_acc, 0) if n_classes > 2 else np.maximum(tr_acc, 0.5)
    trl, tel = _losses(rng, steps, tr_acc, te_acc, n_classes, mem_at)
    # post-jump spikes, sometimes
    if rng.random() < 0.4:
        late = np.nonzero(steps > center * 10 ** width)[0]
        for j in rng.choice(late, size=min(len(late), int(rng.integers(1, 4))), replace=False) if len(late) else []:
            tel[j] *= 10 ** rng.uniform(0.5, 2.0)
            te_acc[j] = max(base, te_acc[j] - rng.uniform(0.0, 0.5))
    # the step where the true curve crosses 90% accuracy (None when it never does)
    t90 = None
    if final > 0.9:
        frac = (0.9 - base) / (final - base)
        k = 4.394 / width
        t90 = center * 10 ** (math.log(frac / (1 - frac)) / k)
    return {"label": "grok", "rows": _rows(steps, tr_acc, te_acc, trl, tel),
            "info": {"n_test": n_test}, "jump_mid": center, "t90": t90, "mem_at": mem_at,
            "desc": f"grok p{n_classes} n{n_test} mem99 {mem99:.0f} x{ratio:.2f} w{width:.2f}"}


def _memorised_flat(rng, kind: str) -> dict:
    n_classes = int(rng.choice(CLASSES))
    n_test = int(rng.choice(TEST_SIZES))
    mem_at = float(10 ** rng.uniform(1.0, 3.0))
    total = int(mem_at * 10 ** rng.uniform(0.5, 2.0))
    steps = schedule(rng, total)
    tr_acc = memorise(rng, steps, mem_at)
    level = float(rng.choice([1.0 / n_classes, rng.uniform(0.0, 0.9)]))
    p = np.full(len(steps), level)
    desc = f"{kind} p{n_classes} n{n_test} level {level:.2f}"
    if kind == "borderline":  # linear ramps of 5-50x their onset step: 10->90% in 0.5-0.9 decades
        t0 = mem_at * rng.uniform(1, 3)
        dur = t0 * rng.uniform(5, 50)
        amp = rng.uniform(0.4, 0.95)
        p = np.clip(1.0 / n_classes + amp * np.clip((steps - t0) / dur, 0, 1), 0, 0.99)
        desc += f" linear t0 {t0:.0f} dur {dur:.0f} amp {amp:.2f}"
    if kind == "drift":
        form = rng.integers(3)
        if form == 0:  # log-linear after memorisation: <= 0.3 per decade
            rate = rng.uniform(0.02, 0.3)
            p = level + rate * np.clip(np.log10(np.maximum(steps, 1) / mem_at), 0, None)
            desc += f" loglin {rate:.2f}/dec"
        elif form == 1:  # linear, taking >= 50x its onset step
            t0 = mem_at * rng.uniform(1, 3)
            dur = t0 * rng.uniform(50, 200)
            amp = rng.uniform(0.2, 0.9)
            p = level + amp * np.clip((steps - t0) / dur, 0, 1)
            desc += f" linear t0 {t0:.0f} dur {dur:.0f} amp {amp:.2f}"
        else:  # small and of any speed
            amp = rng.uniform(0.02, 0.2) * (1 if rng.random() < 0.8 else -1)
            p = level + amp * sig_log(steps, mem_at * 10 ** rng.uniform(0.2, 1.5), rng.uniform(0.05, 1))
            desc += f" small {amp:.2f}"
        p = np.clip(p, 0, 0.99)
    acc = binom(rng, p, n_test)
    if rng.random() < 0.3:  # extra correlated noise (model wobble)
        ar = np.zeros(len(steps))
        a, s = rng.uniform(0.5, 0.95), rng.uniform(0.002, 0.02)
        for i in range(1, len(steps)):
            ar[i] = a * ar[i - 1] + rng.normal(0, s)
        acc = np.clip(acc + ar, 0, 1)
        desc += " +ar"
    tr_acc = tr_acc if n_classes > 2 else np.maximum(tr_acc, 0.5)
    trl, tel = _losses(rng, steps, tr_acc, acc, n_classes, mem_at)
    if kind == "spike":
        n = len(steps)
        for _ in range(int(rng.integers(1, 6))):
            j = int(rng.integers(n // 4, n))
            typ = rng.integers(3)
            if typ == 0:  # one-row outlier up in accuracy
                acc[j] = min(1.0, acc[j] + rng.uniform(0.2, 0.8))
            elif typ == 1:  # a dip (accuracy down) lasting a few rows
                k = int(rng.integers(1, 6))
                acc[j:j + k] = np.maximum(0, acc[j:j + k] - rng.uniform(0.1, 0.6))
            else:  # test-loss spike
                k = int(rng.integers(1, 4))
                tel[j:j + k] *= 10 ** rng.uniform(0.5, 2.5)
        desc += " spikes"
    return {"label": kind, "rows": _rows(steps, tr_acc, acc, trl, tel),
            "info": {"n_test": n_test} if rng.random() < 0.5 else None, "mem_at": mem_at,
            "desc": desc}


def ordinary_curve(rng) -> dict:
    n_classes = int(rng.choice(CLASSES))
    n_test = int(rng.choice(TEST_SIZES))
    t_half = float(10 ** rng.uniform(1.0, 3.0))
    width = rng.uniform(0.5, 1.5)
    lag = rng.uniform(0.0, 0.25)  # test behind train, decades
    total = int(t_half * 10 ** rng.uniform(0.7, 2.0))
    steps = schedule(rng, total)
    chance = 1.0 / n_classes
    tr_final = 1.0
    te_final = rng.uniform(0.5, 0.98)
    tr_acc = chance + (tr_final - chance) * sig_log(steps, t_half, width)
    te_p = chance + (te_final - chance) * sig_log(steps, t_half * 10 ** lag, width * rng.uniform(0.8, 1.3))
    acc = binom(rng, te_p, n_test)
    trl, tel = _losses(rng, steps, tr_acc, acc, n_classes, t_half * 3)
    return {"label": "ordinary", "rows": _rows(steps, tr_acc, acc, trl, tel),
            "info": {"n_test": n_test} if rng.random() < 0.5 else None,
            "desc": f"ordinary p{n_classes} n{n_test} half {t_half:.0f} lag {lag:.2f} w {width:.2f}"}


def overfit_curve(rng, rises: bool) -> dict:
    """Test error falls to a minimum then (rises=True) climbs while train error keeps falling
    (label noise being memorised), or (rises=False) stays flat."""
    n_test = int(rng.choice(TEST_SIZES[2:]))
    t_min = float(10 ** rng.uniform(1.5, 3.0))
    total = int(t_min * 10 ** rng.uniform(0.8, 1.5))
    steps = schedule(rng, total)
    noise_frac = rng.uniform(0.1, 0.3)
    clean = sig_log(steps, t_min / 3, 0.6)
    memo = sig_log(steps, t_min * 10 ** rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8))
    tr_acc = 0.1 + (1 - noise_frac - 0.1) * clean + noise_frac * memo
    best = rng.uniform(0.85, 0.97)
    te_p = 0.1 + (best - 0.1) * clean
    if rises:
        te_p = te_p - rng.uniform(0.08, 0.25) * memo
    acc = binom(rng, te_p, n_test)
    trl, tel = _losses(rng, steps, tr_acc, acc, 10, t_min)
    return {"label": "overfit" if rises else "plateau",
            "rows": _rows(steps, tr_acc, acc, trl, tel), "info": {"n_test": n_test},
            "desc": f"{'overfit' if rises else 'plateau'} n{n_test} min {t_min:.0f}"}


def slow_rise_curve(rng) -> dict:
    """Overfitting that is slow: after its minimum the test error climbs steadily (linear in
    steps) by 0.015-0.06 over 5-20x the minimum's step, while train error keeps falling."""
    n_test = int(rng.choice(TEST_SIZES[2:]))
    t_min = float(10 ** rng.uniform(1.5, 3.0))
    total = int(t_min * 10 ** rng.uniform(0.7, 1.3))
    steps = schedule(rng, total)
    clean = sig_log(steps, t_min / 3, 0.6)
    best = rng.uniform(0.85, 0.97)
    rise = rng.uniform(0.015, 0.06)
    te_p = 0.1 + (best - 0.1) * clean - rise * np.clip((steps - t_min) / (total - t_min), 0, None)
    tr_acc = 0.1 + 0.89 * clean + 0.01 * np.clip((steps - t_min) / (total - t_min), 0, 1)
    acc = binom(rng, te_p, n_test)
    trl, tel = _losses(rng, steps, tr_acc, acc, 10, t_min)
    return {"label": "slowrise", "rows": _rows(steps, tr_acc, acc, trl, tel), "info": {"n_test": n_test},
            "desc": f"slowrise n{n_test} min {t_min:.0f} rise {rise:.3f} over x{total / t_min:.1f}",
            "t_min": t_min, "rise": rise, "total": total, "best_err": 1 - best}


def make_set(seed: int = 0, n_grok: int = 300, n_noise: int = 1000, n_drift: int = 400,
             n_spike: int = 200, n_ordinary: int = 200, n_overfit: int = 100,
             n_borderline: int = 100, n_slowrise: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    out += [grok_curve(rng) for _ in range(n_grok)]
    out += [_memorised_flat(rng, "noise") for _ in range(n_noise)]
    out += [_memorised_flat(rng, "drift") for _ in range(n_drift)]
    out += [_memorised_flat(rng, "spike") for _ in range(n_spike)]
    out += [ordinary_curve(rng) for _ in range(n_ordinary)]
    out += [overfit_curve(rng, True) for _ in range(n_overfit)]
    out += [overfit_curve(rng, False) for _ in range(n_overfit)]
    out += [_memorised_flat(rng, "borderline") for _ in range(n_borderline)]
    slow = np.random.default_rng(seed + 1000)  # its own stream: the curves above stay the same
    out += [slow_rise_curve(slow) for _ in range(n_slowrise)]
    return out
