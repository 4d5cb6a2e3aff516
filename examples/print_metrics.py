"""Report metrics with print() alone: lines that start with `grokwatch:` and hold a JSON
object are metrics; every other line goes to the run's worker.log untouched.

Softmax regression (numpy) on two overlapping Gaussian blobs per class, three classes.
Run it as a `command` experiment (see examples/experiments.toml); alone it just prints.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(3, 2)) * 2.0

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        return centres[y] + rng.normal(size=(n, 2)), y

    (X, y), (Xt, yt) = sample(200), sample(1000)
    W, b = np.zeros((2, 3)), np.zeros(3)

    def evaluate(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        z = X @ W + b
        z -= z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean()), float((z.argmax(1) == y).mean())

    print(f"softmax regression, lr {args.lr}, seed {args.seed}")
    for step in range(args.steps + 1):
        if step % 10 == 0:
            train_loss, train_acc = evaluate(X, y)
            test_loss, test_acc = evaluate(Xt, yt)
            record = {"step": step, "train_loss": train_loss, "train_acc": train_acc,
                      "test_loss": test_loss, "test_acc": test_acc}
            print("grokwatch:", json.dumps(record), flush=True)
        z = X @ W + b
        z -= z.max(1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        prob[np.arange(len(y)), y] -= 1
        W -= args.lr * X.T @ prob / len(y)
        b -= args.lr * prob.mean(0)
    print("done")


if __name__ == "__main__":
    main()
