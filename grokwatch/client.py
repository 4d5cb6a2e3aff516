"""`from grokwatch import log`: report metrics from your own training script.

    from grokwatch import log
    log(step=100, train_loss=0.31, test_acc=0.52)

Standard library only (importing it never imports torch or Textual). `log()` only appends to
an in-memory buffer (a few microseconds); a daemon thread hands the buffer on at least once a
second, and everything left is handed on when the interpreter exits.

Where the records go:

* **Started by grokwatch** (a `kind = "command"` experiment): the worker that wraps the script
  sets `GROKWATCH_CLIENT_CHANNEL`, a pipe (a FIFO in a private temp directory) the worker reads;
  records travel as JSON lines and the worker writes them into the run's `metrics.csv`.
* **Not started by grokwatch**: the first `log()` creates a run directory of its own,
  `./grokwatch-logs/<script>-<YYYYmmdd-HHMMSS>/` with `config.json`, `status.json` and
  `metrics.csv` (says so once on stderr); `grokwatch view grokwatch-logs/...` opens it later.

Values may be Python numbers, numpy scalars or one-element tensors (converted when `log()` is
called, so a tensor updated in place later does not change what was logged). A value that is
not a number is rejected on its own (with a warning); the rest of the record is kept. Records
that share a step are merged into one row; steps must increase (`step=None` means "the next
step"). Metric names pass through `grokwatch.columns` (`val_acc` becomes `test_acc`).
"""

from __future__ import annotations

import atexit
import collections
import json
import math
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .status import RunStatus

ENV_CHANNEL = "GROKWATCH_CLIENT_CHANNEL"
ENV_RUN_DIR = "GROKWATCH_RUN_DIR"
ENV_RUN_ID = "GROKWATCH_RUN_ID"
ENV_STDOUT_PREFIX = "GROKWATCH_STDOUT_PREFIX"
META_KEY = "__grokwatch__"  # a record {"__grokwatch__": {"total_steps": N}} carries run facts
LOCAL_DIR = "grokwatch-logs"
FLUSH_EVERY_S = 0.5
MAX_BUFFER = 100_000  # records; beyond this log() hands them on itself (backpressure)
PIPE_CHUNK = 4096  # PIPE_BUF on Linux: writes up to this size never interleave
_monotonic = time.monotonic

__all__ = ["log", "init", "finish", "flush", "Run", "RowMerger", "to_number"]


# ----------------------------------------------------------------------------- values


class _NotANumber:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_A_NUMBER"


NOT_A_NUMBER: Any = _NotANumber()


def to_number(v: Any) -> Any:
    """A float for anything number-like (ints, bools, numeric strings, numpy scalars,
    one-element tensors); None for None/""; NOT_A_NUMBER otherwise."""
    t = type(v)
    if t is float:
        return v
    if t is int or t is bool:
        return float(v)
    if v is None:
        return None
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            return float(s)
        except ValueError:
            return NOT_A_NUMBER
    if isinstance(v, (int, float)):
        return float(v)
    item = getattr(v, "item", None)
    if callable(item):
        try:
            v = item()
        except Exception:  # noqa: BLE001 — e.g. a tensor with more than one element
            return NOT_A_NUMBER
        if isinstance(v, (int, float)):
            return float(v)
        return NOT_A_NUMBER
    try:
        return float(v)  # Decimal, Fraction, ...
    except (TypeError, ValueError):
        return NOT_A_NUMBER


class _Coerced(dict):
    """The metrics of a `log()` call that held something other than floats and ints (the
    encoders' fast paths take plain dicts only)."""

    __slots__ = ()


def _coerce_for_log(metrics: dict[str, Any]) -> dict[str, Any]:
    """Convert tensors and numpy scalars now (they may change in place later); leave
    anything else for the row merger to accept or reject."""
    out = _Coerced()
    for k, v in metrics.items():
        t = type(v)
        if t is float or t is int or t is str or v is None:
            out[k] = v
            continue
        n = to_number(v)
        if n is NOT_A_NUMBER:  # kept (as text) for the row merger to reject, with a warning
            out[k] = v if isinstance(v, (str, int, float)) else repr(v)
        else:
            out[k] = n
    return out


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]+")


