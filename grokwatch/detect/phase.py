"""Grokking or comprehension: Liu et al.'s criterion, the one home of it.

Liu, Kitouni, Nolte, Michaud, Tegmark & Williams 2022, "Towards Understanding Grokking: An
Effective Theory of Representation Learning" (arXiv 2205.10343), name four phases. Their
phase-diagram code (ejmichaud/grokking-squared, phase_diagram_plot/simple_phase_diagram.ipynb
and toy/Figure5.ipynb) decides them from two numbers: the steps until train accuracy and
until validation accuracy first reach 90% (t_train, t_val):

    comprehension  both reached, t_val - t_train < 10^3 steps
    grokking       both reached, t_val - t_train > 10^3 steps
    memorization   train reached, validation not (within the budget)
    confusion      neither

(10^3 with their 10^5-step budget; the toy model's Figure 5 used 2 x 10^3 with a 10^4 budget.)
grokwatch uses 90% and 10^3 steps of the log's step column (epochs where the log counts
epochs: the same thing for full-batch training, as in their okitouni/simple-grokking code).
Logs without accuracy: the analogous level is a fall of one decade (train loss; test error or
loss) below where the curve started.
"""

from __future__ import annotations

from .signals import med3

LEVEL_ERROR = 0.1  # Liu et al.: 90% accuracy
LEVEL_DECADES = 1.0  # without accuracy: one decade below the start
DELAY = 1000.0  # t_val - t_train above this many steps: grokking


def phase_of(t_train: float | None, t_test: float | None) -> str:
    """Liu et al.'s phase from the steps to the 90% levels (None: not reached)."""
    if t_test is not None:
        if t_train is not None and t_test - t_train > DELAY:
            return "grokking"
        return "comprehension"
    return "memorization" if t_train is not None else "confusion"


class PhaseClock:
    """The steps at which train and test first reached Liu et al.'s level (raw first
    crossings): error <= 0.1 for a bounded curve, else one decade below its start (the
    median of its first 3 values). O(1) per row."""

    __slots__ = ("train_at", "test_at", "_tr_first", "_te_first", "_tr_start", "_te_start")

    def __init__(self) -> None:
        self.train_at: float | None = None
        self.test_at: float | None = None
        self._tr_first: list[float] = []
        self._te_first: list[float] = []
        self._tr_start: float | None = None
        self._te_start: float | None = None

    def update(self, step: float, test: float | None, test_bounded: bool, train: float | None,
               train_bounded: bool) -> None:
        if train is not None and self.train_at is None:
            if train_bounded:
                if train <= LEVEL_ERROR:
                    self.train_at = step
            else:
                if self._tr_start is None:
                    self._tr_start = _start(self._tr_first, train)
                start = self._tr_start if self._tr_start is not None else self._tr_first[0]
                if train <= start - LEVEL_DECADES:
                    self.train_at = step
        if test is not None and self.test_at is None:
            if test_bounded:
                if test <= LEVEL_ERROR:
                    self.test_at = step
            else:
                if self._te_start is None:
                    self._te_start = _start(self._te_first, test)
                start = self._te_start if self._te_start is not None else self._te_first[0]
                if test <= start - LEVEL_DECADES:
                    self.test_at = step

    def test_level(self, bounded: bool) -> float | None:
        """The test curve's value at Liu's level (None in log mode before a start is known)."""
        if bounded:
            return LEVEL_ERROR
        return None if self._te_start is None else self._te_start - LEVEL_DECADES

    @property
    def test_start(self) -> float | None:
        """Log mode: where the test curve started (median of its first 3 values)."""
        return self._te_start


def _start(first: list[float], v: float) -> float | None:
    """Collect the first values; their median once there are 3."""
    first.append(v)
    return med3(first[0], first[1], first[2]) if len(first) == 3 else None
