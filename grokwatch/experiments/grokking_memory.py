"""How much GPU memory one `grokking` run's own tensors need, from its resolved params alone:
arithmetic, no torch (the runner plans GPU slots with it and never imports torch).

It is an *estimate*, written down term by term so it can be checked: the parameter count is
exact (tests/experiments/test_gpu_memory.py compares it with the real models' `numel()`); the
activation terms count the tensors one training step and one evaluation keep alive, times the
documented factors below, and a test checks the total against the peak of tensor bytes the CPU
allocator sees for a real `grokking.Trainer` step and evaluation (it must not be below it). The
CUDA context and the caching allocator's rounding are not in here: the runner adds them once per
process (`runner/gpumem.py`). On a GPU the worker records its measured peak, which a later plan
prefers.

    state        = parameters x 4 bytes x (weights, grads, Adam's two moments, one optimizer
                   temporary [+ the Grokfast EMA])
    data         = every pair's inputs and label on the device (int64), the minibatch order
    train step   = one batch's activations (forward kept for backward, plus backward's grads)
    evaluation   = one 8192-row evaluation chunk, plus (progress measures on) the kept logits of
                   every pair and the Fourier measures' few copies of them
    total        = state + data + max(train step, evaluation)
"""

from __future__ import annotations

from typing import Any

F32 = 4  # bytes per float32
I64 = 8  # bytes per int64 index
MB = 1 << 20
EVAL_CHUNK = 8192  # grokking.Trainer.evaluate's chunk (rows per forward)
SEQ = 4  # transformer tokens per example: `x op y =`
POSITIONS = 5  # GrokTransformer's position table (seq_len)
# Copies of the parameters alive during a step: weights, grads, Adam's exp_avg and exp_avg_sq,
# one temporary of the optimizer's (foreach Adam's sqrt / update).
STATE_COPIES = 5
# MLP, per row of a batch: the forward keeps the hidden pre-activation and its square (2 x width)
# and the log-softmax (modulus); the backward adds their gradients, and the lookup's two
# gathered rows are alive together in the forward: 4 x width + 3 x modulus floats per row.
MLP_WIDTH_FACTOR, MLP_CLASS_FACTOR = 4, 3
# Transformer, per token per layer (kept for the backward, with the backward's gradients): q/k/v,
# the attention output and projection, two residual + LayerNorm outputs, the MLP's hidden, GELU and
# output. GrokTransformer computes the last block at the last position only and the `x op` prefix
# once per x, so the CPU measure (below) is ~9.7 x d_model per token-layer; 10 is used.
TRANSFORMER_FACTOR = 10
# `models.attend` broadcasts (q * k and p * v: seq x seq x d_model floats per row each), transient.
ATTENTION_PRODUCTS = 2
ATTENTION_MAPS = 3  # per head, per query/key pair: the scores, the masked scores, the softmax
LOGIT_COPIES = 3  # logits, log-softmax, their gradient (per row x vocabulary)
PROGRESS_LOGIT_COPIES = 6  # progress measures: kept logits, their concatenation, key, restricted,
# logits - key, a cross-entropy temporary (every pair x classes), after the evaluation chunks
# Calibration (tests/experiments/test_gpu_memory.py measures it again): the CPU allocator's peak of
# tensor bytes over a Trainer's init, two steps and one evaluation (torch.profiler, profile_memory)
# against this estimate, 2026-12-01, MB measured / estimated: the default MLP (preset `cpu`)
# 20.6 / 25.8; `cpu-transformer` (batch 512) 91.6 / 125.8; it with full batch 169.9 / 296.3, and
# with 4 layers 364.2 / 494.5 (see docs/gpu.md).


def n_pairs(params: dict[str, Any]) -> int:
    m = int(params["modulus"])
    return m * (m - 1) if params.get("operation") == "x/y" else m * m


def n_train(params: dict[str, Any]) -> int:
    return int(round(float(params["train_fraction"]) * n_pairs(params)))


def batch_rows(params: dict[str, Any]) -> int:
    n = n_train(params)
    bs = int(params.get("batch_size", 0))
    return n if bs <= 0 or bs >= n else bs


def parameter_count(params: dict[str, Any]) -> int:
    """Exactly `sum(q.numel() for q in grokking.build_model(params).parameters())`."""
    p = int(params["modulus"])
    if params.get("model", "mlp") == "mlp":
        w, e = int(params["width"]), int(params.get("embed_dim", 0))
        if e == 0:
            return 3 * p * w  # w_x, w_y (p x w each), w_out (w x p)
        return p * e + 2 * e * w + w * p  # embed, w_in (no bias), w_out (no bias)
    d, layers, vocab = int(params["d_model"]), int(params["n_layers"]), p + 2
    block = (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d) + 2 * d
    return vocab * d + POSITIONS * d + layers * block + 2 * d + (d * vocab + vocab)


def terms(params: dict[str, Any]) -> dict[str, int]:
    """Bytes of each term for one run (see the module docstring)."""
    p = int(params["modulus"])
    pairs, rows = n_pairs(params), batch_rows(params)
    copies = STATE_COPIES + (1 if params.get("grokfast") else 0)
    state = parameter_count(params) * F32 * copies
    mlp = params.get("model", "mlp") == "mlp"
    cols = 2 if mlp else SEQ
    data = pairs * (cols + 1) * I64 + (n_train(params) * I64 if rows < n_train(params) else 0)
    n_tr = n_train(params)
    chunk = min(EVAL_CHUNK, max(n_tr, pairs - n_tr))  # rows per evaluation forward
    if mlp:
        w, e = int(params["width"]), int(params.get("embed_dim", 0))
        per_row = MLP_WIDTH_FACTOR * w + MLP_CLASS_FACTOR * p + (6 * e if e else 0)
        train, evaluate = rows * per_row * F32, chunk * (3 * w + 2 * p + (3 * e if e else 0)) * F32
        classes = p
    else:
        d, heads, layers, vocab = (int(params["d_model"]), int(params["n_heads"]),
                                   int(params["n_layers"]), p + 2)
        attention = ATTENTION_PRODUCTS * SEQ * SEQ * d + layers * heads * SEQ * SEQ * ATTENTION_MAPS
        per_row = SEQ * d * layers * TRANSFORMER_FACTOR + attention + SEQ * d * 2 + vocab * LOGIT_COPIES
        train = rows * per_row * F32
        evaluate = chunk * (ATTENTION_PRODUCTS * SEQ * SEQ * d + 4 * SEQ * d + 2 * vocab) * F32
        classes = vocab
    if params.get("progress_measures", True):  # the kept logits beside the chunks, then the measures
        kept = pairs * classes * F32
        evaluate = max(evaluate + kept, kept * PROGRESS_LOGIT_COPIES)
    return {"state": state, "data": data, "train_step": train, "evaluation": evaluate}


def gpu_memory_mb(params: dict[str, Any]) -> float:
    """MB one run's own tensors need on the device (no CUDA context): the KindSpec hook."""
    t = terms(params)
    return (t["state"] + t["data"] + max(t["train_step"], t["evaluation"])) / MB


# The params that decide a run's memory: the key its recorded peaks are filed under.
MEMORY_SHAPE = ("model", "operation", "modulus", "train_fraction", "batch_size", "width",
                "activation", "embed_dim", "d_model", "n_heads", "n_layers", "grokfast",
                "progress_measures")
