"""A TensorBoard-logging PyTorch script, moved to grokwatch by changing one import line.

An MLP learns modular addition, (a + b) mod p, from half of all pairs, and logs the way
TensorBoard scripts do: `add_scalar("Loss/train", ...)`, `add_scalars("Accuracy", {...})`.

    python examples/tensorboard_writer.py --steps 200       # alone: logs to ./grokwatch-logs/

The original line is the comment above the import; put it back and the same script writes
TensorBoard event files under runs/ again.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

# from torch.utils.tensorboard import SummaryWriter
from grokwatch.integrations.tensorboard import SummaryWriter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--p", type=int, default=23)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--log-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    pairs = torch.cartesian_prod(torch.arange(args.p), torch.arange(args.p))
    labels = (pairs[:, 0] + pairs[:, 1]) % args.p
    order = torch.randperm(len(pairs))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    model = torch.nn.Sequential(torch.nn.Embedding(args.p, 16), torch.nn.Flatten(),
                                torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, args.p))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)

    writer = SummaryWriter(args.log_dir)
    writer.add_text("setup", f"modulus {args.p}, {len(train)} training pairs")
    for step in range(args.steps + 1):
        logits = model(pairs[train])
        loss = F.cross_entropy(logits, labels[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_every == 0:
            with torch.no_grad():
                test_logits = model(pairs[test])
                test_loss = F.cross_entropy(test_logits, labels[test])
                train_acc = (logits.argmax(1) == labels[train]).float().mean()
                test_acc = (test_logits.argmax(1) == labels[test]).float().mean()
            writer.add_scalar("Loss/train", loss.item(), step)
            writer.add_scalar("Loss/test", test_loss.item(), step)
            writer.add_scalars("Accuracy", {"train": train_acc, "test": test_acc}, step)
            writer.add_histogram("weights/out", model[-1].weight, step)
    writer.add_hparams({"modulus": args.p, "lr": 3e-3}, {"hparam/test_acc": test_acc.item()})
    writer.close()


if __name__ == "__main__":
    main()
