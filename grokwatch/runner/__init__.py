"""The runner: queue, scheduling over devices, supervision, hot reload, executors."""

from .core import Runner, RunnerBusy
from .launch import ensure_runner, runner_holder

__all__ = ["Runner", "RunnerBusy", "ensure_runner", "runner_holder"]
