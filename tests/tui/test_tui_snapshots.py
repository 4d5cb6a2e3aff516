"""Snapshot tests pinning the dashboard's main views (frozen clock, UTC, fixed data)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui.app import GrokwatchApp, attach_context, view_context  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.chart.chart import ChartPanel  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

GROK = "grok-add-s0-aaaaaa"


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    with tuifix.frozen_clock(monkeypatch):
        yield


@pytest.fixture
def project(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("snap") / "proj"  # same length of path in every run
    base.mkdir()
    tuifix.make_project(base)
    return base


def _app(project: Path) -> GrokwatchApp:
    ctx = view_context([project / "runs"])
    ctx.use_pool = False
    return GrokwatchApp(ctx)


async def _wait(pilot, cond, timeout=10.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        await pilot.pause(0.05)


def select(key: str | None, *keys: str):
    """run_before: wait for the data, select a run, press keys, wait for the chart."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await _wait(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        await tuifix.settled(pilot)  # the table's final width first: a later rebuild keeps the scroll
        if key:
            d.query_one(RunTable).select_key(key)
        for k in keys:
            await pilot.press(k)
        await pilot.pause(0.1)
        chart = d.query_one(ChartPanel)
        chart.mark_dirty(now=True)
        # a view that fills in over several builds (the phase diagram's summaries) is waited for whole
        await _wait(pilot, lambda: not chart.dirty and not chart.building
                    and not (chart.last_out is not None and chart.last_out.again))
        await tuifix.settled(pilot)

    return run_before


def test_snapshot_grokked_run_log_x(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(130, 40), run_before=select(GROK))


def test_snapshot_detail_pane(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(130, 40), run_before=select(GROK, "enter"))


def test_snapshot_sweep_double_descent(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(130, 40),
                        run_before=select("dd-n_features=100-s0-c01000", "w"))


def test_snapshot_compare_smoothed(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(130, 40),
                        run_before=select(GROK, "space", "up", "space", "c", "s"))


def test_snapshot_small_terminal(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(80, 24), run_before=select(GROK))


def test_snapshot_config_error_banner(snap_compare, project, monkeypatch):
    import grokwatch.runner.launch as launch

    monkeypatch.setattr(launch, "ensure_runner", lambda *a, **k: None)
    monkeypatch.chdir(project)  # the error names the file as given: keep the path out of the picture
    cfg = Path("experiments.toml")
    cfg.write_text('[[experiment]]\nname = "grok-add"\nkind = "grokking"\n[experiment.params]\nmodulos = 23\n')
    (project / cfg).write_text(cfg.read_text())
    ctx = attach_context(cfg, project, explicit=False)
    ctx.use_pool = False
    app = GrokwatchApp(ctx, project_dir=project, config_path=cfg)
    assert snap_compare(app, terminal_size=(130, 40), run_before=select(GROK))


def test_snapshot_start_screen(snap_compare, tmp_path):
    app = GrokwatchApp(None, start=True, project_dir=tmp_path, config_path=tmp_path / "experiments.toml")
    assert snap_compare(app, terminal_size=(100, 30))


def test_snapshot_help(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(100, 34), run_before=select(GROK, "question_mark"))


@pytest.fixture
def phase_project(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("snap") / "proj"
    base.mkdir()
    tuifix.make_phase_project(base)
    return base


def test_snapshot_phase_diagram(snap_compare, phase_project):
    assert snap_compare(_app(phase_project), terminal_size=(130, 44),
                        run_before=select("pd-weight_decay=0.3-train_fraction=0.5-lr=0.001-s0-03510", "p"))


def test_snapshot_phase_diagram_phases(snap_compare, phase_project):
    assert snap_compare(_app(phase_project), terminal_size=(130, 44),
                        run_before=select("pd-weight_decay=0.3-train_fraction=0.5-lr=0.001-s0-03510",
                                          "p", "v", "v"))


def test_snapshot_seeds_as_one(snap_compare, project):
    assert snap_compare(_app(project), terminal_size=(130, 40),
                        run_before=select("dd-n_features=100-s0-c01000", "g"))
