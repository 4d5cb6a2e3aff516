"""The runs the dashboard shows: per run its config, status, events, latest row and bounded
summary, refreshed incrementally by the poller thread and read by the UI.

Thread model: only the poller thread mutates a `RunData` or the store; the UI and the chart
builder read. Containers the UI iterates are replaced, never mutated in place (copy-on-write),
and a summary guards itself with its own lock.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ...detect.kinds import is_alert_kind
from ...runner.executors.base import JobRecord
from ...runs import RunPaths, read_events, read_json, tail_lines
from .. import clock
if TYPE_CHECKING:  # numpy comes in with these: imported where used, in the poller thread
    from .csvtail import Block, CsvTail
    from .summary import Summary

LIVE_FILE_S = 60.0  # a plain CSV written to within this long counts as live


def is_alert(event: dict[str, Any]) -> bool:
    return bool(event.get("alert")) or is_alert_kind(event.get("kind"))


@dataclass
class RunData:
    key: str
    csv: Path
    dir: Path | None = None  # None for a plain CSV file
    info: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)
    summary: "Summary" = None  # type: ignore[assignment]
    preview: bool = False  # summary is a coarse sample while the full load runs
    loaded: bool = False  # the summary holds every row read so far
    loading: bool = False  # a bulk load of this file is in flight
    log_lines: list[str] = field(default_factory=list)
    samples: deque = field(default_factory=lambda: deque(maxlen=64))
    csv_mtime: float = 0.0
    detectors: Any = None
    # bookkeeping of what was read
    executor: JobRecord = field(default_factory=JobRecord)  # executor.json: a cluster job's id, node
    _status_mtime: float = -1.0
    _executor_mtime: float = -1.0
    _config_mtime: float = -1.0
    _log_mtime: float = -1.0
    _events_offset: int = 0
    tail: "CsvTail | None" = None

    def __post_init__(self) -> None:
        from .csvtail import CsvTail
        from .summary import Summary

        if self.tail is None:
            self.tail = CsvTail(self.csv)
        if self.summary is None:
            self.summary = Summary()

    # ---------------------------------------------------------------- what the table shows

    @property
    def is_file(self) -> bool:
        return self.dir is None

    @property
    def name(self) -> str:
        return self.key

    @property
    def experiment(self) -> str:
        return str(self.info.get("experiment") or self.key)

    @property
    def kind(self) -> str:
        return str(self.info.get("kind") or ("csv" if self.is_file else "?"))

    @property
    def sweep(self) -> dict[str, Any]:
        s = self.info.get("sweep")
        return s if isinstance(s, dict) else {}

    @property
    def seed(self) -> Any:
        return self.info.get("seed")

    @property
    def state(self) -> str:
        if self.is_file:
            return "live" if clock.now() - self.csv_mtime < LIVE_FILE_S else "file"
        return str(self.status.get("state") or "queued")

    @property
    def running(self) -> bool:
        return self.state in ("running", "live")

    @property
    def step(self) -> float | None:
        s = self.latest.get("step")
        st = self.status.get("step")
        if isinstance(st, (int, float)) and (s is None or st > s):
            return float(st)
        return s

    @property
    def total(self) -> float | None:
        t = self.status.get("total_steps") or self.info.get("total_steps")
        return float(t) if isinstance(t, (int, float)) and t > 0 else None

    @property
    def job(self) -> str:
        """A cluster job's id and node (`job 12_3@node7`), or "" for a local process."""
        ex = self.executor
        job = ex.job_id  # "" unless executor.json describes a cluster job
        if not job:
            return ""
        node = ex.get("node")
        return f"job {job}" + (f"@{node}" if node else "")

    @property
    def pending_reason(self) -> str:
        """Why a queued cluster job waits (Slurm's reason: Resources, Priority, …), or ""."""
        ex = self.executor
        if self.state != "queued" or not ex.job_id or ex.get("phase") not in (None, "pending"):
            return ""
        return str(ex.get("reason") or "")

    @property
    def state_label(self) -> str:
        why = self.pending_reason
        return f"{self.state} ({why})" if why else self.state

    @property
    def device(self) -> str:
        if self.executor.get("pack_size"):  # a pack member: where the pack runs, and its size
            return f"{self.executor.get('slot') or self.info.get('device')} ×{self.executor['pack_size']}"
        return self.job or str(self.info.get("device") or "")

    @property
    def rate(self) -> float | None:
        """Steps per second over the recent samples (from the CSV's time column)."""
        if len(self.samples) < 2:
            return None
        s1, t1 = self.samples[-1]
        s0, t0 = self.samples[0]
        for s, t in self.samples:
            if t1 - t <= 60.0:
                s0, t0 = s, t
                break
        if t1 - t0 <= 0 or s1 <= s0:
            return None
        return (s1 - s0) / (t1 - t0)

    @property
    def eta_s(self) -> float | None:
        if not self.running or self.total is None or self.step is None:
            return None
        r = self.rate
        if not r:
            return None
        return max(0.0, (self.total - self.step) / r)

    @property
    def data_notes(self) -> list[str]:
        """What the detail pane says about reading this run's metrics: rows that could not be
        read (with the first, quoted), accuracy read as percent, a file that is not a CSV."""
        notes = []
        tail = self.tail
        if tail is not None and tail.unreadable:
            notes.append(f"{self.csv.name}: {tail.unreadable}")
        if tail is not None and tail.bad_lines:
            notes.append(f"{tail.bad_lines} row(s) of {self.csv.name} could not be read; "
                         f"the first: {tail.first_bad!r}")
        own = self.status.get("unreadable_rows")
        if isinstance(own, int) and own > 0:  # a command run's own metrics_file (the worker counts)
            notes.append(f"{own} row(s) of the command's metrics_file could not be read; the first: "
                         f"{self.status.get('first_unreadable_row')!r}")
        note = tail.units.note() if tail is not None else None
        if note:
            notes.append(note)
        return notes

    def add_samples(self, block: "Block") -> None:
        if block.times is None or len(block) == 0:
            return
        steps, times = block.steps[-32:], block.times[-32:]
        for s, t in zip(steps.tolist(), times.tolist()):
            if t == t and s == s:
                self.samples.append((s, t))