def _mapped_names(keys: list[str], column_map: dict[str, str] | None) -> list[str]:
    from .columns import canonical_columns

    names = canonical_columns([str(k) for k in keys], column_map)
    return [_SAFE_NAME.sub("_", n).strip("_") or f"col{i}" for i, n in enumerate(names)]


# ----------------------------------------------------------------------------- rows


class RowMerger:
    """Metric records in, rows with strictly increasing steps out.

    Shared by the client's own run directory and by the worker of a `command` run (for the
    client channel, stdout lines and a tailed metrics file alike). A record is a dict of
    metric name -> value, with an optional step (or epoch) entry; without one it is the step
    after the highest seen. Names go through `columns.canonical_columns` (with `column_map`),
    values through `to_number`: a value that is not a number is rejected on its own and
    counted. Records with the same step merge into one row.

    A row is emitted once a later step has arrived and every source (`add(..., source=)`) has
    passed its step — records from several sources, e.g. the client's batches and stdout lines,
    arrive out of order — or, failing that, once it has not changed for `settle_s`; once it has
    not changed for `idle_s`; or on `flush()`. In the first `settle_s` after the first record
    rows wait for `settle_s` (a second source may not have spoken yet). A record whose step is
    not after the last emitted row's is dropped and counted.
    """

    MAX_WARNINGS_PER_KIND = 5
    MAX_PENDING = 100_000

    def __init__(self, emit: Callable[[int, dict[str, float]], Any],
                 column_map: dict[str, str] | None = None,
                 warn: Callable[[str], None] | None = None, settle_s: float = 0.0,
                 idle_s: float = 10.0, stamp: Callable[[float], float] | None = None):
        self.emit = emit
        # stamp(monotonic time the row's first record arrived) -> its time_s, unless it has one
        self.stamp = stamp
        self.column_map = dict(column_map or {})
        self.warn_fn = warn or (lambda m: print(f"grokwatch: {m}", file=sys.stderr, flush=True))
        self.settle_s = settle_s
        self.idle_s = idle_s
        self.pending: dict[int, list] = {}  # step -> [values, last update, first arrival]
        self.max_step: int | None = None  # highest step seen (pending or emitted)
        self.last_step: int | None = None  # highest step emitted
        self.counts: dict[str, int] = {}
        self._printed: dict[str, int] = {}
        self._warned_keys: set = set()
        self.rows = 0
        self.sources: dict[str, int] = {}  # source -> highest step it reported
        self._warm_until: float | None = None
        self._names: dict[tuple, list[str]] = {}
        self._plain_names: dict[tuple, list[str]] = {}

    # --- warnings, counted per kind; the first few of each are printed

    def warn(self, kind: str, message: str, key: Any = None) -> None:
        """Count one problem; print it unless the same `key` was reported before or this
        kind already printed MAX_WARNINGS_PER_KIND messages."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if key is not None:
            if (kind, key) in self._warned_keys:
                return
            if len(self._warned_keys) < 10_000:
                self._warned_keys.add((kind, key))
        n = self._printed.get(kind, 0) + 1
        self._printed[kind] = n
        if n <= self.MAX_WARNINGS_PER_KIND:
            more = " (further warnings of this kind are only counted)" \
                if n == self.MAX_WARNINGS_PER_KIND else ""
            self.warn_fn(f"{message}{more}")

    def summary(self) -> str | None:
        labels = {"malformed": "malformed metric line(s) skipped",
                  "rejected": "non-numeric value(s) rejected",
                  "backwards": "record(s) dropped because their step was not after the last row's",
                  "bad_step": "record(s) dropped because their step was not a number"}
        parts = [f"{n} {labels.get(k, k)}" for k, n in sorted(self.counts.items()) if n]
        return "; ".join(parts) if parts else None

    # --- records

    def add(self, record: dict[str, Any], mapped: bool = False, now: float | None = None,
            source: str = "") -> None:
        if mapped:
            names = list(record)
        else:
            key = tuple(record)
            names = self._names.get(key)
            if names is None:
                names = _mapped_names(list(record), self.column_map)
                if len(self._names) < 4096:
                    self._names[key] = names
        step: Any = None
        values: dict[str, float] = {}
        for name, raw in zip(names, record.values()):
            v = to_number(raw)
            if name == "step":
                if raw is None:
                    continue
                if v is NOT_A_NUMBER or v is None or not math.isfinite(v) or v < 0:
                    self.warn("bad_step", f"dropped a record whose step is {raw!r}, not a number >= 0")
                    return
                step = int(v)
                continue
            if v is None:
                continue
            if v is NOT_A_NUMBER:
                shown = raw if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
                self.warn("rejected", f"rejected {name}={shown!r}: not a number (the record's other "
                          f"values are kept; further non-numbers for {name!r} are only counted)",
                          key=name)
                continue
            values[name] = v
        if step is None:
            step = 0 if self.max_step is None else self.max_step + 1
        self._place(step, values, time.monotonic() if now is None else now, source)

    def add_batch(self, records: list, t0: float) -> None:
        """The client's own run directory: (step, metrics, time) records from one process, in
        order (settle_s == 0). Plain records (an int step, float/int values) take a fused fast
        path; the rest go through `add`. time_s = time - t0 unless a record has one."""
        if self.settle_s > 0:
            for step, metrics, t in records:
                rec = {"step": step, **metrics}
                rec.setdefault("time_s", round(t - t0, 3))
                self.add(rec, now=t)
            return
        pending = self.pending
        names_for = self._plain_names
        for step, metrics, t in records:
            if type(step) is not int or step < 0 or type(metrics) is not dict:
                rec = {"step": step, **metrics}
                rec.setdefault("time_s", round(t - t0, 3))
                self.add(rec, now=t)
                continue
            key = tuple(metrics)
            names = names_for.get(key)
            if names is None:
                names = _mapped_names(["step", *key], self.column_map)[1:]
                if len(names_for) < 4096:
                    names_for[key] = names
            row = pending.get(step)
            if row is not None:
                row[0].update(zip(names, metrics.values()))
                row[1] = t
                continue
            last = self.last_step
            if last is not None and step <= last:
                self._place(step, {}, t, "")  # counts and reports it
                continue
            if self.max_step is None or step > self.max_step:
                if pending:
                    self._emit_all()
                self.max_step = step
            values = dict(zip(names, metrics.values()))
            if "time_s" not in values:
                values["time_s"] = round(t - t0, 3)
            pending[step] = [values, t, t]
            if self._warm_until is None:
                self._warm_until = t

    def _place(self, step: int, values: dict[str, float], now: float, source: str) -> None:
        if self.last_step is not None and step <= self.last_step:
            self.warn("backwards", f"dropped a record for step {step}: rows need increasing steps "
                      f"and step {self.last_step} was already logged (log the metrics of a step "
                      f"within a second of each other, or pass a global step)")
            return
        if self._warm_until is None:
            self._warm_until = now + self.settle_s
        if self.sources.get(source, -1) < step:
            self.sources[source] = step
        row = self.pending.get(step)
        if row is None:
            if self.max_step is None or step > self.max_step:
                if self.settle_s <= 0 and self.pending:  # one source: what came before is done
                    self._emit_all()
                self.max_step = step
            self.pending[step] = [values, now, now]
            if len(self.pending) > self.MAX_PENDING:
                self._emit_ready(now, force_oldest=len(self.pending) - self.MAX_PENDING)
        else:
            row[0].update(values)
            row[1] = now

    def _emit_ready(self, now: float, force: bool = False, force_oldest: int = 0) -> None:
        pending = self.pending
        slowest = min(self.sources.values()) if len(self.sources) > 1 else None
        warm = self._warm_until is not None and now >= self._warm_until
        for step in sorted(pending):
            values, updated, first = pending[step]
            idle = now - updated
            ready = (force or force_oldest > 0 or idle >= self.idle_s
                     or (step < self.max_step  # type: ignore[operator]
                         and (idle >= self.settle_s
                              or (warm and (slowest is None or slowest > step)))))
            if not ready:
                break
            force_oldest -= 1
            del pending[step]
            self.last_step = step
            self.rows += 1
            if self.stamp is not None and "time_s" not in values:
                values["time_s"] = self.stamp(first)
            self.emit(step, values)

    def _emit_all(self) -> None:
        pending = self.pending
        steps = list(pending) if len(pending) == 1 else sorted(pending)
        for step in steps:
            values, _updated, first = pending.pop(step)
            self.last_step = step
            self.rows += 1
            if self.stamp is not None and "time_s" not in values:
                values["time_s"] = self.stamp(first)
            self.emit(step, values)

    def flush(self) -> None:
        """Emit every pending row."""
        if self.pending:
            self._emit_ready(time.monotonic(), force=True)

    def flush_idle(self, now: float | None = None) -> None:
        """Emit the rows that are ready (call this now and then)."""
        if self.pending:
            self._emit_ready(time.monotonic() if now is None else now)


# ----------------------------------------------------------------------------- encoding

_JSON_KEYS: dict[str, str] = {}
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_value(v: Any) -> str:
    t = type(v)
    if t is float:
        r = repr(v)
        return _SPECIAL.get(r, r)
    if t is int:
        return str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    return json.dumps(v if isinstance(v, (str, int, float)) else repr(v))


_TEMPLATES: dict[tuple, str] = {}


def _template(keys: tuple) -> str:
    """'{"step":%r,"k1":%r,...}' for records whose step is an int and values floats/ints."""
    parts = ['{"step":%r']
    for k in keys:
        jk = _JSON_KEYS.get(k)
        if jk is None:
            jk = _JSON_KEYS[k] = json.dumps(str(k))
        parts.append(f",{jk}:%r")
    parts.append("}\n")
    tmpl = "".join(parts).replace("%r", "\0").replace("%", "%%").replace("\0", "%r")
    if len(_TEMPLATES) < 4096:
        _TEMPLATES[keys] = tmpl
    return tmpl


def _encode_slow(step: Any, metrics: dict[str, Any]) -> str:
    parts = ['{"step":', "null" if step is None else _json_value(step)]
    for k, v in metrics.items():
        jk = _JSON_KEYS.get(k)
        if jk is None:
            jk = _JSON_KEYS[k] = json.dumps(str(k))
        parts.append(f",{jk}:{_json_value(v)}")
    parts.append("}\n")
    return "".join(parts)


def encode_records(records: list) -> str:
    """JSON lines (Python's json reads NaN/Infinity), one per (step, metrics, time) record.

    The common record — an int step and plain float/int values — is formatted through a
    template cached per set of names; anything else (and any line that may hold a NaN or an
    infinity, whose repr is not JSON) goes the careful way."""
    templates = _TEMPLATES
    out = []
    for step, metrics, _t in records:
        if type(step) is int and type(metrics) is dict:
            keys = tuple(metrics)
            tmpl = templates.get(keys) or _template(keys)
            line = tmpl % (step, *metrics.values())
            if "nan" in line or "inf" in line:
                line = _encode_slow(step, metrics)
        else:
            line = _encode_slow(step, metrics)
        out.append(line)
    return "".join(out)


def _chunks(text: bytes, limit: int = PIPE_CHUNK) -> list[bytes]:
    """Split at line ends into pieces of at most `limit` bytes (a longer line goes alone)."""
    if len(text) <= limit:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = start + limit
        if end >= len(text):
            out.append(text[start:])
            break
        cut = text.rfind(b"\n", start, end)
        if cut < start:
            cut = text.find(b"\n", end)
            cut = len(text) - 1 if cut < 0 else cut
        out.append(text[start:cut + 1])
        start = cut + 1
    return out


# ----------------------------------------------------------------------------- sinks


class _ChannelSink:
    """Hands records to the wrapping worker through its FIFO (or a pipe fd)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.fd: int | None = None
        self.broken = False

    def open(self) -> None:
        kind, _, where = self.spec.partition(":")
        if kind == "fd":
            self.fd = int(where)
            os.fstat(self.fd)
            return
        if kind != "fifo":
            raise OSError(f"unknown channel {self.spec!r}")
        fd = os.open(where, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        os.set_blocking(fd, True)  # a full pipe waits for the worker instead of losing records
        self.fd = fd

    def write(self, records: list) -> None:
        if self.broken or not records:
            return
        data = encode_records(records).encode("utf-8")
        try:
            for chunk in _chunks(data):
                view = memoryview(chunk)
                while view:
                    n = os.write(self.fd, view)  # type: ignore[arg-type]
                    view = view[n:]
        except OSError as exc:
            self.broken = True
            print(f"grokwatch: the worker's metrics channel is gone ({exc.strerror or exc}); "
                  f"further log() records are dropped", file=sys.stderr, flush=True)

    def meta(self, facts: dict[str, Any]) -> None:
        if self.fd is None or self.broken:
            return
        try:
            os.write(self.fd, (json.dumps({META_KEY: facts}) + "\n").encode())
        except OSError:
            self.broken = True

    def close(self, failed: str | None = None) -> None:
        if self.fd is not None and self.spec.startswith("fifo:"):
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None


class _StdoutSink:
    """Prefixed JSON lines on stdout, for a worker that could not give us a channel."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self) -> None:
        pass

    def write(self, records: list) -> None:
        if not records:
            return
        lines = encode_records(records).splitlines(keepends=True)
        try:
            sys.stdout.write("".join(f"{self.prefix} {line}" for line in lines))
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def meta(self, facts: dict[str, Any]) -> None:
        try:
            print(f"{self.prefix} {json.dumps({META_KEY: facts})}", flush=True)
        except (OSError, ValueError):
            pass

    def close(self, failed: str | None = None) -> None:
        pass


class _LocalSink:
    """Not started by grokwatch: a run directory of our own under ./grokwatch-logs/."""

    def __init__(self, name: str | None, params: dict[str, Any] | None, total_steps: int | None,
                 base_dir: str | os.PathLike | None, t0: float):
        self.name = name
        self.params = dict(params or {})
        self.total_steps = total_steps
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd() / LOCAL_DIR
        self.t0 = t0
        self.dir: Path | None = None
        self.writer: Any = None
        self.merger: RowMerger | None = None
        self.status: RunStatus = {}  # (grokwatch/status.py)
        self._last_status = 0.0

    def open(self) -> None:
        from . import __version__
        from .runs import atomic_write_json

        script = self.name or _script_name()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9._=-]+", "-", script).strip("-") or "script"
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for i in range(1, 1000):
            d = self.base_dir / (f"{safe}-{stamp}" if i == 1 else f"{safe}-{stamp}-{i}")
            try:
                d.mkdir()
            except FileExistsError:
                continue
            break
        self.dir = d
        config = {
            "run_id": d.name, "experiment": safe, "kind": "script", "seed": None,
            "params": self.params, "sweep": {}, "argv": list(sys.argv), "cwd": os.getcwd(),
            "created": time.time(), "host": _hostname(), "pid": os.getpid(),
            "versions": {"python": sys.version.split()[0], "grokwatch": __version__},
        }
        if self.total_steps is not None:
            config["total_steps"] = int(self.total_steps)
        atomic_write_json(d / "config.json", config)
        self.status = {"run_id": d.name, "state": "running", "pid": os.getpid(), "host": _hostname(),
                       "started": time.time(), "step": 0, "total_steps": config.get("total_steps"),
                       "exit_code": None, "error": None, "ended": None}
        atomic_write_json(d / "status.json", self.status)
        self.writer = _BatchMetricsWriter(d / "metrics.csv")
        self.merger = RowMerger(self._emit)
        try:
            shown = os.path.relpath(d)
        except ValueError:
            shown = str(d)
        print(f"grokwatch: not started by grokwatch, so log() writes {shown}/metrics.csv; "
              f"watch it with `grokwatch view {shown}`", file=sys.stderr, flush=True)

    def _emit(self, step: int, metrics: dict[str, float]) -> None:
        row = metrics  # the merger hands the row over; no copy
        acc = row.get("train_acc")
        if acc is not None and "train_error" not in row:
            row["train_error"] = 1.0 - acc
        acc = row.get("test_acc")
        if acc is not None and "test_error" not in row:
            row["test_error"] = 1.0 - acc
        row["step"] = step
        w = self.writer
        if w.last_step is not None and step <= w.last_step:
            return
        keys = tuple(row)
        if keys not in w._known:  # (BatchMetricsWriter.write, inlined: once per row)
            w.note_columns(row, keys)
        # ints and floats only: their repr is format_value's text, and none contains "None"
        w._f.write(",".join(map(repr, map(row.get, w.columns))).replace("None", "") + "\n")
        w.last_step = step
        self.status["step"] = step

    def write(self, records: list) -> None:
        if not records or self.merger is None:
            return
        self.merger.add_batch(records, self.t0)
        self.writer.flush()
        self._maybe_status()

    def tick(self) -> None:
        if self.merger is not None:
            self.merger.flush_idle()
            self.writer.flush()

    def _maybe_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_status >= 2.0:
            from .runs import atomic_write_json

            self._last_status = now
            self.status["updated"] = time.time()
            try:
                atomic_write_json(self.dir / "status.json", self.status)  # type: ignore[operator]
            except OSError:
                pass

    def meta(self, facts: dict[str, Any]) -> None:
        if "total_steps" in facts:
            self.status["total_steps"] = facts["total_steps"]
            self._maybe_status(force=True)

    def close(self, failed: str | None = None) -> None:
        if self.merger is None:
            return
        self.merger.flush()
        self.writer.flush()
        self.writer.close()
        self.status.update({"state": "failed" if failed else "done", "ended": time.time(),
                            "exit_code": 1 if failed else 0, "error": failed})
        self._maybe_status(force=True)
        summary = self.merger.summary()
        if summary:
            print(f"grokwatch: {summary}", file=sys.stderr, flush=True)
        self.merger = None


def _batch_writer_class():
    from .runs import MetricsWriter

    class BatchMetricsWriter(MetricsWriter):
        """MetricsWriter that flushes once per batch instead of once per row, for rows of
        numbers (what a RowMerger emits)."""

        def __init__(self, path: Path):
            super().__init__(path)
            self._known: set = set()  # key tuples whose columns the header has

        def write(self, row: dict[str, Any]) -> bool:
            step = row.get("step")
            if step is not None and self.last_step is not None and step <= self.last_step:
                return False
            keys = tuple(row)
            if keys not in self._known:
                self.note_columns(row, keys)
            # Rows come from a RowMerger: ints and floats only (bools and strings never get
            # through), whose repr is format_value's text; no number's repr contains "None".
            self._f.write(",".join(map(repr, map(row.get, self.columns))).replace("None", "") + "\n")
            if step is not None:
                self.last_step = step
            return True

        def note_columns(self, row: dict[str, Any], keys: tuple) -> None:
            """Widen the header for the row's new names (rare: once per new name)."""
            new = [k for k in row if k not in self.columns]
            if new:
                self._f.flush()
                self._widen(new)
            if len(self._known) > 4096:
                self._known = set()
            self._known.add(keys)

        def flush(self) -> None:
            self._f.flush()

    return BatchMetricsWriter


def _BatchMetricsWriter(path: Path):  # noqa: N802 — a lazily built class
    return _batch_writer_class()(path)


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    stem = Path(path).stem if path and path != "-c" else ""
    return stem or "python"


def _hostname() -> str:
    import socket

    return socket.gethostname()


# ----------------------------------------------------------------------------- the run


class Run:
    """One stream of metrics. `log()` is cheap and thread-safe; a daemon thread hands the
    buffer on every `flush_every_s`; `close()` (also at interpreter exit) hands on the rest.

    Under grokwatch (GROKWATCH_CLIENT_CHANNEL set) records go to the wrapping worker; otherwise
    to a run directory of its own under `dir` (default ./grokwatch-logs/).
    """

    def __init__(self, name: str | None = None, params: dict[str, Any] | None = None,
                 total_steps: int | None = None, dir: str | os.PathLike | None = None,
                 flush_every_s: float = FLUSH_EVERY_S):
        self.name = name
        self.params = params
        self.total_steps = total_steps
        self.base_dir = dir
        self.flush_every_s = flush_every_s
        # (step, metrics, time) records; deque.append and popleft are atomic, so log() takes
        # no lock and a record appended while flush() runs is handed on now or next time
        self._buf: collections.deque = collections.deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: Any = None
        self._closed = False
        self._failed: str | None = None
        self._t0 = time.monotonic()
        self._pid = os.getpid()

    # --- the hot path

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """Record metrics for `step` (None: the step after the last one)."""
        for v in metrics.values():
            t = type(v)
            if t is not float and t is not int:
                metrics = _coerce_for_log(metrics)
                break
        buf = self._buf
        buf.append((step, metrics, _monotonic()))
        if self._thread is None:
            self._start()
        elif len(buf) >= MAX_BUFFER:
            self.flush()

    # --- plumbing

    @property
    def dir(self) -> Path | None:
        """The run directory (this one's own, or the wrapping worker's)."""
        if isinstance(self._sink, _LocalSink):
            return self._sink.dir
        env = os.environ.get(ENV_RUN_DIR)
        return Path(env) if env else None

    def _start(self) -> None:
        with self._flush_lock:
            if self._thread is not None or _exiting:
                return
            self._closed = False
            self._wake = threading.Event()
            self._sink = self._open_sink()
            if self.total_steps is not None:
                self._sink.meta({"total_steps": int(self.total_steps)})
            self._thread = threading.Thread(target=self._loop, name="grokwatch-log", daemon=True)
            self._thread.start()
            _register_exit(self)

    def _open_sink(self) -> Any:
        channel = os.environ.get(ENV_CHANNEL)
        if channel:
            sink = _ChannelSink(channel)
            try:
                sink.open()
                return sink
            except (OSError, ValueError) as exc:
                prefix = os.environ.get(ENV_STDOUT_PREFIX)
                if prefix:
                    print(f"grokwatch: cannot open the worker's channel ({exc}); reporting on stdout",
                          file=sys.stderr, flush=True)
                    return _StdoutSink(prefix)
                print(f"grokwatch: cannot open the worker's channel ({exc}); logging locally",
                      file=sys.stderr, flush=True)
        sink = _LocalSink(self.name, self.params, self.total_steps, self.base_dir, self._t0)
        sink.open()
        return sink

    def _loop(self) -> None:
        while not self._wake.wait(self.flush_every_s):
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 — logging must never kill the script
                print(f"grokwatch: log flush failed: {exc}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        """Hand every buffered record on now."""
        with self._flush_lock:
            if self._sink is None:
                return
            buf = self._buf
            popleft = buf.popleft
            records = [popleft() for _ in range(len(buf))]
            if records:
                self._sink.write(records)
            tick = getattr(self._sink, "tick", None)
            if tick is not None:
                tick()

    def set_total_steps(self, total_steps: int) -> None:
        """How many steps the script will run (progress and ETA)."""
        self.total_steps = int(total_steps)
        if self._sink is not None:
            with self._flush_lock:
                self._sink.meta({"total_steps": self.total_steps})

    def close(self) -> None:
        """Hand on everything and finish (a run directory of our own is marked done)."""
        if self._thread is None or self._closed or os.getpid() != self._pid:
            return
        self.flush()
        with self._flush_lock:
            self._closed = True
            self._wake.set()
            if self._sink is not None:
                self._sink.close(self._failed)
            self._sink = None
            self._thread = None  # a later log() starts afresh (a new run directory)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self._failed = f"{exc_type.__name__}: {exc}"
        self.close()

    def _after_fork(self) -> None:
        """A forked child (e.g. a DataLoader worker) starts afresh: no inherited records,
        locks or thread; it opens its own sink if it ever logs."""
        self._buf = collections.deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._sink = None
        self._closed = False
        self._pid = os.getpid()


# ----------------------------------------------------------------------------- module level

_default: Run | None = None
_default_lock = threading.Lock()
_open_runs: list[Run] = []
_exit_registered = False
_uncaught: str | None = None
_exiting = False


def _register_exit(run: Run) -> None:
    global _exit_registered
    with _default_lock:
        if run not in _open_runs:
            _open_runs.append(run)
        if not _exit_registered:
            _exit_registered = True
            atexit.register(_at_exit)
            _hook_excepthook()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    global _exiting
    _exiting = True
    for run in list(_open_runs):
        if _uncaught and run._failed is None:
            run._failed = _uncaught
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001
            print(f"grokwatch: could not flush metrics at exit: {exc}", file=sys.stderr)


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for run in _open_runs:
        run._after_fork()
    _open_runs.clear()


def _hook_excepthook() -> None:
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        global _uncaught
        if not issubclass(exc_type, KeyboardInterrupt):
            _uncaught = f"{exc_type.__name__}: {exc}"
        else:
            _uncaught = "KeyboardInterrupt"
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def _get_default() -> Run:
    global _default
    run = _default
    if run is None:
        with _default_lock:
            if _default is None:
                _default = Run()
            run = _default
    return run


def init(name: str | None = None, params: dict[str, Any] | None = None,
         total_steps: int | None = None, dir: str | os.PathLike | None = None) -> Run:
    """Configure the default run before the first `log()` (all optional).

    `name` and `params` describe a run directory of our own (not started by grokwatch; under
    grokwatch the experiment's config says these); `total_steps` feeds progress and ETA in both
    cases; `dir` replaces ./grokwatch-logs/. Returns the `Run`, usable as a context manager.
    """
    global _default
    with _default_lock:
        if _default is not None and _default._thread is not None:
            run = _default
            if total_steps is not None:
                run.set_total_steps(total_steps)
            return run
        _default = Run(name=name, params=params, total_steps=total_steps, dir=dir)
        return _default


def log(step: int | None = None, **metrics: Any) -> None:
    """Record metrics for `step` (None: the step after the last one):
    `log(step=100, train_loss=0.3, test_acc=0.5)`. Cheap (an append), thread-safe; the records
    are handed on at least every half second and at exit. See the module's docstring."""
    run = _default
    if run is None:
        run = _get_default()
    # Run.log, inlined: the keyword arguments are packed once, not twice
    for v in metrics.values():
        t = type(v)
        if t is not float and t is not int:
            metrics = _coerce_for_log(metrics)
            break
    buf = run._buf
    buf.append((step, metrics, _monotonic()))
    if run._thread is None:
        run._start()
    elif len(buf) >= MAX_BUFFER:
        run.flush()


def flush() -> None:
    """Hand every buffered record on now (normally done every second and at exit)."""
    if _default is not None:
        _default.flush()


def finish() -> None:
    """Flush and close the default run (a later `log()` starts a new one)."""
    global _default
    if _default is not None:
        _default.close()
        with _default_lock:
            if _default in _open_runs:
                _open_runs.remove(_default)
            _default = None
