"""A Keras callback that writes through `grokwatch.client`.

    from grokwatch.integrations.keras import GrokwatchCallback
    model.fit(x, y, validation_data=(xv, yv), epochs=50, callbacks=[GrokwatchCallback()])

At the end of each epoch the epoch's logs become a record at the optimizer's step count
(`model.optimizer.iterations`, the unit HF, Lightning and TensorBoard steps count in), with
the epoch number (from 0, as Keras' `CSVLogger` writes it) as `epoch`: `loss`/`accuracy` are
the training curve (`train_loss`, `train_acc`), `val_loss`/`val_accuracy` the test curve.
`every_n_batches=N` also records the training logs of every N-th batch (Keras' running means
over the epoch so far). `epochs` x `steps` per epoch gives progress and ETA. Keras 3, any
backend.
"""

from __future__ import annotations


from . import need, record, train_name
from .. import client

_keras = need("keras", "keras", "keras")


class GrokwatchCallback(_keras.callbacks.Callback):
    """`every_n_batches`: also record every N-th batch's training logs (0: epochs only).
    `run`: a `grokwatch.client.Run` to write to (default: the client's default run)."""

    def __init__(self, every_n_batches: int = 0, run: client.Run | None = None):
        super().__init__()
        self.every_n_batches = int(every_n_batches)
        self._grokwatch_run = run
        self._batches = 0  # where the optimizer cannot say its step count

    def _run(self) -> client.Run:
        return self._grokwatch_run if self._grokwatch_run is not None else client._get_default()

    def _step(self) -> int:
        try:
            return int(self.model.optimizer.iterations)
        except (AttributeError, TypeError, ValueError):
            return self._batches

    def on_train_begin(self, logs: dict | None = None) -> None:
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if epochs and steps:
            self._run().set_total_steps(int(epochs) * int(steps))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self.every_n_batches > 0 and logs and (batch + 1) % self.every_n_batches == 0:
            record(self._step(), {train_name(k): v for k, v in logs.items()}, self._grokwatch_run)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {train_name(k): v for k, v in (logs or {}).items()}
        metrics["epoch"] = epoch  # from 0, as Keras' CSVLogger writes it
        record(self._step(), metrics, self._grokwatch_run)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._run().flush()


__all__ = ["GrokwatchCallback"]
