"""What an attached dashboard does about the runner: start one when there is work and none holds
the directory, and replace one that died under it — once, never in a loop.

The screen owns no policy: it calls these methods (the blocking ones from its thread workers) and
shows the `Notice` they return, as a toast or in the runner banner. No Textual import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .poller import Poller, RunnerGone
from .store import RunStore

REPLACE_GUARD_S = 30.0  # a replacement runner that dies this soon is not replaced again
MAX_REPLACEMENTS = 3  # nor is any runner after this many replacements in one session
REPLACED_BANNER_S = 30.0  # how long "a new runner took over" stays up

KEEP = "Its workers are separate processes: they keep running, and every row they logged is kept."
KEEP_SHORT = "Its workers keep running and every row they logged is kept"


@dataclass
class Notice:
    """Something to tell the user. `banner`: in the runner banner (else a toast); `error`: the
    banner's error style; `until_runner`: hide it once a runner holds the directory again;
    `hide_after_s`: hide it after this long (if it is still the banner's text)."""

    text: str
    banner: bool = False
    title: str = ""
    error: bool = False
    until_runner: bool = False
    hide_after_s: float | None = None
    timeout: float = 10.0


@dataclass
class Attached:
    """What attaching found: whether to start a runner, and a note for a second viewer."""

    start: bool
    notice: Notice | None = None


def last_error_line(log: Path, tail_bytes: int = 4096) -> str | None:
    """The message of the last ERROR line of the runner's log (why it did not start), or None."""
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - tail_bytes))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if " ERROR " in line:
            return line.split(" ERROR ", 1)[1].strip() or None
    return None


