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
                 files: list[Path] | None = None, info: dict | None = None):
        super().__init__(run_dir, name, info, column_map=column_map)
        self._sniff = sniff  # path -> first bytes (the registry's cached reader)
        self._files = files  # given: only these (a file named on the command line)
        self._loaders: dict[str, object] = {}
        self._plugins: dict[str, str] = {}  # tag -> plugin, from the tag's first value

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
                self._loaders[str(f)] = _Loader(efl, f)
        for loader in self._loaders.values():
            try:
                events = list(loader.load())
            except Exception as exc:  # noqa: BLE001 — a corrupt file is counted, the others read
                self.bad(f"{loader.path.name}: {exc}")
                continue
            if final:
                loader.check_end(self)
            for ev in events:
                if not ev.HasField("summary"):
                    continue
                for v in ev.summary.value:
                    value = self._scalar(v, tensor_util)
                    if value is not None:
                        self._steps.add(float(ev.step), v.tag, value, ev.wall_time)

    def _scalar(self, v, tensor_util) -> float | None:
        """A summary value's number, or None where it is no scalar. `simple_value` (torch's
        SummaryWriter, TF1) directly; a tensor where its tag's plugin is "scalars" (TF2, which
        names the plugin on the tag's first value only)."""
        if v.HasField("simple_value"):
            return float(v.simple_value)
        plugin = v.metadata.plugin_data.plugin_name
        if plugin:
            self._plugins[v.tag] = plugin
        elif v.tag in self._plugins:
            plugin = self._plugins[v.tag]
        if plugin != "scalars" or not v.HasField("tensor"):
            return None
        t = v.tensor
        if t.float_val:
            return float(t.float_val[0])
        if t.double_val:
            return float(t.double_val[0])
        try:
            return float(tensor_util.make_ndarray(t).item())
        except (ValueError, TypeError):
            self.bad(f"{v.tag}: a scalar that is not a number")
            return None


class _Loader:
    """TensorBoard's `RawEventFileLoader` (it keeps the offset, and stops at a record that is
    truncated or fails its CRC, to try it again on the next call), counting the bytes it got
    through: at the end of a log, bytes left over are a record that could not be read, and
    are said so instead of dropped in silence. Events are parsed as they are; the loader's
    migrations (legacy values to tensors, and back) are left out: scalars are read from
    either form (`TensorBoardSource._scalar`), at a third of the cost."""

    def __init__(self, efl, path: Path):
        from tensorboard.compat.proto import event_pb2

        self.path = path
        self.raw = efl.RawEventFileLoader(str(path))
        self.event_pb2 = event_pb2
        self.consumed = 0
        self.told_at = -1

    def load(self):
        parse = self.event_pb2.Event.FromString
        for record in self.raw.Load():
            self.consumed += len(record) + 16  # length (8), its CRC (4), data, data CRC (4)
            yield parse(record)

    def check_end(self, source: Source) -> None:
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return
        if size > self.consumed and self.told_at != self.consumed:
            self.told_at = self.consumed
            source.bad(f"{self.path.name}: {size - self.consumed} bytes from offset "
                       f"{self.consumed} could not be read (a corrupt or truncated record)")
