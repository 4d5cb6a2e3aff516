"""Packs on the local executor: one `python -m grokwatch.pack` process trains several runs.

Each member gets its own record (executor.json) naming the pack (`pack`, `pack_size`,
`member_of`), with the pack process's pid and start time, so polling, adoption after a runner
restart and `lost` after a SIGKILL work per member as for any local run. What differs:
- cancel writes the member's `stop.request` (the per-run channel the pack polls) instead of
  signalling the process, which would stop every member;
- kill does not SIGKILL a pack for one member (it renews the request);
- poll reports a member that left a still-running pack (done, stopped, diverged) as exited, from
  its status.json, so the runner records its end at once.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

from ...packing import STOP_REQUEST
from ...runs import TERMINAL_STATES, atomic_write_text, read_json
from ..proc import process_start_time
from .base import JobRecord, JobState
from .local import LocalExecutor

PACK_LOGS = ".packs"  # under the runs directory: each pack process's own stdout/stderr


class PackingLocalExecutor(LocalExecutor):
    can_pack = True

    def submit_pack(self, run_dirs: list[Path], env: dict[str, str]) -> list[JobRecord]:
        run_dirs = [Path(d) for d in run_dirs]
        pack_id = f"pack-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        logs = run_dirs[0].parent / PACK_LOGS
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{pack_id}.log", "ab")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen([self.python, "-m", "grokwatch.pack", "--id", pack_id,
                                     *map(str, run_dirs)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=full_env, cwd=str(run_dirs[0].parent), start_new_session=True,
                                    close_fds=True)
        finally:
            log.close()
        self.children[proc.pid] = proc
        started = process_start_time(proc.pid)
        return [self.record(pid=proc.pid, start_time=started, host=self.host, submitted=time.time(),
                            pack=pack_id, pack_size=len(run_dirs), member_of=f"member of pack {pack_id}",
                            run_dir=str(d)) for d in run_dirs]

    def poll(self, records: dict[str, JobRecord]) -> dict[str, JobState]:
        out = super().poll(records)
        for run_id, state in out.items():
            record = records[run_id]
            if record.get("pack") and state.phase == "running" and record.get("run_dir"):
                status = read_json(Path(record["run_dir"]) / "status.json", {}) or {}
                if status.get("state") in TERMINAL_STATES or status.get("state") == "requeued":
                    out[run_id] = JobState("exited", exit_code=status.get("exit_code"))
        return out

    def cancel(self, record: JobRecord, requeue: bool = False) -> None:
        if record.get("pack") and record.get("run_dir"):
            request_stop(Path(record["run_dir"]))
            return
        super().cancel(record, requeue)

    def kill(self, record: JobRecord) -> None:
        if record.get("pack") and record.get("run_dir"):
            request_stop(Path(record["run_dir"]))  # never SIGKILL every member for one of them
            return
        super().kill(record)


def request_stop(run_dir: Path) -> None:
    """Ask the pack that trains this run to stop it alone (checkpoint, `stopped`)."""
    atomic_write_text(Path(run_dir) / STOP_REQUEST, f"{time.time()}\n")
