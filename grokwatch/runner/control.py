"""Control requests from the CLI and the TUI to the runner, as small files under
.grokwatch/control/ (no network listener). The runner reads and deletes them each tick.

Each request says when it was made and which runner it was meant for (the lock holder's
`runner_id`, pid and host at the time), so that a request the addressee never read — it was
killed first — is not applied by whichever runner comes next: that one reports it as stale and
drops it. A request sent while no runner was running (`grokwatch retry` starts one) is for the
next runner, if that one starts within UNADDRESSED_MAX_AGE_S.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import ProjectPaths
from ..runs import atomic_write_text

ACTIONS = ("stop", "retry", "shutdown", "reload")
UNADDRESSED_MAX_AGE_S = 60.0  # a request sent to no runner waits this long for one to start


def control_dir(project_dir: Path) -> Path:
    return ProjectPaths(Path(project_dir)).control


_HOLDER_KEYS = ("runner_id", "pid", "host")


def send_request(project_dir: Path, action: str, runs: list[str] | None = None,
                 to: dict[str, Any] | None | bool = True) -> Path:
    """Write one request. `to`: the runner it is for — True (default): whoever holds the
    project now (none: the next one to start); a holder dict; or None (the next runner)."""
    assert action in ACTIONS, action
    if to is True:
        from .lock import runner_holder

        to = runner_holder(Path(project_dir))
    runner = {k: to.get(k) for k in _HOLDER_KEYS} if isinstance(to, dict) and to.get("pid") not in (None, "?") \
        else None
    d = control_dir(project_dir)
    d.mkdir(parents=True, exist_ok=True)
    now = time.time()
    path = d / f"{now:.6f}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    atomic_write_text(path, json.dumps({"action": action, "runs": runs, "time": now, "runner": runner,
                                        "sender": os.getpid()}))
    return path


@dataclass
class Stale:
    """A request the runner will not apply, and why (one line)."""

    request: dict[str, Any]
    why: str

    def describe(self) -> str:
        r = self.request
        what = f"{r.get('action')} {', '.join(r['runs']) if r.get('runs') else '(every run)'}"
        age = time.time() - float(r.get("time") or 0)
        return (f"dropped a stale request ({what}, sent {age:.0f} s ago): {self.why}; "
                f"send it again if it still holds")


def judge(request: dict[str, Any], me: dict[str, Any], now: float | None = None) -> str | None:
    """None if runner `me` (its lock info) should apply this request, else why not."""
    now = time.time() if now is None else now
    to = request.get("runner")
    sent = request.get("time")
    if not isinstance(sent, (int, float)):
        return "it carries no time"
    if isinstance(to, dict):
        if to.get("runner_id") and me.get("runner_id"):
            if to["runner_id"] == me["runner_id"]:
                return None
        elif to.get("pid") == me.get("pid") and to.get("host") == me.get("host"):
            return None
        return (f"it was meant for the runner pid {to.get('pid')} on {to.get('host')}, which is gone "
                f"(this is pid {me.get('pid')})")
    if now - sent > UNADDRESSED_MAX_AGE_S:
        return f"it was sent while no runner was running, and no runner came for {now - sent:.0f} s"
    if sent < float(me.get("started") or 0) - UNADDRESSED_MAX_AGE_S:
        return "it is older than this runner"
    return None


def take_requests(project_dir: Path, me: dict[str, Any] | None = None
                  ) -> tuple[list[dict[str, Any]], list[Stale]]:
    """Pending requests in the order they were made, split into those for runner `me` (its lock
    info; None: all of them) and the stale ones; each file is removed once read."""
    d = control_dir(project_dir)
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return [], []
    out: list[dict[str, Any]] = []
    stale: list[Stale] = []
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
        if not (isinstance(obj, dict) and obj.get("action") in ACTIONS):
            continue
        why = judge(obj, me) if me is not None else None
        if why is None:
            out.append(obj)
        else:
            stale.append(Stale(obj, why))
    return out, stale


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
