"""What a detector rule is: one class, built once per run from a `RunContext`, fed one
`Reading` per row through `update`, returning the events of that row (usually none).

    class MyRule:
        needs_curves = True            # built once the log's curves are known (see Signals)
        def __init__(self, ctx: RunContext): ...
        def update(self, r: Reading) -> Sequence[dict]: ...   # NO_EVENTS when nothing happened

A rule that needs what another rule knows (JumpRule's memorisation step, say) asks
`ctx.peer(JumpRule)` in its `__init__` and reads only that rule's documented public view.
Register the rule by adding its kind to `kinds.KINDS`.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

NO_EVENTS: tuple = ()  # what `update` returns on the (usual) quiet row: no list per row


class Reading:
    """One row as the rules see it: the step, the raw canonical row, and the curves judged
    (test: the test error in [0, 1], or log10 of the test error/loss; train: the train
    error, or log10 train loss, with `train_bounded` saying which). The curves are None
    until the log's kind of curves is decided, or where the row has no such value."""

    __slots__ = ("step", "row", "test", "train", "train_bounded")

    def __init__(self, step: float, row: dict, test: float | None = None,
                 train: float | None = None, train_bounded: bool = False) -> None:
        self.step = step
        self.row = row
        self.test = test
        self.train = train
        self.train_bounded = train_bounded


class RunContext:
    """What a rule may know about its run when it is built."""

    def __init__(self, *, kind: str | None, n_test: int | None, weight_decay: float | None,
                 unit: str, bounded: bool | None = None, what: str = "loss",
                 run_info: dict | None = None) -> None:
        self.kind = kind  # the experiment kind (None for a foreign log)
        self.n_test = n_test  # test-set size, for binomial noise (None: unknown)
        self.weight_decay = weight_decay  # from the config (None: unknown)
        self.unit = unit  # "step" or "epoch": the wording of the messages
        self.bounded = bounded  # accuracy/error curves (True) or losses in log space (False)
        self.what = what  # log mode: "error" (MSE) or "loss", for the messages
        self.run_info = run_info or {}
        self._built: dict[type, Any] = {}

    def peer(self, cls: type) -> Any:
        """The instance of rule `cls` built for this run (it must come earlier in the table)."""
        try:
            return self._built[cls]
        except KeyError:
            raise LookupError(f"{cls.__name__} is not built before the rule that needs it; "
                              f"order grokwatch/detect/kinds.py accordingly") from None

    def _register(self, rule: Any) -> None:
        self._built[type(rule)] = rule


class Rule(Protocol):
    needs_curves: bool

    def update(self, r: Reading) -> Sequence[dict]: ...


__all__ = ["NO_EVENTS", "Reading", "RunContext", "Rule"]
