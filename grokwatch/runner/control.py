"""Control requests from the CLI and the TUI to the runner, as small files under
.grokwatch/control/ (no network listener). The runner reads and deletes them each tick."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from ..paths import ProjectPaths
from ..runs import atomic_write_text

ACTIONS = ("stop", "retry", "shutdown", "reload")


def control_dir(project_dir: Path) -> Path:
    return ProjectPaths(Path(project_dir)).control


def send_request(project_dir: Path, action: str, runs: list[str] | None = None) -> Path:
    assert action in ACTIONS, action
    d = control_dir(project_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{time.time():.6f}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    atomic_write_text(path, json.dumps({"action": action, "runs": runs, "time": time.time()}))
    return path


def take_requests(project_dir: Path) -> list[dict[str, Any]]:
    """Pending requests in the order they were made; each file is removed once read."""
    d = control_dir(project_dir)
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []
    out = []
    for name in names:
        path = d / name
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError):
            obj = None
        try:
            path.unlink()
        except OSError:
            pass
        if isinstance(obj, dict) and obj.get("action") in ACTIONS:
            out.append(obj)
    return out


def heartbeat_dir(project_dir: Path) -> Path:
    return ProjectPaths(Path(project_dir)).viewers


def touch_heartbeat(project_dir: Path, pid: int | None = None) -> Path:
    """A TUI says it is attached; the runner stays up while any heartbeat is fresh."""
    d = heartbeat_dir(project_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / str(pid or os.getpid())
    path.write_text(str(time.time()))
    return path


def attached_viewers(project_dir: Path, max_age_s: float = 15.0) -> int:
    d = heartbeat_dir(project_dir)
    now = time.time()
    n = 0
    try:
        entries = list(os.scandir(d))
    except OSError:
        return 0
    for e in entries:
        try:
            fresh = now - e.stat().st_mtime < max_age_s
        except OSError:
            continue
        if fresh and _pid_alive(e.name):
            n += 1
        elif not fresh:
            try:
                os.unlink(e.path)
            except OSError:
                pass
    return n


def _pid_alive(name: str) -> bool:
    try:
        os.kill(int(name), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def last_detach_path(project_dir: Path) -> Path:
    return ProjectPaths(Path(project_dir)).last_detach
