"""`double_descent`: test error falls, peaks at the interpolation threshold, falls again.

Two modes, numpy only (this module never imports torch):

- `random_features` (model-wise, Belkin et al. 2019): ReLU or Fourier random features of a
  synthetic teacher or of sklearn's bundled digits, fitted by min-norm least squares (SVD), with
  an optional ridge. Sweep `n_features` through `n_train`: the test error peaks at
  N = n_train exactly; a ridge of 1e-2 removes the peak (Nakkiran et al. 2021). One fit per run:
  one metrics row (step 1), with `n_features` as an extra column for the sweep view.
- `epochwise` (Heckel & Yilmaz 2021; Pezeshki et al. 2022): gradient descent on a linear model
  whose features come at two scales. The fast features sit near their own interpolation threshold
  and first fit what the slow ones would explain; when the slow features are learned the test
  error falls again: down, up, down, while the train error falls monotonically. Full-batch GD from
  zero on a quadratic loss has an exact closed form, w_t = V diag((1 - (1 - lr λ)^t) / λ) Vᵀ Xᵀy/n,
  which is evaluated at log-spaced steps (identical to iterating GD, up to rounding).
"""

from __future__ import annotations

import math
from typing import Any

from .base import RunContext, eval_schedule
from .spec import KindSpec, Param, ParamError
from .threads import blas_threads

PARAMS: dict[str, Param] = {
    "mode": Param("random_features", str, "'random_features' (model-wise, sweep n_features) or "
                  "'epochwise' (gradient descent over time)", choices=("random_features", "epochwise")),
    "dataset": Param("synthetic", str, "random_features: 'synthetic' (tanh teacher, d 10) or "
                     "'digits' (sklearn's bundled 8x8 digits, one-hot targets)",
                     choices=("synthetic", "digits")),
    "features": Param("relu", str, "random_features: ReLU(Wx) or Fourier cos(Wx + b) features",
                      choices=("relu", "fourier")),
    "n_features": Param(None, int, "random_features: number of random features N (sweep it "
                        "through n_train); epochwise: input dimension d; default n_train", min=1,
                        max=200_000, nullable=True),
    "n_train": Param(None, int, "training points; default 200 (synthetic), 500 (digits), "
                     "100 (epochwise)", min=1, max=100_000, nullable=True),
    "n_test": Param(1000, int, "test points (digits: at most the 1,797 - n_train left over)",
                    min=1, max=1_000_000),
    "input_dim": Param(10, int, "synthetic: input dimension of the teacher",
                       min=1, max=10_000),
    "noise": Param(None, float, "label noise: synthetic = std of additive noise (default 0.5); "
                   "digits = fraction of training labels redrawn (default 0.2); epochwise = std "
                   "(default 0)", min=0.0, max=100.0, nullable=True),
    "ridge": Param(0.0, float, "ridge penalty λ on ||Φw - y||² + λ||w||² (0 = min-norm "
                   "least squares; 1e-2 removes the peak)", min=0.0, max=1e6),
    "feature_scale": Param(0.5, float, "random_features: std of the entries of W (Fourier "
                           "bandwidth; ReLU features are scale-free)", min=0.0, max=1e3,
                           min_exclusive=True),
    "slow_fraction": Param(0.1, float, "epochwise: fraction of the d features that are slow",
                           min=0.0, max=1.0, min_exclusive=True),
    "kappa": Param(10.0, float, "epochwise: scale ratio of fast to slow features", min=1.0,
                   max=1e4),
    "steps": Param(100_000, int, "epochwise: gradient-descent steps", min=1, max=10**12),
    "lr_scale": Param(1.0, float, "epochwise: learning rate as a multiple of 1/λ_max of the "
                      "train Gram matrix (must be < 2)", min=0.0, max=1.99, min_exclusive=True),
    "eval_log_points": Param(60, int, "epochwise: log-spaced evaluation steps", min=2, max=10_000),
    "repeats": Param(1, int, "average the metrics over this many independent draws of data "
                     "(and features)", min=1, max=1000),
}


