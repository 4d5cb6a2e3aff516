"""Worker errors are handled in one place (DashboardScreen.worker_failed): a tick of the poller that
raises is shown in the error banner, and the dashboard keeps polling instead of freezing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.header.error_banner import ErrorBanner  # noqa: E402


async def until(pilot, cond, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached in time"
        await pilot.pause(0.05)


async def test_a_failing_tick_shows_what_failed_and_polling_goes_on(tmp_path):
    tuifix.make_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    run_id = "grok-wd-weight_decay=0.1-s0-bbbbb1"
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        banner = d.query_one(ErrorBanner)
        assert not banner.has_class("-shown")
        real_tick = d.poller.tick
        calls = []

        def failing_tick() -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("injected: a row the store could not take")
            return real_tick()

        d.poller.tick = failing_tick
        d.poller.poke()
        await until(pilot, lambda: banner.has_class("-shown"))
        assert "Watching the run files failed: RuntimeError: injected" in banner.text
        assert "test_tui_worker_errors.py" in banner.text and "keeps watching" in banner.text
        assert d.worker_errors == 1
        # the dashboard goes on: a new row is read and shown
        run = d.store.runs[run_id]
        rows = run.summary.rows
        with open(tmp_path / "runs" / run_id / "metrics.csv", "a") as f:
            f.write("820,9.2,0.1,2.5,0.01,0.9,0.99,0.1,10.8\n")
        await until(pilot, lambda: run.summary.rows == rows + 1)
        assert len(calls) > 1 and d.worker_errors == 1
