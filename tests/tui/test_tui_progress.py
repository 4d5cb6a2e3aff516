"""The progress view (P; grokwatch/tui/progress_view.py): a run's progress measures, each on its own
axis beside test accuracy; plain words for a log without them; live as the file grows.

The fixture `tests/fixtures/tui/progress/grok-add-s0-413878` is a real run of the grokking kind
(the `cpu` preset: x+y mod 97, MLP, 2,500 steps), its times shifted to the frozen clock."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

FIX = Path(__file__).parent.parent / "fixtures" / "tui"
sys.path.insert(0, str(FIX))
import tuifix  # noqa: E402

from grokwatch.tui import keys, progress_view  # noqa: E402
from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: E402
from grokwatch.tui.data.store import RunData  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.view import MODES  # noqa: E402
from grokwatch.tui.widgets.chart.chart import ChartPanel  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

REAL = "grok-add-s0-413878"
FOURIER_COLS = ("fourier_sparsity", "restricted_loss", "excluded_loss")


def progress_project(base: Path) -> Path:
    """runs/: the real run; the same run as an operation without Fourier measures (x*y: those
    columns dropped); a grokking-shaped run that logs none (tuifix's, with a weight norm)."""
    runs = base / "runs"
    runs.mkdir(parents=True)
    shutil.copytree(FIX / "progress" / REAL, runs / REAL)
    shutil.copytree(FIX / "progress" / REAL, runs / "mul-s0")
    lines = (runs / "mul-s0" / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    keep = [i for i, c in enumerate(head) if c not in FOURIER_COLS]
    (runs / "mul-s0" / "metrics.csv").write_text(
        "".join(",".join(row.split(",")[i] for i in keep) + "\n" for row in lines))
    tuifix.write_run(runs, "plain-s0", experiment="plain", kind="grokking")
    return runs


async def until(pilot, cond, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached in time"
        await pilot.pause(0.05)


async def drawn(pilot, d: DashboardScreen, want: str = "progress measures"):
    chart = d.query_one(ChartPanel)
    chart.mark_dirty(now=True)
    await until(pilot, lambda: not chart.building and not chart.dirty and chart.last_out is not None
                and want in chart.last_out.title)
    return chart.last_out


def plain(out) -> str:
    from rich.text import Text

    return Text.from_ansi(out.ansi).plain


def app_for(*paths: Path) -> GrokwatchApp:
    ctx = view_context(list(paths))
    ctx.use_pool = False
    return GrokwatchApp(ctx)


def test_the_mode_is_one_row_of_the_table_with_its_key():
    mode = MODES["progress"]
    assert mode.key == "P" and mode.draws == "current"
    assert any(k.key == "P" and k.action == "view_mode('progress')" for k in keys.mode_keys())


def test_the_measures_are_the_grokking_kinds_columns():
    from grokwatch.experiments import progress

    assert progress_view.PROGRESS == tuple(progress.COLUMNS[i] for i in (3, 4, 2, 0, 1))
    assert set(progress_view.FOURIER) == set(FOURIER_COLS)


async def test_progress_view_of_a_real_run_and_of_a_run_without_measures(tmp_path):
    runs = progress_project(tmp_path)
    app = app_for(runs)
    async with app.run_test(size=(130, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        table = d.query_one(RunTable)
        table.select_key(REAL)
        await pilot.press("P")
        assert d.view.mode == "progress"
        out = await drawn(pilot, d)
        text = plain(out)
        for name in ("test accuracy", "restricted_loss", "excluded_loss", "fourier_sparsity",
                     "softmax_collapse", "logit_scale", "weight_norm"):
            assert name in text, name
        assert "restricted_loss  now 2.277" in text  # the run's last row
        assert out.logx and "1k" in text  # log-x, as the main chart for a grokking run
        assert "mem" in text and "✓gen" in text  # memorised and generalised, on the top panel
        assert out.note == ""
        # a run that logs none: said plainly, nothing drawn
        table.select_key("plain-s0")
        out = await drawn(pilot, d)
        assert out.ansi == "" and "plain-s0 logs no progress measures" in out.note
        assert "grokwatch.progress_stats" in out.note
        await pilot.press("P")  # again: back to the run's chart
        assert d.view.mode == "run"
        await pilot.press("P", "escape")
        assert d.view.mode == "run"


def test_an_operation_without_fourier_measures_gets_its_two_panels_and_a_word(tmp_path):
    runs = progress_project(tmp_path)
    run = _run(runs / "mul-s0" / "metrics.csv")
    progress_view.forget(str(run.csv))
    out = progress_view.progress_chart(run, None, 130, 36)
    text = plain(out)
    assert "softmax_collapse" in text and "logit_scale" in text and "restricted_loss" not in text
    assert "no Fourier measures in this log" in out.note


async def test_a_users_csv_without_the_columns_says_so(tmp_path):
    csv = tuifix.write_csv(tmp_path / "mine.csv")
    app = app_for(csv)
    async with app.run_test(size=(110, 34)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        d = app.screen
        await pilot.press("P")
        out = await drawn(pilot, d)
        assert "logs no progress measures" in out.note and out.ansi == ""


def _run(csv: Path) -> RunData:
    from grokwatch.tui.data.store import RunStore

    store = RunStore(run_dirs=[csv.parent]) if csv.name == "metrics.csv" else RunStore(files=[csv])
    store.scan()
    run = next(iter(store.runs.values()))
    store.refresh_meta(run)
    while store.tail(run)[0]:
        pass
    return run


def test_the_view_follows_a_growing_file_and_a_rewritten_one(tmp_path):
    runs = progress_project(tmp_path)
    csv = runs / REAL / "metrics.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:40]))
    run = _run(csv)
    progress_view.forget(str(csv))
    out = progress_view.progress_chart(run, None, 120, 40, color=False)
    first = float(lines[39].split(",")[13])  # restricted_loss of the last row written
    assert f"restricted_loss  now {first:.4g}" in plain(out) and "\x1b[38" not in out.ansi
    assert out.logx  # a grokking run: log-x
    with csv.open("a") as f:
        f.write("".join(lines[40:]))
    out = progress_view.progress_chart(run, None, 120, 40, color=False)
    assert "restricted_loss  now 2.277" in plain(out)
    # the file replaced by one without the columns: the view says so (nothing stale kept)
    tmp = csv.with_suffix(".new")
    tmp.write_text(tuifix.HEADER + "0,1,4.6,4.6,0.99,0.99,0.01,0.01,30\n")
    tmp.replace(csv)
    out = progress_view.progress_chart(run, None, 120, 40, color=False)
    assert "logs no progress measures" in out.note and out.ansi == ""


def test_a_small_terminal_shows_what_fits_and_names_the_rest(tmp_path):
    runs = progress_project(tmp_path)
    run = _run(runs / REAL / "metrics.csv")
    progress_view.forget(str(run.csv))
    out = progress_view.progress_chart(run, None, 78, 16, color=True)
    assert "more measure(s) need a larger terminal" in out.note
    shown = plain(out)
    hidden = out.note.split(": ", 1)[1].split(", ")
    assert hidden and all(h not in shown for h in hidden)
    assert "test accuracy" in shown
    widths = {len(line) for line in shown.splitlines()}
    assert max(widths) <= 78


@pytest.fixture
def frozen(monkeypatch):
    with tuifix.frozen_clock(monkeypatch):
        yield


def test_snapshot_progress_view(snap_compare, tmp_path_factory, frozen):
    base = tmp_path_factory.mktemp("snap") / "proj"  # same length of path in every run
    runs = progress_project(base)
    for key in ("mul-s0", "plain-s0"):  # the real run alone in the table
        shutil.rmtree(runs / key)
    progress_view.forget(str(runs / REAL / "metrics.csv"))

    async def run_before(pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                    and app.screen.poller.loading_count() == 0)
        await pilot.press("P")
        await drawn(pilot, app.screen)
        await tuifix.settled(pilot)

    assert snap_compare(app_for(runs), terminal_size=(130, 40), run_before=run_before)


def test_a_long_log_without_the_measures_is_read_no_further_than_its_header(tmp_path):
    csv = tuifix.write_csv(tmp_path / "mine.csv", rows=4000)
    run = _run(csv)
    assert run.csv.resolve() == csv.resolve()
    progress_view.forget(str(run.csv))
    out = progress_view.progress_chart(run, None, 100, 30)
    assert "logs no progress measures" in out.note
    tail = progress_view._SERIES[str(run.csv)].tail
    assert tail.offset <= progress_view.HEAD_BYTES < csv.stat().st_size // 10
