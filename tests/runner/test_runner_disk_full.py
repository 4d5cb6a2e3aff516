"""The runner on a full disk, for real: the whole project on a 2 MB tmpfs, a filler file eats
what is left while a run goes. The runner must not die, must say it in one line (stderr,
runner.json), launch nothing while the disk is full, leave no temporary file, and carry on by
itself once space returns, with nothing already written lost. Needs root (mount); skipped with
the reason where that fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import fill_disk, metric_steps, read_json, run_dirs, start_grokwatch, state_of, wait_for

TOML = """
[grokwatch]
devices = "cpu"
max_parallel = 1
checkpoint_every_s = 0.2

[[experiment]]
name = "{name}"
kind = "overfitting"
preset = "cpu-mlp"
seeds = {seeds}
[experiment.params]
steps = {steps}
n_train = 100
width = 16
eval_every = 20
eval_log_points = 0
"""





def _temp_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*.tmp")]


@pytest.mark.slow
def test_the_runner_survives_a_full_disk_says_so_and_carries_on_when_space_returns(small_disk):
    project = small_disk
    (project / "experiments.toml").write_text(TOML.format(name="big", seeds=[0, 1, 2], steps=400000))
    proc = start_grokwatch("--headless", "--progress-every", "3600", cwd=project)
    try:
        first = wait_for(lambda: next((d for d in run_dirs(project) if state_of(d) == "running"), None),
                         timeout=120, what="a run running")
        wait_for(lambda: len(metric_steps(first)) >= 5, timeout=120, what="rows from it")
        filler = fill_disk(project)
        rows_before = metric_steps(first)
        wait_for(lambda: state_of(first) not in ("running",), timeout=120, what="the run to stop on the full disk")
        wait_for(lambda: (read_json(project / ".grokwatch" / "runner.json") or {}).get("disk_full"),
                 timeout=60, what="runner.json to say the disk is full")
        time.sleep(3)  # several ticks on a full disk
        assert proc.poll() is None, proc.communicate()  # alive
        launched = [d.name for d in run_dirs(project) if (d / "executor.json").exists()]
        assert launched == [first.name]  # nothing launched while full
        assert not _temp_files(project), _temp_files(project)
        status = read_json(first / "status.json")
        assert status["state"] == "stopped" and "no space left on device" in status["error"]
        # space comes back: the runner notices by itself and carries on
        filler.unlink()
        wait_for(lambda: not (read_json(project / ".grokwatch" / "runner.json") or {}).get("disk_full"),
                 timeout=60, what="runner.json to say space is back")
        wait_for(lambda: sum((d / "executor.json").exists() for d in run_dirs(project)) >= 2, timeout=60,
                 what="the next run launched")
        # stop the rest: these runs are long
        from grokwatch.runner.control import send_request

        send_request(project, "shutdown")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "no space left on device" in line]
    assert len(lines) == 1, err  # said once, in one line
    assert "space is back" in err
    assert metric_steps(first)[: len(rows_before)] == rows_before  # nothing already written lost
    kinds = [json.loads(line)["kind"] for line in (first / "events.jsonl").read_text().splitlines()]
    assert kinds.count("started") == 1 and kinds[-1] == "stopped"  # the event kept, written once space was back
    project_events = [json.loads(line)["kind"]
                      for line in (project / ".grokwatch" / "events.jsonl").read_text().splitlines()]
    assert "disk_full" in project_events and "disk_ok" in project_events
    assert not _temp_files(project), _temp_files(project)
