"""The one incremental tail of a growing CSV file, and the dict-row metrics parser on top of it.

`LineTail` owns the file contract every reader relies on (`DESIGN.md`, Files): read from a
saved offset; keep a partial last line until its newline arrives; notice a replaced file (a
new inode, a smaller size) *and* a file rewritten in place (Lightning's CSVLogger rewrites
`metrics.csv` with a wider header, same inode, not shorter: the header line or the bytes just
before the saved offset changed) and read it again from the top; skip to the end of a file
left by someone else; and hand its whole state over (`state()`/`restore()`) so the dashboard
can load a file in a worker process and go on tailing it in its own.

Parsers subclass it: `MetricsTail` here (rows as dicts, for the runner, headless, export and
`grokwatch detect`) and `tui.data.csvtail.CsvTail` (numpy blocks, for the dashboard). Both
decide units per file (`Units`): if any accuracy column of a file exceeds 1, every accuracy
column of that file is percent; when that is learnt after rows were handed out, the tail reads
the file again from the top (`replaced` and `rescaled` set), so a caller that restarts on a
replaced file re-feeds its detectors with fractions. Rows that cannot be parsed are counted
(`bad_lines`) and the first is kept, quoted (`first_bad`). Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .columns import Header

MAX_LINE = 1 << 20  # a "line" longer than this is not a CSV row (a binary file, no newlines)
_MARK = 64  # bytes before the saved offset kept as the fingerprint of what was read
PERCENT_ABOVE = 1.0 + 1e-9


def shown_line(data: bytes | str, limit: int = 80) -> str:
    """A line as a message quotes it: one line, control characters and undecodable bytes
    escaped (no terminal codes, no binary), cut to `limit` characters."""
    if isinstance(data, bytes):
        text = data[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        text = data[: limit * 4]
    text = text.rstrip("\r\n")
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                  for ch in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def parse_float(s: str) -> float | None:
    s = s.strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def parse_row(line: str, header: list[str]) -> dict[str, float]:
    """One CSV line as {column: value} (empty and non-numeric fields left out); {} when the
    line does not have the header's width (a half-written or malformed line)."""
    fields = line.split(",")
    if len(fields) != len(header):
        return {}
    return {c: v for c, v in zip(header, map(parse_float, fields)) if v is not None}


