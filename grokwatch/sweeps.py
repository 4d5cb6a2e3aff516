"""Rules about sweeps that the dashboard and `grokwatch plot` share: which runs are seeds of one
point, where a double-descent sweep's interpolation threshold lies, what counts as zero on a log
axis, and whether a grid of values is log-spaced. Standard library only; one home for each.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

ZERO_REL = 1e-7  # values this far below the largest are zero to machine precision (float32 ~1e-7)


def seed_group_key(info: dict[str, Any], fallback: str = "") -> str:
    """Everything that makes a run what it is, except its seed (config.json's experiment, kind,
    sweep and params): runs with the same key are seeds of one point."""
    params = dict(info.get("params") or {}) if isinstance(info.get("params"), dict) else {}
    params.pop("seed", None)
    sweep = info.get("sweep") if isinstance(info.get("sweep"), dict) else {}
    return json.dumps([info.get("experiment") or fallback, info.get("kind"), sweep, params],
                      sort_keys=True, default=str)


def interpolation_threshold(infos: Iterable[dict[str, Any]], key: str) -> tuple[float, str] | None:
    """Where a double-descent sweep over `key` crosses its interpolation threshold, from the runs'
    configs: N = n_train on a sweep of n_features, n_train = N on a sweep of n_train; None for
    any other key (or configs that do not say)."""
    def common(name: str) -> float | None:
        vals = [(i.get(name) if name == "n_train" else (i.get("params") or {}).get(name)) for i in infos]
        vals = [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(set(vals), key=vals.count) if vals else None

    infos = list(infos)
    if key == "n_features":
        n = common("n_train")
        return (n, f"N = n_train = {n:g}") if n else None
    if key == "n_train":
        n = common("n_features")
        return (n, f"n_train = N = {n:g}") if n else None
    return None


def log_floor(values: Iterable[float]) -> float | None:
    """Where a log axis starts: half the smallest positive value that is not zero to machine
    precision relative to the largest (a memorised train error of 1e-11 does not stretch the axis
    over ten empty decades). None without positive values."""
    pos = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not pos:
        return None
    top = max(pos)
    return min(v for v in pos if v >= top * ZERO_REL) * 0.5


def log_spaced(vals: list) -> bool:
    """Positive numbers whose successive ratios are about equal (and not evenly spaced)."""
    try:
        xs = [float(v) for v in vals]
    except (TypeError, ValueError):
        return False
    if len(xs) < 3 or min(xs) <= 0:
        return False
    r = [math.log(b / a) for a, b in zip(xs, xs[1:])]
    d = [b - a for a, b in zip(xs, xs[1:])]
    if max(d) - min(d) <= 0.1 * max(abs(x) for x in d):
        return False  # evenly spaced
    return min(r) > 0 and max(r) / min(r) < 1.6
