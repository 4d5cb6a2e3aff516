"""How much GPU memory a worker process is planned to take, and the peaks workers measured:
standard library only (the runner never imports torch).

A process's figure is `CUDA_CONTEXT_MB` (once per process: a pack shares one context) plus, per
run in it, that run's own tensors: the largest peak recorded for its kind and shape when there
is one, else the kind's estimate (`KindSpec.gpu_memory_mb`, from the resolved params). A kind
without an estimate is planned at `DEFAULT_PROCESS_MB` per process. The runner plans the
processes per GPU with the largest figure among the queued launch groups that go to a GPU
(`devices.plan`), records each launch's figure in its executor.json, and files the peaks the
workers report in their status.json (`gpu_peak_reserved_mb`, CUDA only) in
`.grokwatch/gpu_peaks.json`, of which the runner is the one writer.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..runs import read_json

log = logging.getLogger("grokwatch.runner")

# An estimate, not measured here (no GPU on the machine that wrote this): the CUDA context of a
# torch process (driver state, the kernels it loads lazily: cuBLAS and torch's own) plus the
# caching allocator's rounding of small tensors into 2 MB blocks. nvidia-smi shows a few hundred
# MB for a bare torch CUDA process; 768 MB leaves room for the kernels a training step loads.
CUDA_CONTEXT_MB = 768
# A process whose kind has no estimate (a `command` run, a kind registered without the hook):
# the planner's flat default, context included.
DEFAULT_PROCESS_MB = 1024

PEAK_FIELD = "gpu_peak_reserved_mb"  # what a worker writes in status.json (CUDA only)
ALLOCATED_FIELD = "gpu_peak_allocated_mb"


@dataclass(frozen=True)
class Estimate:
    """A launch's planned GPU memory: `mb` in all, and how it was made."""

    mb: float
    basis: str  # "estimate", "recorded peak", "estimate and recorded peaks", "default"
    runs: int = 1

    def record(self) -> dict[str, Any]:
        """The fields a launch's executor.json carries."""
        return {"gpu_memory_mb": math.ceil(self.mb), "gpu_memory_basis": self.basis}


def _spec(kind: str | None):
    from ..experiments import get_spec

    try:
        return get_spec(str(kind))
    except (KeyError, ImportError):
        return None


def shape_key(kind: str | None, params: dict[str, Any], packed: bool) -> str | None:
    """The key a run's recorded peak is filed under: its kind, whether it ran in a pack (a pack
    shares its data and evaluates in smaller chunks, so its per-run share is not a single run's),
    and the params its kind says decide its memory. None for a kind that names none."""
    spec = _spec(kind)
    if spec is None or not spec.gpu_memory_shape:
        return None
    shape = {k: params.get(k) for k in spec.gpu_memory_shape}
    return f"{kind}|{'pack' if packed else 'single'}|{json.dumps(shape, sort_keys=True)}"


class PeakBook:
    """`.grokwatch/gpu_peaks.json`: per kind and shape, the largest per-run GPU memory a worker
    measured (MB; the caching allocator's reserved peak, for a pack divided by its runs)."""

    def __init__(self, path: Path, write: Callable[[Path, Any], None] | None = None):
        self.path = Path(path)
        self._write = write
        data = read_json(self.path, {}) or {}
        peaks = data.get("peaks") if isinstance(data, dict) else None
        self.peaks: dict[str, dict[str, Any]] = {
            k: v for k, v in (peaks or {}).items()
            if isinstance(v, dict) and isinstance(v.get("reserved_mb"), (int, float))}

    def largest(self, key: str | None) -> float | None:
        entry = self.peaks.get(key) if key else None
        return float(entry["reserved_mb"]) if entry else None

    def note(self, info: dict[str, Any], status: dict[str, Any]) -> bool:
        """File the peak a run's status.json reports (if any); True when the book changed (and
        was written)."""
        peak = status.get(PEAK_FIELD)
        if not isinstance(peak, (int, float)) or isinstance(peak, bool) or peak <= 0:
            return False
        size = status.get("pack_size")
        packed = bool(status.get("pack")) and isinstance(size, int) and size > 1
        key = shape_key(info.get("kind"), info.get("params") or {}, packed)
        if key is None:
            return False
        share = float(peak) / (size if packed else 1)
        old = self.peaks.get(key)
        if old is not None and old["reserved_mb"] >= share:
            return False
        allocated = status.get(ALLOCATED_FIELD)
        self.peaks[key] = {"reserved_mb": round(share, 1),
                           "allocated_mb": (round(float(allocated) / (size if packed else 1), 1)
                                            if isinstance(allocated, (int, float)) else None),
                           "run_id": info.get("run_id"), "pack_size": size if packed else 1,
                           "recorded": time.time()}
        if self._write is not None:
            self._write(self.path, {"peaks": self.peaks})
        return True


def run_share(kind: str | None, params: dict[str, Any], packed: bool,
              book: PeakBook | None) -> tuple[float, str] | None:
    """MB of one run's own tensors and where the figure comes from; None when its kind has no
    estimate and nothing is recorded."""
    recorded = book.largest(shape_key(kind, params, packed)) if book is not None else None
    if recorded is not None:
        return recorded, "recorded peak"
    spec = _spec(kind)
    if spec is None or spec.gpu_memory_mb is None:
        return None
    try:
        return float(spec.gpu_memory_mb(params)), "estimate"
    except Exception as exc:  # noqa: BLE001 — a bad estimate falls back to the default
        log.warning("gpu_memory_mb(%s) failed: %s", kind, exc)
        return None


def process_estimate(infos: Iterable[dict[str, Any]], book: PeakBook | None = None) -> Estimate:
    """The planned GPU memory of one worker process training these runs (config.json infos):
    one context, plus each run's share; the default when any run's kind has no estimate."""
    infos = list(infos)
    packed = len(infos) > 1
    shares = [run_share(i.get("kind"), i.get("params") or {}, packed, book) for i in infos]
    if not infos or any(s is None for s in shares):
        return Estimate(float(DEFAULT_PROCESS_MB), "default", len(infos))
    bases = {b for _, b in shares}  # type: ignore[misc]
    basis = bases.pop() if len(bases) == 1 else "estimate and recorded peaks"
    return Estimate(CUDA_CONTEXT_MB + sum(mb for mb, _ in shares), basis, len(infos))  # type: ignore[misc]


def largest(groups: Iterable[list[dict[str, Any]]], book: PeakBook | None = None) -> Estimate | None:
    """The largest process estimate among these launch groups (None when there are none)."""
    estimates = [process_estimate(g, book) for g in groups if g]
    return max(estimates, key=lambda e: e.mb) if estimates else None
