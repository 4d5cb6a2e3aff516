"""Other tools' logs as CSV files the dashboard tails, for `grokwatch view`.

The dashboard reads CSVs (fast, incremental, in a worker process: `tui/data/csvtail.py`).
Rather than teach every part of it each format, `grokwatch view` opens the paths through
the readers first and hands the dashboard one CSV per run, in a private temporary
directory: a symbolic link for a CSV (read natively, nothing copied), else a file this
module writes — the rows read so far, then, from a background thread once a second, the
rows the log grew by (the readers keep their offsets, so a growing event file or W&B run
costs only its new records). A new metric name rewrites the file with the wider header,
atomically, as the worker does with metrics.csv. The file's mtime follows the log's, so
the dashboard calls a run live only while its log is written to.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import ReaderError, Source, open_path

LIVE_S = 60.0  # a log written to within this long may still be empty: shown, not refused
HOLD_S = 30.0  # the last step's row is held back until its log has been quiet this long


def _safe(name: str) -> str:
    return re.sub(r"[^\w.=+-]+", "-", name).strip("-.") or "run"


def _fmt(v: float) -> str:
    if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def newest_mtime(path: Path, limit: int = 500) -> float:
    """The newest modification time of `path` or of files under it (the first `limit`)."""
    try:
        if path.is_file():
            return os.stat(path).st_mtime
        best, n = 0.0, 0  # files only: a directory's own mtime moves when a file is added
        for dirpath, _dirs, files in os.walk(path):
            for f in files:
                n += 1
                try:
                    best = max(best, os.stat(os.path.join(dirpath, f)).st_mtime)
                except OSError:
                    pass
                if n >= limit:
                    return best
        return best
    except OSError:
        return 0.0


class MirrorFile:
    """One source written as a CSV."""

    def __init__(self, source: Source, path: Path):
        self.source = source
        self.path = path
        self.columns: list[str] = []
        self.rows = 0

    def write(self, rows: list[dict[str, float]]) -> None:
        if not rows and self.path.exists():
            return
        new = [k for r in rows for k in r if k not in self.columns]
        if new or not self.path.exists():
            wider = list(dict.fromkeys(self.columns + new))
            if "step" in wider:
                wider.remove("step")
            self._rewrite(["step"] + wider)
        lines = "".join(",".join(_fmt(r[c]) if c in r else "" for c in self.columns) + "\n"
                        for r in rows)
        self.rows += len(rows)
        if lines:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(lines)
        m = newest_mtime(self.source.path)
        if m:
            os.utime(self.path, (m, m))

    def _rewrite(self, columns: list[str]) -> None:
        """The file again with a wider header; rows written so far padded with empty fields."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        pad = "," * (len(columns) - len(self.columns))
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(",".join(columns) + "\n")
            if self.columns and self.path.exists():
                with open(self.path, encoding="utf-8") as old:
                    next(old, None)
                    for line in old:
                        out.write(line.rstrip("\n") + pad + "\n")
        os.replace(tmp, self.path)
        self.columns = columns


class Mirror:
    """The CSV files standing for `sources`, kept up to date by `poll()` (or `start()`)."""

    def __init__(self, sources: list[Source], directory: Path | None = None,
                 hold_s: float = HOLD_S):
        self.hold_s = hold_s
        if directory is None:
            sweep_stale()
        self.dir = Path(directory or tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self._own_dir = directory is None
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files: list[Path] = []
        self.mirrors: list[MirrorFile] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        taken: set[str] = set()
        for src in sources:
            base = _safe(src.name)
            name, n = base, 2
            while name in taken:
                name, n = f"{base}-{n}", n + 1
            taken.add(name)
            path = self.dir / f"{name}.csv"
            if src.csv is not None:
                os.symlink(os.path.abspath(src.csv), path)
            else:
                self.mirrors.append(MirrorFile(src, path))
            self.files.append(path)

    def poll(self, first: bool = False) -> None:
        """Append what each log grew by. The row of a log's last step is held back (its
        evaluation may come later, at the same step: a row once written cannot grow) until
        the log has been quiet for `hold_s`; then nothing more of it is coming."""
        for m in self.mirrors:
            final = time.time() - newest_mtime(m.source.path) > self.hold_s
            try:
                rows = m.source.read(final=final)
            except ReaderError:
                if first:
                    raise
                continue
            m.write(rows)

    def start(self, interval_s: float = 1.0) -> None:
        if not self.mirrors:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.poll()

        self._thread = threading.Thread(target=loop, name="grokwatch-view-mirror", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


PREFIX = "grokwatch-view-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-")


def sweep_stale(tmp: str | None = None) -> int:
    """Remove mirror directories left by `grokwatch view` processes that are gone (killed
    with the terminal: no `finally` ran). Only this user's, only where the pid in the name
    is no longer alive; returns how many were removed."""
    tmp = tmp or tempfile.gettempdir()
    n = 0
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return 0
    for e in entries:
        m = _OWNED.match(e.name)
        if not m or not e.is_dir(follow_symlinks=False):
            continue
        try:
            if e.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(m.group(1)), 0)
            continue  # still running (or the pid was reused: left alone)
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        n += 1
    return n


def is_grokwatch_dir(p: Path) -> bool:
    """A run directory, a directory of runs, or an empty directory (runs may come): the
    dashboard reads these itself. Lightning's `version_N/` (a metrics.csv beside
    hparams.yaml, no config.json) is not one: it is read as a Lightning log."""
    if (p / "config.json").exists():
        return True
    if (p / "metrics.csv").exists() and not (p / "hparams.yaml").exists():
        return True
    try:
        entries = list(os.scandir(p))
    except OSError:
        return False
    if not entries:
        return True
    return any(e.is_dir() and os.path.exists(os.path.join(e.path, "config.json")) for e in entries)


def open_for_view(paths: list[Path], column_map: dict | None = None) -> tuple[list[Path], Mirror]:
    """The paths the dashboard is given instead of `paths`: grokwatch's own directories and
    CSV files as they are, every other log as a mirror CSV (rows read once already, so a
    format that cannot be read fails here, before any screen). Raises ReaderError."""
    keep: list[Path] = []
    sources: list[Source] = []
    for p in paths:
        if p.is_dir() and is_grokwatch_dir(p):
            keep.append(p)
            continue
        found = open_path(p, column_map)
        if p.is_file() and all(s.csv is not None for s in found):
            keep.append(p)  # a plain CSV: read natively, its own name on screen
            continue
        sources.extend(found)
    mirror = Mirror(sources)
    try:
        mirror.poll(first=True)
        empty = [m for m in mirror.mirrors if not m.rows]
        if mirror.mirrors and len(empty) == len(mirror.mirrors) and not keep and not any(
                s.csv is not None for s in sources):
            stale = [m for m in empty if time.time() - newest_mtime(m.source.path) > LIVE_S]
            if len(stale) == len(empty):
                kinds = " and ".join(sorted({m.source.format for m in empty}))
                where = ", ".join(str(m.source.path) for m in empty[:3])
                raise ReaderError(f"{where}: found {kinds} but no metric values in it "
                                  "(no scalars logged yet?)")
    except BaseException:
        mirror.close()
        raise
    return keep + mirror.files, mirror
