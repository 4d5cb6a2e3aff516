"""Pilot tests of the dashboard: every key and view, against small generated run directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui import app as tui_app  # noqa: E402
from grokwatch.tui.app import GrokwatchApp, attach_context, view_context  # noqa: E402
from grokwatch.tui.screens.confirm import ConfirmScreen  # noqa: E402
from grokwatch.tui.screens.dashboard import Context, DashboardScreen  # noqa: E402
from grokwatch.tui.screens.help import HelpScreen  # noqa: E402
from grokwatch.tui.screens.start import StartScreen  # noqa: E402
from grokwatch.tui.widgets.alerts.alert_list import AlertList  # noqa: E402
from grokwatch.tui.widgets.chart.chart import ChartPanel  # noqa: E402
from grokwatch.tui.widgets.detail.detail import DetailPane  # noqa: E402
from grokwatch.tui.widgets.header.banner import ConfigBanner  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

GROK = "grok-add-s0-aaaaaa"


async def wait_for(pilot, cond, timeout: float = 8.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def dash(app) -> DashboardScreen:
    assert isinstance(app.screen, DashboardScreen), app.screen
    return app.screen


async def ready(pilot, key: str | None = None) -> DashboardScreen:
    """Wait for the first paint, select `key`, and wait for its chart."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen)
                   and app.screen.first_paint_done and app.screen.query_one(RunTable).row_count > 0)
    d = dash(app)
    if key is not None:
        d.query_one(RunTable).select_key(key)
    await settle(pilot, d)
    return d


async def settle(pilot, d: DashboardScreen) -> None:
    """Wait until every run is loaded and the chart shows what the view asks for."""
    chart = d.query_one(ChartPanel)
    await wait_for(pilot, lambda: d.poller.loading_count() == 0)
    await pilot.pause(0.05)
    chart.mark_dirty(now=True)
    await wait_for(pilot, lambda: not chart.dirty and not chart.building and chart.last_out is not None)


def chart_title(d: DashboardScreen) -> str:
    out = d.query_one(ChartPanel).last_out
    return out.title if out else ""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    tuifix.make_project(tmp_path)
    return tmp_path


def view_app(project: Path) -> GrokwatchApp:
    ctx = view_context([project / "runs"])
    ctx.use_pool = False
    return GrokwatchApp(ctx)


@pytest.fixture
def fake_runner(monkeypatch):
    """No real runner in pilot tests: record what would have been started."""
    calls = []

    def ensure(config_path, project_dir, wait_s=10.0):
        calls.append((Path(config_path), Path(project_dir)))
        return None

    import grokwatch.runner.launch as launch

    monkeypatch.setattr(launch, "ensure_runner", ensure)
    return calls


def attach_app(project: Path, config_text: str | None = None) -> GrokwatchApp:
    cfg = project / "experiments.toml"
    if config_text is not None:
        cfg.write_text(config_text)
    ctx = attach_context(cfg, project, explicit=False)
    ctx.use_pool = False
    return GrokwatchApp(ctx, project_dir=project, config_path=cfg)


TINY_TOML = """
[grokwatch]
devices = "cpu"
[[experiment]]
name = "grok-add"
kind = "grokking"
[experiment.params]
modulus = 23
steps = 300
width = 64
eval_every = 20
"""


# ----------------------------------------------------------------------------- layout and views


async def test_first_paint_shows_runs_chart_and_log_x_for_grokking(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, GROK)
        table = d.query_one(RunTable)
        assert table.row_count == 16
        assert GROK in table.visible_keys
        out = d.query_one(ChartPanel).last_out
        assert out is not None and GROK in out.title and out.logx  # grokking: log-x by default
        assert "train error" in [label for label, _ in out.legend]
        run = d.store.runs[GROK]
        assert run.loaded and run.summary.rows == 151
        assert str(table.get_cell(GROK, "alerts")) == "✓gen+1"  # the jump, then the generalized milestone


