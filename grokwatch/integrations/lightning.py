"""A Lightning logger that writes through `grokwatch.client`.

    from grokwatch.integrations.lightning import GrokwatchLogger
    trainer = Trainer(logger=GrokwatchLogger())        # or logger=[CSVLogger(...), GrokwatchLogger()]

Every `self.log(...)` of the LightningModule arrives in `log_metrics(metrics, step)` with the
trainer's global step; names go through `grokwatch.columns` as a CSVLogger file's do (`val_acc`
-> `test_acc`; with `on_step=True, on_epoch=True`, `train_loss_epoch` is the `train_loss` curve
and `train_loss_step` keeps its name). `log_hyperparams` fills `params` of a run directory
of the client's own; under grokwatch the experiment's config has them. Model graphs are not
recorded; checkpoints go where Lightning puts them for a logger without a directory of its own
(`default_root_dir/grokwatch/<version>/checkpoints`).

Works with the `lightning` package (`lightning.pytorch`) and with `pytorch_lightning`: the one
the script imported, else whichever is installed.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from . import flat_params, need, note_once, record, record_params
from .. import client
from ..columns import canonical_name


def _framework() -> Any:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        if sys.modules.get(name) is not None:
            return sys.modules[name]
    try:
        return need("lightning.pytorch", "lightning", "lightning")
    except ModuleNotFoundError:
        try:
            return need("pytorch_lightning", "pytorch-lightning", "lightning")
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "grokwatch.integrations.lightning needs PyTorch Lightning, which is not installed: "
                "pip install lightning (or pytorch-lightning)", name="lightning") from None


_pl = _framework()
_Logger = _pl.loggers.Logger
rank_zero_only = _pl.utilities.rank_zero_only


class GrokwatchLogger(_Logger):
    """Lightning `Logger`: metrics and hyperparameters to grokwatch (rank zero only).

    `run`: a `grokwatch.client.Run` to write to (default: the client's default run, the one
    `grokwatch.log()` writes to, so both can be used together)."""

    def __init__(self, run: client.Run | None = None):
        super().__init__()
        self._grokwatch_run = run
        self._version = os.environ.get(client.ENV_RUN_ID) or time.strftime("%Y%m%d-%H%M%S")

    @property
    def name(self) -> str:
        return "grokwatch"

    @property
    def version(self) -> str:
        return self._version

    @staticmethod
    def _with_twins(metrics: dict[str, Any]) -> dict[str, Any]:
        """Lightning logs `<name>_step` only beside an `<name>_epoch` (on_step and on_epoch),
        which may come later or not in this call: name the twin, with no value, so that
        `grokwatch.columns` maps the record as it maps a CSVLogger file that has both columns
        (the epoch mean is the `<name>` curve, the per-step values keep their `_step` name)."""
        for k in [k for k in metrics if k.endswith("_step") and canonical_name(k) is not None]:
            metrics.setdefault(k[:-5] + "_epoch", None)
        return metrics

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        record(step, self._with_twins(dict(metrics)), self._grokwatch_run)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        if not params:
            return
        if not record_params(flat_params(params), self._grokwatch_run) \
                and not os.environ.get(client.ENV_CHANNEL):
            note_once("Lightning hyperparameters logged after the first metrics are not recorded")

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Hand the buffered records on (the run itself ends with the process, so that a
        `trainer.test()` after `fit()` writes to the same run)."""
        run = self._grokwatch_run
        if run is not None:
            run.flush()
        else:
            client.flush()


__all__ = ["GrokwatchLogger"]
