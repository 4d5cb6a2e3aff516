"""What the chart shows (a small immutable record) and the pure rules around it; no numpy,
so the screens can import it at start-up for free."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

METRIC_NAMES = {"error": "error", "loss": "loss", "acc": "accuracy"}
METRIC_CYCLE = ("error", "loss", "acc")


@dataclass(frozen=True)
class ViewMode:
    """One way of drawing the chart. `builder` names the function that draws it
    (`builder(job: ChartJob) -> ChartOut`, run in the chart's thread): a name in `charts.py`, or
    "module:function" for one elsewhere; `draws` says whose data it needs, which decides what
    redraws it:

    - "current": the highlighted run (a new highlight, or news of that run, redraws it)
    - "marked": the runs marked with space (news of one of them redraws it)
    - "experiment": every run of the highlighted run's experiment (news of any run redraws it)

    A mode with a `key` gets that key (tui/keys.py binds it: press to show the mode, again to
    leave), its `title` in the command palette and its `help` on the help screen. The built-in
    modes have keys of their own that do more (`w` cycles the swept key), declared in keys.py.
    """

    name: str
    builder: str
    draws: str
    key: str = ""
    title: str = ""
    help: str = ""
    bar: bool = True  # its key in the key bar (else on the help screen and in the palette only)


MODES: dict[str, ViewMode] = {m.name: m for m in (
    ViewMode("run", "draw_run", "current"),
    ViewMode("compare", "draw_compare", "marked"),
    ViewMode("sweep", "draw_sweep", "experiment"),
    ViewMode("phase", "draw_phase", "experiment"),
    ViewMode("progress", "grokwatch.tui.progress_view:draw_progress", "current", key="P",
             title="Progress measures", help="progress measures of the run beside its test accuracy (again: back)",
             bar=False),
)}


def register(mode: ViewMode) -> None:
    """Add a view mode (a new chart): one row, here or from a module of its own."""
    if mode.name in MODES:
        raise ValueError(f"view mode {mode.name!r} is already registered")
    MODES[mode.name] = mode


PHASE_VALUES = ("generalization_step", "grokking_delay", "phase", "final_test_error", "best_test_error",
                "memorization_step")  # what the phase diagram shows, in the order `v` cycles them


@dataclass(frozen=True)
class View:
    """What the chart shows; the screen keeps one and replaces it on each key."""

    mode: str = "run"  # a key of MODES
    metric: str = "error"  # error | loss | acc
    logx: bool | None = None  # None: automatic (log for grokking runs and wide sweeps)
    logy: bool | None = None  # None: automatic (log for a double-descent sweep)
    smooth: bool = False
    sweep_key: str | None = None
    best: bool = False  # sweep: best instead of final values
    phase_value: str = PHASE_VALUES[0]  # phase: the summary shown
    phase_fix: int = 0  # phase: which combination of the other swept keys is held fixed
    seeds: bool = False  # seed groups as one: a table row and a curve (mean, min–max band) each

    def with_(self, **kw: Any) -> "View":
        return replace(self, **kw)

    @property
    def spec(self) -> ViewMode:
        return MODES[self.mode]


def auto_logx(run: Any) -> bool:
    """Grokking is read on a log-scaled step axis."""
    return bool(run is not None and run.kind == "grokking")


def sweep_keys(runs: list[Any], experiment: str) -> list[str]:
    """The swept keys of an experiment, the one with most values first."""
    keys: dict[str, set] = {}
    for r in runs:
        if r.experiment == experiment:
            for k, v in r.sweep.items():
                keys.setdefault(k, set()).add(repr(v))
    return sorted(keys, key=lambda k: (-len(keys[k]), k))
