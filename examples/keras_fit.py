"""A Keras 3 `model.fit` reporting to grokwatch through a callback: one import.

An MLP learns modular addition, (a + b) mod p, from half of all pairs; `fit` validates on
the other half every epoch.

    KERAS_BACKEND=torch python examples/keras_fit.py --epochs 30   # alone: logs to ./grokwatch-logs/
    python examples/keras_fit.py --csv training.log                # and Keras' CSVLogger beside it
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # any backend works; torch is the one installed here

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grokwatch.integrations.keras import GrokwatchCallback  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--every-n-batches", type=int, default=0)
    ap.add_argument("--csv", default=None, help="also log with Keras' CSVLogger to this file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    keras.utils.set_random_seed(args.seed)
    a, b = np.meshgrid(np.arange(args.p), np.arange(args.p), indexing="ij")
    pairs = np.stack([a.ravel(), b.ravel()], axis=1)
    labels = (pairs[:, 0] + pairs[:, 1]) % args.p
    order = np.random.default_rng(args.seed).permutation(len(pairs))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    model = keras.Sequential([keras.Input((2,), dtype="int32"), keras.layers.Embedding(args.p, 16),
                              keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(args.p)])
    model.compile(optimizer=keras.optimizers.AdamW(3e-3, weight_decay=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callbacks = [GrokwatchCallback(every_n_batches=args.every_n_batches)]
    if args.csv:
        callbacks.append(keras.callbacks.CSVLogger(args.csv))
    model.fit(pairs[train], labels[train], validation_data=(pairs[test], labels[test]), batch_size=64,
              epochs=args.epochs, verbose=0, callbacks=callbacks)


if __name__ == "__main__":
    main()