async def test_l_y_m_s_toggle_the_chart(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, GROK)
        chart = d.query_one(ChartPanel)
        await pilot.press("l")
        await settle(pilot, d)
        assert d.view.logx is False and not chart.last_out.logx
        await pilot.press("l")
        await settle(pilot, d)
        assert chart.last_out.logx
        await pilot.press("y")
        await settle(pilot, d)
        assert d.view.logy
        await pilot.press("m")
        await settle(pilot, d)
        assert d.view.metric == "loss" and "loss" in chart_title(d)
        assert d.query_one(RunTable).metric == "loss"
        await pilot.press("m")
        await settle(pilot, d)
        assert d.view.metric == "acc" and "accuracy" in chart_title(d)
        await pilot.press("m")
        assert d.view.metric == "error"
        builds = chart.builds
        await pilot.press("s")
        await settle(pilot, d)
        assert d.view.smooth and chart.builds > builds


async def test_filter_select_compare(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, GROK)
        table = d.query_one(RunTable)
        await pilot.press("slash")
        await pilot.press(*"grok")
        await wait_for(pilot, lambda: table.row_count == 3)
        await pilot.press("enter")  # keep the filter, back to the table
        assert table.has_focus
        table.select_key(GROK)
        await pilot.press("space")
        await pilot.press("up")  # the running runs come first: GROK (done) is the last row
        await pilot.press("space")
        assert len(table.selected) == 2
        await pilot.press("c")
        await settle(pilot, d)
        assert d.view.mode == "compare"
        labels = [label for label, _ in d.query_one(ChartPanel).last_out.legend]
        assert GROK in labels and len(labels) == 2
        await pilot.press("c")
        assert d.view.mode == "run"
        await pilot.press("escape")  # nothing else open: the filter was kept, clear it via /
        await pilot.press("slash", "escape")
        await wait_for(pilot, lambda: table.row_count == 16)


async def test_sweep_view_final_and_best(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, "dd-n_features=100-s0-c01000")
        await pilot.press("w")
        await settle(pilot, d)
        assert d.view.mode == "sweep"
        out = d.query_one(ChartPanel).last_out
        assert "final error vs n_features" in out.title and out.logx  # 10..400: log-x
        from grokwatch.tui.charts import sweep_points

        pts, live = sweep_points(list(d.store.runs.values()), "dd", "n_features", "test_error", False)
        assert [p.x for p in pts] == [10, 20, 50, 100, 200, 400] and live == 0
        peak = max(pts, key=lambda p: p.mean)
        assert peak.x == 100 and peak.n == 2 and peak.lo <= peak.mean <= peak.hi  # double descent
        await pilot.press("b")
        await settle(pilot, d)
        assert "best error" in chart_title(d)
        await pilot.press("w")  # one swept key: back to the run view
        assert d.view.mode == "run"
        d.query_one(RunTable).select_key(GROK)
        await pilot.press("w")
        assert d.view.mode == "run"  # grok-add has no sweep