class RunnerSupervisor:
    def __init__(self, project_dir: Path, config_path: Path, store: RunStore, poller: Poller,
                 explicit: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.project_dir = project_dir
        self.config_path = config_path
        self.store = store
        self.poller = poller
        self.explicit = explicit
        self.clock = clock
        self.starting = False  # a runner is being started (the status line says so)
        self.other_config: str | None = None  # the holder serves another file: we only view
        self.bell: bool | None = None  # [alerts] bell from the config, once read
        self.replaced_at: float | None = None  # clock time the last replacement took over
        self.replaced_pid: Any = None  # the pid it replaced
        self.replacements = 0

    @property
    def runner_log(self) -> Path:
        from ...paths import ProjectPaths

        return ProjectPaths(Path(self.project_dir)).runner_log

    # ---------------------------------------------------------------- attaching (thread side)

    def attach(self) -> Attached:
        """Resolve the config and runs dir; say whether a runner should be started."""
        from ...config import ConfigError, load_config, no_experiments_line
        from ...runner.lock import runner_holder

        holder = runner_holder(self.project_dir)
        config = None
        if not self.explicit and not Path(self.config_path).exists():
            # plain `grokwatch` where there is no experiments.toml but runs (after `--demo`, say):
            # the runs are shown, which is no error; a missing file named by --config still is
            if not holder:
                self.store.set_runs_dir(self.project_dir / "runs")
                return Attached(False, Notice(
                    f"no {Path(self.config_path).name} here: showing the runs in runs/ "
                    "(`grokwatch init` writes one; `grokwatch --demo` runs the demo queue)",
                    title="viewer", timeout=8))
            return Attached(False)
        try:
            config = load_config(self.config_path, self.project_dir)
            self.bell = bool(config.alerts.bell)
            if not holder:
                self.store.set_runs_dir(config.runs_dir)
        except ConfigError as e:
            self.poller.local_config_error = str(e)
            if not holder:
                self.store.set_runs_dir(self.project_dir / "runs")
        except Exception as e:  # noqa: BLE001 — e.g. a missing file: shown, never fatal
            self.poller.local_config_error = f"{self.config_path}: {e}"
            self.store.set_runs_dir(self.project_dir / "runs")
        if holder:
            cfg = str(holder.get("config") or "")
            if cfg and Path(cfg) != Path(self.config_path):
                self.other_config = cfg
                if self.explicit:
                    return Attached(False, Notice(f"a runner here already serves {cfg}; showing its runs",
                                                  title="viewer", timeout=8))
            return Attached(False)
        empty = no_experiments_line(config) if config is not None else None
        if empty:  # nothing to run: say so (and how to add one) rather than start an idle runner
            return Attached(False, Notice(f"{empty}; e opens it", title="no experiments", timeout=20))
        return Attached(config is not None)

    def start(self) -> Notice | None:
        """Start a runner on our config (blocking); a notice when it did not start."""
        from ...runner.core import StateDirUnwritable
        from ...runner.launch import ensure_runner

        self.starting = True
        try:
            holder = ensure_runner(self.config_path, self.project_dir)
        except StateDirUnwritable as exc:
            return Notice(str(exc), banner=True, error=True, until_runner=True)
        finally:
            self.starting = False
        self.poller.note_holder(holder)
        if not holder:
            why = last_error_line(self.runner_log)
            return Notice(f"the runner did not start{': ' + why if why else ''}; see {self.runner_log}",
                          error=True, banner=bool(why), until_runner=True)
        return None

    # ---------------------------------------------------------------- a runner that went away

    def on_gone(self, gone: RunnerGone) -> tuple[Notice, bool]:
        """The runner we watched let go of the directory: what to say, and whether to replace it.
        A clean exit is news; a death is handled — the workers outlive it, so a new runner
        re-adopts them (once, never in a loop)."""
        pid = gone.pid
        if gone.successor:
            return Notice(f"runner pid {pid} is gone; pid {gone.successor.get('pid')} (started by another "
                          "grokwatch) now holds this directory and re-adopted its runs", title="runner"), False
        if gone.clean:
            return Notice(f"The runner (pid {pid}) exited cleanly: `grokwatch stop` was run, or nothing was "
                          "left to do. Runs stay as they are; r retries or resumes a run, and saving "
                          "experiments.toml with new runs starts a runner again.", title="runner exited",
                          timeout=20), False
        host = gone.holder.get("host")
        where = f" on {host}" if host and host != "?" else ""
        now = self.clock()
        if self.replaced_at is not None and now - self.replaced_at < REPLACE_GUARD_S:
            return Notice(
                f"The runner (pid {pid}{where}) died too, {now - self.replaced_at:.0f} s after it replaced "
                f"pid {self.replaced_pid}: grokwatch stops trying rather than restart it in a loop — see "
                f"{self.runner_log}. {KEEP} r, or saving experiments.toml, starts a runner again.",
                banner=True, error=True, until_runner=True), False
        if self.replacements >= MAX_REPLACEMENTS:
            return Notice(
                f"The runner (pid {pid}{where}) stopped without a clean exit, and grokwatch has replaced "
                f"the runner {self.replacements} times already: it stops trying — see {self.runner_log}. "
                f"{KEEP} r, or saving experiments.toml, starts a runner again.",
                banner=True, error=True, until_runner=True), False
        return Notice(
            f"The runner (pid {pid}{where}) stopped without a clean exit: it was killed, or it crashed (its "
            f"log: {self.runner_log}). {KEEP} grokwatch is starting a new runner, which re-adopts the "
            "live workers and marks any that vanished as lost.", banner=True), True

    def replace(self, gone: RunnerGone) -> Notice:
        """Start a runner in place of a dead one (blocking), on the file the dead one served
        where that is still valid; what to say about how it went."""
        from ...config import ConfigError, load_config
        from ...runner.launch import ensure_runner

        pid = gone.pid
        served = gone.holder.get("config") or gone.status.get("config")
        config_path = Path(served) if served and served != "?" and Path(served).exists() else self.config_path
        try:
            load_config(config_path, self.project_dir)
        except Exception as e:  # noqa: BLE001 — ConfigError, or the file went away
            err = str(e) if isinstance(e, ConfigError) else f"{config_path}: {e}"
            if Path(config_path) == Path(self.config_path):
                self.poller.local_config_error = err
            self.poller.poke()
            return Notice(
                f"The runner (pid {pid}) stopped without a clean exit. {KEEP_SHORT}, but {config_path.name} "
                "has an error, so no new runner starts: fix it (e) and one starts and re-adopts the live "
                "workers.", banner=True, error=True, until_runner=True)
        self.starting = True
        try:
            holder = ensure_runner(config_path, self.project_dir)
        finally:
            self.starting = False
        if not holder:
            self.poller.poke()
            return Notice(
                f"The runner (pid {pid}) stopped without a clean exit, and a new runner did not start — see "
                f"{self.runner_log}. {KEEP_SHORT}; r, or saving experiments.toml, tries again.",
                banner=True, error=True, until_runner=True)
        self.replaced_at = self.clock()
        self.replaced_pid = pid
        self.replacements += 1
        self.poller.note_holder(holder)
        return Notice(
            f"The runner (pid {pid}) stopped without a clean exit (killed, or it crashed); runner pid "
            f"{holder.get('pid')} replaced it. {KEEP_SHORT}; the new runner re-adopted the live workers and "
            "marks any that vanished as lost (r resumes them from their checkpoint).", banner=True,
            hide_after_s=REPLACED_BANNER_S)
