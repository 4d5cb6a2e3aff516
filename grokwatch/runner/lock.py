"""One runner per project directory: an flock'd lock file that names host, pid and the
experiments file. The kernel drops the flock when the runner dies, even by SIGKILL, so a stale
file never blocks the next runner."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..paths import ProjectPaths, state_dir

__all__ = ["RunnerLock", "read_lock_info", "runner_holder", "state_dir"]


class RunnerLock:
    def __init__(self, project_dir: Path):
        self.path = ProjectPaths(Path(project_dir)).lock
        self._fd: int | None = None

    def acquire(self, config_path: Path) -> bool:
        """Take the lock (non-blocking) and record who holds it; False if another runner does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        info = {"host": socket.gethostname(), "pid": os.getpid(), "config": str(config_path),
                "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, or None when no runner is alive."""
        if self._fd is not None:
            return read_lock_info(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return read_lock_info(self.path) or {"host": "?", "pid": "?", "config": "?"}
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def read_lock_info(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None


def runner_holder(project_dir: Path) -> dict[str, Any] | None:
    return RunnerLock(project_dir).holder()