async def test_detail_pane_and_help(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, "over-s0-dddddd")
        await pilot.press("enter")
        detail = d.query_one(DetailPane)
        assert detail.has_class("-shown")
        body = str(detail.query_one("#detail-body").render())
        assert "RuntimeError: shapes" in body and "config" in body and "worker.log" in body
        await pilot.press("enter")
        assert not detail.has_class("-shown")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_command_palette_lists_every_action(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        titles = [c.title for c in app.get_system_commands(d)]
        for t in ("Toggle log-x", "Cycle metric", "Compare selected runs", "Sweep view", "Stop runs",
                  "Retry runs", "Edit experiments.toml", "Alert list", "Filter runs"):
            assert t in titles
        cmd = next(c for c in app.get_system_commands(d) if c.title == "Toggle log-y")
        cmd.callback()
        assert d.view.logy


async def test_key_bar_shows_keys_and_clicks_run_them(project):
    from grokwatch.tui.widgets.footer.key_bar import KeyBar

    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        bar = d.query_one(KeyBar)
        line = str(bar.render())
        assert line.startswith(" q quit") and "? help" in line and line.rstrip().endswith("^p palette")
        for key in ("/ filter", "space mark", "l logx", "m metric", "s smooth", "c comp", "w sweep",
                    "e edit", "k stop", "r retry"):  # at 120 columns every central key fits
            assert key in line
        await pilot.click(KeyBar, offset=(line.index("/ filter") + 2, 0))
        assert d.query_one("#filter").has_class("-shown")
        await pilot.press("escape")
        await pilot.click(KeyBar, offset=(line.index("? help") + 2, 0))
        assert isinstance(app.screen, HelpScreen)
    async with view_app(project).run_test(size=(80, 24)) as pilot:
        line = str((await ready(pilot)).query_one(KeyBar).render())
        assert "? help" in line and len(line.rstrip()) <= 80  # what fits, and help always


async def test_small_terminal_and_no_color(project, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = view_app(project)
    async with app.run_test(size=(80, 24)) as pilot:
        d = await ready(pilot, GROK)
        chart = d.query_one(ChartPanel)
        assert not chart.color
        assert chart.last_out.ansi and "\x1b[38" not in chart.last_out.ansi
        assert d.query_one(RunTable).columns_for(80)[1][0] == "run"


# ----------------------------------------------------------------------------- alerts


async def test_new_alert_toasts_bells_highlights_and_lists(project):
    app = view_app(project)
    bells = []
    app.bell = lambda: bells.append(1)  # headless bell does nothing: spy on it
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        d = await ready(pilot, GROK)
        lst = d.query_one(AlertList)
        assert len(lst.alerts) == 1 and not lst.alerts[0][1]  # history, not missed
        run_id = "grok-wd-weight_decay=0.1-s0-bbbbb1"
        ev = {"time": time.time(), "run_id": run_id, "step": 820, "kind": "grokking_likely",
              "alert": True, "message": "weight norm falling while test error plateaus"}
        with open(project / "runs" / run_id / "events.jsonl", "a") as f:
            f.write(json.dumps(ev) + "\n")
        d.poller.poke()
        await wait_for(pilot, lambda: len(lst.alerts) == 2)
        assert bells == [1]
        assert run_id in d.query_one(RunTable).unseen
        from grokwatch.tui.widgets.alerts.alert_line import AlertLine

        line = d.query_one(AlertLine)  # another run's alert: one compact line, no toast over the chart
        assert "weight norm falling" in line.text and line.has_class("-shown") and run_id in line.text
        assert not any("weight norm falling" in n.message for n in app._notifications)
        await pilot.press("a")
        assert lst.has_class("-shown") and lst.has_focus and not line.has_class("-shown")
        lst.highlighted = 0
        await pilot.press("enter")  # jump to the run
        assert d.query_one(RunTable).current_key == run_id
        assert run_id not in d.query_one(RunTable).unseen
        # the highlighted run's own alert is a toast
        ev = dict(ev, kind="overfitting", step=840, message="test error turned up")
        with open(project / "runs" / run_id / "events.jsonl", "a") as f:
            f.write(json.dumps(ev) + "\n")
        d.poller.poke()
        await wait_for(pilot, lambda: len(lst.alerts) == 3)
        assert any("test error turned up" in n.message for n in app._notifications)
        assert not line.has_class("-shown")


async def test_missed_alerts_on_reattach(project, fake_runner):
    from grokwatch.runner.control import last_detach_path

    p = last_detach_path(project)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(str(tuifix.T0 - 400))  # the jump alert came at T0 - 300
    app = attach_app(project, TINY_TOML)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        d = await ready(pilot)
        lst = d.query_one(AlertList)
        await wait_for(pilot, lambda: lst.alerts)
        assert lst.alerts[0][1] is True and lst.has_class("-shown")
        assert any("while you were away" in n.message for n in app._notifications)
        assert GROK in d.query_one(RunTable).unseen
        assert fake_runner and fake_runner[0][0] == project / "experiments.toml"
    assert float(p.read_text()) > tuifix.T0  # quitting recorded the detach time


# ----------------------------------------------------------------------------- acting: k, r, e, banner


def _requests(project: Path) -> list[dict]:
    d = project / ".grokwatch" / "control"
    return [json.loads(f.read_text()) for f in sorted(d.glob("*.json"))] if d.exists() else []


async def test_stop_asks_first_then_sends_request(project, fake_runner):
    app = attach_app(project, TINY_TOML)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, "grok-wd-weight_decay=0.1-s0-bbbbb1")
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert _requests(project) == []
        await pilot.press("k")
        await pilot.press("y")
        reqs = _requests(project)
        assert reqs == [{"action": "stop", "runs": ["grok-wd-weight_decay=0.1-s0-bbbbb1"],
                         "time": reqs[0]["time"], "runner": None, "sender": reqs[0]["sender"]}]
        d.query_one(RunTable).select_key(GROK)
        await pilot.press("k")  # done: nothing to stop, no question
        assert isinstance(app.screen, DashboardScreen)


async def test_retry_sends_request_and_starts_a_runner(project, fake_runner):
    app = attach_app(project, TINY_TOML)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, "over-s0-dddddd")
        n = len(fake_runner)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(fake_runner) > n)
        assert _requests(project)[-1]["action"] == "retry"
        assert _requests(project)[-1]["runs"] == ["over-s0-dddddd"]


