"""Packed grokking runs: R runs that share their shapes train as ONE batched computation.

Every member's parameters are stacked along a leading run dimension and the kind's own model
(`models.GrokMLP`, `models.GrokTransformer`) runs under `torch.func.vmap` + `functional_call`, so
a packed run computes the same function as the unpacked `grokking.Trainer`. Per-run
hyperparameters (lr, weight decay, betas, Adam vs AdamW, warm-up, Grokfast alpha/lambda) are
tensors over the run dimension; per-run data splits (seed, train fraction) are index tensors
into the shared table of all pairs, padded, with a mask. The step has no Python loop over runs:
one forward, one backward, one batched Adam(W) update (`PackTrainer._adam`, the arithmetic of
`torch.optim.AdamW`/`Adam`). The only per-run Python is data preparation: drawing a new
minibatch permutation for a member at its epoch boundary (each from its own generator, as the
unpacked run does).

Checkpoints are written per member in exactly the format of `grokking.Trainer.save`, so a
single worker resumes a packed member, and a pack resumes a single run's checkpoint.
Imported only by workers (torch at module level).
"""

from __future__ import annotations

import copy
import random
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from ..packing import PER_RUN_PARAMS  # what members may differ in, besides the seed
from . import grokking as G

EPS = 1e-8  # torch.optim.Adam(W)'s default


