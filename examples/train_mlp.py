"""A small plain-PyTorch training script, instrumented for grokwatch with two lines.

An MLP learns modular addition, (a + b) mod p, from 60% of all pairs. With strong weight
decay it first memorises the training pairs (train error 0, test error ~1) and, hundreds to
thousands of steps later, generalises: grokking, in seconds on a laptop CPU.

    python examples/train_mlp.py --lr 3e-3 --steps 3000   # alone: logs to ./grokwatch-logs/
    grokwatch --config examples/experiments.toml    # a sweep of it, watched live

Nothing here depends on grokwatch except `from grokwatch import log` and the `log(...)` call.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from grokwatch import log


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--p", type=int, default=23, help="the modulus")
    p.add_argument("--train-fraction", type=float, default=0.6)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight-decay", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    return p.parse_args()


class MLP(nn.Module):
    def __init__(self, p: int, hidden: int, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(p, dim)
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, p))

    def forward(self, ab: torch.Tensor) -> torch.Tensor:
        return self.net(self.embed(ab).flatten(1))


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    pairs = torch.cartesian_prod(torch.arange(args.p), torch.arange(args.p)).to(device)
    labels = (pairs[:, 0] + pairs[:, 1]) % args.p
    order = torch.randperm(len(pairs), device=device)
    n_train = int(args.train_fraction * len(pairs))
    train, test = order[:n_train], order[n_train:]

    model = MLP(args.p, args.hidden).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                            betas=(0.9, 0.98))
    print(f"modular addition mod {args.p}: {len(train)} train / {len(test)} test pairs, "
          f"lr {args.lr}, weight decay {args.weight_decay}, seed {args.seed}")
    t0 = time.time()
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                metrics = {}
                for split, idx in (("train", train), ("test", test)):
                    logits = model(pairs[idx])
                    metrics[f"{split}_loss"] = F.cross_entropy(logits, labels[idx]).item()
                    metrics[f"{split}_acc"] = (logits.argmax(1) == labels[idx]).float().mean().item()
            log(step=step, **metrics)  # <- grokwatch
            model.train()
        if step == args.steps:
            break
        loss = F.cross_entropy(model(pairs[train]), labels[train])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    print(f"done in {time.time() - t0:.1f} s: train acc {metrics['train_acc']:.3f}, "
          f"test acc {metrics['test_acc']:.3f}")


if __name__ == "__main__":
    main()
