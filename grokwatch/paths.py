"""One place for the files grokwatch keeps beside a project, under `.grokwatch/`.

Every module that reads or writes one of them asks `ProjectPaths` for its path, so the layout is
written down once (and docs/architecture.md lists who writes each file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_DIR_NAME = ".grokwatch"


@dataclass(frozen=True)
class ProjectPaths:
    """The `.grokwatch/` files of one project directory."""

    project_dir: Path

    @property
    def state_dir(self) -> Path:
        return Path(self.project_dir) / STATE_DIR_NAME

    @property
    def lock(self) -> Path:  # runner.lock: flock'd; names host, pid, experiments file
        return self.state_dir / "runner.lock"

    @property
    def runner_status(self) -> Path:  # runner.json: slots, counts, config error, disk trouble
        return self.state_dir / "runner.json"

    @property
    def runner_log(self) -> Path:
        return self.state_dir / "runner.log"

    @property
    def events(self) -> Path:  # project events: config reloads and errors, stale requests, disk
        return self.state_dir / "events.jsonl"

    @property
    def control(self) -> Path:  # control requests, one file each
        return self.state_dir / "control"

    @property
    def viewers(self) -> Path:  # TUI heartbeats
        return self.state_dir / "viewers"

    @property
    def last_detach(self) -> Path:
        return self.state_dir / "last_detach"

    @property
    def gpu_peaks(self) -> Path:  # the GPU memory workers measured, per kind and shape (runner)
        return self.state_dir / "gpu_peaks.json"

    @property
    def slurm(self) -> Path:  # Slurm submission scripts and the cancelled-job list
        return self.state_dir / "slurm"


def state_dir(project_dir: Path) -> Path:
    return ProjectPaths(Path(project_dir)).state_dir
