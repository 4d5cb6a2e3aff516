"""`grokking`: modular arithmetic (Power et al. 2022) with a transformer or a Gromov-style MLP.

A model memorises the training pairs quickly; with weight decay it generalises to the unseen
pairs much later. Importing this module is cheap (no torch): torch is imported inside `run()`.
"""

from __future__ import annotations

import math
import random
from typing import Any

from . import grokking_memory
from .base import RunContext, eval_schedule
from .spec import KindSpec, Param, ParamError

OPERATIONS = ("x+y", "x-y", "x*y", "x/y", "x^2+y^2", "x^2+xy+y^2", "x^3+xy")


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(math.isqrt(n)) + 1))


def _check_prime(n: int) -> str | None:
    return None if _is_prime(n) else f"must be a prime number, got {n}"


PARAMS: dict[str, Param] = {
    "model": Param("mlp", str, "network: 'mlp' (Gromov 2023) or 'transformer' (Power et al. 2022)",
                   choices=("mlp", "transformer")),
    "operation": Param("x+y", str, "binary operation mod `modulus`", choices=OPERATIONS),
    "modulus": Param(97, int, "prime modulus p; the dataset is every pair (x, y) in [0, p)^2",
                     min=3, max=1031, check=_check_prime),
    "train_fraction": Param(0.4, float, "fraction of all pairs used for training; the rest is test",
                            min=0.0, max=0.95, min_exclusive=True),
    "steps": Param(2500, int, "optimizer steps to train", min=1, max=10_000_000),
    "batch_size": Param(0, int, "minibatch size (epochs of shuffled batches); 0 = full batch",
                        min=0, max=1_000_000),
    "optimizer": Param("adamw", str, "'adamw' (decoupled weight decay) or 'adam' (weight decay as "
                       "an L2 term in the gradient, as in the Grokfast paper's runs)",
                       choices=("adamw", "adam")),
    "lr": Param(1e-3, float, "Adam(W) learning rate", min=0.0, max=10.0, min_exclusive=True),
    "weight_decay": Param(1.0, float, "weight decay (AdamW: decoupled; Adam: L2); 0 = the "
                          "no-grokking control",
                          min=0.0, max=100.0),
    "betas": Param([0.9, 0.98], list, "AdamW betas (beta1, beta2)", item_type=float, length=2,
                   min=0.0, max=0.999999),
    "warmup_steps": Param(0, int, "linear learning-rate warm-up steps", min=0, max=1_000_000),
    "width": Param(256, int, "mlp: hidden units", min=1, max=65536),
    "activation": Param("quadratic", str, "mlp: hidden activation, z^2 or ReLU",
                        choices=("quadratic", "relu")),
    "embed_dim": Param(0, int, "mlp: 0 = one-hot inputs; else a learned shared embedding of this size",
                       min=0, max=4096),
    "init_scale": Param(3.0, float, "mlp: multiplies the default (nn.Linear-style) initialisation; "
                        "larger init memorises harder and groks later (Omnigrok)", min=0.0, max=100.0,
                        min_exclusive=True),
    "d_model": Param(128, int, "transformer: model width", min=8, max=4096),
    "n_heads": Param(4, int, "transformer: attention heads (must divide d_model)", min=1, max=64),
    "n_layers": Param(2, int, "transformer: decoder blocks", min=1, max=48),
    "grokfast": Param(False, bool, "apply the Grokfast EMA gradient filter (Lee et al. 2024)"),
    "grokfast_alpha": Param(0.98, float, "Grokfast EMA momentum alpha", min=0.0, max=0.99999),
    "grokfast_lamb": Param(2.0, float, "Grokfast amplification lambda", min=0.0, max=1000.0),
    "eval_every": Param(20, int, "evaluate train and test sets every this many steps (0 = only "
                        "the log-spaced points)", min=0, max=10_000_000),
    "eval_log_points": Param(20, int, "extra log-spaced evaluation steps (dense early)", min=0,
                             max=10_000),
    "progress_measures": Param(True, bool, "log the progress measures at evaluation steps "
                               "(softmax_collapse, logit_scale; for x+y and x-y also fourier_sparsity, "
                               "restricted_loss, excluded_loss: grokwatch/experiments/progress.py)"),
}


