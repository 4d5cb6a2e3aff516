"""The runner's side of packing: which queued runs launch together, and launching them.

`groups()` turns the queue (in order) into launch groups: a run alone, or a pack of runs of one
experiment on one device with the same shapes (`grokwatch.packing`), up to the size `pack`
allows there. A group takes one slot. `launch()` starts a group of several runs through the
executor's `submit_pack` (one `python -m grokwatch.pack` process) and records each member as
launched on that slot. Standard library only (the runner never imports torch).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..packing import group_for_packs

if TYPE_CHECKING:
    from .core import ActiveRun, Runner
    from .devices import Slot

log = logging.getLogger("grokwatch.runner")


def pack_setting(runner: "Runner", info: dict[str, Any]) -> int | str:
    """`pack` of the run's experiment, else of [grokwatch]."""
    config = runner.config
    if config is None:
        return "off"
    for exp in config.experiments:
        if exp.name == info.get("experiment") and exp.pack is not None:
            return exp.pack
    return config.settings.pack


def groups(runner: "Runner", queued: list["ActiveRun"]) -> list[list["ActiveRun"]]:
    if not runner.executor.can_pack:
        return [[run] for run in queued]
    return group_for_packs([(run, run.info) for run in queued],
                           lambda info: pack_setting(runner, info))


def launch(runner: "Runner", group: list["ActiveRun"], slot: "Slot") -> None:
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
    for run, record in zip(group, records):
        runner._launched(run, slot, JobRecord(record))
    log.info("pack %s: %d run(s) on %s", records[0].get("pack"), len(group), slot.label)
