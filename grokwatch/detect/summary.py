"""A run's summary, computed by the detectors themselves (one `DetectorSet` fed every row), so
that a table of runs and the alerts can never disagree:

    summarize(rows, run_info=None, step_unit="step") -> dict

    memorization_step    the jump rule's `memorized_at` (train error <= 1% for 3 evaluations,
                         the first of them; losses only: train loss down a decade)
    generalization_step  the `generalized` milestone's step (test accuracy >= 95%; losses only:
                         test error/loss 20x below its start)
    grokking_delay       generalization_step - memorization_step
    phase                Liu et al. 2022's phase (`phase.py`): comprehension, grokking,
                         memorization or confusion (so far)
    train_level_step, test_level_step   the steps train and test first reached 90% accuracy
                         (a decade down), from which the phase is decided
    first_<kind>_step    for every kind of the table (`kinds.KINDS`), the first event's step

None where a value does not exist (yet). Standard library only.
"""

from __future__ import annotations

from typing import Any, Iterable

from .phase import phase_of

FIELDS = ("memorization_step", "generalization_step", "grokking_delay", "phase",
          "train_level_step", "test_level_step")


def summary_fields() -> list[str]:
    """The keys `summarize` returns, in order (the kinds of the table included)."""
    from .kinds import KINDS

    return [*FIELDS, *(f"first_{k}_step" for k in KINDS)]


def summarize(rows: Iterable[dict[str, float]], run_info: dict | None = None,
              step_unit: str = "step") -> dict[str, Any]:
    """The summary of a run's rows (canonical column names), through its detectors."""
    from . import DetectorSet

    ds = DetectorSet(run_info, step_unit)
    for row in rows:
        ds.feed(row)
    return summary_of(ds)


def summary_of(ds: Any) -> dict[str, Any]:
    """The summary of what a DetectorSet has seen so far (a live run's, say)."""
    from .kinds import KINDS

    jump = ds.jump
    mem = jump.memorized_at if jump is not None else None
    t_tr = jump.clock.train_at if jump is not None else None
    t_te = jump.clock.test_at if jump is not None else None
    first: dict[str, float] = {}
    for ev in ds.events:
        first.setdefault(ev["kind"], ev["step"])
    gen = first.get("generalized")
    out: dict[str, Any] = {
        "memorization_step": mem,
        "generalization_step": gen,
        "grokking_delay": gen - mem if gen is not None and mem is not None else None,
        "phase": phase_of(t_tr, t_te),
        "train_level_step": t_tr,
        "test_level_step": t_te,
    }
    for k in KINDS:
        out[f"first_{k}_step"] = first.get(k)
    return out
