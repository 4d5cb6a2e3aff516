"""Start the runner as a detached process (own session, no terminal), so quitting the TUI or
losing the SSH connection leaves it and its workers running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..paths import ProjectPaths
from .lock import runner_holder


def ensure_runner(config_path: Path, project_dir: Path, wait_s: float = 10.0) -> dict[str, Any] | None:
    """Start a background runner unless one holds the directory; returns the holder's lock info
    (None if the runner could not start — its log says why). Raises core.StateDirUnwritable
    where `.grokwatch/` cannot be written."""
    holder = runner_holder(project_dir)
    if holder:
        return holder
    files = ProjectPaths(Path(project_dir))
    try:
        files.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(files.runner_log, "ab")
    except OSError as exc:  # a read-only .grokwatch/: the runner could not run there either
        from .core import StateDirUnwritable

        raise StateDirUnwritable(files.state_dir, exc) from None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grokwatch.runner", "--config", str(config_path),
             "--project-dir", str(project_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(project_dir),
            start_new_session=True, close_fds=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        log.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        holder = runner_holder(project_dir)
        if holder and holder.get("pid"):
            return holder
        if proc.poll() is not None:
            return runner_holder(project_dir)
        time.sleep(0.05)
    return runner_holder(project_dir)


__all__ = ["ensure_runner", "runner_holder"]