class LineTail:
    """Complete lines of a growing file, from a saved offset; the header line kept apart.

    Subclasses parse: `_on_header(line)` is called when the header line is read (again after a
    replacement), and `_read_lines()` returns the complete data lines since the last call.
    `replaced` is set when a re-read from the top started; the caller drops what it had built
    from this file and clears the flag.
    """

    _STATE = ("offset", "inode", "_raw_header", "_partial", "_mark", "_skipping", "_seen",
              "bad_lines", "first_bad", "unreadable")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.replaced = False
        self.reset()

    def reset(self) -> None:
        """Forget everything read: the next read starts at the top of the file."""
        self.offset = 0
        self.inode: int | None = None
        self._raw_header: bytes | None = None  # the header line as read, newline included
        self._partial = b""
        self._mark = b""  # the bytes just before `offset`
        self._skipping = False  # inside an over-long line: drop bytes up to its newline
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) when last looked at
        self.bad_lines = 0
        self.first_bad: str | None = None
        self.unreadable: str | None = None  # why nothing can be read (no line break at all)

    # ---------------------------------------------------------------- state for the pool

    def state(self) -> dict[str, Any]:
        """Everything needed to go on tailing elsewhere (picklable)."""
        return {k: getattr(self, k) for k in self._STATE}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from a `state()` taken by another tail of the same file (another process)."""
        for k in self._STATE:
            if k in state:
                setattr(self, k, state[k])
        if self._raw_header is not None:
            self._on_header(self.header_line)

    # ---------------------------------------------------------------- sizes

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def remaining(self) -> int:
        return max(0, self.size() - self.offset)

    @property
    def header_line(self) -> str | None:
        """The header line as text (None until it has been read)."""
        if self._raw_header is None:
            return None
        return self._raw_header.decode("utf-8", "replace").rstrip("\r\n")

    @property
    def partial(self) -> bytes:
        """The bytes of a last line still waiting for its newline."""
        return self._partial

    # ---------------------------------------------------------------- replaced files

    def _rewritten(self, st: os.stat_result) -> bool:
        """A new inode, a shorter file, or one whose header line or last-read bytes changed."""
        if self.inode is None:
            return False
        if st.st_ino != self.inode or st.st_size < self.offset:
            return True
        seen = (st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            with open(self.path, "rb") as f:
                if self._raw_header is not None:
                    want = self._raw_header
                    if f.read(len(want)) != want:
                        return True
                if self._mark:
                    f.seek(self.offset - len(self._mark))
                    if f.read(len(self._mark)) != self._mark:
                        return True
        except OSError:
            return False
        return False

    def _check(self) -> os.stat_result | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        if self._rewritten(st):
            self._start_over()
        return st

    def _start_over(self) -> None:
        """Read again from the top (the parser's own decisions, such as units, are kept)."""
        self.reset()
        self.replaced = True

    # ---------------------------------------------------------------- reading

    def skip_to_end(self) -> None:
        """Take the header, then only what is appended from now on (a file left by an earlier
        run): the offset moves to the end of its last complete line."""
        self.reset()
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                head = f.read(MAX_LINE)
                nl = head.find(b"\n")
                if nl < 0:
                    return
                self._take_header(head[: nl + 1])
                end = nl + 1
                size = st.st_size
                pos = size
                while pos > end:  # the last newline, reading backwards in 64 KiB steps
                    start = max(end, pos - (1 << 16))
                    f.seek(start)
                    block = f.read(pos - start)
                    k = block.rfind(b"\n")
                    if k >= 0:
                        end = start + k + 1
                        break
                    pos = start
                f.seek(max(0, end - _MARK))
                self._mark = f.read(end - max(0, end - _MARK))
        except OSError:
            return
        self.offset, self.inode = end, st.st_ino

    def _take_header(self, line: bytes) -> None:
        self._raw_header = line
        self._on_header(self.header_line or "")

    def _read_lines(self, max_bytes: int | None = None, final: bool = False) -> bytes | None:
        """Complete data lines since the last call (None when nothing new). `final`: the file is
        complete (its writer is gone): a last line without its newline counts as a line."""
        st = self._check()
        if st is None:
            return None
        data = b""
        if st.st_size > self.offset:
            try:
                with open(self.path, "rb") as f:
                    if self.inode is None:
                        self.inode = os.fstat(f.fileno()).st_ino
                    f.seek(self.offset)
                    want = st.st_size - self.offset
                    data = f.read(want if max_bytes is None else min(want, max_bytes))
            except OSError:
                return None
            self.offset += len(data)
            self._mark = (self._mark + data)[-_MARK:]
            self._seen = (st.st_size, st.st_mtime_ns)
        elif not (final and self._partial):
            return None
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        data = data[:end]
        if self._skipping:  # the rest of an over-long line
            nl = data.find(b"\n")
            if nl < 0:
                self._partial = b""
                return None
            data, self._skipping = data[nl + 1:], False
        if len(self._partial) > MAX_LINE:
            self._too_long(self._partial)
            self._partial = b""
        if final and self._partial:
            data, self._partial = data + self._partial + b"\n", b""
        if self._raw_header is None:
            if not data:
                return None
            nl = data.find(b"\n")
            self._take_header(data[: nl + 1])
            data = data[nl + 1:]
        return data

    def _too_long(self, line: bytes) -> None:
        if self._raw_header is None and not self.unreadable:
            self.unreadable = (f"no line break in its first {MAX_LINE >> 20} MiB "
                               f"(starts {shown_line(line, 40)!r}): not a CSV log")
        else:
            self._bad(line)
        self._skipping = True

    def _bad(self, line: bytes | str) -> None:
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = shown_line(line)

    def _on_header(self, line: str) -> None:  # parsers override
        pass


class Units:
    """The per-file unit rule: if any accuracy column of a file exceeds 1, every accuracy column
    of that file is percent. `percent`: None decides by the data; True forces percent
    (`--percent`); False forces fractions (a caller that applies the rule itself)."""

    def __init__(self, percent: bool | None = None):
        self.auto = percent is None
        self.forced = percent is True
        self.percent = percent is True

    @property
    def open(self) -> bool:
        """Still to be decided by the data."""
        return self.auto and not self.percent

    def exceeds(self, value: float | None) -> bool:
        return value is not None and value > PERCENT_ABOVE

    def note(self) -> str | None:
        """The one line that says so (detail pane, `detect`), or None for fractions."""
        if not self.percent:
            return None
        why = "--percent" if self.forced else "a value above 1"
        return f"accuracy read as percent ({why}): every accuracy column divided by 100"


class CsvLineTail(LineTail):
    """A `LineTail` of a CSV log: its header parsed (`columns.Header`: canonical names, the
    column map's scales) and its units decided by the per-file rule. The parsers build on it."""

    _STATE = LineTail._STATE + ("percent", "rows_out")

    def __init__(self, path: str | Path, column_map: dict | None = None,
                 percent: bool | None = None):
        self.column_map = column_map
        self.units = Units(percent)
        self.rescaled = False  # set with `replaced` when the unit decision made a re-read
        super().__init__(path)

    def reset(self) -> None:
        super().reset()
        self.hdr: Header | None = None
        self.header: list[str] | None = None
        self.raw_header: list[str] | None = None
        self.rows_out = 0  # rows handed out since the last start from the top

    @property
    def percent(self) -> bool:
        return self.units.percent

    @percent.setter
    def percent(self, value: bool) -> None:
        self.units.percent = value

    def _on_header(self, line: str) -> None:
        self.hdr = Header.parse(line, self.column_map)
        self.raw_header, self.header = self.hdr.raw, self.hdr.names
        self._on_units()

    def _on_units(self) -> None:
        """The header or the units changed: rebuild what depends on them."""

    def _to_percent(self) -> bool:
        """Learnt that the file is in percent. True when rows were already handed out as
        fractions: the tail has started over from the top (`replaced`, `rescaled`)."""
        self.units.percent = True
        self._on_units()
        if not self.rows_out:
            return False
        self._start_over()
        self.rescaled = True
        return True

    def scan_units(self, chunk: int = 1 << 20) -> bool:
        """A first pass over a finished file: True if any accuracy column exceeds 1 (it stops
        at the first such value). Reads only; the tail starts from the top again after it."""
        found = False
        try:
            while not found:
                data = self._read_lines(chunk, final=self.remaining() <= chunk)
                if data is None or self.hdr is None or not self.hdr.auto_accuracy:
                    break
                cols, width = self.hdr.auto_accuracy, len(self.hdr.names)
                for line in data.split(b"\n"):
                    fields = line.split(b",")
                    if len(fields) == width and any(
                            self.units.exceeds(parse_float(fields[i].decode("latin-1"))) for i in cols):
                        found = True
                        break
        finally:
            self.reset()
        return found

    def _start_over(self) -> None:
        percent = self.units.percent  # a decision about the file, kept across its re-reads
        super()._start_over()
        self.units.percent = percent


class MetricsTail(CsvLineTail):
    """New rows of a growing metrics CSV as {column: value} dicts (canonical names through
    `columns.canonical_columns` and the column map; values missing from a row left out;
    accuracy in fractions whatever the file holds). A row of the wrong width, or whose step is
    not a number, is counted in `bad_lines`."""

    def _on_units(self) -> None:
        assert self.hdr is not None
        self._step = self.header.index("step") if "step" in self.hdr.names else None
        self._scales = self.hdr.scales_for(self.units.percent)

    def read(self, max_bytes: int | None = None, final: bool = False) -> list[dict[str, float]]:
        """New complete rows since the last call, as {column: value}."""
        return [dict(zip(cols, vals)) for cols, vals in self._rows(max_bytes, final)]

    def read_columns(self, max_bytes: int | None = None) -> tuple[list[str], list[list[float | None]]]:
        """New rows as (header, list of value lists) — cheaper than dicts for bulk loading."""
        rows = [vals for _cols, vals in self._rows(max_bytes, False, as_lists=True)]
        return (self.header or []), rows

    def _rows(self, max_bytes: int | None, final: bool, as_lists: bool = False) -> list:
        while True:
            out = self._parse(self._read_lines(max_bytes, final), as_lists)
            if out is not None:
                self.rows_out += len(out)
                return out  # (None: the units flipped and the tail started over)

    def _parse(self, data: bytes | None, as_lists: bool) -> list | None:
        """Rows of complete lines; None when the units flipped after rows were handed out."""
        if not data or self.hdr is None:
            return []
        header, hdr, units = self.header or [], self.hdr, self.units
        width, step = len(header), self._step
        parsed: list[list[float | None]] = []
        for line in data.decode("utf-8", "backslashreplace").splitlines():
            if not line.strip():
                continue
            fields = line.split(",")
            if len(fields) != width:
                self._bad(line)
                continue
            vals = [parse_float(x) for x in fields]
            if step is not None and vals[step] is None:  # a stray header, text where the step goes
                self._bad(line)
                continue
            if units.open and any(units.exceeds(vals[i]) for i in hdr.auto_accuracy):
                if self._to_percent():
                    return None
            parsed.append(vals)
        scaled = [(i, f) for i, f in enumerate(self._scales) if f != 1.0]
        out = []
        for vals in parsed:
            for i, f in scaled:
                if vals[i] is not None:
                    vals[i] *= f
            if as_lists:
                out.append((None, vals))
            else:
                cols = [c for c, v in zip(header, vals) if v is not None]
                out.append((cols, [v for v in vals if v is not None]))
        return out


def read_all_metrics(path: Path, column_map: dict | None = None) -> list[dict[str, float]]:
    """Every row of a metrics CSV at once (small files; streams are `MetricsTail.read(n)`)."""
    return MetricsTail(path, column_map).read(final=True)


class CsvLog:
    """A finished CSV log read as a stream of canonical rows: `grokwatch detect`, and any
    reader that hands rows to the same detector path. Units are decided over the whole file
    first (a first pass that stops at the first accuracy above 1), then rows come in chunks of
    `chunk` bytes, so memory stays flat whatever the file's size.

        log = open_log(path, column_map, percent)   # header, units, the first chunk read
        for row in log: ...                         # {canonical name: value}, fractions
        log.bad_lines, log.first_bad, log.note()    # after the loop: what could not be read
    """

    def __init__(self, path: str | Path, column_map: dict | None = None,
                 percent: bool | None = None, chunk: int = 1 << 20):
        self.path = Path(path)
        self.chunk = chunk
        self.tail = MetricsTail(self.path, column_map, percent)
        if percent is None:
            self.tail.units.percent = self.tail.scan_units(chunk)
        self._first = self._next_rows()  # reads the header (and the first rows)
        t = self.tail
        while t.header is None and not t.unreadable and (t.remaining() or t.partial):
            self._first = self._next_rows()

    def _next_rows(self) -> list[dict[str, float]]:
        t = self.tail
        return t.read(self.chunk, final=t.remaining() <= self.chunk)

    @property
    def header(self) -> list[str] | None:
        return self.tail.header

    @property
    def raw_header(self) -> list[str] | None:
        return self.tail.raw_header

    @property
    def bad_lines(self) -> int:
        return self.tail.bad_lines

    @property
    def first_bad(self) -> str | None:
        return self.tail.first_bad

    @property
    def unreadable(self) -> str | None:
        return self.tail.unreadable

    def note(self) -> str | None:
        """The units line (accuracy read as percent), or None."""
        return self.tail.units.note()

    def __iter__(self):
        rows, self._first = self._first, []
        t = self.tail
        while True:
            yield from rows
            if t.remaining() == 0 and not t.partial:
                return
            rows = self._next_rows()


def open_log(path: str | Path, column_map: dict | None = None, percent: bool | None = None) -> CsvLog:
    """A CSV log opened for streaming (see `CsvLog`); raises OSError if it cannot be read."""
    with open(path, "rb"):
        pass
    return CsvLog(path, column_map, percent)


def csv_problem(path: str | Path) -> str | None:
    """Why a file named on the command line cannot be a CSV log, from its first MiB (a file
    with no line break, such as a binary one), or None where it may be one."""
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_LINE)
            more = bool(f.read(1))
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if more and b"\n" not in head:
        return (f"no line break in its first {MAX_LINE >> 20} MiB (starts {shown_line(head, 40)!r}): "
                f"not a CSV log")
    return None
