"""The runner: queue, scheduling over devices, supervision, hot reload, executors.

The names below load lazily, so that `grokwatch.runner.lock` or `.executors` (read by config
validation and the TUI) do not pull in the scheduler and, through it, the config module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Runner", "RunnerBusy", "ensure_runner", "runner_holder"]


def __getattr__(name: str) -> Any:
    if name in ("Runner", "RunnerBusy"):
        from . import core

        return getattr(core, name)
    if name in ("ensure_runner", "runner_holder"):
        from . import launch

        return getattr(launch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
