"""Not started by grokwatch: the run directory `log()` writes of its own.

    ./grokwatch-logs/<script>-<YYYYmmdd-HHMMSS>/  config.json, status.json, metrics.csv

`grokwatch.client` imports this on the first `log()` that finds no worker channel, so a script
run under grokwatch never loads it (nor `grokwatch.runs`). Records are merged into rows by the
same `RowMerger` the worker uses, and written by the run-directory writer of `grokwatch.runs`.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .status import RunStatus

from . import __version__
from .columns import is_accuracy
from .merge import RowMerger
from .runs import MetricsWriter, atomic_write_json
from .tail import PERCENT_ABOVE

LOCAL_DIR = "grokwatch-logs"


class NumberRowsWriter(MetricsWriter):
    """`runs.MetricsWriter` for rows of ints and floats (what a RowMerger emits), flushed once
    per batch of records instead of once per row.

    `write` is a second copy of `MetricsWriter.write`, kept for the "local" line of
    `bench/client.py` (<= 5 us per `log()` call amortised): `MetricsWriter.write` flushes every
    row and formats each value through `format_value`. For ints and floats `repr` is
    `format_value`'s text; `tests/test_client.py::test_number_rows_writer_writes_what_metrics_writer_writes`
    holds the two to the same bytes.
    """

    def __init__(self, path: Path):
        super().__init__(path)
        self._known: set = set()  # key tuples whose columns the header has

    def write(self, row: dict[str, Any]) -> bool:
        step = row.get("step")
        if step is not None and self.last_step is not None and step <= self.last_step:
            return False
        keys = tuple(row)
        if keys not in self._known:
            self._note_columns(row, keys)
        # ints and floats only (a RowMerger lets nothing else through): repr is format_value's
        # text, and no number's repr contains "None"
        try:
            self._f.write(",".join(map(repr, map(row.get, self.columns))).replace("None", "") + "\n")
        except OSError:  # a full disk: no half row left behind (as MetricsWriter.write)
            self._drop_partial_row()
            raise
        if step is not None:
            self.last_step = step
        return True

    def _note_columns(self, row: dict[str, Any], keys: tuple) -> None:
        """Widen the header for the row's new names (rare: once per new name)."""
        new = [k for k in row if k not in self.columns]
        if new:
            self._f.flush()
            self._widen(new)
        if len(self._known) > 4096:
            self._known = set()
        self._known.add(keys)

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError:
            self._drop_partial_row()
            raise


class LocalSink:
    """The client's sink when not started by grokwatch: a run directory of its own."""

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
        self.percent = False  # accuracy in percent: decided once per run (see _units)
        self._accuracy: dict[tuple, list[str]] = {}  # a row's names -> its accuracy columns

    def open(self) -> None:
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
        self.writer = NumberRowsWriter(d / "metrics.csv")
        self.merger = RowMerger(self._emit, stamp=self._stamp)
        try:
            shown = os.path.relpath(d)
        except ValueError:
            shown = str(d)
        print(f"grokwatch: not started by grokwatch, so log() writes {shown}/metrics.csv; "
              f"watch it with `grokwatch view {shown}`", file=sys.stderr, flush=True)

    def _stamp(self, arrived: float) -> float:
        """time_s of a row: seconds from the Run's start to its first record."""
        return round(arrived - self.t0, 3)

    def _units(self, step: int, row: dict[str, float], acc: list[str]) -> None:
        """The per-file percent rule, as a command run's worker keeps it for its metrics.csv
        (`experiments/command.py`, `_units`): the first accuracy above 1 makes every accuracy
        percent, and the rows already written are rewritten as fractions, so this metrics.csv
        holds fractions too. test_local_run_and_command_run_agree_on_percent holds the two
        together."""
        if not self.percent:
            over = next((k for k in acc if row[k] > PERCENT_ABOVE), None)
            if over is None:
                return
            self.percent = True
            written = [c for c in self.writer.columns if is_accuracy(c)]
            n = self.writer.rescale(written, 0.01) if written else 0
            print(f"grokwatch: accuracy is in percent ({over} = {row[over]:g} at step {step}): "
                  f"every accuracy is divided by 100 (error = 1 - accuracy); the {n} row(s) "
                  f"already in metrics.csv were rewritten as fractions", file=sys.stderr, flush=True)
        for k in acc:
            row[k] = row[k] * 0.01

    def _emit(self, step: int, metrics: dict[str, float]) -> None:
        row = metrics  # the merger hands the row over; no copy
        keys = tuple(row)
        acc = self._accuracy.get(keys)
        if acc is None:
            acc = [k for k in keys if is_accuracy(k)]
            if len(self._accuracy) < 4096:
                self._accuracy[keys] = acc
        if acc:
            if self.percent:
                for k in acc:
                    row[k] *= 0.01
            else:
                for k in acc:
                    if row[k] > PERCENT_ABOVE:
                        self._units(step, row, acc)
                        break
        # columns.complete_row, inlined for the "local" line of bench/client.py (it costs about
        # 0.6 us more per row); test_local_run_errors_follow_complete_row holds the two together
        acc = row.get("train_acc")
        if acc is not None and "train_error" not in row:
            err = 1.0 - acc
            row["train_error"] = 0.0 if err < 0.0 else err
        acc = row.get("test_acc")
        if acc is not None and "test_error" not in row:
            err = 1.0 - acc
            row["test_error"] = 0.0 if err < 0.0 else err
        row["step"] = step
        if self.writer.write(row):
            self.status["step"] = step

    def write(self, records: list) -> None:
        if not records or self.merger is None:
            return
        self.merger.add_batch(records)
        self.writer.flush()
        self._maybe_status()

    def tick(self) -> None:
        if self.merger is not None:
            self.merger.flush_idle()
            self.writer.flush()

    def _maybe_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_status >= 2.0:
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


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    stem = Path(path).stem if path and path != "-c" else ""
    return stem or "python"


def _hostname() -> str:
    import socket

    return socket.gethostname()
