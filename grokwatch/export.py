"""`grokwatch export`: one CSV of all (or some) runs — wide (a row per run and step), long
(a row per run, step and metric), or `--summary` (a row per run: see grokwatch/summaries.py)."""

from __future__ import annotations

import contextlib
import csv
import math
import os
import stat
import sys
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from .runs import MetricsTail, RunPaths, format_value, list_run_dirs, read_json


class ExportError(Exception):
    """The output cannot be written; str() is the one line to show."""


@contextlib.contextmanager
def open_output(out: Path | TextIO | None) -> Iterator[TextIO]:
    """Where the CSV goes. A file is written to a temporary sibling and renamed over the target
    at the end, so a failure (a full disk) leaves no half export and an earlier file intact; a
    device or a pipe (`/dev/stdout`, a FIFO) is written directly; None is stdout."""
    if out is None:
        yield sys.stdout
        return
    if not isinstance(out, (str, Path)):
        yield out
        return
    target = Path(out)
    if target.is_symlink():  # write the file it points at, not over the link
        target = Path(os.path.realpath(target))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ExportError(_why(target, exc)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ExportError(f"{target} is a directory; give a file name, e.g. -o {target / 'all.csv'}")
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            f = open(target, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise ExportError(_why(target, exc)) from None
        try:
            with f:
                yield f
        except OSError as exc:
            raise ExportError(_why(target, exc)) from None
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        f = open(tmp, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ExportError(_why(target, exc)) from None
    try:
        with f:
            yield f
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ExportError(_why(target, exc)) from None
        raise


def _why(target: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError) and not target.parent.is_dir():
        reason = f"the directory {target.parent} does not exist"
    return f"cannot write {target}: {reason}"


def _selected(runs_dir: Path, run_ids: Iterable[str] | None) -> list[RunPaths]:
    if run_ids is None:
        return list_run_dirs(runs_dir)
    return [RunPaths(runs_dir / r) for r in run_ids]


def foreign_runs(paths: list[str | Path]) -> list[tuple[str, dict, list[str], list[list]]]:
    """Runs read from other tools' logs (`grokwatch.readers`: TensorBoard, W&B, HF Trainer,
    MLflow, CSV), as export_csv takes them: accuracy in fractions (the per-file rule).
    Raises readers.ReaderError (one line) for a path with nothing readable."""
    from .readers import SourceLog, read_path

    out = []
    for path in paths:
        for src, rows in read_path(path):
            log = SourceLog(src, rows)
            header = log.header
            info = {"experiment": src.format, "kind": "", **src.info}
            out.append((src.name, info, header, [[r.get(c) for c in header] for r in log.rows]))
    return out


def foreign_summaries(paths: list[str | Path]) -> list[tuple[str, dict, object, str]]:
    """Runs read from other tools' logs, summarised as `export --summary` writes them (the rows
    as `grokwatch detect` feeds them to the detectors: fractions, error from accuracy). Their
    state is not known: empty. Raises readers.ReaderError (one line)."""
    from .columns import complete_row
    from .readers import SourceLog, read_path
    from .summaries import summarize_rows

    out = []
    for path in paths:
        for src, rows in read_path(path):
            log = SourceLog(src, rows)
            info = {"experiment": src.format, "kind": "", **src.info}
            out.append((src.name, info, summarize_rows([complete_row(dict(r)) for r in log.rows], src.info),
                        ""))
    return out


def export_csv(runs_dir: Path, run_ids: list[str] | None, out: Path | TextIO | None,
               long: bool = False, foreign: list | None = None) -> int:
    """Write the CSV; returns the number of data rows written. `foreign`: runs from
    `foreign_runs` after (or, with `run_ids == []`, instead of) the runs directory's."""
    runs = _selected(runs_dir, run_ids) if run_ids != [] else []
    loaded = list(foreign or [])
    sweep_keys: list[str] = []
    metric_cols: list[str] = list(dict.fromkeys(c for _r, _i, header, _rows in loaded for c in header))
    for paths in runs:
        info = read_json(paths.config, {}) or {}
        tail = MetricsTail(paths.metrics)
        header, rows = tail.read_columns()
        loaded.append((paths.run_id, info, header, rows))
        for k in (info.get("sweep") or {}):
            if k not in sweep_keys:
                sweep_keys.append(k)
        for c in header:
            if c not in metric_cols:
                metric_cols.append(c)
    if "step" in metric_cols:
        metric_cols.remove("step")
        metric_cols.insert(0, "step")
    n = 0
    with open_output(out) as f:
        w = csv.writer(f, lineterminator="\n")
        lead = ["run_id", "experiment", "kind", "seed", *sweep_keys]
        w.writerow(lead + (["step", "metric", "value"] if long else _unclashed(metric_cols, lead)))
        for run_id, info, header, rows in loaded:
            sweep = info.get("sweep") or {}
            prefix = [run_id, info.get("experiment", ""), info.get("kind", ""), info.get("seed", ""),
                      *(format_value(sweep.get(k)) for k in sweep_keys)]
            idx = {c: i for i, c in enumerate(header)}
            for vals in rows:
                if long:
                    step = vals[idx["step"]] if "step" in idx else None
                    for c in header:
                        if c == "step" or vals[idx[c]] is None:
                            continue
                        w.writerow(prefix + [_num(step), c, _num(vals[idx[c]])])
                        n += 1
                else:
                    w.writerow(prefix + [_num(vals[idx[c]]) if c in idx else "" for c in metric_cols])
                    n += 1
    return n


def _unclashed(metric_cols: list[str], lead: list[str]) -> list[str]:
    """The wide header's metric names, a metric named like a lead column (a double-descent run
    logs `n_features`, also its swept key) written `NAME_logged`: one name per column."""
    taken = set(lead) | set(metric_cols)
    out = []
    for c in metric_cols:
        name = c
        if c in lead:
            name = f"{c}_logged"
            while name in taken:
                name += "_"
            taken.add(name)
        out.append(name)
    return out


def export_summary(runs_dir: Path, run_ids: list[str] | None, out: Path | TextIO | None,
                   foreign: list | None = None) -> int:
    """`export --summary`: one row per run; returns the number of rows written. `foreign`: runs
    from `foreign_summaries` after (or, with `run_ids == []`, instead of) the runs directory's."""
    from .summaries import summary_table

    dirs = [p.dir for p in _selected(runs_dir, run_ids)] if run_ids != [] else []
    cols, rows = summary_table(dirs, foreign)
    with open_output(out) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for row in rows:
            w.writerow([_cell(row.get(c)) for c in cols])
    return len(rows)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return _num(v)
    return format_value(v) if not isinstance(v, str) else v


def _num(v: float | None) -> str:
    if v is None:
        return ""
    if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return format_value(v)
