"""A Hugging Face `TrainerCallback` that writes through `grokwatch.client`.

    from grokwatch.integrations.transformers import GrokwatchCallback
    trainer = Trainer(..., callbacks=[GrokwatchCallback()])

Every `Trainer.log` call (the training logs every `logging_steps`, each evaluation) becomes a
record at `state.global_step`: `loss` is the training loss (`train_loss`), `eval_loss` and
`eval_<metric>` go through `grokwatch.columns` (`eval_accuracy` -> `test_acc`); `grad_norm`,
`learning_rate`, `epoch` and the evaluation's timings are kept under their own names. The
closing summary (`train_runtime`, the run's mean `train_loss`) is not a point of the curve and
is left out, as the `trainer_state.json` reader does. `state.max_steps` gives progress and ETA.
Only the main process (`state.is_world_process_zero`) records.
"""

from __future__ import annotations

from typing import Any

from . import need, record, train_name
from .. import client

_transformers = need("transformers", "transformers", "transformers")

SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "total_flos")


class GrokwatchCallback(_transformers.TrainerCallback):
    """`run`: a `grokwatch.client.Run` to write to (default: the client's default run)."""

    def __init__(self, run: client.Run | None = None):
        self._grokwatch_run = run

    def _run(self) -> client.Run:
        return self._grokwatch_run if self._grokwatch_run is not None else client._get_default()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and state.max_steps and state.max_steps > 0:
            self._run().set_total_steps(int(state.max_steps))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or any(k in logs for k in SUMMARY_KEYS):
            return
        record(int(state.global_step), {train_name(k) if k == "loss" else k: v
                                        for k, v in logs.items()}, self._grokwatch_run)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._run().flush()


__all__ = ["GrokwatchCallback"]
