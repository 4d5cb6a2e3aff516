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


class _Level:
    """When one curve first reached Liu et al.'s level (a raw first crossing)."""

    __slots__ = ("at", "first", "start")

    def __init__(self) -> None:
        self.at: float | None = None
        self.first: list[float] = []
        self.start: float | None = None  # log mode: the median of the first 3 values

    def see(self, step: float, v: float, bounded: bool) -> None:
        if bounded:
            reached = v <= LEVEL_ERROR
        else:
            if self.start is None:
                self.start = _start(self.first, v)
            start = self.start if self.start is not None else self.first[0]
            reached = v <= start - LEVEL_DECADES
        if reached:
            self.at = step


class PhaseClock:
    """The steps at which train and test first reached Liu et al.'s level (raw first
    crossings): error <= 0.1 for a bounded curve, else one decade below its start (the
    median of its first 3 values). O(1) per row."""

    __slots__ = ("train", "test")

    def __init__(self) -> None:
        self.train = _Level()
        self.test = _Level()

    def update(self, step: float, test: float | None, test_bounded: bool, train: float | None,
               train_bounded: bool) -> None:
        if train is not None and self.train.at is None:
            self.train.see(step, train, train_bounded)
        if test is not None and self.test.at is None:
            self.test.see(step, test, test_bounded)

    @property
    def train_at(self) -> float | None:
        return self.train.at

    @property
    def test_at(self) -> float | None:
        return self.test.at

    def test_level(self, bounded: bool) -> float | None:
        """The test curve's value at Liu's level (None in log mode before a start is known)."""
        if bounded:
            return LEVEL_ERROR
        return None if self.test.start is None else self.test.start - LEVEL_DECADES

    @property
    def test_start(self) -> float | None:
        """Log mode: where the test curve started (median of its first 3 values)."""
        return self.test.start


def _start(first: list[float], v: float) -> float | None:
    """Collect the first values; their median once there are 3."""
    first.append(v)
    return med3(first[0], first[1], first[2]) if len(first) == 3 else None
