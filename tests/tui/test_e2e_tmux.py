"""End to end, in tmux: the real `grokwatch` command on a tiny queue — runs and a chart show,
`q` leaves the runs going, a second `grokwatch` re-attaches; `e` edits in $EDITOR."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

TINY = """
[grokwatch]
devices = "cpu"
max_parallel = 2
checkpoint_every_s = 1

[[experiment]]
name = "tiny"
kind = "grokking"
seeds = [0, 1]
[experiment.params]
modulus = 23
steps = {steps}
width = 64
eval_every = 20
"""


class Tmux:
    def __init__(self, name: str, cwd: Path, env: dict[str, str]):
        self.name = name
        self.cwd = cwd
        envs = " ".join(f"{k}={v}" for k, v in env.items())
        self.run("new-session", "-d", "-x", "130", "-y", "40", "-c", str(cwd),
                 f"env {envs} bash --norc --noprofile")

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True,
                              timeout=20).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name_target, *keys)

    @property
    def name_target(self) -> str:
        return self.run("list-panes", "-a", "-F", "#{pane_id}").split()[0]

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name_target)

    def wait(self, cond, timeout: float, what: str) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = self.screen()
            if cond(s):
                return s
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def session(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^width = 64/widht = 64/' \"$1\"\n")
    editor.chmod(0o755)
    bindir = Path(sys.executable).parent
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "EDITOR": str(editor), "TERM": "xterm-256color",
           "HOME": os.environ.get("HOME", str(tmp_path)), "PYTHONUNBUFFERED": "1"}
    t = Tmux(f"gw-e2e-{os.getpid()}-{int(time.time() * 1000) % 100000}", project, env)
    yield t, project
    t.kill()
    subprocess.run([sys.executable, "-m", "grokwatch.cli", "stop"], cwd=project, capture_output=True,
                   timeout=60)
    from grokwatch.runner.lock import runner_holder

    t0 = time.monotonic()
    while runner_holder(project) and time.monotonic() - t0 < 30:
        time.sleep(0.2)


def _rows(project: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in project.glob("runs/*/metrics.csv"))


def _shows_runs_and_chart(s: str) -> bool:
    return "tiny-s0-" in s and "tiny-s1-" in s and "error vs step" in s and "┤" in s


def test_grokwatch_runs_quits_leaving_runs_going_and_reattaches(session):
    t, project = session
    (project / "experiments.toml").write_text(TINY.format(steps=20000))  # still going after q
    t.keys("grokwatch", "Enter")
    t.wait(_shows_runs_and_chart, 90, "the runs and a chart")
    t.wait(lambda s: "running" in s, 60, "a running run")
    t.keys("q")
    t.wait(lambda s: "error vs step" not in s, 20, "the dashboard to close")
    from grokwatch.runner.lock import runner_holder

    assert runner_holder(project), "quitting stopped the runner"
    assert (project / ".grokwatch" / "last_detach").exists()
    before = _rows(project)
    t0 = time.monotonic()
    while _rows(project) <= before and time.monotonic() - t0 < 30:
        time.sleep(0.3)
    assert _rows(project) > before, "the runs did not keep going after q"
    t.keys("grokwatch", "Enter")  # a second dashboard re-attaches to the same runs
    s = t.wait(_shows_runs_and_chart, 60, "the same runs after re-attaching")
    ids = sorted(p.name for p in (project / "runs").iterdir() if not p.name.startswith("."))  # .packs: the pack worker's
    assert all(i in s for i in ids)
    t.keys("q")


def test_e_opens_the_editor_and_a_broken_edit_shows_the_banner(session):
    t, project = session
    (project / "experiments.toml").write_text(TINY.format(steps=3000))
    t.keys("grokwatch", "Enter")
    t.wait(lambda s: "tiny-s0-" in s, 90, "the runs")
    t.keys("e")  # the app suspends, the scripted editor misspells a key, the app resumes
    s = t.wait(lambda s: "has an error" in s and "widht" in s, 30, "the config-error banner")
    assert "tiny-s0-" in s  # the runs are still shown
    assert "widht" in (project / "experiments.toml").read_text()
    t.keys("q")


PHASE = """
[grokwatch]
devices = "cpu"
max_parallel = 2

[[experiment]]
name = "pd"
kind = "grokking"
seeds = [0]
[experiment.params]
modulus = 23
steps = 400
width = 64
eval_every = 20
[experiment.sweep]
weight_decay = [0.1, 1.0]
train_fraction = [0.3, 0.6]
"""


def test_phase_diagram_fills_in_as_runs_finish(session):
    t, project = session
    (project / "experiments.toml").write_text(PHASE)
    t.keys("grokwatch", "Enter")
    t.wait(lambda s: "pd-weight_decay=" in s, 90, "the runs")
    t.keys("p")
    s = t.wait(lambda s: "phase diagram: generalisation step over" in s, 30, "the phase diagram")
    assert "weight_decay" in s and "train_fraction" in s
    t.wait(lambda s: "%" in s or "never" in s or "still going" in s, 30, "cells of the diagram")

    def states() -> list[str]:
        import json

        out = []
        for p in project.glob("runs/*/status.json"):
            try:
                out.append(json.loads(p.read_text()).get("state"))
            except ValueError:
                out.append("?")
        return out

    t0 = time.monotonic()
    while not (len(states()) == 4 and all(x == "done" for x in states())) and time.monotonic() - t0 < 240:
        time.sleep(0.5)
    assert states() == ["done"] * 4, states()
    s = t.wait(lambda s: "%" not in s and "still going" not in s, 30, "every cell filled in")
    assert "never" in s or any(ch.isdigit() for ch in s.split("phase diagram", 1)[1])
    t.keys("v", "v")  # the phase of each cell
    t.wait(lambda s: "phase diagram: phase over" in s and "memorization" in s, 20, "the phases")
    t.keys("q")
