"""A Hugging Face Trainer run reporting to grokwatch through a callback: one import.

An MLP (a plain torch module: nothing is downloaded) learns modular addition, (a + b) mod p,
from half of all pairs; the Trainer logs the training loss every `--logging-steps` and
evaluates (eval_loss, eval_accuracy) every `--eval-steps`.

    python examples/hf_trainer.py --steps 200        # alone: logs to ./grokwatch-logs/
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from grokwatch.integrations.transformers import GrokwatchCallback


class ModularAddition(torch.nn.Module):
    def __init__(self, p: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Embedding(p, 16), torch.nn.Flatten(),
                                       torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, p))

    def forward(self, ab, labels=None):
        logits = self.net(ab)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits, labels)
        return out


class Pairs(torch.utils.data.Dataset):
    def __init__(self, ab, labels):
        self.ab, self.labels = ab, labels

    def __len__(self):
        return len(self.ab)

    def __getitem__(self, i):
        return {"ab": self.ab[i], "labels": self.labels[i]}


def accuracy(pred) -> dict[str, float]:
    return {"accuracy": float((np.argmax(pred.predictions, 1) == pred.label_ids).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--logging-steps", type=int, default=5)
    ap.add_argument("--eval-steps", type=int, default=20)
    ap.add_argument("--out", default="hf-output", help="the Trainer's output_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    pairs = torch.cartesian_prod(torch.arange(args.p), torch.arange(args.p))
    labels = (pairs[:, 0] + pairs[:, 1]) % args.p
    order = torch.randperm(len(pairs))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    targs = TrainingArguments(output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=64,
                              learning_rate=3e-3, weight_decay=1.0, logging_steps=args.logging_steps,
                              eval_strategy="steps", eval_steps=args.eval_steps, save_strategy="no",
                              report_to="none", use_cpu=True, disable_tqdm=True, seed=args.seed)
    trainer = Trainer(model=ModularAddition(args.p), args=targs,
                      train_dataset=Pairs(pairs[train], labels[train]),
                      eval_dataset=Pairs(pairs[test], labels[test]),
                      compute_metrics=accuracy, callbacks=[GrokwatchCallback()])
    trainer.train()
    trainer.save_state()  # trainer_state.json in --out: the Trainer's own record of the same logs


if __name__ == "__main__":
    main()