async def test_view_mode_never_acts(project):
    app = view_app(project)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await ready(pilot, "grok-wd-weight_decay=0.1-s0-bbbbb1")
        await pilot.press("k", "r", "e")
        assert isinstance(app.screen, DashboardScreen)
        assert _requests(project) == []
        assert any("launches and stops nothing" in n.message for n in app._notifications)


async def test_broken_config_shows_banner_and_runs(project, fake_runner):
    app = attach_app(project, TINY_TOML.replace("modulus = 23", "modulos = 23"))
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        banner = d.query_one(ConfigBanner)
        await wait_for(pilot, lambda: banner.has_class("-shown"))
        text = str(banner.render())
        assert "experiments.toml" in text and "modulos" in text
        assert d.query_one(RunTable).row_count == 16  # the runs are still shown
        assert fake_runner == []  # nothing started from a broken file
        # `e` cannot suspend under run_test: it says so and never crashes
        await pilot.press("e")
        assert isinstance(app.screen, DashboardScreen)


async def test_after_edit_validates_and_asks_for_reload(project, fake_runner):
    app = attach_app(project, TINY_TOML.replace("modulus = 23", "modulos = 23"))
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        (project / "experiments.toml").write_text(TINY_TOML)
        d.after_edit()
        await pilot.pause(0.1)
        assert not d.query_one(ConfigBanner).has_class("-shown")
        assert _requests(project)[-1]["action"] == "reload"
        await wait_for(pilot, lambda: fake_runner)


# ----------------------------------------------------------------------------- start screen


def test_start_screen_only_in_an_empty_directory(tmp_path):
    cfg = tmp_path / "experiments.toml"
    assert tui_app.should_start_screen(cfg, tmp_path, explicit=False)
    assert not tui_app.should_start_screen(cfg, tmp_path, explicit=True)
    (tmp_path / "runs").mkdir()
    assert not tui_app.should_start_screen(cfg, tmp_path, explicit=False)


