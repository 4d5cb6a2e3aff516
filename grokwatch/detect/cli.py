"""`grokwatch detect FILE.csv [--json] [--map SRC=DST] [--percent]`: the alert detectors over
any CSV log.

The file is streamed through `tail.open_log` (the one tolerant reader: columns mapped through
`grokwatch.columns`, so `epoch`, `val_acc` or `valid/loss` work; `--map` wins over the built-in
names): a first pass decides its units (any accuracy above 1: every accuracy column is percent),
then rows go to the detectors chunk by chunk, so memory stays flat in the file's size. A
`config.json` beside it (a grokwatch run directory) gives the run's test-set size and
parameters. A path to a run directory reads its `metrics.csv`. Rows that cannot be read are
counted and said in one warning line (stderr), with the first quoted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..columns import CORE_METRICS, add_map_options, complete_row, map_options
from ..runs import read_json
from ..tail import CsvLog, open_log, shown_line
from .kinds import KINDS, is_alert_kind


class DetectInputError(ValueError):
    """A file `grokwatch detect` cannot use; the message names the file and what is missing."""


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        m = p / "metrics.csv"
        if not m.exists():
            raise DetectInputError(f"{p}: a directory without a metrics.csv")
        return m
    if not p.exists():
        raise DetectInputError(f"{p}: no such file")
    return p


def _open(path: Path, column_map: dict | None = None, percent: bool | None = None) -> CsvLog:
    try:
        log = open_log(path, column_map, percent)
    except OSError as exc:
        raise DetectInputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if log.header is None and log.unreadable:
        raise DetectInputError(f"{path}: {log.unreadable}")
    return log


SHOWN_COLUMNS = 8  # header names quoted in the error


def _shown_name(name: str) -> str:
    """A header name as the error quotes it: control characters and binary escaped (one line,
    no terminal codes), cut short, a blank name as ""."""
    return shown_line(name, 40) if name else '""'


def _check_columns(path: Path, raw: list[str], header: list[str]) -> None:
    """Raise DetectInputError naming what is missing: a step (or epoch) column, any metric
    column, or both; the header is quoted (its first names) so the user sees what was read."""
    needs = []
    if "step" not in header:
        needs.append("a step (or epoch) column")
    if not any(c in header for c in CORE_METRICS):
        needs.append("at least one train/test (or val) loss, error or accuracy column")
    if not needs:
        return
    if any(raw):
        shown = ", ".join(_shown_name(c) for c in raw[:SHOWN_COLUMNS])
        if len(raw) > SHOWN_COLUMNS:
            shown += f", ... ({len(raw)} columns)"
        header_words = f"its header is: {shown}"
    else:
        header_words = "its header is empty"
    raise DetectInputError(f"{path}: no usable columns: it needs {' and '.join(needs)}; "
                           f"{header_words}")


def step_unit(raw: list[str] | None, header: list[str] | None) -> str:
    """"epoch" where the canonical `step` column was read from an epoch column (a log without
    any step-like column, `grokwatch.columns`), else "step". For the wording of the messages."""
    if not raw or not header or "step" not in header:
        return "step"
    i = header.index("step")
    if i < len(raw) and raw[i].strip().lower() in ("epoch", "epochs"):
        return "epoch"
    return "step"


def run_info_for(path: Path) -> dict[str, Any] | None:
    info = read_json(path.parent / "config.json")
    return info if isinstance(info, dict) else None


def detect_file(path: str | Path, column_map: dict | None = None,
                percent: bool | None = None) -> list[dict]:
    """Events over the CSV at `path`. Raises DetectInputError for a missing file or one whose
    header has no usable columns; an empty, header-only, short or truncated file gives []."""
    return _detect(_resolve(path), column_map, percent)[0]


def _detect(p: Path, column_map: dict | None = None,
            percent: bool | None = None) -> tuple[list[dict], str, CsvLog]:
    """(events, step unit, the log as read) for the CSV at `p`."""
    events, unit, log, _n = _detect_rows(p, column_map, percent)
    return events, unit, log


def _detect_rows(p: Path, column_map: dict | None = None,
                 percent: bool | None = None) -> tuple[list[dict], str, CsvLog, int]:
    """(events, step unit, the log as read, rows read) for the CSV at `p`."""
    log = _open(p, column_map, percent)
    if log.header is None:
        return [], "step", log, 0  # empty, or not even a complete header line
    events, n = _detect_counted(log, run_info_for(p), p)
    return events, step_unit(log.raw_header, log.header), log, n


def detect_log(log: Any, info: dict | None = None, where: Path | str = "") -> list[dict]:
    """Every event over a log opened for streaming: `tail.open_log`, or any reader's object with
    `raw_header`, `header` (canonical names) and rows (fractions) when iterated. Checks its
    columns first (DetectInputError names what is missing)."""
    return _detect_counted(log, info, where)[0]


def _detect_counted(log: Any, info: dict | None = None, where: Path | str = "") -> tuple[list[dict], int]:
    """detect_log's events and the number of rows read (for the line that says no events)."""
    from . import DetectorSet

    raw, header = log.raw_header or [], log.header or []
    _check_columns(Path(where or "log"), raw, header)
    ds = DetectorSet(info, step_unit=step_unit(raw, header))
    out: list[dict] = []
    n = 0
    for row in log:
        n += 1
        out.extend(ds.feed(complete_row(row)))
    return out, n