def _defaults(p: dict[str, Any]) -> tuple[int, float]:
    """(n_train, noise) with the mode's defaults filled in."""
    if p["mode"] == "epochwise":
        return (p["n_train"] or 100, 0.0 if p["noise"] is None else p["noise"])
    if p["dataset"] == "digits":
        return (p["n_train"] or 500, 0.2 if p["noise"] is None else p["noise"])
    return (p["n_train"] or 200, 0.5 if p["noise"] is None else p["noise"])


def _validate(p: dict[str, Any]) -> None:
    n_train, noise = _defaults(p)
    if p["mode"] == "random_features" and p["dataset"] == "digits":
        if n_train >= 1797:
            raise ParamError("n_train", f"digits has 1,797 images; n_train {n_train} leaves no test set")
        if noise > 1:
            raise ParamError("noise", f"for digits is the fraction of labels redrawn (0-1), got {noise}")


def _describe(p: dict[str, Any]) -> dict[str, Any]:
    n_train, _ = _defaults(p)
    n_test = p["n_test"]
    if p["mode"] == "random_features" and p["dataset"] == "digits":
        n_test = min(n_test, 1797 - n_train)
    return {"n_train": n_train, "n_test": n_test,
            "total_steps": p["steps"] if p["mode"] == "epochwise" else 1}


PRESETS: dict[str, dict[str, Any]] = {
    # Synthetic teacher, 200 points, ReLU features: sweep n_features = 50..4000, peak at 200.
    "cpu": {"mode": "random_features", "dataset": "synthetic", "features": "relu"},
    # Belkin et al. 2019 Fig. 2 style on real data: Fourier features of digits, 20% label noise.
    "digits": {"mode": "random_features", "dataset": "digits", "features": "fourier"},
    # The control: an (approximately optimally) tuned ridge removes the peak.
    "cpu-ridge": {"mode": "random_features", "dataset": "synthetic", "features": "relu",
                  "ridge": 1e-2},
    # Paper scale: the full digits split (1,000 train), averaged over 5 feature draws.
    "paper": {"mode": "random_features", "dataset": "digits", "features": "fourier",
              "n_train": 1000, "n_test": 797, "repeats": 5},
    # Epoch-wise double descent in a linear model (d = n = 100, 10 slow features, kappa 10).
    "epochwise": {"mode": "epochwise", "n_features": 100, "steps": 100_000, "repeats": 10},
    "epochwise-paper": {"mode": "epochwise", "n_train": 200, "n_features": 200, "steps": 1_000_000,
                        "repeats": 20, "eval_log_points": 100},
    # Control: one scale only (kappa 1) gives a monotone test curve.
    "epochwise-one-scale": {"mode": "epochwise", "n_features": 100, "kappa": 1.0,
                            "steps": 100_000, "repeats": 10},
}

SPEC = KindSpec(
    name="double_descent",
    module=__name__,
    params=PARAMS,
    presets=PRESETS,
    default_preset="cpu",
    validate=_validate,
    describe=_describe,
    needs_torch=False,
    doc="Test error peaks at the interpolation threshold, then falls again (Belkin et al. 2019).",
)


# ----------------------------------------------------------------------------- random features


