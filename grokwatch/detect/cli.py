"""`grokwatch detect FILE.csv [--json]`: the alert detectors over any CSV log.

The file is read by `runs.MetricsTail` (the one tolerant reader: columns mapped through
`grokwatch.columns`, so `epoch`, `val_acc` or `valid/loss` work); a `config.json` beside it
(a grokwatch run directory) gives the run's test-set size and parameters. A path to a run
directory reads its `metrics.csv`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..columns import CORE_METRICS, complete_row
from ..runs import MetricsTail, read_json


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


def _read(path: Path) -> tuple[list[str] | None, list[str] | None, list[dict[str, float]]]:
    tail = MetricsTail(path)
    try:
        rows = tail.read()
    except OSError as exc:
        raise DetectInputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return tail.raw_header, tail.header, rows


SHOWN_COLUMNS = 8  # header names quoted in the error


def _shown_name(name: str) -> str:
    """A header name as the error quotes it: control characters escaped (one line, no
    terminal codes), a blank name as ""."""
    if not name:
        return '""'
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in name)


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


def detect_file(path: str | Path) -> list[dict]:
    """Events over the CSV at `path`. Raises DetectInputError for a missing file or one whose
    header has no usable columns; an empty, header-only, short or truncated file gives []."""
    return _detect(_resolve(path))[0]


def _detect(p: Path) -> tuple[list[dict], str]:
    """(events, step unit) for the CSV at `p`."""
    raw, header, rows = _read(p)
    if header is None:
        return [], "step"  # empty, or not even a complete header line
    _check_columns(p, raw or [], header)
    unit = step_unit(raw, header)
    return _detect_rows(rows, run_info_for(p), unit), unit


def _detect_rows(rows: list[dict[str, float]], info: dict | None, unit: str) -> list[dict]:
    from . import DetectorSet

    ds = DetectorSet(info, step_unit=unit)
    out: list[dict] = []
    for row in rows:
        out.extend(ds.feed(complete_row(row)))
    return out


def _foreign_sources(path: str) -> list | None:
    """The runs in another tool's logs at `path` (TensorBoard, W&B, HF Trainer, MLflow, a
    Lightning directory: `grokwatch.readers`), or None where `path` is a CSV or a run
    directory, read by the CSV path (which names missing columns, quoting the header)."""
    from ..readers import ReaderError, looks_like_text, open_path

    p = Path(path)
    if not p.exists() or (p.is_dir() and (p / "metrics.csv").exists()):
        return None
    try:
        sources = open_path(p)
    except ReaderError as exc:
        if p.is_file() and (p.stat().st_size == 0 or looks_like_text(p)):
            return None  # an empty file has no events; a text file's header is quoted below
        raise DetectInputError(str(exc)) from None
    if p.is_file() and all(s.csv is not None for s in sources):
        return None
    return sources


def _detect_foreign(sources: list) -> list[tuple[str, str, float | None, list[dict]]]:
    """(run id, step unit, start time, events) per run; a CSV among them (a Lightning
    version_N/metrics.csv) is read by the CSV path. Raises DetectInputError (a missing
    extra, nothing readable) before anything is printed."""
    from ..readers import ReaderError

    out = []
    for src in sources:
        try:
            if src.csv is not None:
                events, unit = _detect(src.csv)
                out.append((src.name, unit, None, events))
                continue
            rows = src.read_all()
        except ReaderError as exc:
            raise DetectInputError(str(exc)) from None
        if src.bad_rows:
            print(f"grokwatch detect: {src.name}: {src.bad_rows} records could not be read "
                  f"(the first: {src.first_bad})", file=sys.stderr)
        if rows:
            out.append((src.name, "step", src.started, _detect_rows(rows, src.info, "step")))
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
    """`grokwatch detect FILE.csv [--json]`; 2 with one clear line on unusable input."""
    ap = argparse.ArgumentParser(
        prog="grokwatch detect",
        description="Run the alert detectors (generalization_jump, grokking_likely, overfitting, "
                    "divergence) over a CSV log and print the events.")
    ap.add_argument("file", help="a metrics CSV (ours, or any with a step/epoch column and "
                                 "train/test/val loss, error or accuracy columns), or a run directory")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per line, as in events.jsonl")
    args = ap.parse_args(argv)
    try:
        foreign = _foreign_sources(args.file)
        if foreign is not None:
            runs = _detect_foreign(foreign)
        else:
            p = _resolve(args.file)
            events, unit = _detect(p)
    except DetectInputError as exc:
        print(f"grokwatch detect: {exc}", file=sys.stderr)
        return 2
    if foreign is not None:
        for run_id, unit, started, events in runs:
            _print_events(events, run_id, unit, started, args.json)
        sys.stdout.flush()
        return 0
    info = run_info_for(p)
    run_id = _run_id(p, info)
    started = None
    status = read_json(p.parent / "status.json") if p.name == "metrics.csv" else None
    if isinstance(status, dict) and isinstance(status.get("started"), (int, float)):
        started = float(status["started"])
    _print_events(events, run_id, unit, started, args.json)
    sys.stdout.flush()
    return 0


def _print_events(events: list[dict], run_id: str, unit: str, started: float | None,
                  as_json: bool) -> None:
    for ev in events:
        if as_json:
            obj = {"time": _event_time(ev, started), "run_id": run_id, "step": _jsonable(ev["step"]),
                   "kind": ev["kind"], "message": ev["message"], "alert": True}
            for k, v in ev.items():
                if k not in obj:
                    obj[k] = _jsonable(v)
            print(json.dumps(obj, sort_keys=False), flush=False)
        else:
            step = _jsonable(ev["step"])
            print(f"{run_id} {unit} {step}: {ev['kind']}: {ev['message']}")