def pack_key(params: dict[str, Any]) -> tuple:
    """Runs with equal keys can share one pack (`grokwatch.packing.pack_key`)."""
    from ..packing import pack_key as key

    return key("grokking", params)


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(R,) -> (R, 1, 1, ...) broadcasting against a stacked parameter."""
    return t.view((-1,) + (1,) * (like.dim() - 1))


class PackTrainer:
    """State and steps of R grokking runs trained together; `grokwatch.pack` drives it.

    Members are addressed by their position 0..R-1; `keep()` drops members (done, stopped,
    diverged) and renumbers the rest."""

    def __init__(self, params: Sequence[dict[str, Any]], seeds: Sequence[int], device: str = "cpu"):
        if not params:
            raise ValueError("a pack needs at least one run")
        keys = {pack_key(p) for p in params}
        if len(keys) != 1:
            raise ValueError("these runs do not share their shapes and cannot be packed")
        self.params = [dict(p) for p in params]
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        p0 = self.params[0]
        self.kind = p0["model"]
        R = len(self.params)
        # -- models: each member initialised exactly as grokking.Trainer does (its seed first)
        models = []
        self.n_train = np.zeros(R, dtype=np.int64)
        orders = []
        for r, (p, seed) in enumerate(zip(self.params, self.seeds)):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            n_train, _ = G._split_sizes(p)
            orders.append(np.random.default_rng(seed).permutation(G._n_pairs(p)))
            self.n_train[r] = n_train
            models.append(G.build_model(p))
        self.template = copy.deepcopy(models[0]).to("meta")
        self.names = [n for n, _ in models[0].named_parameters()]
        self.weights = [torch.stack([dict(m.named_parameters())[n].detach() for m in models])
                        .to(self.device).requires_grad_(True) for n in self.names]
        del models
        # -- data: every pair once; members index into it
        xy, labels = G.make_pairs(p0["operation"], p0["modulus"])
        to = dict(device=self.device)
        self.all_x = G.model_inputs(p0, torch.as_tensor(xy, **to))
        self.all_y = torch.as_tensor(labels, **to)
        self.n_pairs = len(labels)
        self.orders = np.stack(orders)  # (R, N): member r's train set is orders[r, :n_train[r]]
        self._set_data()
        # -- hyperparameters as tensors over the run dimension
        self.base_lr = np.array([p["lr"] for p in self.params], dtype=np.float64)
        self.warmup = np.array([p["warmup_steps"] for p in self.params], dtype=np.int64)
        self.betas = np.array([p["betas"] for p in self.params], dtype=np.float64)
        self.wd = np.array([p["weight_decay"] for p in self.params], dtype=np.float64)
        self.decoupled = np.array([p.get("optimizer") != "adam" for p in self.params])
        self.gf = np.array([bool(p["grokfast"]) for p in self.params])
        self.gf_alpha = np.array([p["grokfast_alpha"] for p in self.params], dtype=np.float64)
        self.gf_lamb = np.array([p["grokfast_lamb"] for p in self.params], dtype=np.float64)
        self.steps = np.zeros(R, dtype=np.int64)
        self.exp_avg = [torch.zeros_like(w) for w in self.weights]
        self.exp_avg_sq = [torch.zeros_like(w) for w in self.weights]
        self.ema: list[torch.Tensor] | None = None
        self.ema_ready = np.zeros(R, dtype=bool)
        # -- minibatches: per-member generator, permutation and position (as the unpacked run)
        bs = p0["batch_size"]
        full = [bs <= 0 or bs >= n for n in self.n_train]
        if any(full) and not all(full):
            raise ValueError("batch_size is a full batch for some members and not others")
        self.full_batch = all(full)
        self.batch_size = int(bs)
        self.gens = []
        for seed in self.seeds:
            g = torch.Generator(device=self.device)
            g.manual_seed(seed + 1)
            self.gens.append(g)
        self.perm = torch.zeros(R, int(self.n_train.max()), dtype=torch.long, device=self.device)
        self.has_perm = np.zeros(R, dtype=bool)
        self.pos = np.zeros(R, dtype=np.int64)
        self._refresh_hyper()

    # -- bookkeeping ------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.seeds)

    def _set_data(self) -> None:
        """Per-member train index (padded) and train mask over all pairs, from `orders`."""
        R, N = self.orders.shape
        width = int(self.n_train.max())
        idx = torch.as_tensor(self.orders[:, :width].copy(), device=self.device)
        self.train_idx = idx  # (R, width); row r valid up to n_train[r]
        valid = torch.arange(width, device=self.device).unsqueeze(0) < torch.as_tensor(
            self.n_train, device=self.device).unsqueeze(1)
        self.train_valid = valid
        self.inv_n_train = torch.as_tensor(1.0 / self.n_train, dtype=torch.float32, device=self.device)
        mask = torch.zeros(R, N, dtype=torch.bool, device=self.device)
        mask.scatter_(1, torch.where(valid, idx, idx[:, :1]), True)
        self.is_train = mask  # (R, N)
        if hasattr(self, "all_x"):
            self.full_x = self.all_x[idx]
            self.full_y = self.all_y[idx]

    def _refresh_hyper(self) -> None:
        f32 = dict(dtype=torch.float32, device=self.device)
        self.t_one_minus_b1 = torch.as_tensor(1 - self.betas[:, 0], **f32)
        self.t_b2 = torch.as_tensor(self.betas[:, 1], **f32)
        self.t_one_minus_b2 = torch.as_tensor(1 - self.betas[:, 1], **f32)
        self.t_wd_l2 = torch.as_tensor(np.where(self.decoupled, 0.0, self.wd), **f32)
        self.any_l2 = bool(((~self.decoupled) & (self.wd != 0)).any())
        self.t_gf_alpha = torch.as_tensor(self.gf_alpha, **f32)
        self.t_gf_one_minus_alpha = torch.as_tensor(1 - self.gf_alpha, **f32)
        self.t_gf_lamb = torch.as_tensor(np.where(self.gf, self.gf_lamb, 0.0), **f32)
        self.any_gf = bool(self.gf.any())

    def keep(self, members: Sequence[int]) -> None:
        """Keep only these members (in this order); the others leave the pack."""
        sel = np.asarray(list(members), dtype=np.int64)
        idx = torch.as_tensor(sel, device=self.device)
        with torch.no_grad():
            self.weights = [w.detach().index_select(0, idx).requires_grad_(True) for w in self.weights]
            self.exp_avg = [m.index_select(0, idx) for m in self.exp_avg]
            self.exp_avg_sq = [v.index_select(0, idx) for v in self.exp_avg_sq]
            if self.ema is not None:
                self.ema = [e.index_select(0, idx) for e in self.ema]
            self.perm = self.perm.index_select(0, idx)
        for name in ("n_train", "orders", "base_lr", "warmup", "betas", "wd", "decoupled", "gf",
                     "gf_alpha", "gf_lamb", "steps", "ema_ready", "has_perm", "pos"):
            setattr(self, name, getattr(self, name)[sel])
        self.params = [self.params[i] for i in sel]
        self.seeds = [self.seeds[i] for i in sel]
        self.gens = [self.gens[i] for i in sel]
        if len(sel):
            self._set_data()
            self._refresh_hyper()

    # -- one optimizer step of every member -------------------------------------------

    def lr_at(self, steps: np.ndarray) -> np.ndarray:
        """grokking.Trainer.lr_at, per member."""
        warm = self.warmup
        ramp = np.minimum(1.0, (steps + 1) / np.maximum(warm, 1))
        return np.where(warm > 0, self.base_lr * ramp, self.base_lr)

    def _forward(self, weights: list[torch.Tensor], x: torch.Tensor, x_batched: bool = True):
        """Logits (R, B, V) of every member: x (R, B, ...) per member, or (B, ...) shared."""
        if self.kind == "mlp" and self.names == ["w_x", "w_y", "w_out.weight"]:
            return self._mlp_forward(weights, x, x_batched)

        def f(ws, xs):
            return functional_call(self.template, dict(zip(self.names, ws)), (xs,))

        return vmap(f, in_dims=(0, 0 if x_batched else None))(weights, x)

    def _mlp_forward(self, weights: list[torch.Tensor], x: torch.Tensor, x_batched: bool):
        """GrokMLP.forward (one-hot inputs) for every member at once, written out: the two row
        lookups as one index_select into the flattened (R*p, width) tables (vmap's batched
        advanced indexing is several times slower on the CPU), then one bmm."""
        w_x, w_y, w_out = weights
        R, p, W = w_x.shape
        xy = x if x_batched else x.unsqueeze(0).expand(R, *x.shape)
        offset = (torch.arange(R, device=x.device) * p).unsqueeze(1)
        ix = (xy[..., 0] + offset).reshape(-1)
        iy = (xy[..., 1] + offset).reshape(-1)
        h = w_x.reshape(R * p, W).index_select(0, ix) + w_y.reshape(R * p, W).index_select(0, iy)
        h = h.view(R, -1, W)
        h = torch.square(h) if self.params[0]["activation"] == "quadratic" else F.relu(h)
        return torch.bmm(h, w_out.transpose(1, 2))

    def _batch(self):
        if self.full_batch:
            return self.full_x, self.full_y, self.train_valid
        bs = self.batch_size
        need = ~self.has_perm | (self.pos + bs > self.n_train)
        for r in np.flatnonzero(need):  # a member's epoch boundary: its own generator
            n = int(self.n_train[r])
            self.perm[r, :n] = torch.randperm(n, generator=self.gens[r], device=self.device)
            self.has_perm[r] = True
            self.pos[r] = 0
        cols = torch.as_tensor(self.pos, device=self.device).unsqueeze(1) + torch.arange(
            bs, device=self.device)
        rows = self.perm.gather(1, cols)  # positions in each member's train set
        pairs = self.train_idx.gather(1, rows)
        self.pos = self.pos + bs
        return self.all_x[pairs], self.all_y[pairs], None

    def train_step(self) -> torch.Tensor:
        """One optimizer step of every member; returns the per-member batch losses (R,)."""
        x, y, valid = self._batch()
        logits = self._forward(self.weights, x)  # (R, B, V)
        R, B, V = logits.shape
        ce = F.cross_entropy(logits.reshape(R * B, V), y.reshape(R * B), reduction="none").view(R, B)
        if valid is not None:
            losses = (ce * valid).sum(1) * self.inv_n_train
        else:
            losses = ce.mean(1)
        for w in self.weights:
            w.grad = None
        losses.sum().backward()
        with torch.no_grad():
            grads = [w.grad for w in self.weights]
            if self.any_gf:
                self._grokfast(grads)
            self._adam(grads, self.lr_at(self.steps))
        self.steps = self.steps + 1
        return losses.detach()

    def _grokfast(self, grads: list[torch.Tensor]) -> None:
        """Grokfast EMA filter per member (lambda 0 for members without it)."""
        if self.ema is None:
            self.ema = [torch.zeros_like(g) for g in grads]
        ready = torch.as_tensor(self.ema_ready, device=self.device)
        for e, g in zip(self.ema, grads):
            upd = e * _view(self.t_gf_alpha, e) + g * _view(self.t_gf_one_minus_alpha, e)
            e.copy_(torch.where(_view(ready, e), upd, g))
            g.add_(_view(self.t_gf_lamb, g) * e)
        self.ema_ready[:] = True

    def _adam(self, grads: list[torch.Tensor], lr_now: np.ndarray) -> None:
        """torch.optim's Adam(W) arithmetic with per-member hyperparameters and steps:
        AdamW p *= 1 - lr*wd | Adam g += wd*p; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g²;
        p -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps)."""
        f32 = dict(dtype=torch.float32, device=self.device)
        t = (self.steps + 1).astype(np.float64)
        step_size = torch.as_tensor(lr_now / (1 - self.betas[:, 0] ** t), **f32)
        bc2_sqrt = torch.as_tensor(np.sqrt(1 - self.betas[:, 1] ** t), **f32)
        decay = torch.as_tensor(1 - lr_now * np.where(self.decoupled, self.wd, 0.0), **f32)
        for p, g, m, v in zip(self.weights, grads, self.exp_avg, self.exp_avg_sq):
            if self.any_l2:
                g = g + _view(self.t_wd_l2, p) * p
            p.mul_(_view(decay, p))
            m.lerp_(g, _view(self.t_one_minus_b1, p))
            v.mul_(_view(self.t_b2, p)).addcmul_(g * _view(self.t_one_minus_b2, p), g)
            denom = (v.sqrt() / _view(bc2_sqrt, p)).add_(EPS)
            p.sub_(_view(step_size, p) * m / denom)

    # -- evaluation --------------------------------------------------------------------

    def evaluate(self, budget: int = 1 << 18) -> list[dict[str, float]]:
        """Loss and accuracy on each member's whole train and test sets, and its weight norm;
        one host transfer for all members. Logits are computed once over all pairs per member,
        in chunks of at most `budget` logits."""
        R = self.size
        V = int(self.weights[self.names.index(self._head_name())].shape[1])
        chunk = max(256, budget // max(1, R * V))
        sums = torch.zeros(4, R, dtype=torch.float64, device=self.device)
        with torch.inference_mode():
            weights = [w.detach() for w in self.weights]
            for i in range(0, self.n_pairs, chunk):
                xs, ys = self.all_x[i:i + chunk], self.all_y[i:i + chunk]
                logits = self._forward(weights, xs, x_batched=False).float()  # (R, c, V)
                c = logits.shape[1]
                ce = F.cross_entropy(logits.reshape(R * c, V), ys.repeat(R),
                                     reduction="none").view(R, c)
                right = logits.argmax(-1) == ys
                tr = self.is_train[:, i:i + chunk]
                sums[0] += (ce * tr).sum(1)
                sums[1] += (right & tr).sum(1)
                sums[2] += (ce * ~tr).sum(1)
                sums[3] += (right & ~tr).sum(1)
            sq = sum(w.flatten(1).double().pow(2).sum(1) for w in weights)
            vals = torch.cat([sums, sq.sqrt().unsqueeze(0)]).cpu().numpy()
        n_tr = self.n_train.astype(np.float64)
        n_te = self.n_pairs - n_tr
        lr = self.lr_at(np.maximum(0, self.steps - 1))
        return [{"train_loss": vals[0, r] / n_tr[r], "train_acc": vals[1, r] / n_tr[r],
                 "test_loss": vals[2, r] / n_te[r], "test_acc": vals[3, r] / n_te[r],
                 "weight_norm": vals[4, r], "lr": float(lr[r])} for r in range(R)]

    def _head_name(self) -> str:
        return "w_out.weight" if self.kind == "mlp" else "head.weight"

    # -- checkpoints: each member in grokking.Trainer's format -------------------------

    def member_state(self, r: int) -> dict[str, Any]:
        p = self.params[r]
        with torch.random.fork_rng(devices=[]):
            model = G.build_model(p).to(self.device)  # only for the state-dict layout
        opt = G.make_optimizer(p, model, str(self.device))
        sd = opt.state_dict()
        step = int(self.steps[r])
        for group in sd["param_groups"]:
            group["lr"] = float(self.lr_at(np.array([max(0, step - 1)]))[0]) if step else p["lr"]
        # the 'step' tensor as a fused optimizer keeps it (float32 on the parameters' device)
        sd["state"] = {i: {"step": torch.tensor(float(step), dtype=torch.float32,
                                                device=self.device if _fused(opt) else "cpu"),
                           "exp_avg": self.exp_avg[i][r].detach().clone(),
                           "exp_avg_sq": self.exp_avg_sq[i][r].detach().clone()}
                       for i in range(len(self.names))} if step else {}
        model_sd = {n: w[r].detach().clone() for n, w in zip(self.names, self.weights)}
        ema = None
        if p["grokfast"] and self.ema is not None and self.ema_ready[r]:
            ema = [e[r].detach().clone() for e in self.ema]
        perm = None
        if not self.full_batch and self.has_perm[r]:
            perm = self.perm[r, :int(self.n_train[r])].clone()
        return {"step": step, "model": model_sd, "opt": sd, "ema": ema, "perm": perm,
                "pos": int(self.pos[r]), "gen": self.gens[r].get_state(),
                "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate()}

    def save_member(self, r: int, path) -> None:
        torch.save(self.member_state(r), path)

    def load_member(self, r: int, path) -> None:
        """Resume member r from a checkpoint written by a pack or by a single worker."""
        state = G.load_state(path)  # data only: weights_only=True
        with torch.no_grad():
            for n, w in zip(self.names, self.weights):
                w[r].copy_(state["model"][n])
            opt_state = state["opt"]["state"]
            step = int(state["step"])
            for i in range(len(self.names)):
                s = opt_state.get(i)
                if s is None:
                    self.exp_avg[i][r].zero_()
                    self.exp_avg_sq[i][r].zero_()
                else:
                    self.exp_avg[i][r].copy_(s["exp_avg"])
                    self.exp_avg_sq[i][r].copy_(s["exp_avg_sq"])
            self.steps[r] = step
            if state.get("ema") is not None:
                if self.ema is None:
                    self.ema = [torch.zeros_like(w) for w in self.weights]
                for e, saved in zip(self.ema, state["ema"]):
                    e[r].copy_(saved)
                self.ema_ready[r] = True
            if state.get("perm") is not None:
                n = int(self.n_train[r])
                self.perm[r, :n] = state["perm"].to(self.device)
                self.has_perm[r] = True
            self.pos[r] = int(state["pos"])
        self.gens[r].set_state(state["gen"])


def _fused(opt) -> bool:
    return bool(opt.param_groups[0].get("fused"))


def weight_count(params: dict[str, Any]) -> int:
    """Parameters of one member (for memory estimates)."""
    with torch.device("meta"):
        return sum(q.numel() for q in G.build_model(params).parameters())


__all__ = ["PackTrainer", "PER_RUN_PARAMS", "pack_key", "weight_count"]