def _validate(p: dict[str, Any]) -> None:
    if p["d_model"] % p["n_heads"]:
        raise ParamError("n_heads", f"must divide d_model ({p['d_model']}), got {p['n_heads']}")
    n_train, n_test = _split_sizes(p)
    if n_train < 1 or n_test < 1:
        raise ParamError("train_fraction", f"leaves {n_train} training and {n_test} test pairs "
                         f"for modulus {p['modulus']}; both must be at least 1")


def _n_pairs(p: dict[str, Any]) -> int:
    m = p["modulus"]
    return m * (m - 1) if p["operation"] == "x/y" else m * m


def _split_sizes(p: dict[str, Any]) -> tuple[int, int]:
    n = _n_pairs(p)
    n_train = int(round(p["train_fraction"] * n))
    return n_train, n - n_train


def _describe(p: dict[str, Any]) -> dict[str, Any]:
    n_train, n_test = _split_sizes(p)
    return {"n_train": n_train, "n_test": n_test, "total_steps": p["steps"]}


# The CPU-fast recipe: quadratic MLP, x+y mod 97, 40% of the pairs, full-batch AdamW wd 1, a 3x
# initialisation (memorises by ~step 300 with test accuracy at chance, groks by ~1,400).
CPU: dict[str, Any] = {"model": "mlp", "operation": "x+y", "modulus": 97, "train_fraction": 0.4,
                       "init_scale": 3.0, "steps": 2500, "batch_size": 0, "lr": 1e-3,
                       "weight_decay": 1.0, "eval_every": 20, "eval_log_points": 20}
# Power et al. 2022 (their Fig. 1 setting): 2-layer transformer, x/y mod 97, 50% train, batch 512.
PAPER: dict[str, Any] = {"model": "transformer", "operation": "x/y", "modulus": 97,
                         "train_fraction": 0.5, "batch_size": 512, "steps": 10_000, "lr": 1e-3,
                         "weight_decay": 1.0, "warmup_steps": 10, "eval_every": 100,
                         "eval_log_points": 30}

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": CPU,
    # Controls that must not grok: no weight decay; too little data.
    "cpu-no-wd": {**CPU, "weight_decay": 0.0},
    "cpu-little-data": {**CPU, "train_fraction": 0.15},
    # A small transformer run that fits a CPU demo (the paper's model, x+y, ~3 min on 2 cores).
    "cpu-transformer": {**PAPER, "operation": "x+y", "steps": 3000, "eval_every": 50},
    "paper": PAPER,
    "paper-no-wd": {**PAPER, "weight_decay": 0.0},
    # Grokfast README setup: x*y mod 97, Adam with L2 weight decay 0.005 and the EMA filter
    # (alpha .98, lambda 2).
    "grokfast": {**PAPER, "operation": "x*y", "steps": 3000, "optimizer": "adam",
                 "weight_decay": 0.005,
                 "grokfast": True, "grokfast_alpha": 0.98, "grokfast_lamb": 2.0,
                 "eval_every": 50},
}

SPEC = KindSpec(
    name="grokking",
    module=__name__,
    params=PARAMS,
    presets=PRESETS,
    default_preset="cpu",
    validate=_validate,
    describe=_describe,
    needs_torch=True,
    uses_gpu=True,
    gpu_memory_mb=grokking_memory.gpu_memory_mb,
    gpu_memory_shape=grokking_memory.MEMORY_SHAPE,
    doc="Modular arithmetic: memorise first, generalise (much) later (Power et al. 2022).",
)


