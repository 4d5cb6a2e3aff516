"""The one table of alert kinds: every kind of event the detectors raise, with how each is
shown. The runner, `--headless`, the dashboard and `grokwatch detect` all read it; nothing
else lists the kinds (import `KINDS`, `kind_of` or `is_alert_kind`, never copy them).

A new rule adds its row here (or calls `register` from a module of its own), and the row
names the class that raises it (`rule`): the DetectorSet builds its rules from this table, in
its order (a rule that reads another one's public view comes after it). Standard library
only, no other import: the TUI and headless read it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlertKind:
    name: str
    severity: str  # "alarm", "hint" or "milestone" (the dashboard's and the docs' word for it)
    alert: bool  # its events carry "alert": true: toast, bell, the [alerts] command
    badge: str  # the run table's alerts column
    mark: str  # the mark before a `--headless` line
    rule: str  # "module:Class" of the rule that raises it (".jump:JumpRule": in grokwatch.detect)
    doc: str  # one line: what it means


KINDS: dict[str, AlertKind] = {k.name: k for k in (
    AlertKind("divergence", "alarm", True, "✗div", "!!", ".divergence:DivergenceAlert",
              "a NaN/inf loss, or a train loss that exploded"),
    AlertKind("generalization_jump", "alarm", True, "⚡grok", "!!", ".jump:JumpRule",
              "test error fell suddenly after the training set was memorised: grokking"),
    AlertKind("grokking_likely", "hint", True, "~grok?", "~", ".hint:HintRule",
              "an early hint that a jump may follow"),
    AlertKind("overfitting", "alarm", True, "↗over", "!", ".overfit:OverfitRule",
              "test error turned up and keeps rising while train error keeps falling"),
    AlertKind("stalled", "alarm", True, "⏸stall", "!", ".stall:StallRule",
              "memorised, test at chance, test loss still rising and a stall sign (softmax "
              "collapse, a growing weight norm): it will not generalise without a change"),
    AlertKind("generalized", "milestone", False, "✓gen", "++", ".milestone:GeneralizedRule",
              "test accuracy reached 95% (no accuracy: test loss 20x below its start); not an alert"),
)}


def register(kind: AlertKind) -> None:
    """Add a kind (and the rule that raises it, built after the built-in ones)."""
    if kind.name in KINDS:
        raise ValueError(f"alert kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind


def kind_of(name: object) -> AlertKind | None:
    """The row for `name`, or None for an event that is not a detector's (`done`, `failed`)."""
    return KINDS.get(name) if isinstance(name, str) else None


def is_alert_kind(name: object) -> bool:
    """Whether events of this kind are alerts (bell, toast, command); milestones are not."""
    k = kind_of(name)
    return k is not None and k.alert


__all__ = ["AlertKind", "KINDS", "kind_of", "is_alert_kind", "register"]
