"""Our grokking transformer against a textbook PyTorch implementation of the same model.

The baseline is written the straightforward way: `nn.MultiheadAttention` (sequence-first, with a
causal mask), `nn.Sequential` blocks, the head applied at every position, `torch.optim.AdamW`
with its defaults, a LambdaLR warm-up, `.item()` on the loss every step and evaluation with
`.item()` at the same scheduled steps. Both start from the same initialisation (the baseline
loads our state dict: parameter names and shapes match) and see the same batches.

Prints: the per-step loss agreement over the first 200 steps, ms/step for both (interleaved
rounds, medians), the speed-up, and our effective GFLOP/s against the ~220 GFLOP/s two-thread
sgemm peak measured on this machine.

    python bench/transformer_baseline.py [--threads 2] [--steps 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from grokwatch.experiments.base import eval_schedule  # noqa: E402
from grokwatch.experiments.grokking import SPEC, Trainer  # noqa: E402

PEAK_GFLOPS = 220.0


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads)
        self.self_attn_norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.ffn_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.full((len(x), len(x)), -float("inf"), device=x.device).triu(1)
        a, _ = self.self_attn(x, x, x, attn_mask=mask)
        a = self.self_attn_norm(x + a)
        return self.ffn_norm(a + self.ffn(a))


class BaselineTransformer(nn.Module):
    def __init__(self, n_tokens: int, d_model: int, n_heads: int, n_layers: int, seq_len: int = 5):
        super().__init__()
        self.token_embeddings = nn.Embedding(n_tokens, d_model)
        self.position_embeddings = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(DecoderBlock(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embeddings(tokens) + self.position_embeddings(positions)
        x = x.transpose(0, 1)  # (seq, batch, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))[-1]  # logits at every position, read the last


class BaselineTrainer:
    """The textbook loop over the same data, batches and initialisation as `Trainer`."""

    def __init__(self, ours: Trainer):
        p = ours.params
        self.params = p
        self.model = BaselineTransformer(p["modulus"] + 2, p["d_model"], p["n_heads"], p["n_layers"])
        self.model.load_state_dict(ours.model.state_dict())
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=p["lr"],
                                     weight_decay=p["weight_decay"], betas=tuple(p["betas"]))
        warm = max(1, p["warmup_steps"])
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / warm))
        self.train_x, self.train_y = ours.train_x, ours.train_y
        self.test_x, self.test_y = ours.test_x, ours.test_y
        self.batch_size = ours.batch_size
        self.gen = torch.Generator()
        self.gen.manual_seed(ours.seed + 1)
        self.perm, self.pos, self.step = None, 0, 0

    def train_step(self) -> float:
        n = len(self.train_y)
        if self.perm is None or self.pos + self.batch_size > n:
            self.perm = torch.randperm(n, generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        self.model.train()
        loss = F.cross_entropy(self.model(self.train_x[idx]), self.train_y[idx])
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        return loss.item()

    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        out = {}
        with torch.no_grad():
            for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
                logits = self.model(x)
                out[f"{split}_loss"] = F.cross_entropy(logits, y).item()
                out[f"{split}_acc"] = (logits.argmax(-1) == y).float().mean().item()
        out["weight_norm"] = torch.sqrt(sum((q ** 2).sum() for q in self.model.parameters())).item()
        return out


def forward_flops(p: dict, batch: int, ours: bool) -> float:
    """Matmul FLOPs of one forward pass (x3 for a training step). Ours: the `x op` prefix once per
    possible x (when the modulus is below the batch), the last block at the last position only."""
    d, s, v, layers, m = p["d_model"], 4, p["modulus"] + 2, p["n_layers"], p["modulus"]
    attn = batch * s * s * d * 2  # scores and weighted sum (negligible at s = 4)
    if not ours:
        macs = layers * (batch * s * 12 * d * d + attn) + batch * s * d * v
        return 2.0 * macs
    rows = 2 * m + 2 * batch if m < batch else s * batch
    last = rows * 2 * d * d + batch * 10 * d * d + batch * s * d * 2
    macs = (layers - 1) * (rows * 12 * d * d + attn) + last + batch * d * v
    return 2.0 * macs


def timed(trainer, steps: int, evals: set[int]) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
        if trainer.step in evals:
            trainer.evaluate()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preset", default="paper")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = SPEC.resolve({}, args.preset)
    print(f"preset {args.preset}: {params['model']} {params['operation']} mod {params['modulus']}, "
          f"batch {params['batch_size']}, d_model {params['d_model']}, threads {args.threads}")

    # 1. Same init, same batches: the per-step training loss over the first 200 steps.
    ours = Trainer(params, seed=0)
    base = BaselineTrainer(ours)
    ours_losses = [ours.train_step() for _ in range(200)]
    ours_losses = torch.stack(ours_losses).tolist()
    base_losses = [base.train_step() for _ in range(200)]
    diffs = [abs(a - b) / max(abs(b), 1e-6) for a, b in zip(ours_losses, base_losses)]
    print(f"loss curve, 200 steps from the same init: step 1 {ours_losses[0]:.5f} vs "
          f"{base_losses[0]:.5f}; step 200 {ours_losses[-1]:.5f} vs {base_losses[-1]:.5f}; "
          f"max relative difference {max(diffs):.2e} (mean {sum(diffs) / len(diffs):.2e})")
    e_ours, e_base = ours.evaluate(), base.evaluate()
    print(f"after 200 steps: train acc {e_ours['train_acc']:.4f} vs {e_base['train_acc']:.4f}, "
          f"test acc {e_ours['test_acc']:.4f} vs {e_base['test_acc']:.4f}")

    # 2. Speed: interleaved rounds, the same evaluation schedule (the preset's).
    total = params["steps"]
    evals = set(eval_schedule(total, params["eval_every"], params["eval_log_points"]))
    ms_ours, ms_base = [], []
    timed(ours, 5, set())
    timed(base, 5, set())
    for _ in range(args.rounds):
        ms_ours.append(1e3 * timed(ours, args.steps, evals))
        ms_base.append(1e3 * timed(base, args.steps, evals))
    mo, mb = sorted(ms_ours)[len(ms_ours) // 2], sorted(ms_base)[len(ms_base) // 2]
    best = min(ms_ours)
    bs = ours.batch_size
    f_ours = 3 * forward_flops(params, bs, ours=True)
    f_base = 3 * forward_flops(params, bs, ours=False)
    ratios = sorted(b / o for o, b in zip(ms_ours, ms_base))
    print(f"ms/step (median of {args.rounds} interleaved rounds of {args.steps} steps, evals included): "
          f"ours {mo:.1f}  baseline {mb:.1f}  speed-up {mb / mo:.2f}x; median of per-round ratios "
          f"{ratios[len(ratios) // 2]:.2f}x; best round vs best round {min(ms_base) / min(ms_ours):.2f}x "
          f"[target >= 1.5x]")
    print(f"rounds: ours {[round(x, 1) for x in ms_ours]}, baseline {[round(x, 1) for x in ms_base]}")
    print(f"training FLOPs/step: ours {f_ours / 1e9:.2f} GFLOP, baseline {f_base / 1e9:.2f} GFLOP; "
          f"ours {f_ours / mo / 1e6:.0f} GFLOP/s = {100 * f_ours / mo / 1e6 / PEAK_GFLOPS:.0f}% of "
          f"{PEAK_GFLOPS:.0f}; same-model-equivalent {f_base / mo / 1e6:.0f} GFLOP/s = "
          f"{100 * f_base / mo / 1e6 / PEAK_GFLOPS:.0f}% (baseline {f_base / mb / 1e6:.0f} GFLOP/s); "
          f"best round: ours {f_ours / best / 1e6:.0f} GFLOP/s, same-model-equivalent "
          f"{f_base / best / 1e6:.0f} GFLOP/s = {100 * f_base / best / 1e6 / PEAK_GFLOPS:.0f}% of peak")


if __name__ == "__main__":
    main()
