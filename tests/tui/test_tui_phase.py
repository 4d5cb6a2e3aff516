"""The phase-diagram view (p): a heatmap of a run summary over two swept keys, seeds averaged,
live as runs finish, other swept keys held fixed (f), the summary cycled (v), readable without colour."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: E402
from grokwatch.sweeps import log_spaced  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.chart.chart import ChartPanel  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

NEVER = "pd-weight_decay=0.1-train_fraction=0.3-lr=0.001-s0-01310"
GOING = "pd-weight_decay=3-train_fraction=0.7-lr=0.003-s1-30731"


async def until(pilot, cond, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached in time"
        await pilot.pause(0.05)


def app_for(base: Path) -> GrokwatchApp:
    ctx = view_context([base / "runs"])
    ctx.use_pool = False
    return GrokwatchApp(ctx)


async def drawn(pilot, d: DashboardScreen):
    chart = d.query_one(ChartPanel)
    chart.mark_dirty(now=True)
    await until(pilot, lambda: not chart.building and not chart.dirty and chart.last_out is not None)
    return chart.last_out


def plain(out) -> str:
    from rich.text import Text

    return Text.from_ansi(out.ansi).plain


@pytest.fixture
def base(tmp_path: Path) -> Path:
    tuifix.make_phase_project(tmp_path)
    tuifix.make_project(tmp_path)
    return tmp_path


def test_log_spacing():
    assert log_spaced([0.1, 0.3, 1, 3]) and log_spaced([10, 100, 1000])
    assert not log_spaced([0.3, 0.5, 0.7]) and not log_spaced([1, 2]) and not log_spaced(["a", "b", "c"])


@pytest.mark.slow
async def test_phase_view_cells_keys_and_live_updates(base, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = app_for(base)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        table = d.query_one(RunTable)
        table.select_key("grok-add-s0-aaaaaa")  # one swept key at most: no phase diagram
        await pilot.press("p")
        assert d.view.mode == "run"
        table.select_key(NEVER)
        await pilot.press("p")
        assert d.view.mode == "phase"
        out = await drawn(pilot, d)
        text = plain(out)
        assert "generalisation step over weight_decay × train_fraction" in out.title
        assert "lr=0.001" in out.title  # the third swept key is held at one value
        assert "weight_decay (log-spaced)" in text and "train_fraction" in text
        assert "never" in text and "48;2;" in out.ansi  # coloured cells
        assert out.legend[0][0].startswith("weight_decay=0.1, train_fraction=0.3: never generalised")
        # f: the other value of lr, where one cell is still going
        await pilot.press("f")
        out = await drawn(pilot, d)
        assert "lr=0.003" in out.title
        table.select_key(GOING)
        out = await drawn(pilot, d)
        assert "1 of 2 still going" in out.legend[0][0] and "…" in plain(out)
        # v cycles the summary; the phase names are a legend of their own
        await pilot.press("v")
        assert "grokking delay" in (await drawn(pilot, d)).title
        await pilot.press("v")
        out = await drawn(pilot, d)
        assert "phase over" in out.title
        assert all(w in plain(out) for w in ("comprehension", "grokking", "memorization", "confusion"))
        await pilot.press("escape")
        assert d.view.mode == "run"


async def test_phase_view_is_live_as_runs_finish(base):
    app = app_for(base)
    async with app.run_test(size=(130, 44)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        d.query_one(RunTable).select_key(GOING)
        await pilot.press("p", "f")
        out = await drawn(pilot, d)
        assert "lr=0.003" in out.title and "1 of 2 still going" in out.legend[0][0]
        # the running seed finishes: the cell is redrawn with both seeds
        run_dir = base / "runs" / GOING
        tuifix.write_run(base / "runs", GOING, experiment="pd", kind="grokking", seed=1,
                         sweep={"weight_decay": 3.0, "train_fraction": 0.7, "lr": 0.003},
                         curve=lambda s: tuifix.grok_curve(s, jump=700), params={"modulus": 23})
        assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
        d.poller.poke()
        await until(pilot, lambda: "2 seeds" in (d.query_one(ChartPanel).last_out.legend[0][0]), timeout=15)
        assert "still going" not in d.query_one(ChartPanel).last_out.legend[0][0]


async def test_phase_view_without_colour_uses_shades(base, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(base)
    async with app.run_test(size=(100, 34)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        d.query_one(RunTable).select_key(NEVER)
        await pilot.press("p")
        out = await drawn(pilot, d)
        assert "\x1b[38" not in out.ansi and "\x1b[48" not in out.ansi
        text = plain(out)
        assert "╳╳ never" in text and any(s * 4 in text for s in "░▒▓█")


async def test_summaries_fill_in_over_builds_and_are_computed_once(tmp_path):
    """A build computes what its budget allows and asks to be built again for the rest."""
    from grokwatch.tui.chartout import ChartCache
    from grokwatch.tui.phase import phase_chart
    from grokwatch.tui.view import View

    tuifix.make_phase_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    store = ctx.store
    store.scan()
    for r in store.runs.values():
        store.refresh_meta(r)
        store.tail(r)
    runs = list(store.runs.values())
    cache = ChartCache()
    first = phase_chart(runs, runs[0], View(mode="phase"), 120, 30, True, cache, budget_s=0.0)
    assert first.again and "summarising" in first.note  # nothing computed within a zero budget
    out = None
    for _ in range(200):
        out = phase_chart(runs, runs[0], View(mode="phase"), 120, 30, True, cache, budget_s=0.01)
        if not out.again:
            break
    shown = [r for r in runs if r.state == "done" and r.sweep["lr"] == 0.001]  # lr held at its first value
    assert out is not None and not out.again and set(cache.summaries) == {r.key for r in shown}
    before = dict(cache.summaries)
    phase_chart(runs, runs[0], View(mode="phase"), 120, 30, True, cache, budget_s=0.0)
    assert all(cache.summaries[k] is before[k] for k in before)  # nothing computed again
