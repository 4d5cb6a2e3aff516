"""`grokwatch.progress_stats(logits, labels=None)`: two progress measures from a batch of logits,
for a user's own training script, and the one home of their definitions (the `grokking` kind's
`experiments/progress.py` calls it with its evaluation's logits):

    from grokwatch import log, progress_stats
    log(step=step, train_loss=loss.item(), **progress_stats(logits, labels))

softmax_collapse   the share of samples whose fp32 softmax has collapsed: their cross-entropy,
                   computed in fp32, is exactly 0 (Prieto et al. 2025, "Grokking at the edge of
                   numerical stability") — the other classes' softmax mass fell below about
                   2^-24, half an fp32 ulp of 1. Without labels, each sample's top logit stands
                   for its label (collapsed whatever the prediction).
logit_scale        the RMS of the logits about each sample's mean logit: the scale of the
                   softmax's input (under cross-entropy it grows as a run memorises).

Any array the caller has, computed by its own library in fp32 (the softmax's precision): a
torch tensor with torch's own cross-entropy (the torch the caller already imported: this
module never imports it), a numpy array or nested lists with numpy (pure Python where numpy
cannot be imported). Near the edge (the other mass within rounding of 2^-24) libraries sum in
different orders, so the same logits as a tensor and as an array can differ by a few such
samples (tests/test_logit_stats.py measures it). Standard library at import.
"""

from __future__ import annotations

import math
import struct
import sys
from typing import Any


def progress_stats(logits: Any, labels: Any = None) -> dict[str, float]:
    """{"softmax_collapse": share of collapsed samples, "logit_scale": RMS about each sample's
    mean} of a (batch, classes) batch of logits; `labels`: (batch,) class indices, optional."""
    if hasattr(logits, "detach") and "torch" in sys.modules:
        return _torch(sys.modules["torch"], logits, labels)
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    try:
        import numpy as np
    except ImportError:
        return _pure(logits, labels)
    return _numpy(np, logits, labels)


def _shape_error(shape: Any) -> ValueError:
    return ValueError(f"progress_stats: logits must be a (batch, classes) array with at least one "
                      f"sample and two classes; got shape {shape}")


def _count_error(labels: int, n: int) -> ValueError:
    return ValueError(f"progress_stats: {labels} labels for {n} samples")


def _torch(torch, z: Any, y: Any) -> dict[str, float]:
    """The grokking kind's path: torch's own fp32 cross-entropy, on the tensor's device."""
    with torch.no_grad():
        z = z.detach().float()
        if z.dim() != 2 or z.shape[0] < 1 or z.shape[1] < 2:
            raise _shape_error(tuple(z.shape))
        y = z.argmax(-1) if y is None else torch.as_tensor(y, device=z.device).reshape(-1).long()
        if len(y) != len(z):
            raise _count_error(len(y), len(z))
        loss = torch.nn.functional.cross_entropy(z, y, reduction="none")
        centred = z - z.mean(-1, keepdim=True)
        return {"softmax_collapse": float((loss == 0).float().mean()),
                "logit_scale": float(centred.square().mean().sqrt())}


def _numpy(np, z: Any, y: Any) -> dict[str, float]:
    """fp32 log-softmax as torch computes it: (z - max) - log(sum(exp(z - max)))."""
    try:
        z = np.asarray(z, dtype=np.float32)
    except (TypeError, ValueError):
        raise _shape_error("ragged, or not numbers") from None
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise _shape_error(tuple(z.shape))
    rows = np.arange(len(z))
    y = z.argmax(1) if y is None else np.asarray(y).reshape(-1).astype(np.int64)
    if len(y) != len(z):
        raise _count_error(len(y), len(z))
    shifted = z - z.max(1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        lse = np.log(np.exp(shifted).sum(1, dtype=np.float32))
        loss = lse - shifted[rows, y]
    centred = z - z.mean(1, keepdims=True, dtype=np.float32)
    return {"softmax_collapse": float((loss == 0).mean()),
            "logit_scale": float(np.sqrt(np.mean(np.square(centred), dtype=np.float32)))}


def _f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def _pure(z: Any, y: Any) -> dict[str, float]:
    """The numpy path's fp32 arithmetic in pure Python (no numpy): every step rounded to fp32."""
    try:
        rows = [[_f32(float(v)) for v in row] for row in z]
    except (TypeError, ValueError, OverflowError):
        raise _shape_error("not a list of rows of numbers") from None
    if not rows or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows):
        raise _shape_error(f"({len(rows)}, {sorted({len(r) for r in rows})})")
    y = [max(range(len(r)), key=r.__getitem__) for r in rows] if y is None else [int(v) for v in y]
    if len(y) != len(rows):
        raise _count_error(len(y), len(rows))
    collapsed, sq = 0, 0.0
    for row, label in zip(rows, y):
        top = max(row)
        total = 0.0
        for v in row:
            total = _f32(total + _f32(math.exp(_f32(v - top))))
        if _f32(math.log(total)) - _f32(row[label] - top) == 0:
            collapsed += 1
        mean = _f32(math.fsum(row) / len(row))
        sq += math.fsum(_f32(v - mean) ** 2 for v in row)
    return {"softmax_collapse": collapsed / len(rows), "logit_scale": math.sqrt(sq / (len(rows) * len(rows[0])))}
