"""Metric records in, rows out: the row merger behind every way a script reports metrics.

The worker of a `command` run feeds it the client's channel, stdout record lines and a tailed
metrics file; the client feeds it when it writes a run directory of its own. It lives apart
from `grokwatch.client` (what a training script imports) because it is the worker's engine,
not the script's API. Standard library only; `grokwatch.columns` is imported when a name is
first mapped.
"""

from __future__ import annotations

import math
import re
import sys
import time
from typing import Any, Callable

__all__ = ["RowMerger", "to_number", "NOT_A_NUMBER", "mapped_names"]


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


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]+")


def mapped_names(keys: list[str], column_map: dict[str, str] | None) -> list[str]:
    """Canonical names (`columns.canonical_columns`), made safe as CSV columns."""
    from .columns import canonical_columns

    names = canonical_columns([str(k) for k in keys], column_map)
    return [_SAFE_NAME.sub("_", n).strip("_") or f"col{i}" for i, n in enumerate(names)]


# ----------------------------------------------------------------------------- rows


class RowMerger:
    """Metric records in, rows with strictly increasing steps out.

    Shared by the worker of a `command` run (for the client channel, stdout lines and a tailed
    metrics file alike) and by the client's own run directory (`grokwatch.local_run`). A record is a dict of
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
                names = mapped_names(list(record), self.column_map)
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

    def add_batch(self, records: list) -> None:
        """The client's own run directory: (step, metrics, monotonic time) records from one
        process, in order (settle_s == 0).

        Plain records (an int step, float/int values) take a fused copy of `add` + `_place`,
        kept for the "local" line of `bench/client.py` (<= 5 us per `log()` call amortised:
        about 4.2 us with it, 4.8 us without, on the 2-core dev machine); the rest go through
        `add`. `tests/test_client.py::test_add_batch_fast_path_emits_what_add_emits` holds the
        two to the same rows."""
        if self.settle_s > 0:
            for step, metrics, t in records:
                self.add({"step": step, **metrics}, now=t)
            return
        pending = self.pending
        names_for = self._plain_names
        for step, metrics, t in records:
            if type(step) is not int or step < 0 or type(metrics) is not dict:
                self.add({"step": step, **metrics}, now=t)
                continue
            key = tuple(metrics)
            names = names_for.get(key)
            if names is None:
                names = mapped_names(["step", *key], self.column_map)[1:]
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
            pending[step] = [dict(zip(names, metrics.values())), t, t]
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
            self._emit_row(step, values, first)

    def _emit_all(self) -> None:
        pending = self.pending
        steps = list(pending) if len(pending) == 1 else sorted(pending)
        for step in steps:
            values, _updated, first = pending.pop(step)
            self._emit_row(step, values, first)

    def _emit_row(self, step: int, values: dict[str, float], first: float) -> None:
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
