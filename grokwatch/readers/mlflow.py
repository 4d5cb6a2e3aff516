"""MLflow's local tracking stores, read with the standard library.

- The file store (`mlruns/<experiment>/<run>/`): `meta.yaml` names the run, `params/<key>`
  holds a parameter, `metrics/<key>` (a key with `/` is a sub-directory) one line per value,
  "timestamp_ms value step". Live: each metric file keeps its offset and partial last line.
- The SQLite store (`mlflow.db`, MLflow 3's default): tables `runs`, `experiments`,
  `params` and `metrics` (key, value, timestamp, step, is_nan, run_uuid), opened read-only;
  live: rows after the last rowid read.

Deleted runs (`lifecycle_stage: deleted`) are left out, as `mlflow ui` leaves them out.
"""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

from .base import ReaderError, Source

FILE_FORMAT = "an MLflow run (file store)"
DB_FORMAT = "an MLflow tracking database (sqlite)"
SQLITE_MAGIC = b"SQLite format 3\x00"


def read_meta(path: Path) -> dict[str, str]:
    """The flat `key: value` lines of a meta.yaml (all MLflow writes there)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if ":" in line and not line.startswith((" ", "-", "#")):
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip().strip("'\"")
    return out


def is_run_dir(d: Path) -> bool:
    if not (d / "metrics").is_dir() or not (d / "meta.yaml").is_file():
        return False
    meta = read_meta(d / "meta.yaml")
    return bool(meta.get("run_id") or meta.get("run_uuid"))


def is_deleted(d: Path) -> bool:
    return read_meta(d / "meta.yaml").get("lifecycle_stage") == "deleted"


def run_name(d: Path) -> str | None:
    meta = read_meta(d / "meta.yaml")
    name = meta.get("run_name")
    if not name:
        try:
            name = (d / "tags" / "mlflow.runName").read_text(encoding="utf-8").strip()
        except OSError:
            name = None
    return name or None


def start_time(d: Path) -> float:
    """A run directory's start time (ms) from its meta.yaml; runs without one last."""
    t = _number(read_meta(d / "meta.yaml").get("start_time", "") or "")
    return t if t is not None else float("inf")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class MlflowFileSource(Source):
    format = FILE_FORMAT

    def __init__(self, run_dir: Path, name: str, column_map=None):
        super().__init__(run_dir, name, column_map=column_map)
        self._offsets: dict[str, tuple[int, bytes]] = {}
        self.info["params"] = self._params()

    def _params(self) -> dict[str, object]:
        out: dict[str, object] = {}
        root = self.path / "params"
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                try:
                    text = p.read_text(encoding="utf-8").strip()
                except OSError:
                    continue
                num = _number(text)
                out[p.relative_to(root).as_posix()] = text if num is None else num
        return out

    def _load(self, final: bool = False) -> None:
        root = self.path / "metrics"
        for dirpath, _dirs, files in os.walk(root):
            for f in sorted(files):
                p = Path(dirpath) / f
                self._read_metric(p, p.relative_to(root).as_posix())

    def _read_metric(self, p: Path, key: str) -> None:
        offset, partial = self._offsets.get(key, (0, b""))
        try:
            with open(p, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except OSError:
            return
        if not data:
            return
        data = partial + data
        end = data.rfind(b"\n") + 1
        self._offsets[key] = (offset + len(data) - len(partial), data[end:])
        for line in data[:end].decode("utf-8", "replace").splitlines():
            parts = line.split()
            if not parts:
                continue
            nums = [_number(x) for x in parts]
            if len(parts) not in (2, 3) or any(n is None for n in nums):
                self.bad(f"{key}: {line}")
                continue
            ts, value = nums[0], nums[1]
            step = nums[2] if len(nums) == 3 else 0.0
            self._steps.add(step, key, value, ts / 1000.0)


def is_mlflow_db(path: Path, head: bytes) -> bool:
    if not head.startswith(SQLITE_MAGIC):
        return False
    try:
        with _connect(path) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error:
        return False
    return {"runs", "metrics", "experiments"} <= tables


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)


def db_sources(path: Path, column_map=None) -> list[Source]:
    """One source per active run of the database, named `experiment/run`."""
    try:
        with _connect(path) as con:
            rows = con.execute(
                "SELECT r.run_uuid, r.name, e.name FROM runs r LEFT JOIN experiments e "
                "ON r.experiment_id = e.experiment_id WHERE r.lifecycle_stage IS NULL "
                "OR r.lifecycle_stage != 'deleted' ORDER BY r.start_time, r.run_uuid").fetchall()
            params: dict[str, dict[str, object]] = {}
            for run, key, value in con.execute("SELECT run_uuid, key, value FROM params"):
                num = _number(value) if isinstance(value, str) else None
                params.setdefault(run, {})[key] = value if num is None else num
    except sqlite3.Error as exc:
        raise ReaderError(f"{path}: {DB_FORMAT} that cannot be read ({exc})") from None
    out: list[Source] = []
    for run, name, exp in rows:
        label = f"{exp}/{name or run[:8]}" if exp else (name or run[:8])
        out.append(MlflowDbSource(path, label, run, params.get(run, {}), column_map))
    return out


class MlflowDbSource(Source):
    format = DB_FORMAT

    def __init__(self, db: Path, name: str, run_uuid: str, params: dict, column_map=None):
        super().__init__(db, name, {"params": params}, column_map=column_map)
        self.run_uuid = run_uuid
        self._rowid = 0

    def _load(self, final: bool = False) -> None:
        try:
            with _connect(self.path) as con:
                rows = con.execute(
                    "SELECT rowid, key, value, timestamp, step, is_nan FROM metrics "
                    "WHERE run_uuid = ? AND rowid > ? ORDER BY rowid",
                    (self.run_uuid, self._rowid)).fetchall()
        except sqlite3.Error as exc:
            if self._rowid == 0:
                raise ReaderError(f"{self.path}: {DB_FORMAT} that cannot be read ({exc})") from None
            return  # locked by a writer for a moment: the next call reads it
        for rowid, key, value, ts, step, is_nan in rows:
            self._rowid = rowid
            if is_nan:
                value = math.nan
            if not isinstance(value, (int, float)) or not isinstance(step, (int, float)):
                self.bad(f"{key}={value!r} at step {step!r}")
                continue
            self._steps.add(float(step), key, float(value),
                            ts / 1000.0 if isinstance(ts, (int, float)) else None)
