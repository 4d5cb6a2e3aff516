"""The runner on a full disk: never dies of it, says it once, keeps what it could not write.

Every file the runner writes goes through a `DiskGuard`. When a write fails with ENOSPC (or
EDQUOT) the guard enters "disk full": the runner stops launching runs (the running ones go on;
a worker that cannot write stops, checkpointed, with the reason), says so in one line (its log,
headless, runner.json for the dashboard's banner), and keeps the writes it could not make in
memory — the last version of each JSON file, every event line in order. Each tick it probes the
disks; once a probe write succeeds it writes what it kept, says space is back, and carries on.
A JSON file that cannot be replaced atomically (no block for the temporary) is rewritten in its
own blocks (`runs.overwrite_json_in_place`) where that fits, so a state is rarely even deferred.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..runs import NO_SPACE, atomic_write_json, is_disk_full, overwrite_json_in_place

log = logging.getLogger("grokwatch.runner")

PROBE_EVERY_S = 1.0
MIN_FREE_BYTES = 256 * 1024  # below this a disk still counts as full (a run's next rows need room)


class DiskGuard:
    def __init__(self, dirs: Callable[[], list[Path]], on_change: Callable[[str | None], None] | None = None):
        self.dirs = dirs  # the directories the runner writes under (runs dir, .grokwatch/)
        self.on_change = on_change  # told the new trouble (a line) or None when space is back
        self.trouble: str | None = None
        self.since: float | None = None
        self._json: dict[Path, Any] = {}  # path -> the latest object it should hold
        self._lines: list[tuple[Path, bytes]] = []  # appends (or their unwritten rest) not made yet
        self._last_probe = 0.0

    # ------------------------------------------------------------------ writes

    def write_json(self, path: Path, obj: Any) -> bool:
        """Replace a JSON file; on a full disk, in place if it fits, else kept for later."""
        if self.trouble is None or not self._json:
            try:
                atomic_write_json(path, obj)
                self._json.pop(path, None)
                return True
            except OSError as exc:
                if not is_disk_full(exc, path.parent):
                    raise
                self.full(path, exc)
        try:
            if path.exists():
                overwrite_json_in_place(path, obj)
                self._json.pop(path, None)
                return True
        except OSError as exc:
            if not is_disk_full(exc, path.parent):
                raise
        self._json[path] = obj
        return False

    def append_line(self, path: Path, line: str) -> bool:
        """Append one line (an event); on a full disk what could not be written (the whole line,
        or the rest of a short write: never a line twice, never half of one) waits, in order."""
        data = line.encode("utf-8")
        if self.trouble is None or not self._lines:
            rest = _append(path, data)
            if not rest:
                return True
            self.full(path)
            data = rest
        self._lines.append((path, data))
        return False

    @property
    def pending(self) -> int:
        return len(self._json) + len(self._lines)

    # ------------------------------------------------------------------ state

    def full(self, where: Path, exc: BaseException | None = None) -> None:
        """Enter "disk full" (once per episode: one line)."""
        if self.trouble is not None:
            return
        place = where if where.is_dir() else where.parent
        self.trouble = (f"{NO_SPACE} under {place}: not launching more "
                        f"runs; running ones go on (a worker that cannot write stops, checkpointed); "
                        f"free some space and the runner carries on by itself")
        self.since = time.time()
        log.error("%s", self.trouble)
        self.remove_own_temp_files()
        if self.on_change is not None:
            self.on_change(self.trouble)

    def probe(self, force: bool = False) -> bool:
        """While full: has space come back? Then write what was kept and leave the state. True
        when the disk is (now) fine."""
        if self.trouble is None:
            return True
        now = time.monotonic()
        if not force and now - self._last_probe < PROBE_EVERY_S:
            return False
        self._last_probe = now
        for d in self.dirs():
            try:
                st = os.statvfs(d)
                if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
                    return False
                probe = d / f".grokwatch-probe.{os.getpid()}.tmp"
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, b"\0" * 4096)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    os.unlink(probe)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if is_disk_full(exc, d):
                    _unlink_quietly(d / f".grokwatch-probe.{os.getpid()}.tmp")
                    return False
                raise
        return self._drain()

    def _drain(self) -> bool:
        try:
            while self._lines:
                path, data = self._lines[0]
                rest = _append(path, data)
                if rest:
                    self._lines[0] = (path, rest)
                    return False
                self._lines.pop(0)
            for path in list(self._json):
                atomic_write_json(path, self._json.pop(path))
        except OSError as exc:
            if is_disk_full(exc):
                return False
            raise
        gone = time.time() - (self.since or time.time())
        self.trouble, self.since = None, None
        log.warning("space is back after %.0f s: launching runs again", gone)
        if self.on_change is not None:
            self.on_change(None)
        return True

    def remove_own_temp_files(self) -> None:
        """This process's temporaries (`.NAME.PID.tmp`), should a failed write have left one."""
        tail = f".{os.getpid()}.tmp"
        for d in self.dirs():
            for sub in [d, *(p for p in _subdirs(d))]:
                try:
                    names = os.listdir(sub)
                except OSError:
                    continue
                for name in names:
                    if name.startswith(".") and name.endswith(tail):
                        _unlink_quietly(sub / name)


def _append(path: Path, data: bytes) -> bytes:
    """Append `data` (one O_APPEND write, repeated after a short one); returns what a full disk
    left unwritten (b"" when all of it went)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while data:
            try:
                n = os.write(fd, data)
            except OSError as exc:
                if is_disk_full(exc):
                    return data
                raise
            data = data[n:]
    finally:
        os.close(fd)
    return b""


def _subdirs(d: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _unlink_quietly(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def dumps_event(event: dict[str, Any]) -> str:
    from ..runs import _json_default  # the same encoding append_event uses

    return json.dumps(event, sort_keys=True, default=_json_default) + "\n"
