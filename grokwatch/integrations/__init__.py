"""One import each: frameworks' own logging hooks, writing through `grokwatch.client`.

    from grokwatch.integrations.lightning import GrokwatchLogger      # Trainer(logger=...)
    from grokwatch.integrations.transformers import GrokwatchCallback  # Trainer(callbacks=[...])
    from grokwatch.integrations.keras import GrokwatchCallback         # model.fit(callbacks=[...])
    from grokwatch.integrations.tensorboard import SummaryWriter       # in place of torch's

Each module imports its framework (only it: `import grokwatch` stays standard library only)
and hands records to the client's default run (or a `Run` you pass), so they are buffered,
merged by step and go where `log()` would send them: the worker under grokwatch, a run
directory of their own otherwise. Names pass through `grokwatch.columns` as the client's do;
this package only says what a framework's bare names mean (a Keras or HF `loss` is the
training loss).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .. import client
from ..columns import canonical_name

__all__ = ["need", "train_name", "record", "record_params", "flat_params", "note_once"]


def need(module: str, pip_name: str, integration: str) -> Any:
    """Import a framework, or fail with one line naming the pip package (an ImportError from
    inside an installed framework is left as it is: that one is the framework's)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise ModuleNotFoundError(f"grokwatch.integrations.{integration} needs {module}, which is "
                                  f"not installed: pip install {pip_name}", name=module) from None


def train_name(name: str) -> str:
    """A bare measure name (`loss`, `accuracy`, `acc`, `error`) from a training step is the
    training curve: `train_loss`, `train_acc`, …; any other name is left alone."""
    if canonical_name(name) is not None:
        return name
    mapped = canonical_name(f"train_{name}")
    return mapped if mapped is not None and mapped.startswith("train_") else name


def _run(run: Any) -> Any:
    return run if run is not None else client._get_default()


def record(step: int | None, metrics: dict[str, Any], run: Any = None) -> None:
    """Hand one record to the run (the client's default run unless given): what `log()`
    does, for names that are not Python identifiers. A `step` metric is dropped: the step is
    the framework's."""
    metrics.pop("step", None)
    if metrics:
        _run(run)._append(step, metrics)


def record_params(params: dict[str, Any], run: Any = None) -> bool:
    """Hyperparameters for a run directory of the client's own (config.json); True when they
    will be recorded. Under grokwatch the experiment's config says them; after the first
    `log()` the run directory is already written."""
    r = _run(run)
    if os.environ.get(client.ENV_CHANNEL) or r._sink is not None:
        return False
    r.params = {**(r.params or {}), **flat_params(params)}
    return True


def flat_params(params: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and namespaces as one level of `a.b` keys; values JSON can hold, others
    as text."""
    if not isinstance(params, dict):
        params = vars(params) if hasattr(params, "__dict__") else {"value": params}
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_params(v, f"{key}."))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            item = client.to_number(v)
            out[key] = item if isinstance(item, float) else str(v)
    return out


_noted: set[str] = set()


def note_once(what: str) -> None:
    """Say on stderr, once per process, that something a script called is not recorded."""
    if what not in _noted:
        _noted.add(what)
        print(f"grokwatch: {what}", file=sys.stderr, flush=True)
