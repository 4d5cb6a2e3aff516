"""The run table's default order: what is running first, then the queue in queue order, then what
ended, most recently ended first — so a long queue never pushes the live runs off the screen."""

from __future__ import annotations

from typing import Iterable

from .store import RunData

ACTIVE = ("running", "live", "starting", "requeued")
ENDED = ("done", "failed", "diverged", "stopped", "lost", "file")


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def queued_at(run: RunData) -> float:
    """Queue position: config.json's `created` time, else status.json's `queued` time."""
    for v in (run.info.get("created"), run.status.get("queued")):
        t = _num(v)
        if t is not None:
            return t
    return float("inf")


def ended_at(run: RunData) -> float:
    """When the run ended (status `ended`, else when its status or file last changed)."""
    if run.is_file:
        return run.csv_mtime
    t = _num(run.status.get("ended"))
    if t is not None:
        return t
    return max(run._status_mtime, 0.0)


def group(run: RunData) -> int:
    s = run.state
    if s in ACTIVE:
        return 0
    if s == "queued":
        return 1
    if s in ENDED:
        return 2
    return 3


def state_order(runs: dict[str, RunData], keys: Iterable[str]) -> list[str]:
    """`keys` (in their natural order) re-ordered by state group; ties keep the natural order."""
    def sort_key(item: tuple[int, str]) -> tuple:
        i, k = item
        r = runs[k]
        g = group(r)
        if g == 1:
            return (g, queued_at(r), i)
        if g == 2:
            return (g, -ended_at(r), i)
        return (g, 0.0, i)

    return [k for _, k in sorted(enumerate(k for k in keys if k in runs), key=sort_key)]


def initial_focus(runs: dict[str, RunData], keys: Iterable[str]) -> str | None:
    """The run to select on attach: the first running one, else the most recently active one."""
    keys = [k for k in keys if k in runs]
    if not keys:
        return None
    ordered = state_order(runs, keys)
    for g in (0, 2):  # running; else the most recently ended
        for k in ordered:
            if group(runs[k]) == g:
                return k
    return ordered[0]
