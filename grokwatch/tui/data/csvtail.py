"""The dashboard's parser of a growing metrics CSV: numpy blocks on top of the one tail.

The file contract (a saved offset, a partial last line, a replaced or rewritten file read again,
skip-to-end, state for the process pool) is `grokwatch.tail.LineTail`'s; this module parses
whole blocks at C speed and only the columns a chart needs, which is what lets the dashboard
load a million-row file in a second or two. Column names and units follow the same rules as
`grokwatch.tail.MetricsTail` (`grokwatch.columns.Header`, the per-file percent rule).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...columns import CORE_METRICS as METRICS, ERROR_OF, Header, complete_row, error_from_accuracy
from ...tail import MAX_LINE, PERCENT_ABOVE, CsvLineTail, parse_float, parse_row, shown_line

_ACC_OF = {e: a for a, e in ERROR_OF.items()}


@dataclass
class Block:
    """Rows parsed from one read: steps, the six core metrics (NaN where missing), times."""

    steps: np.ndarray
    vals: np.ndarray
    times: np.ndarray | None
    last: dict[str, float] = field(default_factory=dict)  # the last row, every column

    def __len__(self) -> int:
        return len(self.steps)

    def rows(self) -> list[dict[str, float]]:
        """As dict rows (for the detectors); slow, for modest blocks only."""
        out = []
        for k in range(len(self.steps)):
            row = {"step": float(self.steps[k])}
            if self.times is not None and not np.isnan(self.times[k]):
                row["time_s"] = float(self.times[k])
            for j, m in enumerate(METRICS):
                v = self.vals[k, j]
                if not np.isnan(v):
                    row[m] = float(v)
            out.append(row)
        return out


class Plan:
    """Which CSV columns feed which metric, and by what factor, for one header."""

    def __init__(self, hdr: Header, percent: bool = False):
        self.hdr = hdr
        self.percent = percent
        self.header = hdr.names
        self.ncols = len(self.header)
        self.scales = hdr.scales_for(percent)
        pos = {name: i for i, name in enumerate(self.header)}
        self.step = pos.get("step")
        self.time = pos.get("time_s")
        self.src: dict[str, tuple[int, bool]] = {}  # metric -> (column, error from accuracy)
        for m in METRICS:
            if m in pos:
                self.src[m] = (pos[m], False)
            elif m in _ACC_OF and _ACC_OF[m] in pos:
                self.src[m] = (pos[_ACC_OF[m]], True)
        used = {c for c, _ in self.src.values()} | set(hdr.auto_accuracy)
        if self.step is not None:
            used.add(self.step)
        if self.time is not None:
            used.add(self.time)
        self.usecols = sorted(used)
        self.where = {c: k for k, c in enumerate(self.usecols)}
        self.accuracy = [self.where[c] for c in hdr.auto_accuracy]  # in the parsed table

    @property
    def usable(self) -> bool:
        return self.step is not None and bool(self.src)

    def exceeds_fraction(self, table: np.ndarray) -> bool:
        """Any accuracy column above 1 (the per-file percent rule)."""
        if not self.accuracy or not len(table):
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            top = np.nanmax(table[:, self.accuracy])
        return bool(top > PERCENT_ABOVE)

    def assemble(self, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = table.shape[0]
        steps = table[:, self.where[self.step]] if self.step is not None else np.arange(n, dtype=float)
        vals = np.full((n, len(METRICS)), np.nan)
        for j, m in enumerate(METRICS):
            if m in self.src:
                c, from_acc = self.src[m]
                col = table[:, self.where[c]]
                if self.scales[c] != 1.0:
                    col = col * self.scales[c]
                vals[:, j] = error_from_accuracy(col) if from_acc else col
        times = table[:, self.where[self.time]] if self.time is not None else None
        return steps, vals, times

    def last_row(self, data: bytes) -> dict[str, float]:
        """The last complete row of `data`, every column, scaled ({} if none parses)."""
        for line in reversed(data[-4096:].decode("utf-8", "replace").splitlines()):
            row = parse_row(line, self.header)
            if row:
                for i, name in enumerate(self.header):
                    if self.scales[i] != 1.0 and name in row:
                        row[name] *= self.scales[i]
                return complete_row(row)  # an accuracy-only log: the table shows its error too
        return {}


def _loadtxt(data: bytes, usecols: list[int]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.loadtxt(io.BytesIO(data), delimiter=",", usecols=usecols, ndmin=2,
                          dtype=np.float64, comments=None, encoding="latin-1")


def _fill_empty(data: bytes) -> bytes:
    data = b"\n" + data
    data = data.replace(b"\n,", b"\nnan,").replace(b",,", b",nan,").replace(b",,", b",nan,")
    data = data.replace(b",\n", b",nan\n").replace(b",\r\n", b",nan\r\n")
    return data[1:]


def parse_block(data: bytes, plan: Plan) -> tuple[np.ndarray, int, str | None]:
    """Parse complete CSV lines into a (rows, len(plan.usecols)) array; returns it, the number
    of lines that could not be read (wrong width, no step) and the first of them, quoted.
    Fast path first (every line the header's width: counted in C), then tolerant fallbacks."""
    width = len(plan.usecols)
    if not data.strip():
        return np.zeros((0, width)), 0, None
    if data.count(b",") == (plan.ncols - 1) * data.count(b"\n"):
        for attempt in (data, None):
            try:
                if attempt is None:
                    attempt = _fill_empty(data)
                table = _loadtxt(attempt, plan.usecols)
            except (ValueError, IndexError):
                continue
            if table.shape[1] != width:
                continue
            if plan.step is not None and len(table) and np.isnan(table[:, plan.where[plan.step]]).any():
                break  # a row without its step: counted on the slow path
            return table, 0, None
    # Slow path: line by line (a half-written line, a stray header, text in a number column).
    rows, bad, first = [], 0, None
    for line in data.decode("utf-8", "backslashreplace").splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        vals = [parse_float(fields[c]) for c in plan.usecols] if len(fields) == plan.ncols else None
        if vals is None or (plan.step is not None and vals[plan.where[plan.step]] is None):
            bad += 1
            first = first or shown_line(line)
            continue
        rows.append([np.nan if v is None else v for v in vals])
    return (np.array(rows, dtype=np.float64).reshape(-1, width)), bad, first


class CsvTail(CsvLineTail):
    """Incremental reader of one CSV file; `read()` returns the new rows as a `Block`."""

    def reset(self) -> None:
        super().reset()
        self.plan: Plan | None = None

    def _on_units(self) -> None:
        assert self.hdr is not None
        self.plan = Plan(self.hdr, self.units.percent)

    def read(self, max_bytes: int | None = None, final: bool = False) -> Block | None:
        """New complete rows since the last call (None when nothing new)."""
        while True:
            data = self._read_lines(max_bytes, final)
            if not data or self.plan is None:
                return None
            table, bad, first = parse_block(data, self.plan)
            self.bad_lines += bad
            if first is not None and self.first_bad is None:
                self.first_bad = first
            if self.units.open and self.plan.exceeds_fraction(table) and self._to_percent():
                continue  # rows already shown as fractions: read it all again, in percent
            steps, vals, times = self.plan.assemble(table)
            self.rows_out += len(steps)
            return Block(steps, vals, times, self.plan.last_row(data))


def read_header(path: Path, column_map: dict | None = None) -> Header | None:
    """The header of a CSV file (None without a complete first line)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(MAX_LINE)
    except OSError:
        return None
    if not first.endswith(b"\n"):
        return None
    return Header.parse(first.decode("utf-8", "replace"), column_map)


def _block(plan: Plan, data: bytes, last: bool = True) -> Block:
    """A block of complete lines read out of place (a tail, samples): units decided from it."""
    table, _bad, _first = parse_block(data, plan)
    if not plan.percent and plan.exceeds_fraction(table):
        plan = Plan(plan.hdr, True)
    if len(table) and plan.step is not None:
        table = table[~np.isnan(table[:, plan.where[plan.step]])]
    steps, vals, times = plan.assemble(table)
    return Block(steps, vals, times, plan.last_row(data) if last else {})


def peek_tail(path: Path, nbytes: int = 16384, column_map: dict | None = None,
              percent: bool | None = None) -> Block | None:
    """The last rows of a CSV file (reading only its two ends): the table's first paint."""
    hdr = read_header(path, column_map)
    if hdr is None:
        return None
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(0, size - nbytes)
            f.seek(start)
            data = f.read(nbytes)
    except OSError:
        return None
    data = data[data.find(b"\n") + 1:]  # a cut line, or the header
    data = data[:data.rfind(b"\n") + 1]
    return _block(Plan(hdr, bool(percent)), data)


def sample_blocks(path: Path, nblocks: int = 48, block: int = 8192,
                  column_map: dict | None = None, percent: bool | None = None) -> Block | None:
    """Evenly spaced samples of a big file (a coarse preview while the full load runs)."""
    hdr = read_header(path, column_map)
    if hdr is None:
        return None
    parts = []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            for k in range(nblocks):
                f.seek(int(size * k / nblocks))
                data = f.read(block)
                data = data[data.find(b"\n") + 1:]
                data = data[:data.rfind(b"\n") + 1]
                if data:
                    parts.append(data)
    except OSError:
        return None
    return _block(Plan(hdr, bool(percent)), b"".join(parts), last=False)
