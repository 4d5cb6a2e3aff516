"""Which runs may train together in one pack, and whether packing pays: standard library only
(the runner plans packs and must never import torch).

A pack is R runs of one experiment of the `grokking` kind whose shapes agree (model, modulus,
operation, widths, steps, batch size, evaluation schedule); they may differ in the seed and the
parameters of `PER_RUN_PARAMS`. `grokwatch.pack` trains them as one batched computation
(`grokwatch.experiments.packed`).

`pack = "auto" | "off" | N` ([grokwatch] and per experiment; the experiment's wins):
- "off": never pack; N: packs of at most N runs, wherever they run;
- "auto": `auto_pack_size()` decides from the device and the per-run work of a step, by the rule
  measured with bench/pack.py (see there and docs/gpu.md).
"""

from __future__ import annotations

from typing import Any

PACKABLE_KINDS = ("grokking",)
PER_RUN_PARAMS = ("lr", "weight_decay", "betas", "init_scale", "train_fraction", "optimizer",
                  "grokfast", "grokfast_alpha", "grokfast_lamb", "warmup_steps")

# The per-run step request file the pack polls (written by `grokwatch stop`, the TUI's `k`).
STOP_REQUEST = "stop.request"

# `auto` on the CPU: pack only when one run's training step is at most this many multiply-adds
# (`step_macs`): below it per-operation overhead dominates and one batched computation wins;
# above it the batched tensors outgrow the caches and the loop of small runs is faster. Measured
# with `bench/pack.py` (1 thread, the shared 2-core machine, loop/packed CPU time), 16 runs:
# 1.0 M MACs 1.95x, 1.2 M 1.73x, 2.4 M 1.39x, 17 M 0.87x, 72 M 0.77x; the default preset
# (286 M) 0.70x, 0.48x, 0.43x at 4, 16, 64 runs; 64 runs of 0.5 M: 2.8-3.1x. The threshold sits
# where packing still pays.
CPU_PACK_MAX_MACS = 4_000_000
# `auto` on a GPU: pack up to this many runs (the per-run work of these models is far below
# what one GPU kernel launch can use). Unmeasured in the session that wrote this: bench/gpu.py
# measures it on a GPU box.
GPU_AUTO_PACK = 64
CPU_AUTO_PACK = 64


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, (list, tuple)) else v


def split_sizes(params: dict[str, Any]) -> tuple[int, int]:
    m = int(params["modulus"])
    n = m * (m - 1) if params.get("operation") == "x/y" else m * m
    n_train = int(round(float(params["train_fraction"]) * n))
    return n_train, n - n_train


def pack_key(kind: str, params: dict[str, Any]) -> tuple | None:
    """Runs with equal keys (not None) may share a pack."""
    if kind not in PACKABLE_KINDS:
        return None
    bs = int(params.get("batch_size", 0))
    full = bs <= 0 or bs >= split_sizes(params)[0]
    shared = tuple(sorted((k, _hashable(v)) for k, v in params.items() if k not in PER_RUN_PARAMS))
    return (kind, full, shared)


def step_macs(params: dict[str, Any]) -> int:
    """Multiply-adds of one training step of one run (forward x 3), roughly: the measure of
    per-run work the `auto` rule compares."""
    p = int(params["modulus"])
    n_train = split_sizes(params)[0]
    bs = int(params.get("batch_size", 0))
    rows = n_train if bs <= 0 or bs >= n_train else bs
    if params.get("model", "mlp") == "mlp":
        w, e = int(params.get("width", 256)), int(params.get("embed_dim", 0))
        per_row = w * p + (2 * e * w if e else 2 * w)
    else:
        d, layers = int(params.get("d_model", 128)), int(params.get("n_layers", 2))
        per_row = layers * 2 * (12 * d * d) + d * (p + 2)
    return 3 * rows * per_row


def parse_pack(value: Any) -> int | str:
    """'auto' | 'off' | N >= 1 (an int); ValueError with the reason otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be \"auto\", \"off\" or a number of runs (at least 1)")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value
    if isinstance(value, str) and value in ("auto", "off"):
        return value
    raise ValueError(f"must be \"auto\", \"off\" or a number of runs (at least 1), got {value!r}")


def auto_pack_size(device: str, params: dict[str, Any]) -> int:
    """The `auto` rule: runs per pack for this device and per-run work (1 = do not pack)."""
    if device == "cuda":
        return GPU_AUTO_PACK
    return CPU_AUTO_PACK if step_macs(params) <= CPU_PACK_MAX_MACS else 1


def pack_size(setting: int | str, device: str, kind: str, params: dict[str, Any]) -> int:
    """Runs per pack for a run of this kind on this device under `pack = setting`."""
    if kind not in PACKABLE_KINDS or setting == "off":
        return 1
    if setting == "auto":
        return auto_pack_size(device, params)
    return max(1, int(setting))


def group_for_packs(items, setting_of) -> list[list]:
    """Launch groups, in queue order: `items` are (run, info) with info the run's config.json
    (kind, experiment, params, device, threads); `setting_of(info)` its `pack` setting. A run
    joins the open group of its experiment, device, thread count and pack key while that group
    has room (its pack size); else it opens one. Runs that cannot pack are groups of one."""
    out: list[list] = []
    open_groups: dict[tuple, list] = {}
    for run, info in items:
        kind, params = info.get("kind"), info.get("params") or {}
        device = info.get("device") or "cpu"
        size = pack_size(setting_of(info), device, kind, params)
        key = pack_key(kind, params) if size > 1 else None
        if key is None:
            out.append([run])
            continue
        where = (info.get("experiment"), device, info.get("threads"), key)
        group = open_groups.get(where)
        if group is not None and len(group) < size:
            group.append(run)
        else:
            group = open_groups[where] = [run]
            out.append(group)
    return out