def _synthetic(rng, n: int, d: int):
    """Teacher: sum of 5 tanh ridges, fixed by the seed."""
    import numpy as np

    u = rng.standard_normal((5, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    a = rng.standard_normal(5)
    x = rng.standard_normal((n, d))
    return x, np.tanh(2.0 * x @ u.T) @ a


def load_digits_arrays():
    """sklearn's bundled 8x8 digits (1,797 x 64, labels) without importing sklearn (~1 s): the
    CSV ships inside the package; fall back to `sklearn.datasets.load_digits`."""
    import importlib.util
    import os

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            data = np.loadtxt(path, delimiter=",")
            if data.shape == (1797, 65):
                return data[:, :-1], data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target.astype(np.int64)


def load_digits_split(seed: int, n_train: int, n_test: int, noise: float):
    """Digits, shuffled by seed: centred inputs in [0, 1], (noisy) train labels, clean test labels."""
    import numpy as np

    x, y = load_digits_arrays()
    x = x / 16.0
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(y))
    tr, te = order[:n_train], order[n_train:n_train + n_test]
    x_tr, y_tr, x_te, y_te = x[tr], y[tr].copy(), x[te], y[te]
    mean = x_tr.mean(axis=0)
    flip = rng.random(n_train) < noise
    y_tr[flip] = rng.integers(0, 10, flip.sum())
    return x_tr - mean, y_tr, x_te - mean, y_te


def _features(kind: str, w, b, x):
    import numpy as np

    n_features = w.shape[0]
    z = x @ w.T
    if kind == "relu":
        return np.maximum(z, 0.0) * math.sqrt(2.0 / n_features)
    return np.cos(z + b) * math.sqrt(2.0 / n_features)


def fit_ridge(phi, y, ridge: float, phi_test=None):
    """Min-norm least squares (ridge 0) or ridge regression on ||Φw - y||² + λ||w||².

    Solved through the eigendecomposition of the smaller Gram matrix (ΦᵀΦ or ΦΦᵀ), which is the
    SVD of Φ without its cost: Φ = U S Vᵀ, w = V diag(s / (s² + λ)) Uᵀ y (1/s for λ = 0, with the
    usual pseudo-inverse cutoff). Returns (train predictions, test predictions, ||w||).
    """
    import numpy as np

    n, n_features = phi.shape
    wide = n_features > n
    gram = phi @ phi.T if wide else phi.T @ phi
    lam, vecs = np.linalg.eigh(gram)
    lam = np.maximum(lam, 0.0)
    if ridge > 0:
        inv = 1.0 / (lam + ridge)
    else:
        cutoff = lam.max(initial=0.0) * max(n, n_features) * np.finfo(phi.dtype).eps
        inv = np.where(lam > cutoff, 1.0 / np.where(lam > cutoff, lam, 1.0), 0.0)
    y2 = y[:, None] if y.ndim == 1 else y
    if wide:  # w = Φᵀ (ΦΦᵀ + λ)⁻¹ y
        alpha = vecs @ (inv[:, None] * (vecs.T @ y2))
        w = phi.T @ alpha
    else:  # w = (ΦᵀΦ + λ)⁻¹ Φᵀ y
        w = vecs @ (inv[:, None] * (vecs.T @ (phi.T @ y2)))
    pred = phi @ w
    pred_test = phi_test @ w if phi_test is not None else None
    if y.ndim == 1:
        pred = pred[:, 0]
        pred_test = pred_test[:, 0] if pred_test is not None else None
    return pred, pred_test, float(np.linalg.norm(w))


def random_features_once(p: dict[str, Any], seed: int, repeat: int) -> dict[str, float]:
    import numpy as np

    n_train, noise = _defaults(p)
    n_features = p["n_features"] or n_train
    data_rng = np.random.default_rng([seed, repeat, 1])
    feat_rng = np.random.default_rng([seed, repeat, 2])
    if p["dataset"] == "digits":
        x_tr, y_tr, x_te, y_te = load_digits_split(seed + 1000 * repeat, n_train, p["n_test"], noise)
        t_tr, t_te = np.eye(10)[y_tr], np.eye(10)[y_te]
    else:
        x, f = _synthetic(data_rng, n_train + p["n_test"], p["input_dim"])
        x_tr, x_te = x[:n_train], x[n_train:]
        t_tr = f[:n_train] + noise * data_rng.standard_normal(n_train)
        t_te = f[n_train:]  # clean targets: the test error is the prediction risk
    d = x_tr.shape[1]
    # Rows are drawn in order, so N features are a prefix of N + 1 features (nested sweep).
    w = feat_rng.standard_normal((n_features, d))
    w *= (1.0 / math.sqrt(d)) if p["features"] == "relu" else p["feature_scale"]
    b = feat_rng.uniform(0.0, 2.0 * math.pi, n_features)
    phi_tr, phi_te = _features(p["features"], w, b, x_tr), _features(p["features"], w, b, x_te)
    pred_tr, pred_te, coef_norm = fit_ridge(phi_tr, t_tr, p["ridge"], phi_te)
    out: dict[str, float] = {}
    if p["dataset"] == "digits":
        out["train_loss"] = float(np.mean(np.sum((pred_tr - t_tr) ** 2, axis=1)))
        out["test_loss"] = float(np.mean(np.sum((pred_te - t_te) ** 2, axis=1)))
        out["train_acc"] = float(np.mean(pred_tr.argmax(1) == y_tr))
        out["test_acc"] = float(np.mean(pred_te.argmax(1) == y_te))
    else:
        out["train_loss"] = out["train_error"] = float(np.mean((pred_tr - t_tr) ** 2))
        out["test_loss"] = out["test_error"] = float(np.mean((pred_te - t_te) ** 2))
    out["coef_norm"] = coef_norm
    return out


# ----------------------------------------------------------------------------- epoch-wise


class EpochwiseModel:
    """Linear regression y = <x, θ*> + noise with d features: a fraction `slow_fraction` of them
    at scale 1/κ (their teacher weights scaled by κ, so every feature carries the same signal).
    GD on (1/2n)||Xw - y||² from w = 0 with lr = lr_scale / λ_max, in closed form."""

    def __init__(self, p: dict[str, Any], seed: int, repeat: int):
        import numpy as np

        n, noise = _defaults(p)
        d = p["n_features"] or n
        n_slow = max(1, int(round(p["slow_fraction"] * d)))
        kappa = p["kappa"]
        rng = np.random.default_rng([seed, repeat, 3])
        scale = np.ones(d)
        scale[d - n_slow:] = 1.0 / kappa
        theta = rng.standard_normal(d) / math.sqrt(d)
        theta[d - n_slow:] *= kappa
        x = rng.standard_normal((n, d)) * scale
        x_te = rng.standard_normal((p["n_test"], d)) * scale
        self.y = x @ theta + noise * rng.standard_normal(n)
        self.y_te = x_te @ theta  # clean: the test error is the prediction risk
        lam, v = np.linalg.eigh(x.T @ x / n)
        lam = np.maximum(lam, 0.0)
        self.lr = p["lr_scale"] / lam.max()
        self.lam, self.v = lam, v
        self.b = v.T @ (x.T @ self.y / n)
        self.x, self.x_te = x, x_te

    def at(self, t: int) -> tuple[float, float]:
        import numpy as np

        lam = self.lam
        safe = np.where(lam > 0, lam, 1.0)
        # (1 - (1 - lr λ)^t) / λ, and lr·t where λ = 0; expm1/log1p keep it accurate for tiny λ.
        step = self.lr * lam
        small = step < 0.5
        frac_small = -np.expm1(t * np.log1p(-np.where(small, step, 0.0)))
        frac_big = 1.0 - np.power(1.0 - np.where(small, 0.0, step), t)
        coef = np.where(lam > 0, np.where(small, frac_small, frac_big) / safe, self.lr * t)
        w = self.v @ (coef * self.b)
        train = float(np.mean((self.x @ w - self.y) ** 2))
        test = float(np.mean((self.x_te @ w - self.y_te) ** 2))
        return train, test


# ----------------------------------------------------------------------------- run


def run(ctx: RunContext) -> None:
    with blas_threads(ctx.threads):
        _run(ctx)


def _run(ctx: RunContext) -> None:
    import numpy as np

    p = ctx.params
    reps = p["repeats"]
    if p["mode"] == "random_features":
        ctx.set_total_steps(1)
        classify = p["dataset"] == "digits"
        ctx.declare_columns((["train_acc", "test_acc"] if classify else [])
                            + ["n_features", "ridge", "coef_norm"])
        rows = []
        for r in range(reps):
            ctx.check_stop()
            rows.append(random_features_once(p, ctx.seed, r))
        row = {k: float(np.mean([x[k] for x in rows])) for k in rows[0]}
        ctx.log(1, **row, n_features=p["n_features"] or _defaults(p)[0], ridge=p["ridge"])
        return
    total = p["steps"]
    ctx.set_total_steps(total)
    ctx.declare_columns(["lr"])
    models = []
    for r in range(reps):
        ctx.check_stop()
        models.append(EpochwiseModel(p, ctx.seed, r))
    lr = float(np.mean([m.lr for m in models]))
    for step in eval_schedule(total, 0, p["eval_log_points"]):
        ctx.check_stop()
        vals = np.array([m.at(step) for m in models])
        train, test = vals.mean(axis=0)
        ctx.log(step, train_loss=train, train_error=train, test_loss=test, test_error=test, lr=lr)
