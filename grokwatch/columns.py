"""One mapping from the metric column names people use to grokwatch's canonical names.

Every reader (the runner's tail, `grokwatch detect`, `grokwatch view`, a `command` run's
`metrics_file`) maps columns through `canonical_columns`, so `val_acc`, `epoch` or
`valid/loss` mean the same thing everywhere.
"""

from __future__ import annotations

import re

BASE_COLUMNS = ("step", "time_s", "train_loss", "test_loss", "train_error", "test_error")
ACCURACY_COLUMNS = ("train_acc", "test_acc")
CORE_METRICS = BASE_COLUMNS[2:] + ACCURACY_COLUMNS

_SPLIT_NAME = "test"  # what val/valid/validation/eval/dev map to
_SPLITS = {
    "train": "train", "training": "train", "tr": "train",
    "test": "test", "val": _SPLIT_NAME, "valid": _SPLIT_NAME, "validation": _SPLIT_NAME,
    "eval": _SPLIT_NAME, "dev": _SPLIT_NAME, "te": "test",
}
_MEASURES = {
    "loss": "loss", "nll": "loss", "ce": "loss", "mse": "loss", "xent": "loss",
    "acc": "acc", "accuracy": "acc", "top1": "acc", "top1_acc": "acc",
    "err": "error", "error": "error", "error_rate": "error", "err_rate": "error",
}
_STEP_NAMES = ("step", "steps", "global_step", "iteration", "iter", "it", "update", "updates")
_EPOCH_NAMES = ("epoch", "epochs")
_TIME_NAMES = ("time_s", "time", "wall_time", "elapsed", "elapsed_s", "seconds")


def _normalise(name: str) -> str:
    name = name.strip().lower()
    name = re.sub(r"[\s/.\-:]+", "_", name)
    return name.strip("_")


def canonical_name(name: str) -> str | None:
    """The canonical name for one metric column (`val_acc` -> `test_acc`), or None if it is
    not one of the core metrics. Step and epoch are handled by `canonical_columns`."""
    n = _normalise(name)
    if n in CORE_METRICS:
        return n
    parts = n.split("_")
    for i in range(1, len(parts)):
        split, measure = "_".join(parts[:i]), "_".join(parts[i:])
        if split in _SPLITS and measure in _MEASURES:
            return f"{_SPLITS[split]}_{_MEASURES[measure]}"
        # "loss_train", "acc_val"
        measure2, split2 = "_".join(parts[:i]), "_".join(parts[i:])
        if split2 in _SPLITS and measure2 in _MEASURES:
            return f"{_SPLITS[split2]}_{_MEASURES[measure2]}"
    if n in _MEASURES and _MEASURES[n] == "loss":
        return None  # a bare "loss" is ambiguous; kept under its own name
    return None


def canonical_columns(header: list[str], overrides: dict[str, str] | None = None) -> list[str]:
    """Map a CSV header to canonical names, keeping unknown columns under their own
    (normalised) name. `overrides` maps a source column to a target name and wins.

    The step column is the first of step-like names; where there is none, an epoch column
    becomes `step`. A bare `loss`, `acc`/`accuracy` or `error` next to a test/val column is the
    train curve (Keras' CSVLogger writes `epoch,accuracy,loss,val_accuracy,val_loss`). A name that would appear twice keeps its original spelling the second time.
    """
    overrides = overrides or {}
    normal = [_normalise(h) for h in header]
    out: list[str] = []
    step_src = next((i for i, n in enumerate(normal) if n in _STEP_NAMES), None)
    if step_src is None:
        step_src = next((i for i, n in enumerate(normal) if n in _EPOCH_NAMES), None)
    time_src = next((i for i, n in enumerate(normal) if n in _TIME_NAMES), None)
    taken: set[str] = set()
    mapped = [canonical_name(h) for h in header]
    # Keras-style logs: a bare `loss`/`accuracy` beside `val_loss`/`val_accuracy` is the train
    # curve (only where some test/val column exists and the train one is not named already).
    has_test = any(m is not None and m.startswith("test_") for m in mapped)
    for i, n in enumerate(normal):
        if mapped[i] is None and has_test and n in _MEASURES:
            name = f"train_{_MEASURES[n]}"
            if name not in mapped:
                mapped[i] = name
    for i, (raw, n) in enumerate(zip(header, normal)):
        if raw in overrides:
            name = overrides[raw]
        elif i == step_src:
            name = "step"
        elif i == time_src:
            name = "time_s"
        else:
            name = mapped[i] or n or f"col{i}"
        if name in taken:
            name = n if n not in taken else f"{n}_{i}"
        taken.add(name)
        out.append(name)
    return out


def complete_row(row: dict[str, float]) -> dict[str, float]:
    """Fill error from accuracy (error = 1 - acc) and the other way round, where one is missing."""
    for split in ("train", "test"):
        acc, err = f"{split}_acc", f"{split}_error"
        if acc in row and err not in row:
            row[err] = 1.0 - row[acc]
        elif err in row and acc not in row and row.get("_classification"):
            row[acc] = 1.0 - row[err]
    return row


def has_usable_metrics(columns: list[str]) -> bool:
    """True when a log has a step column and at least one train or test curve."""
    return "step" in columns and any(c in columns for c in CORE_METRICS)
