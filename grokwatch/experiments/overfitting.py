"""`overfitting`: test error turns back up while train error keeps falling. Numpy only.

- `polynomial` (capacity): Legendre least squares on 20 noisy samples of sin 2πx + 0.5x; sweep
  `degree` for the classical U of test error (min-norm past interpolation, where a second
  descent begins). One fit per draw, the median over `repeats` draws; one metrics row (step 1)
  with `degree` as an extra column for the sweep view.
- `mlp` (time): a one-hidden-layer ReLU network, Adam, on 500 of sklearn's bundled digits with
  20% of the training labels redrawn: test error bottoms out within ~1,000 steps, then climbs as
  the network memorises the wrong labels, while train error keeps falling.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .base import RunContext, eval_schedule
from .spec import KindSpec, Param, ParamError
from .threads import blas_threads

PARAMS: dict[str, Param] = {
    "mode": Param("polynomial", str, "'polynomial' (sweep degree: the U curve) or 'mlp' "
                  "(over-parameterised network on noisy digits, over time)",
                  choices=("polynomial", "mlp")),
    "degree": Param(5, int, "polynomial: degree of the Legendre fit (sweep it)", min=0, max=2000),
    "n_train": Param(None, int, "training points; default 20 (polynomial), 500 (mlp)", min=1,
                     max=100_000, nullable=True),
    "n_test": Param(1000, int, "test points (mlp: at most the 1,797 - n_train digits left)",
                    min=1, max=1_000_000),
    "noise": Param(None, float, "polynomial: std of the label noise (default 0.3); mlp: "
                   "fraction of training labels redrawn at random (default 0.2)", min=0.0,
                   max=100.0, nullable=True),
    "repeats": Param(25, int, "polynomial: median over this many independent data draws",
                     min=1, max=10_000),
    "width": Param(256, int, "mlp: hidden units", min=1, max=65536),
    "lr": Param(1e-3, float, "mlp: Adam learning rate", min=0.0, max=10.0, min_exclusive=True),
    "weight_decay": Param(0.0, float, "mlp: AdamW decoupled weight decay (a control: some "
                          "slows the overfitting)", min=0.0, max=100.0),
    "batch_size": Param(128, int, "mlp: minibatch size (0 = full batch)", min=0, max=100_000),
    "steps": Param(5000, int, "mlp: optimizer steps", min=1, max=100_000_000),
    "eval_every": Param(100, int, "mlp: evaluate every this many steps", min=0, max=10_000_000),
    "eval_log_points": Param(30, int, "mlp: extra log-spaced evaluation steps", min=0,
                             max=10_000),
}


def _defaults(p: dict[str, Any]) -> tuple[int, float]:
    if p["mode"] == "mlp":
        return (p["n_train"] or 500, 0.2 if p["noise"] is None else p["noise"])
    return (p["n_train"] or 20, 0.3 if p["noise"] is None else p["noise"])


def _validate(p: dict[str, Any]) -> None:
    n_train, noise = _defaults(p)
    if p["mode"] == "mlp":
        if n_train >= 1797:
            raise ParamError("n_train", f"digits has 1,797 images; n_train {n_train} leaves no test set")
        if noise > 1:
            raise ParamError("noise", f"for mode 'mlp' is the fraction of labels redrawn (0-1), got {noise}")


def _describe(p: dict[str, Any]) -> dict[str, Any]:
    n_train, _ = _defaults(p)
    if p["mode"] == "mlp":
        return {"n_train": n_train, "n_test": min(p["n_test"], 1797 - n_train),
                "total_steps": p["steps"]}
    return {"n_train": n_train, "n_test": p["n_test"], "total_steps": 1}


PRESETS: dict[str, dict[str, Any]] = {
    # Sweep degree = 0..15: the U (best near 5), and the explosion as degree -> n_train - 1.
    "cpu": {"mode": "polynomial"},
    # Overfitting in time: width-256 MLP, 500 noisy digits, ~10 s.
    "cpu-mlp": {"mode": "mlp"},
    # Control: clean labels - test error falls and stays down.
    "cpu-mlp-clean": {"mode": "mlp", "noise": 0.0},
    # Larger: 1,000 digits with 30% noise, width 1,024, 30k steps.
    "paper": {"mode": "mlp", "n_train": 1000, "noise": 0.3, "width": 1024, "steps": 30_000,
              "eval_every": 250, "eval_log_points": 40},
    # The polynomial sweep far past interpolation (degree up to 200): the second descent.
    "paper-polynomial": {"mode": "polynomial", "repeats": 200, "n_test": 5000},
}

SPEC = KindSpec(
    name="overfitting",
    module=__name__,
    params=PARAMS,
    presets=PRESETS,
    default_preset="cpu",
    validate=_validate,
    describe=_describe,
    needs_torch=False,
    doc="Test error turns back up while train error keeps falling.",
)


# ----------------------------------------------------------------------------- polynomial


def _target(x):
    import numpy as np

    return np.sin(2 * np.pi * x) + 0.5 * x


def polynomial_fit(degree: int, n_train: int, n_test: int, noise: float, rng) -> tuple[float, float]:
    """(train MSE, test MSE) of one Legendre least-squares fit; min-norm past interpolation.
    Test targets are noisy too, so the best achievable test MSE is noise²."""
    import numpy as np
    from numpy.polynomial import legendre

    x = rng.uniform(-1.0, 1.0, n_train)
    y = _target(x) + noise * rng.standard_normal(n_train)
    x_te = rng.uniform(-1.0, 1.0, n_test)
    y_te = _target(x_te) + noise * rng.standard_normal(n_test)
    a = legendre.legvander(x, degree)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    train = float(np.mean((a @ coef - y) ** 2))
    test = float(np.mean((legendre.legvander(x_te, degree) @ coef - y_te) ** 2))
    return train, test


# ----------------------------------------------------------------------------- mlp (numpy)


class DigitsMLP:
    """One hidden ReLU layer, softmax cross-entropy, Adam(W), epochs of shuffled minibatches."""

    def __init__(self, p: dict[str, Any], seed: int):
        import numpy as np
        from .double_descent import load_digits_split

        n_train, noise = _defaults(p)
        self.p = p
        self.x, self.y, self.x_te, self.y_te = load_digits_split(seed, n_train, p["n_test"], noise)
        self.rng = np.random.default_rng([seed, 11])
        d, h, k = self.x.shape[1], p["width"], 10
        b1, b2 = 1 / math.sqrt(d), 1 / math.sqrt(h)  # nn.Linear's default init
        self.w = {"w1": self.rng.uniform(-b1, b1, (d, h)), "b1": self.rng.uniform(-b1, b1, h),
                  "w2": self.rng.uniform(-b2, b2, (h, k)), "b2": self.rng.uniform(-b2, b2, k)}
        self.m = {k_: np.zeros_like(v) for k_, v in self.w.items()}
        self.v = {k_: np.zeros_like(v) for k_, v in self.w.items()}
        bs = p["batch_size"]
        self.batch_size = n_train if bs <= 0 or bs >= n_train else bs
        self.perm = self.rng.permutation(n_train)
        self.pos = 0
        self.step = 0

    def _forward(self, x):
        import numpy as np

        h = x @ self.w["w1"] + self.w["b1"]
        np.maximum(h, 0.0, out=h)
        return h, h @ self.w["w2"] + self.w["b2"]

    def train_step(self) -> None:
        import numpy as np

        n = len(self.y)
        if self.pos + self.batch_size > n:
            self.perm = self.rng.permutation(n)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        x, y = self.x[idx], self.y[idx]
        h, logits = self._forward(x)
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        prob[np.arange(len(y)), y] -= 1.0
        g_out = prob / len(y)
        grads = {"w2": h.T @ g_out, "b2": g_out.sum(axis=0)}
        g_h = g_out @ self.w["w2"].T
        g_h *= h > 0
        grads["w1"] = x.T @ g_h
        grads["b1"] = g_h.sum(axis=0)
        self.step += 1
        lr, wd, (b1, b2), eps = self.p["lr"], self.p["weight_decay"], (0.9, 0.999), 1e-8
        c1, c2 = 1 - b1 ** self.step, 1 - b2 ** self.step
        for k, g in grads.items():
            w, m, v = self.w[k], self.m[k], self.v[k]
            if wd:
                w *= 1 - lr * wd
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            w -= lr * (m / c1) / (np.sqrt(v / c2) + eps)

    def evaluate(self) -> dict[str, float]:
        import numpy as np

        out = {}
        for split, x, y in (("train", self.x, self.y), ("test", self.x_te, self.y_te)):
            _, logits = self._forward(x)
            z = logits - logits.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            out[f"{split}_loss"] = float(-logp[np.arange(len(y)), y].mean())
            out[f"{split}_acc"] = float((logits.argmax(axis=1) == y).mean())
        out["weight_norm"] = float(math.sqrt(sum(float((w * w).sum()) for w in self.w.values())))
        return out

    def save(self, path) -> None:
        import numpy as np

        arrays = {f"{g}_{k}": v for g, d in (("w", self.w), ("m", self.m), ("v", self.v))
                  for k, v in d.items()}
        meta = json.dumps({"step": self.step, "pos": self.pos,
                           "rng": self.rng.bit_generator.state})
        with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, perm=self.perm, meta=np.array(meta), **arrays)

    def load(self, path) -> None:
        import numpy as np

        with np.load(path, allow_pickle=False) as z:  # data only: a pickled object is refused
            for g, d in (("w", self.w), ("m", self.m), ("v", self.v)):
                for k in d:
                    d[k] = z[f"{g}_{k}"].copy()
            self.perm = z["perm"].copy()
            meta = json.loads(str(z["meta"]))
        self.step, self.pos = int(meta["step"]), int(meta["pos"])
        self.rng.bit_generator.state = meta["rng"]


# ----------------------------------------------------------------------------- run


def run(ctx: RunContext) -> None:
    with blas_threads(ctx.threads):
        _run(ctx)


def _run(ctx: RunContext) -> None:
    import numpy as np

    p = ctx.params
    if p["mode"] == "polynomial":
        ctx.set_total_steps(1)
        ctx.declare_columns(["degree"])
        n_train, noise = _defaults(p)
        rng = np.random.default_rng([ctx.seed, 5])
        fits = []
        for _ in range(p["repeats"]):
            ctx.check_stop()
            fits.append(polynomial_fit(p["degree"], n_train, p["n_test"], noise, rng))
        train, test = np.median(np.array(fits), axis=0)
        ctx.log(1, train_loss=train, train_error=train, test_loss=test, test_error=test,
                degree=p["degree"])
        return
    total = p["steps"]
    ctx.set_total_steps(total)
    ctx.declare_columns(["train_acc", "test_acc", "weight_norm"])
    model = DigitsMLP(p, ctx.seed)
    ctx.resume("npz", model.load)
    evals = set(eval_schedule(total, p["eval_every"], p["eval_log_points"]))
    if model.step == 0 and 0 in evals:
        ctx.log(0, **model.evaluate())
    while model.step < total:
        model.train_step()
        if model.step in evals:
            ctx.log(model.step, **model.evaluate())
        if ctx.checkpoint_due() and model.step < total:
            ctx.save_checkpoint(model.step, model.save, "npz")
