"""A `command` run's `metrics_file` in any format the readers know, tailed while the script
runs: so a script that logs to TensorBoard, W&B offline, an HF Trainer output directory,
MLflow or a Lightning logger directory runs under grokwatch with no change.

`LogTail` has the face of `tail.MetricsTail` that the command kind uses (`read(final)`,
`replaced`, `bad_lines`, `first_bad`, `size()`, `skip_to_end()`). Until the path holds
something, nothing is decided: a CSV (or a file of no other format) is tailed by
`MetricsTail` itself, exactly as before; a directory or a binary log goes through its
reader. Values come as logged: the command kind applies the percent rule to every source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..tail import MetricsTail
from . import ReaderError, Sniffer, Source, open_path
from .csvlog import csv_header


def _is_other_format(path: Path) -> bool:
    """A file that holds a log of another format (not a CSV, nor text that may become one)."""
    head = Sniffer()(path)
    if not head or csv_header(head) is not None:
        return False
    try:
        return any(s.csv is None for s in open_path(path))
    except ReaderError:
        return False


class LogTail:
    def __init__(self, path: Path, column_map: dict | None = None, percent: bool | None = None,
                 warn: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.column_map = column_map
        self.percent_arg = percent  # for the CSV tail (the command kind passes False: raw values)
        self.warn = warn or (lambda message: None)
        self.csv: MetricsTail | None = MetricsTail(self.path, column_map, percent=percent)
        self.source: Source | None = None
        self.decided = False
        self._replaced = False
        self._bad, self._first_bad = 0, None
        self._told: set[str] = set()

    # ------------------------------------------------------------ the MetricsTail face

    def __getattr__(self, name: str) -> Any:  # anything else: the CSV tail's, in CSV mode
        csv = self.__dict__.get("csv")
        if csv is None:
            raise AttributeError(name)
        return getattr(csv, name)

    @property
    def replaced(self) -> bool:
        return self.csv.replaced if self.csv is not None else self._replaced

    @replaced.setter
    def replaced(self, v: bool) -> None:
        if self.csv is not None:
            self.csv.replaced = v
        self._replaced = v

    @property
    def bad_lines(self) -> int:
        return self.csv.bad_lines if self.csv is not None else self._bad

    @property
    def first_bad(self) -> str | None:
        return self.csv.first_bad if self.csv is not None else self._first_bad

    def size(self) -> int:
        if self.path.is_dir():
            total = 0
            for dirpath, _dirs, files in os.walk(self.path):
                for f in files:
                    try:
                        total += os.stat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
            return total
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def skip_to_end(self) -> None:
        """Left by an earlier run: what is there now is not read."""
        self._decide()
        if self.csv is not None:
            self.csv.skip_to_end()
        elif self.source is not None:
            self.source.read(final=True)

    def read(self, final: bool = False) -> list[dict[str, float]]:
        if not self.decided:
            self._decide()
        if self.csv is not None:
            return self.csv.read(final=final)
        if self.source is None:
            return []
        try:
            rows = self.source.read(final=final)
        except ReaderError as exc:  # a missing extra: said once in worker.log
            self._tell(str(exc))
            return []
        self._bad, self._first_bad = self.source.bad_rows, self.source.first_bad
        return rows

    # ------------------------------------------------------------ deciding what it is

    def _decide(self) -> None:
        p = self.path
        if not p.exists() or (p.is_file() and not _is_other_format(p)):
            self.decided = p.exists() and p.stat().st_size > 0
            return  # a CSV (or nothing yet): the CSV tail, as for any metrics_file
        try:
            sources = open_path(p, self.column_map)
        except ReaderError as exc:
            if p.is_file():
                self._tell(str(exc))
            return  # a directory without a log yet: asked again on the next read
        src = sources[0]
        if len(sources) > 1:
            self._tell(f"metrics_file {p} holds {len(sources)} runs; reading {src.name!r} "
                       f"({src.format}); name its own directory to read another")
        self.decided = True
        if src.csv is not None:
            self.csv = MetricsTail(src.csv, self.column_map, percent=self.percent_arg)
        else:
            self.csv, self.source = None, src
            self._tell(f"metrics_file {p}: {src.format} ({src.name}), read as it grows")

    def _tell(self, message: str) -> None:
        if message not in self._told:
            self._told.add(message)
            self.warn(message)
