"""The dashboard and a real runner: a runner killed under an attached TUI is replaced once (the
workers keep running and are re-adopted), never in a loop; a clean `grokwatch stop` is a calm note,
and `r` or a saved edit starts a runner again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import grok_exp, read_json, run_dirs, state_of, tiny_toml

from grokwatch.runner.control import send_request
from grokwatch.runner.lock import runner_holder
from grokwatch.tui.app import GrokwatchApp, attach_context
from grokwatch.tui.screens.dashboard import DashboardScreen
from grokwatch.tui.widgets.header.runner_banner import RunnerBanner
from grokwatch.tui.widgets.runs.table import RunTable

pytestmark = pytest.mark.slow

# A command run: a worker without torch, so it starts and stops in a blink.
SLEEPER = """
[[experiment]]
name = "{name}"
kind = "command"
command = ["{python}", "-c", "import time\\nwhile True: time.sleep(0.2)"]
stop_grace_s = 2.0
"""


def sleeper(name: str) -> str:
    import sys

    return SLEEPER.format(name=name, python=sys.executable)


async def until(pilot, cond, timeout: float = 30.0, what: str = "condition"):
    t0 = time.monotonic()
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.1)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _holder_pid(project: Path):
    holder = runner_holder(project)
    return holder.get("pid") if holder else None


def _start(project: Path, text: str) -> tuple[int, Path, int]:
    """A real detached runner on `text`; returns its pid, the run directory, the worker's pid."""
    from grokwatch.runner.launch import ensure_runner

    cfg = project / "experiments.toml"
    cfg.write_text(text)
    holder = ensure_runner(cfg, project)
    assert holder, (project / ".grokwatch" / "runner.log").read_text()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        dirs = run_dirs(project)
        worker = (read_json(dirs[0] / "executor.json") or {}).get("pid") if dirs else None
        if worker:
            return holder["pid"], dirs[0], worker
        time.sleep(0.05)
    raise AssertionError("the runner launched no worker:\n" + (project / ".grokwatch" / "runner.log").read_text())


def _app(project: Path) -> GrokwatchApp:
    cfg = project / "experiments.toml"
    ctx = attach_context(cfg, project, explicit=False)
    ctx.use_pool = False
    return GrokwatchApp(ctx, project_dir=project, config_path=cfg)


async def _attached(pilot, runner_pid: int) -> DashboardScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                and app.screen.query_one(RunTable).row_count > 0, what="the first paint")
    d = app.screen
    await until(pilot, lambda: (d.poller.runner.holder or {}).get("pid") == runner_pid,
                what="the dashboard to see the runner")
    return d


async def test_a_killed_runner_is_replaced_once_then_given_up(project):
    pid_a, run_dir, worker = _start(project, tiny_toml(grok_exp("g", steps=20000), checkpoint_every_s=60))
    app = _app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await _attached(pilot, pid_a)
        banner = d.query_one(RunnerBanner)
        assert not banner.has_class("-shown")

        os.kill(pid_a, signal.SIGKILL)
        await until(pilot, lambda: "replaced it" in banner.text, what="the replacement")
        text = banner.text
        assert f"The runner (pid {pid_a}" in text and "stopped without a clean exit" in text
        assert "keep running" in text and "every row they logged is kept" in text
        assert "re-adopted the live workers" in text and "lost" in text
        pid_b = _holder_pid(project)
        assert pid_b and pid_b != pid_a and f"runner pid {pid_b} replaced it" in text
        assert (read_json(run_dir / "executor.json") or {}).get("pid") == worker and _alive(worker)
        await until(pilot, lambda: "re-adopted" in (project / ".grokwatch" / "runner.log").read_text(),
                    what="the new runner to re-adopt the worker")
        assert state_of(run_dir) in ("starting", "running")

        # the replacement dies at once: grokwatch says so and does not try again
        os.kill(pid_b, signal.SIGKILL)
        await until(pilot, lambda: "stops trying" in banner.text, what="giving up")
        assert f"The runner (pid {pid_b}" in banner.text and f"replaced pid {pid_a}" in banner.text
        assert str(project / ".grokwatch" / "runner.log") in banner.text
        assert banner.has_class("-error")
        await pilot.pause(2.5)  # two poller ticks: nothing restarts
        assert runner_holder(project) is None and not d.starting_runner
        assert _alive(worker) and (read_json(run_dir / "executor.json") or {}).get("pid") == worker


async def test_grokwatch_stop_is_a_calm_note_then_an_edit_and_r_start_a_runner(project):
    pid_a, run_dir, worker = _start(project, tiny_toml(sleeper("sleeper")))
    app = _app(project)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        d = await _attached(pilot, pid_a)
        banner = d.query_one(RunnerBanner)

        def notes(word: str) -> list[str]:
            return [n.message for n in app._notifications if word in n.message]

        send_request(project, "shutdown")  # what `grokwatch stop` sends
        await until(pilot, lambda: notes("exited cleanly"), what="the calm note")
        assert f"The runner (pid {pid_a}) exited cleanly" in notes("exited cleanly")[0]
        assert not banner.has_class("-shown")
        await pilot.pause(2.5)
        assert runner_holder(project) is None and not d.starting_runner  # no restart
        assert state_of(run_dir) == "stopped"

        # a saved edit with a new run starts a runner
        (project / "experiments.toml").write_text(tiny_toml(sleeper("sleeper"), sleeper("another")))
        d.after_edit()
        pid_b = await until(pilot, lambda: _holder_pid(project), what="a runner after the edit")
        assert pid_b != pid_a
        await until(pilot, lambda: len(run_dirs(project)) == 2, what="the new run")
        assert state_of(run_dir) == "stopped"  # a stopped run stays so until retried

        send_request(project, "shutdown")
        await until(pilot, lambda: len(notes("exited cleanly")) == 2, what="the second calm note")
        assert runner_holder(project) is None

        # r on the stopped run starts a runner, which resumes it
        table = d.query_one(RunTable)
        table.select_key(run_dir.name)
        await until(pilot, lambda: d.store.runs[run_dir.name].state == "stopped", what="the stopped row")
        await pilot.press("r")
        await until(pilot, lambda: _holder_pid(project), what="a runner after r")
        await until(pilot, lambda: state_of(run_dir) in ("starting", "running"), what="the retried run")
        assert not banner.has_class("-shown")