# ----------------------------------------------------------------------------- data


def make_pairs(operation: str, modulus: int):
    """All (x, y) pairs and their labels, as numpy int64 arrays."""
    import numpy as np

    p = modulus
    x, y = np.meshgrid(np.arange(p, dtype=np.int64), np.arange(p, dtype=np.int64), indexing="ij")
    x, y = x.ravel(), y.ravel()
    if operation == "x/y":
        keep = y != 0
        x, y = x[keep], y[keep]
        labels = (x * np.array([pow(int(v), p - 2, p) for v in range(p)], dtype=np.int64)[y]) % p
    elif operation == "x+y":
        labels = (x + y) % p
    elif operation == "x-y":
        labels = (x - y) % p
    elif operation == "x*y":
        labels = (x * y) % p
    elif operation == "x^2+y^2":
        labels = (x * x + y * y) % p
    elif operation == "x^2+xy+y^2":
        labels = (x * x + x * y + y * y) % p
    elif operation == "x^3+xy":
        labels = (x * x % p * x + x * y) % p
    else:  # pragma: no cover - validated by the spec
        raise ValueError(operation)
    return np.stack([x, y], axis=1), labels


def split_data(params: dict[str, Any], seed: int):
    """(train_xy, train_labels, test_xy, test_labels): a seeded random split of all pairs."""
    import numpy as np

    xy, labels = make_pairs(params["operation"], params["modulus"])
    n_train, _ = _split_sizes(params)
    order = np.random.default_rng(seed).permutation(len(labels))
    tr, te = order[:n_train], order[n_train:]
    return xy[tr], labels[tr], xy[te], labels[te]


# ----------------------------------------------------------------------------- training


def build_model(params: dict[str, Any]):
    from .models import GrokMLP, GrokTransformer

    if params["model"] == "mlp":
        return GrokMLP(params["modulus"], params["width"], params["activation"], params["embed_dim"],
                       params["init_scale"])
    return GrokTransformer(params["modulus"] + 2, params["d_model"], params["n_heads"],
                           params["n_layers"], modulus=params["modulus"])


def model_inputs(params: dict[str, Any], xy):
    """The model's input tensor for (x, y) pairs: the pairs (mlp) or tokens `x op y =`."""
    import torch

    if params["model"] == "mlp":
        return xy
    p = params["modulus"]
    n = xy.shape[0]
    op = torch.full((n,), p + 1, dtype=xy.dtype, device=xy.device)
    eq = torch.full((n,), p, dtype=xy.dtype, device=xy.device)
    return torch.stack([xy[:, 0], op, xy[:, 1], eq], dim=1)


def make_optimizer(params: dict[str, Any], model, device: str):
    import torch

    kwargs = dict(lr=params["lr"], weight_decay=params["weight_decay"],
                  betas=tuple(params["betas"]))
    cls = torch.optim.Adam if params.get("optimizer") == "adam" else torch.optim.AdamW
    try:
        return cls(model.parameters(), fused=True, **kwargs)
    except (RuntimeError, TypeError):  # fused not available for this device/build
        return cls(model.parameters(), foreach=True, **kwargs)