@dataclass
class LoadResult:
    """What a bulk load (in a worker process) hands back."""

    key: str
    summary: "Summary"
    tail_state: dict[str, Any]  # `CsvTail.state()`: the tail here goes on from there
    last: dict[str, float]
    samples: list[tuple[float, float]]
    detectors: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)


def make_detectors(info: dict[str, Any] | None) -> Any:
    """The detectors (grokwatch.detect.DetectorSet), or the divergence rule alone until they land."""
    try:
        from ...detect import DetectorSet  # type: ignore[attr-defined]

        return DetectorSet(info or None)
    except ImportError:
        from ...detect.divergence import DivergenceRule

        return _DivergenceOnly(DivergenceRule())


class _DivergenceOnly:
    def __init__(self, rule: Any):
        self.rule = rule

    def feed(self, row: dict[str, float]) -> list[dict[str, Any]]:
        msg = self.rule.update(row)
        return [{"kind": "divergence", "step": row.get("step", 0), "message": msg}] if msg else []


def run_detectors(det: Any, block: "Block", key: str) -> list[dict[str, Any]]:
    out = []
    for row in block.rows():
        for ev in det.feed(row) or []:
            ev = dict(ev)
            ev.setdefault("time", time.time())
            ev.setdefault("step", row.get("step"))
            ev["run_id"] = key
            ev.setdefault("alert", is_alert_kind(ev.get("kind")))
            out.append(ev)
    return out


def load_full(key: str, path: str, column_map: dict | None, detect_info: Any,
              percent: bool | None = None, chunk: int = 4 << 20) -> LoadResult:
    """Read a whole CSV into a summary (runs in a worker process, or a thread as a fallback)."""
    from .csvtail import CsvTail
    from .summary import Summary

    tail = CsvTail(Path(path), column_map, percent)
    s = Summary()
    last: dict[str, float] = {}
    samples: deque = deque(maxlen=64)
    det = make_detectors(detect_info) if detect_info is not False else None
    events: list[dict[str, Any]] = []
    while True:
        b = tail.read(chunk)
        if tail.replaced:  # rewritten while we read, or the units flipped: from the top
            tail.replaced = False
            s, last, events = Summary(), {}, []
            samples.clear()
            det = make_detectors(detect_info) if detect_info is not False else None
        if b is None:
            break
        s.feed(b.steps, b.vals)
        if b.last:
            last = b.last
        if b.times is not None and len(b):
            for st, t in zip(b.steps[-32:].tolist(), b.times[-32:].tolist()):
                samples.append((st, t))
        if det is not None:
            events += run_detectors(det, b, key)
    return LoadResult(key, s, tail.state(), last, list(samples), det, events)


