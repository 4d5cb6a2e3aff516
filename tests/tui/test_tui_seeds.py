"""Seeds as one (g): runs that differ only in seed fold into one table row and are drawn as the mean
over seeds with a min–max band, in the run chart and in compare."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: E402
from grokwatch.tui.charts import seed_band, seed_group  # noqa: E402
from grokwatch.tui.data.groups import GroupRun, fold, group_label  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.chart.chart import ChartPanel  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

DD0, DD1 = "dd-n_features=100-s0-c01000", "dd-n_features=100-s1-c01001"


def loaded_store(base: Path):
    ctx = view_context([base / "runs"])
    st = ctx.store
    st.scan()
    for r in st.runs.values():
        st.refresh_meta(r)
        while st.tail(r)[0]:
            pass
    return st


def test_groups_fold_and_aggregate(tmp_path):
    tuifix.make_project(tmp_path)
    st = loaded_store(tmp_path)
    rows, order, led = fold(st.runs, st.order)
    assert len(order) == len(st.order) - 6  # six double-descent pairs of seeds
    g = rows[led and next(k for k in order if k.startswith("dd-n_features=100"))]
    assert isinstance(g, GroupRun) and {r.key for r in g.runs} == {DD0, DD1}
    assert g.label == "dd-n_features=100-s* ×2" == group_label(DD0, 2)
    te = [st.runs[k].latest["test_error"] for k in (DD0, DD1)]
    assert np.isclose(g.latest["test_error"], sum(te) / 2) and g.state == "done"
    assert not isinstance(rows["grok-add-s0-aaaaaa"], GroupRun)  # a run alone stays itself


def test_seed_band_is_mean_min_max_over_seeds(tmp_path):
    tuifix.make_project(tmp_path)
    st = loaded_store(tmp_path)
    runs = seed_group(st.runs[DD0], list(st.runs.values()))
    assert [r.key for r in runs] == [DD0, DD1]
    band = seed_band(runs, "test_error", False, 40, 0.0, 200.0)
    each = [r.summary.reduce("test_error", False, 40, 0.0, 200.0) for r in runs]
    assert len(band) == len(each[0]) == len(each[1])
    assert np.allclose(band.mean, (each[0].mean + each[1].mean) / 2)
    assert np.allclose(band.lo, np.minimum(each[0].mean, each[1].mean))
    assert np.allclose(band.hi, np.maximum(each[0].mean, each[1].mean))


async def test_g_folds_rows_and_draws_the_group(tmp_path):
    tuifix.make_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(130, 40)) as pilot:
        t0 = time.monotonic()
        while not (isinstance(app.screen, DashboardScreen) and app.screen.first_paint_done
                   and app.screen.poller.loading_count() == 0):
            assert time.monotonic() - t0 < 10
            await pilot.pause(0.05)
        d = app.screen
        table = d.query_one(RunTable)
        n = table.row_count
        table.select_key(DD0)
        await pilot.press("g")
        assert d.view.seeds and table.row_count == n - 6
        assert str(table.get_cell(DD0, "run")).endswith("100 s* ×2")  # the compact name: experiment, value, seeds
        chart = d.query_one(ChartPanel)

        async def drawn():
            chart.mark_dirty(now=True)
            t0 = time.monotonic()
            while chart.building or chart.dirty:
                assert time.monotonic() - t0 < 10
                await pilot.pause(0.05)
            return chart.last_out

        out = await drawn()
        assert "mean of 2 seeds" in out.title and any("min–max" in label for label, _ in out.legend)
        # compare two groups
        await pilot.press("space", "down", "space", "c")
        out = await drawn()
        assert d.view.mode == "compare" and sum("×2" in label for label, _ in out.legend) == 2
        await pilot.press("escape", "g")
        assert not d.view.seeds and table.row_count == n
