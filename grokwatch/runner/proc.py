"""Process identity: is the process behind a pid still the one we started?

A pid alone is not an identity (pids are reused), so the runner keeps a pid together with the
kernel's start time of that process and signals or adopts it only while both match. Linux gives
the start time in /proc/PID/stat (clock ticks since boot); where /proc is missing (macOS, BSD)
`ps -o lstart=` gives it to the second, which is as good for this purpose. Set
GROKWATCH_NO_PROC=1 to force the `ps` path (the tests do, to keep it honest).
"""

from __future__ import annotations

import os
import subprocess
from typing import Union

StartTime = Union[int, str]  # /proc: clock ticks since boot; ps: its lstart text


def _use_proc() -> bool:
    return os.environ.get("GROKWATCH_NO_PROC") != "1" and os.path.isdir("/proc/self")


def _proc_stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:].split()
    except (OSError, ValueError):
        return None


def _ps(pid: int, field: str) -> str | None:
    try:
        out = subprocess.run(["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    text = " ".join(out.stdout.split())
    return text if out.returncode == 0 and text else None


def process_start_time(pid: int) -> StartTime | None:
    """The start time of a live process, or None when there is no such process."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    if _use_proc():
        rest = _proc_stat(pid)
        try:
            return int(rest[19]) if rest else None
        except (ValueError, IndexError):
            return None
    return _ps(pid, "lstart")


def pid_state(pid: int) -> str | None:
    """The one-letter process state (R, S, Z, …), or None when there is no such process."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    if _use_proc():
        rest = _proc_stat(pid)
        return rest[0].decode() if rest else None
    stat = _ps(pid, "stat")
    return stat[0] if stat else None


def is_alive(pid: int) -> bool:
    state = pid_state(pid)
    return state is not None and state not in ("Z", "X")


def same_process(pid: object, start_time: object) -> bool:
    """True only for a live process whose start time is the recorded one. A record without a
    start time (`null`) proves nothing, so it never matches: such a pid is never signalled."""
    if not isinstance(pid, int) or start_time is None or not is_alive(pid):
        return False
    return process_start_time(pid) == start_time
