"""The runner's side of packing: which queued runs launch together, launching them, and the
local executor's handling of pack members.

`groups()` turns the queue (in order) into launch groups: a run alone, or a pack of runs of one
experiment on one device with the same shapes (`grokwatch.packing`), up to the size `pack`
allows there. A group takes one slot. `launch()` starts a group of several runs through the
executor's `submit_pack` (one `python -m grokwatch.pack` process) and records each member as
launched on that slot. Standard library only (the runner never imports torch).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..packing import STOP_REQUEST, group_for_packs
from ..runs import TERMINAL_STATES, atomic_write_text, read_json
from .gpumem import process_estimate

if TYPE_CHECKING:  # (the runner's own types; core imports this module, not the reverse)
    from .devices import Slot

Runner = ActiveRun = Any

log = logging.getLogger("grokwatch.runner")


def pack_setting(runner: Runner, info: dict[str, Any]) -> int | str:
    """`pack` of the run's experiment, else of [grokwatch]."""
    config = runner.config
    if config is None:
        return "off"
    for exp in config.experiments:
        if exp.name == info.get("experiment") and exp.pack is not None:
            return exp.pack
    return config.settings.pack


def groups(runner: Runner, queued: list[ActiveRun]) -> list[list[ActiveRun]]:
    if not runner.executor.can_pack:
        return [[run] for run in queued]
    return group_for_packs([(run, run.info) for run in queued],
                           lambda info: pack_setting(runner, info))


def launch(runner: Runner, group: list[ActiveRun], slot: "Slot") -> None:
    """Start these runs as one pack on `slot`; if the executor cannot, every member fails with
    the reason (as a single run whose submit fails)."""
    from .executors import JobRecord

    envs = [runner._launch_env(run, slot) for run in group]
    env = {k: v for k, v in envs[0].items() if k not in ("GROKWATCH_RUN_DIR", "GROKWATCH_RUN_ID")}
    try:
        records = runner.executor.submit_pack([run.paths.dir for run in group], env)
    except Exception as exc:  # noqa: BLE001 — an executor failure fails these runs, not the runner
        log.error("could not start a pack of %d run(s): %s", len(group), exc)
        for run in group:
            runner.ran.add(run.run_id)
            runner._finish(run, "failed", f"the executor could not start its pack: {exc}")
        return
    memory = process_estimate([run.info for run in group], runner.gpu_peaks).record() \
        if slot.device == "cuda" else {}  # the whole pack's: one process, one context
    for run, record in zip(group, records):
        runner._launched(run, slot, JobRecord({**record, **memory}))
    log.info("pack %s: %d run(s) on %s", records[0].get("pack"), len(group), slot.label)


# ----------------------------------------------------------------------------- executor side
# Used by the local executor (executors/local.py): one `python -m grokwatch.pack` process trains
# a group; each member gets its own record (executor.json) with the pack's pid and start time and
# `pack`, `pack_size`, `member_of`, `run_dir`, so polling, adoption after a runner restart and
# `lost` after a SIGKILL work per member as for any local run. What differs for a member: a stop
# writes its `stop.request` (SIGTERM would stop every member), a kill never SIGKILLs the pack for
# one member, and a member that left a still-running pack is reported as exited (its status.json).

PACK_LOGS = ".packs"  # under the runs directory: each pack process's own stdout/stderr


def start_pack(python: str, run_dirs: list[Path], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start the pack process (own session, like a worker); returns it and the pack's id."""
    run_dirs = [Path(d) for d in run_dirs]
    pack_id = f"pack-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    logs = run_dirs[0].parent / PACK_LOGS
    logs.mkdir(parents=True, exist_ok=True)
    log_file = open(logs / f"{pack_id}.log", "ab")
    try:
        proc = subprocess.Popen([python, "-m", "grokwatch.pack", "--id", pack_id, *map(str, run_dirs)],
                                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                cwd=str(run_dirs[0].parent), start_new_session=True, close_fds=True)
    finally:
        log_file.close()
    return proc, pack_id


def member_fields(pack_id: str, run_dirs: list[Path], run_dir: Path) -> dict[str, Any]:
    return {"pack": pack_id, "pack_size": len(run_dirs), "member_of": f"member of pack {pack_id}",
            "run_dir": str(run_dir)}


def is_member(record: dict[str, Any]) -> bool:
    return bool(record.get("pack") and record.get("run_dir"))


def request_stop(record: dict[str, Any]) -> None:
    """Ask the pack that trains this run to stop it alone (checkpoint, `stopped`)."""
    atomic_write_text(Path(record["run_dir"]) / STOP_REQUEST, f"{time.time()}\n")


def members_that_left(records: dict[str, Any], states: dict[str, Any]) -> dict[str, Any]:
    """A member whose pack still runs but whose status.json says it ended: exited (so the runner
    records its end now, not when the whole pack exits)."""
    from .executors.base import JobState

    for run_id, state in states.items():
        record = records[run_id]
        if is_member(record) and state.phase == "running":
            status = read_json(Path(record["run_dir"]) / "status.json", {}) or {}
            if status.get("state") in TERMINAL_STATES or status.get("state") == "requeued":
                states[run_id] = JobState("exited", exit_code=status.get("exit_code"))
    return states
