"""Progress measures of the `grokking` kind, logged at evaluation steps beside the losses
(one call: `progress.measures(trainer)`; the parameter `progress_measures = false` turns
them off). Extra columns, so the charts, export and `grokwatch detect` see them.

softmax_collapse   share of training samples whose fp32 softmax has collapsed: their
                   cross-entropy is exactly 0 (Prieto et al. 2025, "Grokking at the edge of
                   numerical stability"). The `stalled` alarm reads it.
logit_scale        RMS of the training logits about each sample's mean logit: the scale of
                   the softmax's input (under cross-entropy it grows as a run memorises).
                   (These two are defined once, in grokwatch/logit_stats.py: users' scripts
                   log them with `grokwatch.progress_stats(logits, labels)`.)
fourier_sparsity   share of the embedding's non-constant Fourier power (a DFT over the p
                   input values, summed over the embedding dimensions) in its 5 strongest
                   frequencies; a random embedding has about 5 / ((p - 1) / 2) (0.10 for
                   p = 97). Nanda et al. 2023: it concentrates on a few key frequencies as the
                   circuit forms.
restricted_loss    test-set loss of the logits restricted to those key frequencies: per output,
                   the mean over all p^2 inputs plus the components along cos(w_k s),
                   sin(w_k s), s = x + y (x - y), w_k = 2 pi k / p (Nanda et al. 2023); it falls
                   as the Fourier circuit forms, before the test loss does.
excluded_loss      training-set loss of the logits with those components removed; it rises
                   while the generalising circuit replaces memorisation.

The three Fourier measures hold where the circuit is Fourier-based in the inputs' own
indices: x+y and x-y. For x*y and x/y the circuit is Fourier-based only after re-indexing by
the discrete logarithm, and for the polynomial operations it is not known to be; for those
operations the three columns are not logged (nothing misleading).
"""

from __future__ import annotations

import math
from typing import Any

from ..logit_stats import progress_stats

FOURIER_OPS = {"x+y": 1, "x-y": -1}  # s = x + sign * y
TOP_K = 5


def embedding(trainer: Any):
    """The (p, d) matrix that maps each input value to the model (both operands' tables side
    by side for the MLP without an embedding)."""
    import torch

    model, p = trainer.model, trainer.params["modulus"]
    if trainer.params["model"] == "mlp":
        if model.embed_dim == 0:
            return torch.cat([model.w_x, model.w_y], dim=1)
        return model.embed
    return model.token_embeddings.weight[:p]


def columns(params: dict[str, Any]) -> list[str]:
    """The columns the measures add for these parameters (none when they are off)."""
    if not params.get("progress_measures", True):
        return []
    return list(COLUMNS if params["operation"] in FOURIER_OPS else COLUMNS[:2])


def evaluator(trainer: Any):
    """`trainer.evaluate` plus, when `progress_measures` is on, the measures from the same
    logits (no second forward pass)."""
    if not trainer.params.get("progress_measures", True):
        return trainer.evaluate
    trainer.keep_logits = True

    def evaluate() -> dict[str, float]:
        row = trainer.evaluate()
        row.update(measures(trainer, trainer.last_logits))
        trainer.last_logits = None
        return row

    return evaluate


def _logits(trainer: Any, xs, chunk: int = 8192):
    import torch

    return torch.cat([trainer.model(xs[i:i + chunk]).float() for i in range(0, len(xs), chunk)])


def measures(trainer: Any, logits: tuple[Any, Any] | None = None) -> dict[str, float]:
    """The progress measures now (floats); Fourier ones only for x+y and x-y. `logits`: the
    (train, test) logits of this evaluation, if already computed."""
    import torch
    import torch.nn.functional as F

    params = trainer.params
    out: dict[str, float] = {}
    with torch.inference_mode():
        tr = logits[0] if logits is not None else _logits(trainer, trainer.train_x)
        out.update(progress_stats(tr, trainer.train_y))  # softmax_collapse, logit_scale
        sign = FOURIER_OPS.get(params["operation"])
        if sign is None:
            return out
        p = params["modulus"]
        power = torch.fft.rfft(embedding(trainer).detach().float(), dim=0).abs().square().sum(1)[1:]
        total = float(power.sum())
        k = min(TOP_K, len(power))
        top = torch.topk(power, k)
        out["fourier_sparsity"] = float(top.values.sum()) / total if total > 0 else 0.0
        freqs = top.indices + 1
        te = logits[1] if logits is not None else _logits(trainer, trainer.test_x)
        xy_tr, xy_te = _operands(trainer, trainer.train_x), _operands(trainer, trainer.test_x)
        s = torch.cat([(xy_tr[:, 0] + sign * xy_tr[:, 1]) % p, (xy_te[:, 0] + sign * xy_te[:, 1]) % p])
        logits = torch.cat([tr, te])  # every (x, y) pair once: the full grid for x+y and x-y
        angle = (2 * math.pi / p) * s.float().unsqueeze(1) * freqs.float().unsqueeze(0)  # (N, k)
        basis = torch.cat([angle.cos(), angle.sin()], dim=1)  # (N, 2k), orthogonal on the grid
        coef = basis.T @ logits / basis.square().sum(0).unsqueeze(1)  # (2k, classes)
        key = basis @ coef
        n_tr = len(tr)
        restricted = logits.mean(0, keepdim=True) + key
        out["restricted_loss"] = float(F.cross_entropy(restricted[n_tr:], trainer.test_y))
        out["excluded_loss"] = float(F.cross_entropy((logits - key)[:n_tr], trainer.train_y))
    return out


def _operands(trainer: Any, xs):
    """(x, y) of each input: the pairs (mlp) or tokens 0 and 2 of `x op y =`."""
    if trainer.params["model"] == "mlp":
        return xs
    return xs[:, [0, 2]]


COLUMNS = ("softmax_collapse", "logit_scale", "fourier_sparsity", "restricted_loss", "excluded_loss")
