"""A fast, tolerant, incremental reader of a growing metrics CSV, parsed with numpy.

Like `grokwatch.runs.MetricsTail` (same rules: a saved offset, a partial last line kept until
its newline arrives, malformed lines skipped, a replaced file — new inode or smaller size —
read again from the start, column names through `grokwatch.columns`), but it parses whole
blocks at C speed and only the columns a chart needs, which is what lets the dashboard load
a million-row file in a second or two.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...columns import canonical_columns
from ...runs import parse_float, parse_row
from .summary import METRICS

_ACC_FROM_ERR = {"train_acc": "train_error", "test_acc": "test_error"}
_ERR_FROM_ACC = {v: k for k, v in _ACC_FROM_ERR.items()}


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
    """Which CSV columns feed which metric, for one header."""

    def __init__(self, header: list[str]):
        self.header = header
        self.ncols = len(header)
        pos = {name: i for i, name in enumerate(header)}
        self.step = pos.get("step")
        self.time = pos.get("time_s")
        self.src: dict[str, tuple[int, bool]] = {}  # metric -> (column, from the complement)
        for m in METRICS:
            if m in pos and m not in _ACC_FROM_ERR:
                self.src[m] = (pos[m], False)
            elif m in _ERR_FROM_ACC and _ERR_FROM_ACC[m] in pos:  # error from accuracy
                self.src[m] = (pos[_ERR_FROM_ACC[m]], True)
            elif m in _ACC_FROM_ERR and _ACC_FROM_ERR[m] in pos and m in pos:  # acc = 1 - error
                self.src[m] = (pos[_ACC_FROM_ERR[m]], True)
            elif m in pos:
                self.src[m] = (pos[m], False)
        used = {c for c, _ in self.src.values()}
        if self.step is not None:
            used.add(self.step)
        if self.time is not None:
            used.add(self.time)
        self.usecols = sorted(used)
        self.where = {c: k for k, c in enumerate(self.usecols)}

    @property
    def usable(self) -> bool:
        return self.step is not None and bool(self.src)

    def assemble(self, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = table.shape[0]
        steps = table[:, self.where[self.step]] if self.step is not None else np.arange(n, dtype=float)
        vals = np.full((n, len(METRICS)), np.nan)
        for j, m in enumerate(METRICS):
            if m in self.src:
                c, complement = self.src[m]
                col = table[:, self.where[c]]
                vals[:, j] = 1.0 - col if complement else col
        times = table[:, self.where[self.time]] if self.time is not None else None
        return steps, vals, times


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


def parse_block(data: bytes, plan: Plan) -> tuple[np.ndarray, int]:
    """Parse complete CSV lines into a (rows, len(plan.usecols)) array; returns it and the
    number of malformed lines skipped. Fast path first, then tolerant fallbacks."""
    width = len(plan.usecols)
    if not data.strip():
        return np.zeros((0, width)), 0
    for attempt in (data, None):
        try:
            if attempt is None:
                attempt = _fill_empty(data)
            table = _loadtxt(attempt, plan.usecols)
            if table.shape[1] == width:
                return table, 0
        except (ValueError, IndexError):
            continue
    # Slow path: line by line (a half-written line, a stray header, text in a number column).
    rows, bad = [], 0
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != plan.ncols:
            bad += 1
            continue
        vals = [parse_float(fields[c]) for c in plan.usecols]
        if plan.step is not None and vals[plan.where[plan.step]] is None:
            bad += 1
            continue
        rows.append([np.nan if v is None else v for v in vals])
    return (np.array(rows, dtype=np.float64).reshape(-1, width)), bad


class CsvTail:
    """Incremental reader of one CSV file; `read()` returns the new rows as a `Block`."""

    def __init__(self, path: Path, column_map: dict[str, str] | None = None):
        self.path = Path(path)
        self.column_map = column_map
        self.reset()

    def reset(self) -> None:
        self.offset = 0
        self.inode: int | None = None
        self.header: list[str] | None = None
        self.plan: Plan | None = None
        self._partial = b""
        self.bad_lines = 0
        self.replaced = False

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def remaining(self) -> int:
        return max(0, self.size() - self.offset)

    def check_replaced(self) -> os.stat_result | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset):
            self.reset()
            self.replaced = True
        return st

    def read(self, max_bytes: int | None = None) -> Block | None:
        """New complete rows since the last call (None when nothing new)."""
        st = self.check_replaced()
        if st is None or st.st_size <= self.offset:
            return None
        with open(self.path, "rb") as f:
            if self.inode is None:
                self.inode = os.fstat(f.fileno()).st_ino
            f.seek(self.offset)
            want = st.st_size - self.offset
            data = f.read(want if max_bytes is None else min(want, max_bytes))
        self.offset += len(data)
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        data = data[:end]
        if self.header is None:
            nl = data.find(b"\n")
            if nl < 0:
                self._partial = data + self._partial
                return None
            raw = [h.strip() for h in data[:nl].decode("utf-8", "replace").strip().split(",")]
            self.header = canonical_columns(raw, self.column_map)
            self.plan = Plan(self.header)
            data = data[nl + 1:]
        return self._parse(data)

    def _parse(self, data: bytes) -> Block | None:
        assert self.plan is not None and self.header is not None
        if not data:
            return None
        table, bad = parse_block(data, self.plan)
        self.bad_lines += bad
        steps, vals, times = self.plan.assemble(table)
        last: dict[str, float] = {}
        tail = data[-4096:].decode("utf-8", "replace").splitlines()
        for line in reversed(tail):
            last = parse_row(line, self.header)
            if last:
                break
        return Block(steps, vals, times, last)


def read_header(path: Path, column_map: dict[str, str] | None = None) -> list[str] | None:
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16)
    except OSError:
        return None
    if not first.endswith(b"\n"):
        return None
    return canonical_columns([h.strip() for h in first.decode("utf-8", "replace").strip().split(",")],
                             column_map)


def peek_tail(path: Path, nbytes: int = 16384, column_map: dict[str, str] | None = None) -> Block | None:
    """The last rows of a CSV file (reading only its two ends): the table's first paint."""
    header = read_header(path, column_map)
    if not header:
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
    if start > 0:
        data = data[data.find(b"\n") + 1:]
    else:
        data = data[data.find(b"\n") + 1:]  # the header
    data = data[:data.rfind(b"\n") + 1]
    plan = Plan(header)
    table, _ = parse_block(data, plan)
    steps, vals, times = plan.assemble(table)
    last: dict[str, float] = {}
    for line in reversed(data[-4096:].decode("utf-8", "replace").splitlines()):
        last = parse_row(line, header)
        if last:
            break
    return Block(steps, vals, times, last)


def sample_blocks(path: Path, nblocks: int = 48, block: int = 8192,
                  column_map: dict[str, str] | None = None) -> Block | None:
    """Evenly spaced samples of a big file (a coarse preview while the full load runs)."""
    header = read_header(path, column_map)
    if not header:
        return None
    plan = Plan(header)
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
    table, _ = parse_block(b"".join(parts), plan)
    if len(table) and plan.step is not None:
        table = table[~np.isnan(table[:, plan.where[plan.step]])]
    steps, vals, times = plan.assemble(table)
    return Block(steps, vals, times, {})
