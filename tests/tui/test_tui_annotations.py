"""Annotated charts: markers at memorisation, at each alert and at generalisation with the delay in
the title; the double-descent sweep marks the interpolation threshold and starts on a log y axis;
values that are zero to machine precision do not set a log axis's range."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui.app import view_context  # noqa: E402
from grokwatch.tui.charts import _floor, chart_markers, run_chart, sweep_chart  # noqa: E402
from grokwatch.tui.view import View  # noqa: E402

GROK = "grok-add-s0-aaaaaa"


def store_of(base: Path):
    st = view_context([base / "runs"]).store
    st.scan()
    for r in st.runs.values():
        st.refresh_meta(r)
        while st.tail(r)[0]:
            pass
    return st


def test_markers_at_memorisation_alerts_and_generalisation(tmp_path):
    tuifix.make_project(tmp_path)
    run = store_of(tmp_path).runs[GROK]
    marks = chart_markers(run)
    assert [(m.step, m.label) for m in marks] == [(560, "mem"), (1600, "⚡grok"), (1700, "✓gen")]
    out = run_chart(run, View(), 120, 30, color=False)
    assert "memorised at 560, generalised at 1.7k: grokking delay 1.1k steps" in out.title
    from rich.text import Text

    text = Text.from_ansi(out.ansi).plain
    assert "mem" in text and "grok" in text and "✓gen" in text  # ⚡ is two cells wide: dropped in the chart
    # a run without events has no markers and no delay
    other = store_of(tmp_path).runs["over-s0-dddddd"]
    assert chart_markers(other) == [] and "delay" not in run_chart(other, View(), 120, 30).title


def test_double_descent_sweep_marks_the_threshold_on_a_log_axis(tmp_path):
    tuifix.make_project(tmp_path)
    runs = list(store_of(tmp_path).runs.values())
    out = sweep_chart(runs, "dd", View(mode="sweep"), 120, 30, color=True)
    assert out.logy  # by default: the peak would flatten a linear axis
    assert any("interpolation threshold N = n_train = 200" in label for label, _ in out.legend)
    lin = sweep_chart(runs, "dd", View(mode="sweep", logy=False), 120, 30, color=True)
    assert not lin.logy
    grok = sweep_chart(runs, "grok-wd", View(mode="sweep"), 120, 30, color=True)
    assert not grok.logy and not any("threshold" in label for label, _ in grok.legend)


def test_values_zero_to_machine_precision_do_not_set_the_log_range():
    train = np.array([0.9, 0.1, 0.01, 1e-11, 1e-12])
    test = np.array([0.95, 0.5, 0.02])
    assert _floor([train, test]) == 0.005  # half the smallest real value, not 5e-13
    assert _floor([np.array([1e-3, 1e-4])]) == 5e-5  # small but real: kept
