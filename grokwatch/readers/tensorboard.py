"""TensorBoard event files, read with TensorBoard's own loader (`grokwatch[tensorboard]`).

A run is a directory holding event files (as `tensorboard --logdir` sees it; a writer that
restarts adds a file beside the first). Only scalars are read (`add_scalar`, Keras' and
Lightning's TensorBoard loggers); histograms, images and text are left alone. Live: each
file keeps its own `EventFileLoader`, which holds its offset, so a growing file costs only
its new records, and a truncated last record is read once it is complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Source

FORMAT = "TensorBoard event files"
LOADER = "tensorboard.backend.event_processing.event_file_loader"


def is_event_file(head: bytes) -> bool:
    """A TFRecord whose first record is an Event naming its file version ("brain.Event:2"):
    8 bytes of length, 4 of CRC, then the serialized Event."""
    return len(head) > 16 and b"brain.Event:" in head[12:64]


class TensorBoardSource(Source):
    format = FORMAT
    extra = "tensorboard"

    def __init__(self, run_dir: Path, name: str, sniff, column_map=None,
                 files: list[Path] | None = None):
        super().__init__(run_dir, name, column_map=column_map)
        self._sniff = sniff  # path -> first bytes (the registry's cached reader)
        self._files = files  # given: only these (a file named on the command line)
        self._loaders: dict[str, object] = {}

    def event_files(self) -> list[Path]:
        if self._files is not None:
            return list(self._files)
        try:
            names = sorted(e.name for e in os.scandir(self.path) if e.is_file())
        except OSError:
            return []
        return [self.path / n for n in names if is_event_file(self._sniff(self.path / n))]

    def _load(self, final: bool = False) -> None:
        from .base import need

        efl = need(LOADER, "tensorboard", f"{self.path}: {FORMAT}")
        from tensorboard.util import tensor_util

        for f in self.event_files():
            if str(f) not in self._loaders:
                self._loaders[str(f)] = efl.EventFileLoader(str(f))
        for f, loader in self._loaders.items():
            try:
                events = list(loader.Load())
            except Exception as exc:  # noqa: BLE001 — a corrupt file is counted, the others read
                self.bad(f"{Path(f).name}: {exc}")
                continue
            for ev in events:
                if not ev.HasField("summary"):
                    continue
                for v in ev.summary.value:
                    if v.metadata.plugin_data.plugin_name != "scalars":
                        continue
                    try:
                        value = float(tensor_util.make_ndarray(v.tensor).item())
                    except (ValueError, TypeError):
                        self.bad(f"{v.tag} at step {ev.step}")
                        continue
                    self._steps.add(float(ev.step), v.tag, value, ev.wall_time)