def warnings_for(log: Any, path: Path | str) -> list[str]:
    """The lines `detect` says about how a log was read: its units, rows it could not read."""
    out = []
    note = log.note()
    if note:
        out.append(f"{path}: {note}")
    if log.bad_lines:
        out.append(f"warning: {path}: {log.bad_lines} row(s) could not be read and were skipped; "
                   f"the first: {log.first_bad!r}")
    return out


def _foreign_sources(path: str, column_map: dict | None = None) -> list | None:
    """The runs in another tool's logs at `path` (TensorBoard, W&B, HF Trainer, MLflow, a
    Lightning directory: `grokwatch.readers`), or None where `path` is a CSV or a run
    directory, read by the CSV path (which names missing columns, quoting the header)."""
    from ..readers import ReaderError, looks_like_text, open_path

    p = Path(path)
    if not p.exists() or (p.is_dir() and (p / "metrics.csv").exists()):
        return None
    try:
        sources = open_path(p, column_map)
    except ReaderError as exc:
        if p.is_file() and (p.stat().st_size == 0 or looks_like_text(p)):
            return None  # an empty file has no events; a text file's header is quoted below
        raise DetectInputError(str(exc)) from None
    if p.is_file() and all(s.csv is not None for s in sources):
        return None
    return sources


def _detect_foreign(sources: list, column_map: dict | None, percent: bool | None
                    ) -> list[tuple[str, str, float | None, list[dict], list[str], tuple[int, int]]]:
    """(run id, step unit, start time, events, warning lines, (rows read, rows unreadable)) per
    run, all read before
    anything is printed; a CSV among them (a Lightning version_N/metrics.csv) goes through
    the CSV path. Raises DetectInputError (a missing extra, nothing readable)."""
    from ..readers import ReaderError, SourceLog

    out = []
    for src in sources:
        try:
            if src.csv is not None:
                events, unit, log, n = _detect_rows(src.csv, column_map, percent)
                out.append((src.name, unit, None, events, warnings_for(log, src.csv), (n, log.bad_lines)))
                continue
            log = SourceLog(src, src.read_all(), percent)
        except ReaderError as exc:
            raise DetectInputError(str(exc)) from None
        if log.rows:
            events, n = _detect_counted(log, src.info, src.path)
            out.append((src.name, step_unit(log.raw_header, log.header), src.started, events,
                        warnings_for(log, src.name), (n, log.bad_lines or 0)))
    if not out:
        kinds = " and ".join(sorted({s.format for s in sources}))
        raise DetectInputError(f"{sources[0].path}: found {kinds} but no metric values in it "
                               "(no scalars logged yet?)")
    return out


