"""Defects found by using the integrated whole as a user (the `qa` pass): each test names what
a user saw."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "readers"


def test_a_grokking_runs_chart_keeps_its_frame_with_the_jump_marker(tmp_path):
    """`grokwatch --demo`: the ⚡grok marker (two cells wide) made its chart line one cell too long,
    so the right border wrapped onto the next line and the x axis fell off the bottom."""
    from grokwatch.tui.app import view_context
    from grokwatch.tui.charts import chart_markers, run_chart
    from grokwatch.tui.view import View

    tuifix.make_project(tmp_path)
    st = view_context([tmp_path / "runs"]).store
    st.scan()
    run = st.runs["grok-add-s0-aaaaaa"]
    st.refresh_meta(run)
    while st.tail(run)[0]:
        pass
    assert any(m.label == "⚡grok" for m in chart_markers(run))
    for color in (True, False):
        out = run_chart(run, View(), 120, 30, color=color)
        lines = Text.from_ansi(out.ansi).plain.splitlines()
        assert "grok" in "".join(lines)
        assert len({cell_len(line) for line in lines}) == 1, [cell_len(line) for line in lines]


def test_the_table_shows_the_error_of_an_accuracy_only_log():
    """`grokwatch view training.log` (Keras CSVLogger: accuracy, no error column): the chart drew
    the error but the table's train and test columns said `—`."""
    from grokwatch.tui.data.csvtail import peek_tail

    last = peek_tail(FIXTURES / "keras" / "training.log").last
    assert last["train_error"] == 1 - last["train_acc"] and last["test_error"] == 1 - last["test_acc"]
