"""Seed groups: runs that differ only in their seed (same experiment, same swept values, same
parameters). With `g` the run table folds each group into one row and the charts draw it as one
curve — the mean over seeds with a min–max band.

`GroupRun` stands in for a group's first run wherever the table reads a run: the same attributes,
aggregated over the seeds (state: the most active one; step: the slowest; values: the mean).
"""

from __future__ import annotations

import re
from typing import Any

from ...sweeps import seed_group_key
from .store import RunData

STATE_RANK = ("running", "live", "starting", "requeued", "queued", "failed", "diverged", "lost", "stopped",
              "done", "file")


def group_key(run: RunData) -> str:
    """Everything that makes a run what it is, except its seed (grokwatch/sweeps.py)."""
    return seed_group_key(run.info, fallback=run.key)


def seed_groups(runs: dict[str, RunData], order: list[str]) -> dict[str, list[str]]:
    """Group key -> run keys (in `order`), for every run (a run alone is a group of one)."""
    out: dict[str, list[str]] = {}
    for k in order:
        r = runs.get(k)
        if r is not None:
            out.setdefault(group_key(r), []).append(k)
    return out


def members(runs: dict[str, RunData], key: str) -> list[RunData]:
    """The highlighted run's seed group (itself first)."""
    run = runs.get(key)
    if run is None:
        return []
    g = group_key(run)
    return [run] + [r for k, r in runs.items() if k != key and group_key(r) == g]


def group_label(key: str, n: int) -> str:
    """`dd-n_features=10-s0-c00100` -> `dd-n_features=10-s* ×3`."""
    base = re.sub(r"-s\d+(-[0-9a-f]{4,})?$", "-s*", key)
    return f"{base} ×{n}"


class GroupRun:
    """A seed group as one table row (reads only; the runs stay in the store)."""

    def __init__(self, runs: list[RunData]) -> None:
        self.runs = runs
        self.lead = runs[0]
        self.key = self.lead.key
        self.label = group_label(self.key, len(runs)) if len(runs) > 1 else self.key

    def __getattr__(self, name: str) -> Any:  # anything not aggregated: the first run's
        return getattr(self.lead, name)

    @property
    def state(self) -> str:
        states = [r.state for r in self.runs]
        return min(states, key=lambda s: STATE_RANK.index(s) if s in STATE_RANK else len(STATE_RANK))

    @property
    def state_label(self) -> str:
        states = [r.state for r in self.runs]
        s = self.state
        n = sum(1 for x in states if x == s)
        return s if n == len(states) else f"{s} {n}/{len(states)}"

    @property
    def running(self) -> bool:
        return any(r.running for r in self.runs)

    @property
    def step(self) -> float | None:
        steps = [r.step for r in self.runs]
        return None if any(s is None for s in steps) else min(steps)  # type: ignore[type-var]

    @property
    def latest(self) -> dict[str, float]:
        out: dict[str, float] = {}
        keys = set().union(*(r.latest for r in self.runs))
        for k in keys:
            vals = [r.latest[k] for r in self.runs if k in r.latest]
            out[k] = sum(vals) / len(vals)
        return out

    @property
    def rate(self) -> float | None:
        rates = [r.rate for r in self.runs if r.running and r.rate]
        return min(rates) if rates else None

    @property
    def eta_s(self) -> float | None:
        etas = [r.eta_s for r in self.runs if r.eta_s is not None]
        return max(etas) if etas else None

    @property
    def alerts(self) -> list[dict[str, Any]]:
        al = [a for r in self.runs for a in r.alerts]
        return sorted(al, key=lambda a: a.get("time") or 0)

    @property
    def sweep(self) -> dict[str, Any]:
        return self.lead.sweep


def fold(runs: dict[str, RunData], order: list[str]) -> tuple[dict[str, Any], list[str], dict[str, list[str]]]:
    """(rows by key, order, leader -> member keys): one row per seed group, led by its first run."""
    rows: dict[str, Any] = {}
    keys: list[str] = []
    led: dict[str, list[str]] = {}
    for ks in seed_groups(runs, order).values():
        lead = ks[0]
        rows[lead] = GroupRun([runs[k] for k in ks]) if len(ks) > 1 else runs[lead]
        led[lead] = ks
    for k in order:
        if k in rows:
            keys.append(k)
    return rows, keys, led


__all__ = ["GroupRun", "fold", "group_key", "members", "seed_groups"]
