"""Executors: the one registry that config validation, the CLI and the runner read.

A backend is a module of this package that subclasses `base.Executor`; it is named here once,
by import path, and imported only when used (submitit's lazy registry: the registry imports no
backend, the backends import `base`, so there is no cycle). Adding an executor = one module +
one line below (+ its docs and tests); one from outside the package calls `register`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .base import Executor, JobKind, JobRecord, JobState


@dataclass(frozen=True)
class ExecutorEntry:
    name: str  # the value of [grokwatch] executor, and "executor" in executor.json
    target: str  # "module:Class", imported on first use
    job_kind: JobKind  # what its records describe: a local process or a cluster job
    doc: str  # one line, for error messages and docs


REGISTRY: dict[str, ExecutorEntry] = {e.name: e for e in (
    ExecutorEntry("local", "grokwatch.runner.executors.local:LocalExecutor", "process",
                  "worker processes on this machine"),
    ExecutorEntry("slurm", "grokwatch.runner.executors.slurm:SlurmExecutor", "cluster",
                  "Slurm batch jobs, watched from the login node (docs/slurm.md)"),
)}


def register(entry: ExecutorEntry) -> None:
    """Add a backend that lives outside this package (in the process that runs the queue)."""
    if entry.name in REGISTRY:
        raise ValueError(f"executor {entry.name!r} is already registered")
    REGISTRY[entry.name] = entry


def executor_names() -> list[str]:
    return list(REGISTRY)


def executor_class(name: str) -> type[Executor]:
    try:
        entry = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(REGISTRY)}") from None
    module, _, attr = entry.target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_executor(name: str, config: Any = None) -> Executor:
    return executor_class(name).from_config(config)


__all__ = ["REGISTRY", "Executor", "ExecutorEntry", "JobKind", "JobRecord", "JobState", "executor_class",
           "executor_names", "make_executor", "register"]
