"""Experiment kinds. Each kind is a module here with a `SPEC` (a `KindSpec`) and `run(ctx)`.

Importing a kind's module must stay cheap — config validation and the TUI read `SPEC` — so
torch is imported only inside the code that trains.

Adding a kind = its module + one line in KIND_MODULES (docs/architecture.md). A kind that lives
outside this package is added with `register_kind(name, "pkg.module")` in the process that runs
the queue (your own script calling `run_headless`, say); the runner hands it on to its workers
in their environment (`worker_env`), since each worker is a fresh process.
"""

from __future__ import annotations

import importlib
import json
import os

from .spec import KindSpec, Param, ParamError

KIND_MODULES = {
    "grokking": "grokwatch.experiments.grokking",
    "overfitting": "grokwatch.experiments.overfitting",
    "double_descent": "grokwatch.experiments.double_descent",
    "command": "grokwatch.experiments.command",
}
BUILT_IN = tuple(KIND_MODULES)
ENV_KINDS = "GROKWATCH_KIND_MODULES"  # runner -> worker: {name: module} of the registered kinds


def kind_names() -> list[str]:
    return list(KIND_MODULES)


def register_kind(name: str, module: str) -> None:
    """Add a kind whose module (a dotted import path, with `SPEC` and `run(ctx)`) is outside
    this package. A built-in name cannot be taken over."""
    if KIND_MODULES.get(name, module) != module:
        raise ValueError(f"kind {name!r} is already {KIND_MODULES[name]}")
    KIND_MODULES[name] = module


def worker_env() -> dict[str, str]:
    """What the runner adds to a worker's environment so the worker knows the kinds registered
    in the runner's process (nothing when there are none)."""
    extra = {k: m for k, m in KIND_MODULES.items() if k not in BUILT_IN}
    return {ENV_KINDS: json.dumps(extra, sort_keys=True)} if extra else {}


def _module(kind: str) -> str:
    module = KIND_MODULES.get(kind)
    if module is None:  # in a worker: a kind registered in its runner's process
        try:
            extra = json.loads(os.environ.get(ENV_KINDS) or "{}")
        except ValueError:
            extra = {}
        module = extra.get(kind) if isinstance(extra, dict) else None
        if not isinstance(module, str):
            raise KeyError(kind)
    return module


def get_spec(kind: str) -> KindSpec:
    """The spec of a kind; KeyError for an unknown kind."""
    return importlib.import_module(_module(kind)).SPEC


def load_runner(kind: str):
    """The kind's `run(ctx)` function (imports its training code; workers only)."""
    return importlib.import_module(_module(kind)).run


__all__ = ["KindSpec", "Param", "ParamError", "KIND_MODULES", "BUILT_IN", "get_spec", "kind_names",
           "load_runner", "register_kind", "worker_env"]
