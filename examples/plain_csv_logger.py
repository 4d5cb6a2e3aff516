"""A training script that has never heard of grokwatch: it writes its own CSV log.

Gradient descent fits 60 noisy samples of a smooth curve with 80 Fourier features. The
validation loss falls, bottoms out, then climbs while the training loss keeps falling:
overfitting. The log is a plain CSV with an `epoch` column and `val_` names:

    epoch,train_loss,val_loss,time
    0,0.213629,0.213127,0.006
    ...

grokwatch reads it as it is (`epoch` -> step, `val_loss` -> test_loss):

    python examples/plain_csv_logger.py --out log.csv
    grokwatch detect log.csv        # the overfitting alert
    grokwatch view log.csv          # the dashboard over it

or runs it as a `command` experiment with `metrics_file` (see examples/experiments.toml).
Needs numpy only.
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np


def features(x: np.ndarray, k_max: int = 40) -> np.ndarray:
    k = np.arange(1, k_max + 1)
    return np.concatenate([np.cos(np.outer(x, k)) / k, np.sin(np.outer(x, k)) / k], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="log.csv", help="the CSV log to write")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--steps-per-epoch", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--n-train", type=int, default=60)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per epoch (to watch it live)")
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    k = np.arange(1, 7)  # the curve: six harmonics with random amplitudes and phases
    amp, phase = rng.normal(size=k.size) / np.sqrt(k), rng.uniform(0, 2 * np.pi, k.size)
    target = lambda x: (amp * np.sin(np.outer(x, k) + phase)).sum(1)  # noqa: E731
    x, xv = rng.uniform(-np.pi, np.pi, args.n_train), rng.uniform(-np.pi, np.pi, 500)
    y = target(x) + rng.normal(size=x.size) * args.noise
    yv = target(xv) + rng.normal(size=xv.size) * args.noise
    X, Xv = features(x), features(xv)  # 80 features for 60 points: it can fit the noise
    w = np.zeros(X.shape[1])
    t0 = time.time()
    with open(args.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["epoch", "train_loss", "val_loss", "time"])
        for epoch in range(args.epochs + 1):
            train_loss = float(np.mean((X @ w - y) ** 2))
            val_loss = float(np.mean((Xv @ w - yv) ** 2))
            out.writerow([epoch, f"{train_loss:.6g}", f"{val_loss:.6g}", f"{time.time() - t0:.3f}"])
            f.flush()
            if epoch % 50 == 0:
                print(f"epoch {epoch}: train {train_loss:.4f}  val {val_loss:.4f}")
            for _ in range(args.steps_per_epoch):
                w -= args.lr * X.T @ (X @ w - y) / y.size
            if args.sleep:
                time.sleep(args.sleep)


if __name__ == "__main__":
    main()
