"""The one reader interface: a `Source` is one run found in another tool's logs, read as
canonical metric rows (`step`, `time_s`, `train_loss`, `test_acc`, ...), incrementally.

A reader module (one per format) recognises its files by their contents and returns
Sources; `grokwatch.readers.open_path` asks each in turn. Standard library only here: a
reader that needs its project's package imports it inside `read()`, and says which extra
to install when it is missing (`need`).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

from ..columns import canonical_columns, is_accuracy, parse_column_map

Row = dict[str, float]


class ReaderError(ValueError):
    """A path that was found but cannot be read; the message is the one line the user sees
    (what was found, and what to do)."""


def need(module: str, extra: str, found: str) -> Any:
    """Import `module` (a format's own reader), or raise ReaderError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ReaderError(f"{found}: reading it needs the {extra} package; "
                          f'install it with: pip install "grokwatch[{extra}]"') from None


def shown(text: str | bytes, limit: int = 60) -> str:
    """`text` safe to print on one line: control characters and binary escaped, truncated."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                  for ch in text)
    return out if len(out) <= limit else out[:limit] + "..."


class Source:
    """One run's metrics in another tool's format.

    `read(final=False)` returns the rows that are new since the last call, canonical names,
    in step order. Rows merge by step; while a log may still grow, the last step's row is
    held back (`final=False`) because its evaluation may not be written yet, and a later
    call returns it. `read(final=True)` returns everything, the last step included.
    """

    format = "?"          # what the user is told was found ("TensorBoard event files", ...)
    extra: str | None = None  # the optional extra this format needs, if any

    def __init__(self, path: Path, name: str, info: dict[str, Any] | None = None,
                 column_map: dict[str, str] | None = None):
        self.path = Path(path)
        self.name = name
        self.info: dict[str, Any] = dict(info or {})  # the run's parameters, config.json-like
        self.column_map = dict(column_map or {})
        self.bad_rows = 0            # records that could not be read, counted (never silent)
        self.first_bad: str | None = None
        self._steps = StepRows(self.column_map)

    # The CSV file itself when this source is a CSV: callers that tail CSVs natively
    # (the dashboard, a command run's metrics_file) read it directly.
    csv: Path | None = None

    def read(self, final: bool = False) -> list[Row]:
        self._load(final)
        return self._steps.take(final)

    def read_all(self) -> list[Row]:
        """Every row (one-shot readers: `detect`, `export`)."""
        return self.read(final=True)

    def columns(self) -> list[str]:
        """The canonical column names seen so far, `step` first."""
        names = [c for c in self._steps.canonical_names() if c not in ("step", "time_s")]
        timed = self._steps.t0 is not None or "time_s" in self._steps.canonical_names()
        return ["step"] + (["time_s"] if timed else []) + names

    @property
    def started(self) -> float | None:
        """Unix time of the first value read, where the format records wall times."""
        return self._steps.t0

    def bad(self, what: str) -> None:
        """Count one record that could not be read; the first is kept to be quoted."""
        self.bad_rows += 1
        if self.first_bad is None:
            self.first_bad = shown(what, 160)

    def _load(self, final: bool = False) -> None:
        """Feed what is new in the files to `self._steps` (`final`: a half-written last record
        too, where the format can tell); each format implements it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.path}>"


class StepRows:
    """Scalars (step, name, value, wall time) gathered into one row per step, names mapped
    to grokwatch's through `grokwatch.columns` (the mapping is redone when a new name
    appears, so a late `val/acc` still turns a bare `loss` into the train curve)."""

    def __init__(self, column_map: dict[str, str] | None = None, canonical: bool = False):
        self.column_map = column_map or {}
        self.canonical = canonical  # names are grokwatch's already (a CSV read by MetricsTail)
        self.scales = parse_column_map(self.column_map)[1] if self.column_map else {}
        self.scaled: set[str] = set()  # canonical names with an explicit scale (`test_acc%`)
        self.pending: dict[float, dict[str, float]] = {}
        self.names: list[str] = []
        self._map: dict[str, str] = {}
        self.t0: float | None = None
        self.walls: dict[float, float] = {}

    def add(self, step: float, name: str, value: float, wall: float | None = None) -> None:
        if name not in self._map:
            self.names.append(name)
            mapped = (list(self.names) if self.canonical else
                      canonical_columns(["step", *self.names], self.column_map)[1:])
            self._map = dict(zip(self.names, mapped))
            if name in self.scales:
                self.scaled.add(self._map[name])
        row = self.pending.setdefault(step, {})
        row[name] = value * self.scales[name] if name in self.scales else value
        if wall is not None and math.isfinite(wall):
            if self.t0 is None or wall < self.t0:
                self.t0 = wall
            self.walls[step] = max(wall, self.walls.get(step, wall))

    def canonical_names(self) -> list[str]:
        return [self._map[n] for n in self.names]

    def take(self, final: bool) -> list[Row]:
        steps = sorted(self.pending)
        if not final and steps:
            steps = steps[:-1]
        out = []
        for s in steps:
            raw = self.pending.pop(s)
            row: Row = {"step": float(s)}
            wall = self.walls.pop(s, None)
            if wall is not None and self.t0 is not None:
                row["time_s"] = round(wall - self.t0, 6)
            for name, v in raw.items():
                key = self._map[name]
                if key != "step":
                    row[key] = v
            out.append(row)
        return out


class SourceLog:
    """A source's rows as `grokwatch detect` takes a log (`detect.cli.detect_log`): its header,
    its rows as fractions — the per-file percent rule of `tail.Units` applied over all of
    them (any accuracy above 1: every accuracy column is percent) — and what was unreadable."""

    def __init__(self, source: Source, rows: list[Row], percent: bool | None = None):
        from ..tail import Units

        self.source = source
        self.raw_header = self.header = source.columns()
        self.units = Units(percent)
        acc = [c for c in self.header if is_accuracy(c) and c not in source._steps.scaled]
        if not self.units.percent:
            self.units.percent = any(self.units.exceeds(r.get(c)) for r in rows for c in acc)
        if self.units.percent:
            rows = [{k: v * 0.01 if k in acc else v for k, v in r.items()} for r in rows]
        self.rows = rows
        self.bad_lines = source.bad_rows
        self.first_bad = source.first_bad

    def note(self) -> str | None:
        return self.units.note()

    def __iter__(self):
        return iter(self.rows)