async def test_start_screen_enter_starts_the_demo(tmp_path, fake_runner):
    from grokwatch.config import demo_config_path

    app = GrokwatchApp(None, start=True, project_dir=tmp_path, config_path=tmp_path / "experiments.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, StartScreen)
        assert fake_runner == []  # nothing starts by itself
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await wait_for(pilot, lambda: fake_runner)
        assert fake_runner[0][0] == demo_config_path()


async def test_start_screen_i_writes_experiments_toml_then_enter(tmp_path, fake_runner):
    from grokwatch.config import demo_config_path

    app = GrokwatchApp(None, start=True, project_dir=tmp_path, config_path=tmp_path / "experiments.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("i")
        cfg = tmp_path / "experiments.toml"
        assert cfg.read_text() == demo_config_path().read_text()
        assert fake_runner == [] and isinstance(app.screen, StartScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: fake_runner)
        assert fake_runner[0][0] == cfg


async def test_start_screen_q_quits(tmp_path):
    app = GrokwatchApp(None, start=True, project_dir=tmp_path, config_path=tmp_path / "experiments.toml")
    async with app.run_test() as pilot:
        await pilot.press("q")
    assert not (tmp_path / "experiments.toml").exists()


# ----------------------------------------------------------------------------- live files, view of CSVs


async def test_growing_and_replaced_files_are_followed(project):
    app = view_app(project)
    run_id = "grok-wd-weight_decay=0.1-s0-bbbbb1"
    path = project / "runs" / run_id / "metrics.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, run_id)
        run = d.store.runs[run_id]
        rows = run.summary.rows
        with open(path, "a") as f:
            f.write("820,9.2,0.1,2.5,0.01,0.9,0.99,0.1,10.8\n840,9.4,0.1,2.5,0.01,0.")  # half a line
        d.poller.poke()
        await wait_for(pilot, lambda: run.summary.rows == rows + 1)
        assert run.latest["step"] == 820
        assert "820" in str(d.query_one(RunTable).get_cell(run_id, "step"))
        # the worker widens the header: an atomic rewrite; the reader starts over
        text = path.read_text().splitlines()
        new = [text[0] + ",lr"] + [line + ",0.001" for line in text[1:-1]]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(new) + "\n")
        os.replace(tmp, path)
        d.poller.poke()
        await wait_for(pilot, lambda: run.latest.get("lr") == 0.001)
        assert run.summary.rows == rows + 1


async def test_view_of_a_users_csv_runs_the_detectors(tmp_path):
    csv = tuifix.write_csv(tmp_path / "my_log.csv", rows=400)
    ctx = view_context([csv])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot, "my_log")
        run = d.store.runs["my_log"]
        assert run.summary.has("test_error") and run.summary.has("test_acc")
        assert abs(run.latest["test_acc"] - (1 - tuifix.grok_curve(3990, jump=1800)[1])) < 1e-3
        assert d.query_one(ChartPanel).last_out.ansi
        kinds = {a.get("kind") for a in run.alerts}
        assert "generalization_jump" in kinds  # the detectors ran in memory