def _run_id(path: Path, info: dict | None) -> str:
    if info and isinstance(info.get("run_id"), str):
        return info["run_id"]
    if path.name == "metrics.csv":
        return path.parent.name
    return path.stem


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) < 2**53:
            return int(v)
    return v


def _event_time(ev: dict, started: float | None) -> float:
    t = ev.get("time_s")
    if started is not None and isinstance(t, (int, float)) and math.isfinite(t):
        return round(started + t, 3)
    return round(time.time(), 3)


def main_detect(argv: list[str]) -> int:
    """`grokwatch detect FILE.csv [--json] [--map SRC=DST] [--percent]`; 2 with one clear line
    on unusable input."""
    ap = argparse.ArgumentParser(
        prog="grokwatch detect",
        description=f"Run the alert detectors ({', '.join(KINDS)}) over a CSV log and print "
                    f"the events.")
    ap.add_argument("file", help="a metrics CSV (ours, or any with a step/epoch column and "
                                 "train/test/val loss, error or accuracy columns), a run directory, "
                                 "or another tool's logs (TensorBoard, W&B offline, HF Trainer, "
                                 "MLflow, Lightning: each run found)")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per line, as in events.jsonl")
    add_map_options(ap)
    args = ap.parse_args(argv)
    options = map_options(args, "grokwatch detect")
    if options is None:
        return 2
    column_map, percent = options
    try:
        foreign = _foreign_sources(args.file, column_map or None)
        if foreign is not None:
            runs = _detect_foreign(foreign, column_map or None, percent)
        else:
            p = _resolve(args.file)
            events, unit, log, n_rows = _detect_rows(p, column_map or None, percent)
    except DetectInputError as exc:
        print(f"grokwatch detect: {exc}", file=sys.stderr)
        return 2
    if foreign is not None:  # every run of a TensorBoard logdir, an MLflow store, ...
        for run_id, unit, started, events, warnings, (n_rows, n_bad) in runs:
            for line in warnings:
                print(f"grokwatch detect: {line}", file=sys.stderr)
            _print_events(events, run_id, unit, started, args.json, n_rows, n_bad)
        sys.stdout.flush()
        return 0
    info = run_info_for(p)
    run_id = _run_id(p, info)
    started = None
    status = read_json(p.parent / "status.json") if p.name == "metrics.csv" else None
    if isinstance(status, dict) and isinstance(status.get("started"), (int, float)):
        started = float(status["started"])
    for line in warnings_for(log, p):
        print(f"grokwatch detect: {line}", file=sys.stderr)
    _print_events(events, run_id, unit, started, args.json, n_rows, log.bad_lines)
    sys.stdout.flush()
    return 0


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def no_events_line(run_id: str, rows: int, unreadable: int = 0) -> str:
    """What the text output says for a run that raised nothing (so silence is never ambiguous)."""
    bad = f"; {_rows(unreadable)} could not be read" if unreadable else ""
    return f"{run_id}: no events in {_rows(rows)} read{bad}"


def _print_events(events: list[dict], run_id: str, unit: str, started: float | None,
                  as_json: bool, rows: int = 0, unreadable: int = 0) -> None:
    """The events, one line (or JSON object) each. Text: a run without events gets one line
    saying so; JSON lines stay events only (none: nothing printed, an empty stream)."""
    if not events and not as_json:
        print(no_events_line(run_id, rows, unreadable))
    for ev in events:
        if as_json:
            obj = {"time": _event_time(ev, started), "run_id": run_id, "step": _jsonable(ev["step"]),
                   "kind": ev["kind"], "message": ev["message"], "alert": is_alert_kind(ev["kind"])}
            for k, v in ev.items():
                if k not in obj:
                    obj[k] = _jsonable(v)
            print(json.dumps(obj, sort_keys=False), flush=False)
        else:
            step = _jsonable(ev["step"])
            print(f"{run_id} {unit} {step}: {ev['kind']}: {ev['message']}")
