"""Run ids and the run-directory files: atomic writes, appends, the metrics writer.

Everything here is standard library only: the TUI, the runner, the workers and
`grokwatch detect` all read and write run directories through this module. The tolerant
incremental reader of metrics files is `grokwatch.tail` (`MetricsTail` is re-exported here).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .columns import BASE_COLUMNS, ERROR_OF, canonical_columns, error_from_accuracy, split_header
from .tail import MetricsTail, parse_float, parse_row, read_all_metrics  # noqa: F401 (re-exported)

TERMINAL_STATES = ("done", "failed", "diverged", "stopped", "lost")
RETRYABLE_STATES = ("failed", "diverged", "stopped", "lost")
RESUMABLE_STATES = ("stopped", "lost")
ACTIVE_STATES = ("queued", "starting", "running")

# Worker exit codes (the runner reads them together with status.json).
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_DIVERGED = 3
EXIT_STOPPED = 4
EXIT_REQUEUE = 75  # EX_TEMPFAIL: checkpointed on SIGUSR1, please run me again


# ----------------------------------------------------------------------------- ids

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        s = f"{v:g}"
    else:
        s = str(v)
    return _UNSAFE.sub("-", s).strip("-") or "x"


def params_hash(params: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    blob = json.dumps({"params": params, **(extra or {})}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:6]


NAME_MAX = 255      # bytes in one path component on Linux, macOS and Windows file systems
MAX_RUN_ID = NAME_MAX


def make_run_id(name: str, sweep: dict[str, Any], seed: int, params: dict[str, Any],
                extra: dict[str, Any] | None = None, salt: str | None = None) -> str:
    """`name[-key=value...]-s<seed>-<hash>`: readable, file-system safe, stable, and new
    whenever the resolved parameters change.

    `salt` (the experiment name, given only where the plain id would collide with another one on a
    case-insensitive file system: see `assign_run_ids`) goes into the hash. An id longer than one
    file name allows has its sweep part cut, with a digest of the whole of it kept, so it is still
    unique and the same every time. Ids that fit are exactly those of earlier versions."""
    extra = {"seed": seed, **(extra or {})}
    if salt is not None:
        extra["name"] = salt
    sweep_part = "-".join(f"{_UNSAFE.sub('-', k)}={_fmt_value(v)}" for k, v in sweep.items())
    tail = f"s{seed}-{params_hash(params, extra)}"
    run_id = "-".join(x for x in (name, sweep_part, tail) if x)
    if len(run_id.encode()) <= MAX_RUN_ID:
        return run_id
    digest = hashlib.sha1(sweep_part.encode()).hexdigest()[:8]
    room = MAX_RUN_ID - len(f"{name}--~{digest}-{tail}".encode())
    return f"{name}-{sweep_part[:max(0, room)]}~{digest}-{tail}"


def assign_run_ids(candidates: list[tuple[str, Any]], existing: Iterable[str]) -> list[str]:
    """One id per run, none two of them equal ignoring case (a case-insensitive file system,
    macOS's or Windows', would put them in one directory).

    `candidates`: per run, (its plain id, a function giving its salted id). `existing`: the names
    in the runs directory. An id whose directory exists under exactly that name keeps it, so every
    run made by an earlier version keeps its id and its state; then, in order, a run takes its
    plain id unless that collides (ignoring case) with an id already taken or a directory of
    another run, and its salted id otherwise."""
    existing = set(existing)
    out: list[str | None] = [None] * len(candidates)
    taken = {n.casefold() for n in existing}
    for i, (plain, salted) in enumerate(candidates):
        if plain in existing:
            out[i] = plain
    for i, (plain, salted) in enumerate(candidates):
        if out[i] is not None:
            continue
        alt = salted()
        if alt in existing:
            out[i] = alt
        elif plain.casefold() not in taken:
            out[i] = plain
        else:
            out[i] = alt
            k = 1
            while out[i].casefold() in taken:  # (a hash collision too: practically never)
                out[i] = f"{alt}-{k}"
                k += 1
        taken.add(out[i].casefold())
    return [x for x in out if x is not None]


# ----------------------------------------------------------------------------- files


@dataclass(frozen=True)
class RunPaths:
    """The files of one run directory."""

    dir: Path

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.csv"

    @property
    def status(self) -> Path:
        return self.dir / "status.json"

    @property
    def events(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def executor(self) -> Path:
        return self.dir / "executor.json"

    @property
    def worker_log(self) -> Path:
        return self.dir / "worker.log"

    @property
    def attempts(self) -> Path:  # the runner's retry and requeue bookkeeping (config.json stays as written)
        return self.dir / "attempts.json"

    def checkpoints(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("checkpoint.*") if not p.name.endswith(".tmp"))


FILE_MODE = 0o644  # run files: only their owner may write them, whatever the umask
NO_GROUP_OTHER_WRITE = 0o022


def protect_new_files() -> None:
    """Add group/other write to the umask of this process (and of every process it starts: the
    runner, workers, a user's command), so no run file or directory is writable by other users
    even under `umask 0`. A stricter umask (077) is kept."""
    current = os.umask(NO_GROUP_OTHER_WRITE)
    os.umask(current | NO_GROUP_OTHER_WRITE)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary sibling, fsync, rename over `path`: readers see the old file
    or the new one, never half of it. On any failure (a full disk) the temporary file is
    removed and the old file is left as it was; the error is raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


NO_SPACE = "no space left on device"
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException, where: Path | None = None) -> bool:
    """True for ENOSPC/EDQUOT, and for a writer that hides the errno (torch.save raises a bare
    RuntimeError, "unexpected pos ...") when the file system under `where` has no space left."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return True
    if where is not None and isinstance(exc, (OSError, RuntimeError)):
        try:
            st = os.statvfs(where)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < 64 * 1024
    return False


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def overwrite_json_in_place(path: Path, obj: Any) -> None:
    """Rewrite a small file in its own blocks (no temporary file, no new block for a file of a
    few hundred bytes): the last resort on a full disk, where an atomic replace cannot be made.
    A reader may see it half-written for an instant; read_json then returns its default."""
    data = (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def read_status(paths: RunPaths) -> dict[str, Any]:
    return read_json(paths.status, {}) or {}


def append_event(paths: RunPaths, event: dict[str, Any]) -> None:
    """Append one event line. Only the runner calls this (one writer per file)."""
    line = json.dumps(event, sort_keys=True, default=_json_default) + "\n"
    with open(paths.events, "a", encoding="utf-8") as f:
        f.write(line)


def _json_default(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return str(v)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete event lines from `offset`; returns (events, new offset). Skips bad lines."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events, offset + end


def tail_lines(path: Path, n: int = 20, max_bytes: int = 64 * 1024) -> list[str]:
    """The last `n` lines of a text file, reading at most `max_bytes` from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-n:]


def list_run_dirs(runs_dir: Path) -> list[RunPaths]:
    """Every run directory (one holding config.json) under `runs_dir`, by name."""
    try:
        entries = sorted(os.scandir(runs_dir), key=lambda e: e.name)
    except OSError:
        return []
    return [RunPaths(Path(e.path)) for e in entries
            if e.is_dir() and os.path.exists(os.path.join(e.path, "config.json"))]


# ----------------------------------------------------------------------------- metrics.csv


def format_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return str(v)


class MetricsWriter:
    """Appends rows to metrics.csv; the only writer of that file.

    A row with a column the header lacks widens the file by an atomic rewrite (rare: once per
    new name), so readers see either the old file or the new one, never a mix.
    """

    def __init__(self, path: Path, columns: Iterable[str] = BASE_COLUMNS):
        self.path = path
        self.columns: list[str] = []
        self.last_step: float | None = None
        existing = self._read_existing_header()
        if existing:
            self.columns = existing
            self.last_step = self._read_last_step()
            self._repair_partial_line()
        want = list(dict.fromkeys([*BASE_COLUMNS, *columns]))
        if not self.columns:
            self.columns = want
            atomic_write_text(self.path, ",".join(self.columns) + "\n")
        elif any(c not in self.columns for c in want):
            self._widen([c for c in want if c not in self.columns])
        self._f = open(self.path, "a", encoding="utf-8")

    def _read_existing_header(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                first = f.readline()
        except OSError:
            return []
        if not first.endswith("\n"):
            return []
        return [c for c in split_header(first) if c]

    def _read_last_step(self) -> float | None:
        for line in reversed(tail_lines(self.path, 5)):
            fields = line.split(",")
            if len(fields) == len(self.columns):
                try:
                    return float(fields[self.columns.index("step")])
                except ValueError:
                    continue
        return None

    def _repair_partial_line(self) -> None:
        """A worker killed mid-write may leave a half line; end it so the next row is clean."""
        with open(self.path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
        if last != b"\n":
            with open(self.path, "ab") as f:
                f.write(b"\n")

    def _widen(self, new_columns: list[str]) -> None:
        old = self.columns
        self.columns = old + new_columns
        pad = "," * len(new_columns)
        lines = [",".join(self.columns)]
        with open(self.path, encoding="utf-8") as f:
            f.readline()
            for line in f:
                if line.endswith("\n"):
                    lines.append(line.rstrip("\n") + pad)
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        if getattr(self, "_f", None) is not None:
            self._f.close()
            self._f = open(self.path, "a", encoding="utf-8")

    def rescale(self, columns: list[str], factor: float) -> int:
        """Multiply every value of `columns` by `factor` in the rows already written (a command
        run's accuracy turned out to be in percent), in one atomic rewrite: readers see the old
        file or the new one. The error of a rescaled accuracy follows it (error = 1 - acc).
        Returns the number of rows changed."""
        self._f.flush()
        idx = {c: i for i, c in enumerate(self.columns)}
        cols = [idx[c] for c in columns if c in idx]
        errs = [(idx[a], idx[e]) for a, e in ERROR_OF.items() if a in columns and a in idx and e in idx]
        width, changed = len(self.columns), 0
        lines = [",".join(self.columns)]
        with open(self.path, encoding="utf-8") as f:
            f.readline()
            for line in f:
                if not line.endswith("\n"):
                    continue
                fields = line.rstrip("\n").split(",")
                if len(fields) == width:
                    hit = False
                    for i in cols:
                        v = parse_float(fields[i])
                        if v is not None:
                            fields[i], hit = format_value(v * factor), True
                    for a, e in errs:
                        v = parse_float(fields[a])
                        if v is not None:
                            fields[e] = format_value(error_from_accuracy(v))
                    changed += hit
                lines.append(",".join(fields))
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self._f.close()
        self._f = open(self.path, "a", encoding="utf-8")
        return changed

    def write(self, row: dict[str, Any]) -> bool:
        """Write one row; False (and nothing written) if its step was already logged."""
        step = row.get("step")
        if step is not None and self.last_step is not None and step <= self.last_step:
            return False
        new = [k for k in row if k not in self.columns]
        if new:
            self._widen(new)
        try:
            self._f.write(",".join(format_value(row.get(c)) for c in self.columns) + "\n")
            self._f.flush()
        except OSError:  # a full disk: leave no half row behind, and nothing buffered to add one
            self._drop_partial_row()
            raise
        if step is not None:
            self.last_step = step
        return True

    def _drop_partial_row(self) -> None:
        try:
            self._f.buffer.raw.close()  # discards what is still buffered
            self._f.close()
        except (OSError, ValueError):
            pass
        try:
            with open(self.path, "rb+") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - (1 << 16)))
                data = f.read()
                end = data.rfind(b"\n") + 1
                if end and end < len(data):
                    f.truncate(size - len(data) + end)
        finally:
            self._f = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        self._f.close()


def last_row(path: Path) -> dict[str, float]:
    """The last complete row of a metrics CSV (canonical names), reading only its two ends."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return {}
    if not first.endswith("\n"):
        return {}
    header = canonical_columns(split_header(first))
    for line in reversed(tail_lines(path, 3)):
        row = parse_row(line, header) if line.strip() != first.strip() else {}
        if row:
            return row
    return {}