def test_run_view_rejects_missing_paths(tmp_path, capsys):
    assert tui_app.run_view([str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_tui_never_imports_torch():
    code = ("import sys, grokwatch.tui.app, grokwatch.cli; "
            "import grokwatch.tui.screens.dashboard, grokwatch.tui.data.poller, grokwatch.tui.charts; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_context_defaults():
    ctx = Context(mode="view", store=view_context([]).store)
    assert ctx.bell and ctx.use_pool


# ----------------------------------------------------------------------------- row order, selection, cluster jobs

RUNNING = ["grok-wd-weight_decay=0.1-s0-bbbbb1", "grok-wd-weight_decay=1-s0-bbbbb10"]


def _patch_json(path: Path, **changes) -> None:
    obj = json.loads(path.read_text())
    obj.update(changes)
    path.write_text(json.dumps(obj))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))  # a visibly new mtime


def _queue(project: Path, n: int = 25) -> list[str]:
    """n queued runs whose queue order is not their name order (created later: names earlier)."""
    runs = project / "runs"
    keys = []
    for i in range(n):
        key = f"aq-{n - i:02d}-s0-q{i:05d}"
        d = tuifix.write_run(runs, key, experiment="aq", kind="grokking", state="queued", upto=0)
        _patch_json(d / "config.json", created=tuifix.T0 + i)
        keys.append(key)
    return keys


async def test_rows_running_first_then_queue_then_newest_ended(project):
    queued = _queue(project)
    runs = project / "runs"
    _patch_json(runs / "over-s0-dddddd" / "status.json", ended=tuifix.T0)  # the latest to end
    app = view_app(project)
    async with app.run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        table = d.query_one(RunTable)
        keys = table.visible_keys
        assert keys[:2] == RUNNING
        assert keys[2:27] == queued  # queue order, not name order
        assert keys[27] == "over-s0-dddddd"  # ended: most recently ended first
        assert [d.store.runs[k].state for k in keys[28:]] == ["done"] * 13
        # the highlighted run keeps its place on screen when a run ahead of it starts
        target = queued[10]
        table.select_key(target)
        await pilot.pause(0.1)
        on_screen = table.cursor_row - int(table.scroll_y)
        _patch_json(runs / queued[3] / "status.json", state="running", started=tuifix.T0)
        d.poller.poke()
        await wait_for(pilot, lambda: set(table.visible_keys[:3]) == {*RUNNING, queued[3]})
        await pilot.pause(0.1)
        assert table.current_key == target
        assert table.cursor_row - int(table.scroll_y) == on_screen
        assert d.poller.focus == target


async def test_first_selection_is_a_running_run(project):
    _queue(project)
    async with view_app(project).run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        assert d.query_one(RunTable).current_key == RUNNING[0]
        assert RUNNING[0] in chart_title(d)


async def test_first_selection_without_running_runs_is_the_latest_ended(project):
    runs = project / "runs"
    for k in RUNNING:
        _patch_json(runs / k / "status.json", state="stopped", ended=tuifix.T0 - 100)
    _patch_json(runs / "dd-n_features=50-s1-c00501" / "status.json", ended=tuifix.T0 - 5)
    async with view_app(project).run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        table = d.query_one(RunTable)
        await wait_for(pilot, lambda: table.current_key == "dd-n_features=50-s1-c00501")


async def test_selection_follows_the_first_run_to_start_until_the_user_moves(tmp_path):
    queued = _queue(tmp_path, n=4)
    runs = tmp_path / "runs"
    async with view_app(tmp_path).run_test(size=(120, 40)) as pilot:
        d = await ready(pilot)
        table = d.query_one(RunTable)
        assert table.current_key == queued[0]  # nothing live: the head of the queue
        _patch_json(runs / queued[2] / "status.json", state="running", started=tuifix.T0)
        d.poller.poke()
        await wait_for(pilot, lambda: table.current_key == queued[2])
        assert table.visible_keys[0] == queued[2]
        await pilot.press("down")  # the user chooses: no more following
        chosen = table.current_key
        assert chosen != queued[2]
        _patch_json(runs / queued[3] / "status.json", state="running", started=tuifix.T0)
        d.poller.poke()
        await wait_for(pilot, lambda: set(table.visible_keys[:2]) == {queued[2], queued[3]})
        await pilot.pause(0.1)
        assert table.current_key == chosen


async def test_slurm_job_id_node_and_pending_reason(project):
    runs = project / "runs"
    queued = _queue(project, n=2)
    (runs / RUNNING[0] / "executor.json").write_text(json.dumps(
        {"executor": "slurm", "job_id": "12_3", "phase": "running", "node": "node7"}))
    (runs / queued[0] / "executor.json").write_text(json.dumps(
        {"executor": "slurm", "job_id": "12_4", "phase": "pending", "reason": "Resources"}))
    async with view_app(project).run_test(size=(160, 40)) as pilot:
        d = await ready(pilot)
        table = d.query_one(RunTable)
        assert str(table.get_cell(RUNNING[0], "device")) == "job 12_3@node7"
        assert str(table.get_cell(queued[0], "state")) == "queued (Resources)"
        assert str(table.get_cell(queued[0], "device")) == "job 12_4"
        assert str(table.get_cell(queued[1], "state")) == "queued"
        assert str(table.get_cell("grok-add-s0-aaaaaa", "device")) == "cpu"
        run = d.store.runs[queued[0]]
        mtime = run._executor_mtime
        d.poller.tick()  # unchanged: not read again
        assert run._executor_mtime == mtime
        _patch_json(runs / queued[0] / "executor.json", reason="Priority")
        d.poller.poke()
        await wait_for(pilot, lambda: str(table.get_cell(queued[0], "state")) == "queued (Priority)")
        table.select_key(queued[0])
        await pilot.press("enter")
        body = str(d.query_one("#detail-body").render())
        assert "slurm job 12_4" in body and "pending (Priority)" in body
    async with view_app(project).run_test(size=(120, 40)) as pilot:  # narrow: no device column,
        d = await ready(pilot)  # the reason still shows in the state column
        assert str(d.query_one(RunTable).get_cell(queued[0], "state")) == "queued (Priority)"