class Trainer:
    """State and steps of one grokking run; `run()` drives it (tests and benches may too)."""

    def __init__(self, params: dict[str, Any], seed: int, device: str = "cpu"):
        import numpy as np
        import torch

        self.params = params
        self.seed = seed
        self.device = torch.device(device)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        tr_xy, tr_y, te_xy, te_y = split_data(params, seed)
        to = dict(device=self.device)
        self.train_x = model_inputs(params, torch.as_tensor(tr_xy, **to))
        self.train_y = torch.as_tensor(tr_y, **to)
        self.test_x = model_inputs(params, torch.as_tensor(te_xy, **to))
        self.test_y = torch.as_tensor(te_y, **to)
        self.n_train = len(tr_y)
        self.model = build_model(params).to(self.device)
        self.opt = make_optimizer(params, self.model, device)
        self.params_list = [q for q in self.model.parameters()]
        self.ema: list[Any] | None = None
        bs = params["batch_size"]
        self.batch_size = self.n_train if bs <= 0 or bs >= self.n_train else bs
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed + 1)
        self.perm = None
        self.pos = 0
        self.step = 0
        self.keep_logits = False  # evaluate() keeps its logits for progress.measures()
        self.last_logits: tuple[Any, Any] | None = None

    # -- one optimizer step ----------------------------------------------------------

    def _batch(self):
        import torch

        if self.batch_size == self.n_train:
            return self.train_x, self.train_y
        if self.perm is None or self.pos + self.batch_size > self.n_train:
            self.perm = torch.randperm(self.n_train, generator=self.gen, device=self.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.train_x[idx], self.train_y[idx]

    def lr_at(self, step: int) -> float:
        warm = self.params["warmup_steps"]
        return self.params["lr"] * min(1.0, (step + 1) / warm) if warm > 0 else self.params["lr"]

    def train_step(self):
        """One optimizer step; returns the batch loss as a tensor (no host sync)."""
        import torch
        import torch.nn.functional as F

        x, y = self._batch()
        lr = self.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.params["grokfast"]:
            grads = [q.grad for q in self.params_list if q.grad is not None]
            alpha, lamb = self.params["grokfast_alpha"], self.params["grokfast_lamb"]
            if self.ema is None:
                self.ema = [g.detach().clone() for g in grads]
            else:
                torch._foreach_mul_(self.ema, alpha)
                torch._foreach_add_(self.ema, grads, alpha=1.0 - alpha)
            torch._foreach_add_(grads, self.ema, alpha=lamb)
        self.opt.step()
        self.step += 1
        return loss.detach()

    # -- evaluation --------------------------------------------------------------------

    def evaluate(self, chunk: int = 8192) -> dict[str, float]:
        """Loss and accuracy on the whole train and test sets, and the weight norm: one host
        transfer for all of it."""
        import torch
        import torch.nn.functional as F

        out = []
        kept: list[list[Any]] = [[], []]
        with torch.inference_mode():
            for split, (xs, ys) in enumerate(((self.train_x, self.train_y), (self.test_x, self.test_y))):
                loss_sum = torch.zeros((), device=self.device)
                correct = torch.zeros((), device=self.device)
                for i in range(0, len(ys), chunk):
                    logits = self.model(xs[i:i + chunk])
                    yb = ys[i:i + chunk]
                    loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
                    correct += (logits.argmax(-1) == yb).sum()
                    if self.keep_logits:
                        kept[split].append(logits.float())
                out += [loss_sum, correct]
            if self.keep_logits:
                self.last_logits = (torch.cat(kept[0]), torch.cat(kept[1]))
            norms = torch._foreach_norm([q.detach() for q in self.params_list])
            out.append(torch.linalg.vector_norm(torch.stack(norms)))
            vals = torch.stack(out).double().cpu().tolist()
        n_tr, n_te = len(self.train_y), len(self.test_y)
        return {"train_loss": vals[0] / n_tr, "train_acc": vals[1] / n_tr,
                "test_loss": vals[2] / n_te, "test_acc": vals[3] / n_te, "weight_norm": vals[4],
                "lr": self.lr_at(max(0, self.step - 1))}

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain data only, so `torch.load(weights_only=True)` can read it back."""
        import numpy as np
        import torch

        name, keys, pos, has_gauss, cached = np.random.get_state()
        py_version, py_state, py_gauss = random.getstate()
        return {"step": self.step, "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "ema": self.ema, "perm": self.perm, "pos": self.pos,
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "numpy_rng": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                              "pos": int(pos), "has_gauss": int(has_gauss),
                              "cached_gaussian": float(cached)},
                "python_rng": {"version": py_version, "state": list(py_state), "gauss": py_gauss}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import numpy as np
        import torch

        self.step = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.ema = [e.to(self.device) for e in state["ema"]] if state["ema"] is not None else None
        self.perm = state["perm"].to(self.device) if state["perm"] is not None else None
        self.pos = int(state["pos"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        nr, pr = state["numpy_rng"], state["python_rng"]
        if isinstance(nr, dict):
            keys = nr["keys"].numpy() if hasattr(nr["keys"], "numpy") else np.asarray(nr["keys"])
            np.random.set_state((nr["name"], keys.astype(np.uint32), int(nr["pos"]),
                                 int(nr["has_gauss"]), float(nr["cached_gaussian"])))
        else:  # a checkpoint of an earlier grokwatch: numpy's own tuple
            np.random.set_state(nr)
        if isinstance(pr, dict):
            random.setstate((pr["version"], tuple(pr["state"]), pr["gauss"]))
        else:
            random.setstate(pr)

    def save(self, path) -> None:
        import torch

        torch.save(self.state_dict(), path)

    def load(self, path) -> None:
        """Load with `weights_only=True`: a checkpoint is data, never code (a planted pickle is
        refused, not run). Numpy arrays, which checkpoints of earlier versions hold for numpy's
        RNG state, are allowed through torch's documented allowlist."""
        self.load_state_dict(load_state(path))


def load_state(path) -> dict[str, Any]:
    """A grokking checkpoint (a single worker's or a pack member's) as data: `weights_only=True`,
    on the CPU (RNG states must stay CPU byte tensors; load_state_dict moves the rest)."""
    import torch

    with torch.serialization.safe_globals(_numpy_array_globals()):
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise ValueError("it is not a grokking checkpoint (no model state and step)")
    return state


def _numpy_array_globals() -> list[Any]:
    """What a plain numpy array needs to be rebuilt by torch's weights-only unpickler."""
    import numpy as np

    try:
        reconstruct = np._core.multiarray._reconstruct
    except AttributeError:  # numpy < 2
        reconstruct = np.core.multiarray._reconstruct
    return [reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def gpu_peak(device) -> dict[str, float]:
    """This process's measured GPU memory peak so far, for status.json (CUDA only, {} elsewhere):
    the caching allocator's peaks, allocated and reserved (what the runner files and plans
    with: runner/gpumem.py). The CUDA context is not in them."""
    import torch

    if device.type != "cuda":
        return {}
    return {"gpu_peak_allocated_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
            "gpu_peak_reserved_mb": round(torch.cuda.max_memory_reserved(device) / 2**20, 1)}


def _record_peak(ctx: RunContext, device) -> None:
    peak = gpu_peak(device)
    if peak and ctx.on_status is not None:  # the worker keeps it: the final status has it too
        ctx.on_status(peak)


def run(ctx: RunContext) -> None:
    import torch

    from . import progress

    torch.set_num_threads(max(1, ctx.threads))
    params = ctx.params
    total = params["steps"]
    ctx.set_total_steps(total)
    trainer = Trainer(params, ctx.seed, ctx.device)
    evaluate = progress.evaluator(trainer)  # evaluate(), plus the progress measures when on
    ctx.declare_columns(["train_acc", "test_acc", "weight_norm", "lr", *progress.columns(params)])
    ctx.resume("pt", trainer.load)
    evals = set(eval_schedule(total, params["eval_every"], params["eval_log_points"]))
    if trainer.step == 0 and 0 in evals:
        ctx.log(0, **evaluate())
    while trainer.step < total:
        trainer.train_step()
        step = trainer.step
        if step in evals:
            ctx.log(step, **evaluate())
        if ctx.checkpoint_due() and step < total:
            _record_peak(ctx, trainer.device)
            ctx.save_checkpoint(step, trainer.save, "pt")
    _record_peak(ctx, trainer.device)
