"""One runner per project directory, whatever happens to the files under it.

Two flocks, taken together:
- on the **project directory itself** (opened O_RDONLY|O_DIRECTORY): the one that decides. Deleting
  `.grokwatch/` (or its lock file) cannot take it away, since the directory stays while the
  runner holds it open;
- on `.grokwatch/runner.lock`, a small file that names the holder (host, pid, runner id,
  experiments file) for people and for older grokwatch versions, which know only this one.

The kernel drops both when the runner dies, even by SIGKILL, so a stale file never blocks the
next runner. A runner whose lock file was deleted writes it again (`refresh`, every tick).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ..paths import ProjectPaths, state_dir

__all__ = ["RunnerLock", "read_lock_info", "runner_holder", "state_dir"]

ACQUIRE_TRIES = 5  # a viewer's holder() check holds the lock for microseconds: try again briefly
ACQUIRE_PAUSE_S = 0.02
INFO_WAIT_S = 2.0  # a live runner re-creates a deleted lock file within a tick


def _open_dir(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


def _try_flock(fd: int) -> bool | None:
    """True: taken; False: someone holds it; None: this file system cannot flock it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None


class RunnerLock:
    def __init__(self, project_dir: Path):
        self.files = ProjectPaths(Path(project_dir))
        self.path = self.files.lock
        self.runner_id = uuid.uuid4().hex[:12]
        self.info: dict[str, Any] = {}
        self._fd: int | None = None  # the lock file
        self._dir_fd: int | None = None  # the project directory

    @property
    def held(self) -> bool:
        return self._dir_fd is not None or self._fd is not None

    def acquire(self, config_path: Path) -> bool:
        """Take the lock (non-blocking) and record who holds it; False if another runner does."""
        dir_fd = _open_dir(self.files.project_dir)
        got = None
        if dir_fd is not None:
            for i in range(ACQUIRE_TRIES):
                got = _try_flock(dir_fd)
                if got is not False or i == ACQUIRE_TRIES - 1:
                    break
                time.sleep(ACQUIRE_PAUSE_S)
            if got is False:
                os.close(dir_fd)
                return False
            if got is None:  # e.g. a network file system without flock on directories
                os.close(dir_fd)
                dir_fd = None
        self._dir_fd = dir_fd
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "config": str(config_path),
                     "started": time.time(), "runner_id": self.runner_id}
        if not self._take_file():
            self.release()
            return False
        return True

    def _take_file(self) -> bool:
        """flock the lock file (created if missing) and write the holder info into it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        tries = 1 if self._dir_fd is None else ACQUIRE_TRIES
        for i in range(tries):
            if _try_flock(fd) is not False:
                break
            if i == tries - 1:  # an older grokwatch's runner holds the file
                os.close(fd)
                return False
            time.sleep(ACQUIRE_PAUSE_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(self.info) + "\n").encode(), 0)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        return True

    def refresh(self) -> bool:
        """Write the lock file again if it was deleted or replaced (`rm -rf .grokwatch`). True when
        it had to. Never gives the directory lock up; an OSError (a full disk, a read-only
        directory) leaves it for the next call."""
        if self._fd is None and self._dir_fd is None:
            return False
        try:
            st = os.stat(self.path)
            if self._fd is not None and os.fstat(self._fd).st_ino == st.st_ino and st.st_size > 0:
                return False
        except FileNotFoundError:
            pass
        try:
            return self._take_file()
        except OSError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
            finally:
                os.close(self._fd)
                self._fd = None
        if self._dir_fd is not None:
            try:
                fcntl.flock(self._dir_fd, fcntl.LOCK_UN)
            except OSError:
                pass
            finally:
                os.close(self._dir_fd)
                self._dir_fd = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, or None when no runner is alive."""
        if self.held:
            return dict(self.info)
        if not self._locked_by_someone():
            return None
        deadline = time.monotonic() + INFO_WAIT_S
        while True:  # held: the lock file says by whom (a live runner writes it again if deleted)
            info = read_lock_info(self.path)
            if info and info.get("pid"):
                return info
            if time.monotonic() >= deadline or not self._locked_by_someone():
                break
            time.sleep(0.1)
        return {"host": "?", "pid": "?", "config": "?"} if self._locked_by_someone() else None

    def _locked_by_someone(self) -> bool:
        dir_fd = _open_dir(self.files.project_dir)
        if dir_fd is not None:
            try:
                got = _try_flock(dir_fd)
                if got is False:
                    return True
                if got:
                    fcntl.flock(dir_fd, fcntl.LOCK_UN)
            finally:
                os.close(dir_fd)
        try:  # an older grokwatch's runner holds only the file (read-only: works on a read-only .grokwatch/)
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            got = _try_flock(fd)
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return got is False
        finally:
            os.close(fd)


def read_lock_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(Path(path).read_text() or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def runner_holder(project_dir: Path) -> dict[str, Any] | None:
    return RunnerLock(project_dir).holder()