class RunStore:
    """Every run on screen, keyed by run id (or file name for a plain CSV)."""

    def __init__(self, runs_dirs: list[Path] | None = None, run_dirs: list[Path] | None = None,
                 files: list[Path] | None = None, detect_files: bool = False,
                 column_map: dict | None = None, percent: bool | None = None):
        self.runs_dirs = [Path(p) for p in runs_dirs or []]
        self.run_dirs = [Path(p) for p in run_dirs or []]
        self.files = [Path(p) for p in files or []]
        self.detect_files = detect_files
        self.column_map = column_map or None  # `grokwatch view --map`: every file read through it
        self.percent = percent  # `grokwatch view --percent`
        self.runs: dict[str, RunData] = {}
        self.order: list[str] = []

    def set_runs_dir(self, path: Path) -> None:
        self.runs_dirs = [Path(path)]

    # ---------------------------------------------------------------- discovery

    def scan(self) -> list[str]:
        """Find new runs; returns their keys."""
        found: list[tuple[str, Path, Path | None]] = []
        for d in self.runs_dirs:
            try:
                entries = sorted(os.scandir(d), key=lambda e: natural_key(e.name))
            except OSError:
                continue
            for e in entries:
                if e.name in self.runs:
                    continue
                if e.is_dir() and os.path.exists(os.path.join(e.path, "config.json")):
                    found.append((e.name, Path(e.path) / "metrics.csv", Path(e.path)))
        for d in self.run_dirs:
            if d.name not in self.runs:
                found.append((d.name, d / "metrics.csv", d))
        for f in self.files:
            key = f.stem
            if any(k == key or (r.csv == f) for k, r in self.runs.items()):
                continue
            found.append((key, f, None))
        if not found:
            return []
        runs = dict(self.runs)
        new: list[str] = []
        for key, csv, d in found:
            k = key
            n = 2
            while k in runs:
                k = f"{key}-{n}"
                n += 1
            runs[k] = RunData(key=k, csv=csv, dir=d, tail=self._new_tail(csv))
            new.append(k)
        self.runs = runs
        self.order = list(runs)
        return new

    def _new_tail(self, csv: Path) -> "CsvTail":
        from .csvtail import CsvTail

        return CsvTail(csv, self.column_map, self.percent)

    def bulk_args(self, run: RunData, detect_info: Any) -> tuple:
        """The arguments of `load_full` for this run (the pool's job)."""
        return (run.key, str(run.csv), self.column_map, detect_info, self.percent)

    # ---------------------------------------------------------------- refreshing

    def refresh_meta(self, run: RunData, want_log: bool = False) -> tuple[bool, list[dict[str, Any]]]:
        """Re-read config/status if they changed, new events; returns (changed, new events)."""
        changed = False
        new_events: list[dict[str, Any]] = []
        if run.dir is not None:
            paths = RunPaths(run.dir)
            m = _mtime(paths.config)
            if m != run._config_mtime:
                run._config_mtime = m
                run.info = read_json(paths.config, {}) or {}
                changed = True
            m = _mtime(paths.status)
            if m != run._status_mtime:
                run._status_mtime = m
                st = read_json(paths.status, None)
                if isinstance(st, dict):
                    run.status = st
                changed = True
            m = _mtime(paths.executor)
            if m != run._executor_mtime:
                run._executor_mtime = m
                ex = read_json(paths.executor, None) if m >= 0 else {}
                run.executor = JobRecord(ex if isinstance(ex, dict) else {})
                changed = True
            size = _size(paths.events)
            if size < run._events_offset:  # retried: the file moved to attempt-N/
                run._events_offset = 0
                run.events, run.alerts = [], []
            if size > run._events_offset:
                evs, run._events_offset = read_events(paths.events, run._events_offset)
                if evs:
                    new_events = evs
                    run.events = (run.events + evs)[-500:]
                    al = [e for e in evs if is_alert(e)]
                    if al:
                        run.alerts = run.alerts + al
                    changed = True
            if want_log:
                m = _mtime(paths.worker_log)
                if m != run._log_mtime:
                    run._log_mtime = m
                    run.log_lines = tail_lines(paths.worker_log, 40)
                    changed = True
        else:
            m = _mtime(run.csv)
            if m != run.csv_mtime:
                run.csv_mtime = m
                changed = True
        return changed, new_events

    def peek(self, run: RunData) -> bool:
        """The latest row from the file's tail (first paint), before any full load."""
        from .csvtail import peek_tail

        b = peek_tail(run.csv, column_map=self.column_map, percent=self.percent)
        if b is None:
            return False
        run.latest = b.last
        run.add_samples(b)
        return True

    def preview(self, run: RunData) -> bool:
        """A coarse summary from evenly spaced samples, shown until the full load lands."""
        if run.loaded or run.summary.rows:
            return False
        from .csvtail import sample_blocks
        from .summary import Summary

        b = sample_blocks(run.csv, column_map=self.column_map, percent=self.percent)
        if b is None or not len(b):
            return False
        s = Summary()
        s.feed(b.steps, b.vals)
        run.summary = s
        run.preview = True
        return True

    def tail(self, run: RunData, max_bytes: int = 1 << 20) -> tuple[bool, list[dict[str, Any]]]:
        """Read what the file grew by into the summary; returns (changed, detector events)."""
        if run.loading:
            return False, []
        tail = run.tail
        assert tail is not None
        from .summary import Summary

        if run.preview:  # the sample preview goes once real rows start arriving
            run.summary = Summary()
            run.preview = False
        b = tail.read(max_bytes)
        if tail.replaced:
            tail.replaced = False
            run.summary = Summary()
            run.samples.clear()
            if run.detectors is not None:
                run.detectors = make_detectors(run.info)
        if b is None:
            run.loaded = tail.remaining() == 0 and tail.header is not None or run.loaded
            return False, []
        run.summary.feed(b.steps, b.vals)
        if b.last:
            run.latest = b.last
        run.add_samples(b)
        run.loaded = tail.remaining() == 0
        events: list[dict[str, Any]] = []
        if self.detect_files and run.is_file:
            if run.detectors is None:
                run.detectors = make_detectors(None)
            events = run_detectors(run.detectors, b, run.key)
            if events:
                run.events = (run.events + events)[-500:]
                run.alerts = run.alerts + [e for e in events if e.get("alert")]
        return True, events

    def apply_load(self, run: RunData, res: LoadResult) -> list[dict[str, Any]]:
        """Install a finished bulk load; the tail goes on from where the loader stopped."""
        run.loading = False
        t = run.tail
        assert t is not None
        t.reset()
        t.restore(res.tail_state)
        run.summary = res.summary
        run.preview = False
        if res.last:
            run.latest = res.last
        for s in res.samples:
            run.samples.append(s)
        run.loaded = True
        if res.detectors is not None:
            run.detectors = res.detectors
        if res.events:
            run.events = (run.events + res.events)[-500:]
            run.alerts = run.alerts + [e for e in res.events if e.get("alert")]
        return res.events


def natural_key(name: str) -> list:
    """`n=20` before `n=100`: digit runs compare as numbers."""
    return [(0, float(t), "") if t[:1].isdigit() else (1, 0.0, t)
            for t in re.findall(r"\d+(?:\.\d+)?|\D+", name)]


def _mtime(p: Path) -> float:
    try:
        return os.stat(p).st_mtime
    except OSError:
        return -1.0


def _size(p: Path) -> int:
    try:
        return os.stat(p).st_size
    except OSError:
        return 0


Callback = Callable[[], None]
__all__ = ["RunData", "RunStore", "LoadResult", "load_full", "is_alert"]
