"""Run an example script of examples/ the way a user would (`python examples/X.py`), outside
grokwatch, and find the run directory the client wrote for it."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_env


def needs(*modules: str):
    """Skip unless one of `modules` is installed (found without importing it: a framework
    import takes seconds)."""
    found = any(importlib.util.find_spec(m.split(".")[0]) is not None for m in modules)
    return pytest.mark.skipif(not found, reason=f"{' or '.join(modules)} is not installed")


def run_example(script: str | Path, cwd: Path, *args: str, timeout: float = 240,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path = script if isinstance(script, Path) else REPO / "examples" / script
    full = cli_env()
    for key in ("GROKWATCH_CLIENT_CHANNEL", "GROKWATCH_RUN_ID", "GROKWATCH_STDOUT_PREFIX"):
        full.pop(key, None)
    full.update({"KERAS_BACKEND": "torch", "TOKENIZERS_PARALLELISM": "false",
                 "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", **(env or {})})
    proc = subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def client_run_dir(cwd: Path) -> Path:
    (d,) = list((cwd / "grokwatch-logs").iterdir())
    return d


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_step(rows: list[dict[str, str]]) -> dict[int, dict[str, float]]:
    """Rows keyed by step, empty cells left out, values as floats."""
    out: dict[int, dict[str, float]] = {}
    for r in rows:
        out[int(float(r["step"]))] = {k: float(v) for k, v in r.items() if v not in ("", None)}
    return out



CORE = ("train_loss", "test_loss", "train_acc", "test_acc", "train_error", "test_error")


def assert_same_curves(ours: dict[int, dict[str, float]], theirs: list[dict[str, float]],
                       key: str = "step", names: tuple[str, ...] = CORE) -> int:
    """grokwatch reading the framework's own log (`grokwatch.readers`) shows the curves the
    integration wrote: the same core values at the same `key` (step, or epoch for Keras'
    CSVLogger, which has no step). Returns how many values were compared."""
    mine = {int(v[key]): v for v in ours.values() if key in v}
    compared = 0
    for row in theirs:
        at = mine[int(row["step"])]
        for name in names:
            if name in row:
                assert at[name] == pytest.approx(row[name], rel=1e-6, abs=1e-12), (row["step"], name)
                compared += 1
    return compared
