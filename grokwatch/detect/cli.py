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
    from . import DetectorSet

    raw, header, rows = _read(p)
    if header is None:
        return [], "step"  # empty, or not even a complete header line
    _check_columns(p, raw or [], header)
    unit = step_unit(raw, header)
    ds = DetectorSet(run_info_for(p), step_unit=unit)
    out: list[dict] = []
    for row in rows:
        out.extend(ds.feed(complete_row(row)))
    return out, unit


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
        description=f"Run the alert detectors ({', '.join(KINDS)}) over a CSV log and print "
                    f"the events.")
    ap.add_argument("file", help="a metrics CSV (ours, or any with a step/epoch column and "
                                 "train/test/val loss, error or accuracy columns), or a run directory")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per line, as in events.jsonl")
    args = ap.parse_args(argv)
    try:
        p = _resolve(args.file)
        events, unit = _detect(p)
    except DetectInputError as exc:
        print(f"grokwatch detect: {exc}", file=sys.stderr)
        return 2
    info = run_info_for(p)
    run_id = _run_id(p, info)
    started = None
    status = read_json(p.parent / "status.json") if p.name == "metrics.csv" else None
    if isinstance(status, dict) and isinstance(status.get("started"), (int, float)):
        started = float(status["started"])
    for ev in events:
        if args.json:
            obj = {"time": _event_time(ev, started), "run_id": run_id, "step": _jsonable(ev["step"]),
                   "kind": ev["kind"], "message": ev["message"], "alert": is_alert_kind(ev["kind"])}
            for k, v in ev.items():
                if k not in obj:
                    obj[k] = _jsonable(v)
            print(json.dumps(obj, sort_keys=False), flush=False)
        else:
            step = _jsonable(ev["step"])
            print(f"{run_id} {unit} {step}: {ev['kind']}: {ev['message']}")
    sys.stdout.flush()
    return 0
