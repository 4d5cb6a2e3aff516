"""Experiment kinds. Each kind is a module here with a `SPEC` (a `KindSpec`) and `run(ctx)`.

Importing a kind's module must stay cheap — config validation and the TUI read `SPEC` — so
torch is imported only inside the code that trains.
"""

from __future__ import annotations

import importlib

from .spec import KindSpec, Param, ParamError

KIND_MODULES = {
    "grokking": "grokwatch.experiments.grokking",
    "overfitting": "grokwatch.experiments.overfitting",
    "double_descent": "grokwatch.experiments.double_descent",
    "command": "grokwatch.experiments.command",
}


def kind_names() -> list[str]:
    return list(KIND_MODULES)


def get_spec(kind: str) -> KindSpec:
    """The spec of a kind; KeyError for an unknown kind."""
    module = importlib.import_module(KIND_MODULES[kind])
    return module.SPEC


def load_runner(kind: str):
    """The kind's `run(ctx)` function (imports its training code; workers only)."""
    module = importlib.import_module(KIND_MODULES[kind])
    return module.run


__all__ = ["KindSpec", "Param", "ParamError", "KIND_MODULES", "get_spec", "kind_names", "load_runner"]
