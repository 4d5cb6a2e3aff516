"""The one tail of a growing CSV (`grokwatch.tail`): offsets, partial lines, replaced and
rewritten files, skip-to-end, state handed across processes, and both parsers on top of it."""

from __future__ import annotations

import os
import pickle

import numpy as np

from grokwatch.columns import CORE_METRICS, canonical_columns, error_from_accuracy, split_header
from grokwatch.tail import MetricsTail, shown_line
from grokwatch.tui.data.csvtail import CsvTail
from grokwatch.tui.data.summary import METRICS


def test_one_list_of_metric_names_and_one_error_rule():
    assert METRICS is CORE_METRICS
    assert error_from_accuracy(0.25) == 0.75 and error_from_accuracy(1.2) == 0.0
    assert error_from_accuracy(float("nan")) != error_from_accuracy(float("nan"))  # NaN stays NaN
    assert error_from_accuracy(np.array([0.5, 1.5])).tolist() == [0.5, 0.0]


def test_state_restore_goes_on_where_another_tail_stopped(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,train_loss,val_acc\n0,1.0,0.1\n1,0.9,0.2\n2,0.8")
    for cls in (MetricsTail, CsvTail):
        first = cls(p)
        first.read()
        state = pickle.loads(pickle.dumps(first.state()))  # as it crosses the process pool
        again = cls(p)
        again.restore(state)
        assert again.header == first.header and again.offset == first.offset
        assert again.partial == b"2,0.8"
        with open(p, "a") as f:
            f.write(",0.3\n3,0.7,0.4\n")
        got = again.read()
        steps = [r["step"] for r in got] if cls is MetricsTail else got.steps.tolist()
        assert steps == [2, 3]
        p.write_text("step,train_loss,val_acc\n0,1.0,0.1\n1,0.9,0.2\n2,0.8")


def test_skip_to_end_reads_only_what_is_appended(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("epoch,loss,val_acc\n" + "".join(f"{k},1.0,0.5\n" for k in range(5000)) + "5000,0.")
    t = MetricsTail(p)
    t.skip_to_end()
    assert t.read() == [] and t.header == ["step", "train_loss", "test_acc"]
    with open(p, "a") as f:
        f.write("9,0.6\n5001,0.8,0.7\n")
    assert [r["step"] for r in t.read()] == [5000, 5001]


def test_final_read_takes_a_last_line_without_its_newline(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,train_loss\n0,1.0\n1,0.5")
    t = MetricsTail(p)
    assert [r["step"] for r in t.read()] == [0]
    assert [r["step"] for r in t.read(final=True)] == [1]
    assert t.read(final=True) == []


def test_headers_with_a_bom_or_quotes_read_like_plain_ones():
    assert split_header('\ufeffstep,train_loss\r\n') == ["step", "train_loss"]
    assert split_header('"","epoch","val_acc"') == ["", "epoch", "val_acc"]
    assert canonical_columns(split_header('"epoch","val_acc"')) == ["step", "test_acc"]


def test_a_quoted_line_is_shown_escaped_and_short():
    assert shown_line(b"1,\x1b[31mred\x00\xff,3\n") == "1,\\x1b[31mred\\x00\\xff,3"
    assert len(shown_line("x" * 500)) == 80
