"""`SummaryWriter` with torch's signature, writing scalars through `grokwatch.client`.

    # from torch.utils.tensorboard import SummaryWriter
    from grokwatch.integrations.tensorboard import SummaryWriter

A TensorBoard-logging script changes that one line. `add_scalar(tag, value, global_step)` and
`add_scalars(main_tag, {tag: value}, global_step)` become records at `global_step`; tags go
through `grokwatch.columns`, so `Loss/train`, `train/loss` and `add_scalars("loss", {"train":
…, "test": …})` are the train and test loss curves, `Accuracy/val` the test accuracy. Without
a `global_step` a tag's n-th value is at step n (so the values of one loop iteration share a
row). `walltime` is not used (grokwatch times rows itself); `new_style`/`double_precision`
are TensorBoard's encodings. `add_hparams` gives a run directory of the client's own its
`params` and records `metric_dict` at `global_step` when there is one. Every other `add_*`
(histograms, images, text, graphs, …) is accepted and ignored, with one line on stderr per
method. `flush()` hands the buffered records on; `close()` too (the run ends with the process).

No event files are written and TensorBoard is not imported (standard library only). To keep
TensorBoard's files as well, keep torch's writer: grokwatch reads its event files as they are
(a `command` run's `metrics_file`, `grokwatch view`).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from . import note_once, record, record_params
from .. import client

# torch.utils.tensorboard.SummaryWriter's other public methods: accepted, ignored, said once
IGNORED = ("add_audio", "add_custom_scalars", "add_custom_scalars_marginchart",
           "add_custom_scalars_multilinechart", "add_embedding", "add_figure", "add_graph",
           "add_histogram", "add_histogram_raw", "add_image", "add_image_with_boxes", "add_images",
           "add_mesh", "add_onnx_graph", "add_pr_curve", "add_pr_curve_raw", "add_tensor",
           "add_text", "add_video")


class SummaryWriter:
    """Scalars to grokwatch, with `torch.utils.tensorboard.SummaryWriter`'s signature.

    `log_dir` is kept as TensorBoard would name it (`get_logdir()`); one you pass is created,
    as TensorBoard does, the default `runs/<time>_<host>` is not (it would land in a grokwatch
    project's own `runs/`). `run`: a `grokwatch.client.Run` to write to (default: the client's
    default run)."""

    def __init__(self, log_dir: str | None = None, comment: str = "", purge_step: int | None = None,
                 max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "",
                 run: client.Run | None = None):
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        else:
            log_dir = os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_"
                                   + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self._grokwatch_run = run
        self._counts: dict[str, int] = {}  # tag -> values logged without a global_step

    def get_logdir(self) -> str:
        return self.log_dir

    def _step(self, tag: str, global_step: Any) -> int | None:
        if global_step is None:
            n = self._counts.get(tag, 0)
            self._counts[tag] = n + 1
            return n
        step = client.to_number(global_step)
        return int(step) if isinstance(step, float) and step == step else global_step

    def add_scalar(self, tag: str, scalar_value: Any, global_step: Any = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        record(self._step(tag, global_step), {tag: scalar_value}, self._grokwatch_run)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any], global_step: Any = None,
                    walltime: float | None = None) -> None:
        step = self._step(main_tag, global_step)
        record(step, {f"{main_tag}/{tag}": v for tag, v in tag_scalar_dict.items()},
               self._grokwatch_run)

    def add_hparams(self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
                    hparam_domain_discrete: dict | None = None, run_name: str | None = None,
                    global_step: int | None = None) -> None:
        if hparam_dict and not record_params(hparam_dict, self._grokwatch_run) \
                and not os.environ.get(client.ENV_CHANNEL):
            note_once("SummaryWriter.add_hparams after the first scalars: the hyperparameters "
                      "are not recorded")
        if metric_dict and global_step is not None:
            record(self._step("", global_step), dict(metric_dict), self._grokwatch_run)
        elif metric_dict:
            note_once("SummaryWriter.add_hparams without a global_step: metric_dict is not "
                      "recorded (it is not a point of a curve)")

    def flush(self) -> None:
        (self._grokwatch_run or client).flush()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


def _ignored(name: str) -> Any:
    def method(self: SummaryWriter, *args: Any, **kwargs: Any) -> None:
        note_once(f"SummaryWriter.{name} is ignored: grokwatch records scalars only")

    method.__name__ = name
    method.__doc__ = f"Accepted for torch's SummaryWriter.{name}; nothing is recorded."
    return method


for _name in IGNORED:
    setattr(SummaryWriter, _name, _ignored(_name))

__all__ = ["SummaryWriter"]
