"""The dashboard shows the runner's full-disk line (runner.json's `disk_full`) in its banner, and
hides it once the runner says space is back."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.runner.lock import RunnerLock  # noqa: E402
from grokwatch.runs import atomic_write_json  # noqa: E402
from grokwatch.tui.app import GrokwatchApp, attach_context  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.header.banner import ConfigBanner  # noqa: E402

LINE = "no space left on device under /x/runs: not launching more runs"


async def _until(pilot, cond, timeout=8.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def test_the_banner_shows_a_full_disk_and_clears_when_space_is_back(tmp_path, monkeypatch):
    import grokwatch.runner.launch as launch

    monkeypatch.setattr(launch, "ensure_runner", lambda *a, **k: None)
    tuifix.make_project(tmp_path)
    cfg = tmp_path / "experiments.toml"
    cfg.write_text('[grokwatch]\ndevices = "cpu"\n[[experiment]]\nname = "grok-add"\nkind = "grokking"\n')
    lock = RunnerLock(tmp_path)  # this process plays the runner: it holds the project
    assert lock.acquire(cfg)
    status = tmp_path / ".grokwatch" / "runner.json"
    atomic_write_json(status, {"pid": lock.info["pid"], "running": True, "disk_full": LINE,
                               "runs_dir": str(tmp_path / "runs")})
    try:
        ctx = attach_context(cfg, tmp_path, explicit=False)
        ctx.use_pool = False
        app = GrokwatchApp(ctx, project_dir=tmp_path, config_path=cfg)
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            banner = app.screen.query_one(ConfigBanner)
            await _until(pilot, lambda: banner.has_class("-shown"))
            text = str(banner.render())
            assert "The disk is full" in text and LINE in text and "experiments.toml" not in text
            atomic_write_json(status, {"pid": lock.info["pid"], "running": True, "disk_full": None,
                                       "runs_dir": str(tmp_path / "runs")})
            await _until(pilot, lambda: not banner.has_class("-shown"))
    finally:
        lock.release()
