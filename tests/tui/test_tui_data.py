"""The dashboard's data layer: bounded summaries that keep every spike, a tolerant fast tail."""

from __future__ import annotations

import os

import numpy as np

from grokwatch.tui.charts import ema
from grokwatch.tui.data.csvtail import CsvTail, peek_tail, sample_blocks
from grokwatch.tui.data.summary import LIN_BINS, METRICS, Summary


def _vals(n, v=0.5):
    return np.full((n, len(METRICS)), v)


def test_summary_is_bounded_and_keeps_spikes():
    s = Summary()
    n = 300_000
    steps = np.arange(n, dtype=float)
    vals = _vals(n)
    vals[123_457, 1] = 9.0  # one spike in test_error among 300k rows
    s.feed(steps[:50_000], vals[:50_000])
    size0 = s.nbytes
    for k in range(50_000, n, 50_000):
        s.feed(steps[k:k + 50_000], vals[k:k + 50_000])
    assert s.nbytes == size0  # fixed memory
    assert s.rows == n and s.lin_width >= n / LIN_BINS
    for log in (False, True):
        r = s.reduce("test_error", log, 100, *s.x_extent(log))
        assert len(r) <= 100
        assert r.hi.max() == 9.0 and r.lo.min() == 0.5  # the spike survives any reduction
    assert s.best_max[1] == 9.0 and s.has("test_error")


def test_summary_handles_missing_and_unsorted_values():
    s = Summary()
    vals = _vals(4)
    vals[:, 0] = [np.nan, 0.2, np.inf, 0.1]
    s.feed(np.array([30.0, 10.0, 20.0, 0.0]), vals)
    r = s.reduce("train_error", False, 10, 0, 30)
    assert np.isclose(r.lo.min(), 0.1) and np.isclose(r.hi.max(), 0.2)
    assert s.rows == 4 and s.last_step == 30


def test_a_small_summary_keeps_its_rows_and_draws_the_same_picture(monkeypatch):
    import grokwatch.tui.data.summary as summary

    rng = np.random.default_rng(1)
    n = summary.RAW_ROWS - 96
    steps = rng.permutation(np.arange(n) * 7.0)
    vals = rng.random((n, len(METRICS)))
    vals[rng.random((n, len(METRICS))) < 0.2] = np.nan
    small = Summary()
    for k in range(0, n, 500):
        small.feed(steps[k:k + 500], vals[k:k + 500])
    monkeypatch.setattr(summary, "RAW_ROWS", 0)  # the same rows, binned as they arrive
    binned = Summary()
    for k in range(0, n, 500):
        binned.feed(steps[k:k + 500], vals[k:k + 500])
    assert small.nbytes < 250_000 < 400_000 < binned.nbytes  # rows, not half a megabyte of bins
    for log in (False, True):
        for m in METRICS:
            a = small.reduce(m, log, 90, *small.x_extent(log))
            b = binned.reduce(m, log, 90, *binned.x_extent(log))
            assert np.allclose(a.x, b.x) and np.array_equal(a.lo, b.lo) and np.array_equal(a.hi, b.hi)
            assert np.allclose(a.mean, b.mean)
    small.feed(np.array([1e6]), np.zeros((1, len(METRICS))))  # past RAW_ROWS: bins from now on
    assert small.nbytes == binned.nbytes and small.rows == n + 1


def test_summary_pickles_for_the_pool():
    import pickle

    s = Summary()
    s.feed(np.arange(10.0), _vals(10))
    t = pickle.loads(pickle.dumps(s))
    assert t.rows == 10 and t.lock is not None


def test_ema_is_debiased():
    y = np.full(5, 0.3)
    assert np.allclose(ema(y), 0.3)


def test_csvtail_tolerates_partial_empty_and_bad_lines(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("epoch,train_loss,val_loss,val_acc\n0,1.0,,0.1\n1,0.9,1.1,0.2\n2,0.8")
    t = CsvTail(p)
    b = t.read()
    assert b.steps.tolist() == [0, 1]
    i = METRICS.index("test_error")
    assert np.allclose(b.vals[:, i], [0.9, 0.8])  # error from val_acc
    assert np.isnan(b.vals[0, METRICS.index("test_loss")])
    with open(p, "a") as f:
        f.write(",1.2,0.3\nnot,a,row\n3,0.7,1.3,0.4\n")
    b = t.read()
    assert b.steps.tolist() == [2, 3] and t.bad_lines == 1
    assert b.last["step"] == 3


def test_csvtail_rereads_a_replaced_file(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,train_error\n0,0.5\n1,0.4\n")
    t = CsvTail(p)
    assert len(t.read()) == 2
    tmp = tmp_path / "m.tmp"
    tmp.write_text("step,train_error,lr\n0,0.5,0.1\n1,0.4,0.1\n2,0.3,0.1\n")
    os.replace(tmp, p)
    b = t.read()
    assert t.replaced and len(b) == 3 and b.last["lr"] == 0.1


def test_peek_and_sample_read_only_parts(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,time_s,train_error,test_error\n" +
                 "".join(f"{k},{k * 0.1:.1f},0.5,0.6\n" for k in range(20000)))
    assert peek_tail(p).last["step"] == 19999
    b = sample_blocks(p, nblocks=8, block=1024)
    assert 0 < len(b) < 2000 and b.steps.max() > 15000


def test_a_chart_is_rebuilt_only_when_its_picture_changes(tmp_path):
    from grokwatch.tui.charts import ChartCache, run_chart
    from grokwatch.tui.data.store import RunData
    from grokwatch.tui.view import View

    run = RunData("r", tmp_path / "metrics.csv", tmp_path)
    n = 100_000
    steps = np.arange(1, n + 1, dtype=float) * 5 + 7
    vals = _vals(n, 0.5)
    vals[:, 1] = np.linspace(0.9, 0.1, n)  # test error falls
    run.summary.feed(steps, vals)
    cache = ChartCache()
    view = View().with_(logx=False)
    first = run_chart(run, view, 120, 30, cache=cache)
    assert cache.hits == 0 and first.ansi
    # a few rows inside the last column's range: the same picture, no plotext build
    more = _vals(10, 0.5)
    more[:, 1] = 0.1003
    run.summary.feed(steps[-1] + np.arange(1, 11) * 5.0, more)
    assert run_chart(run, view, 120, 30, cache=cache).ansi == first.ansi and cache.hits == 1
    # a spike is news: built again, and it shows
    spike = _vals(1, 0.3)
    spike[0, 1] = 5.0
    run.summary.feed(np.array([steps[-1] + 100.0]), spike)
    again = run_chart(run, view, 120, 30, cache=cache)
    assert cache.hits == 1 and again.ansi != first.ansi
    assert run_chart(run, view.with_(logx=True), 120, 30, cache=cache).ansi != again.ansi  # a new view
    assert run_chart(run, view, 100, 30, cache=cache).ansi != again.ansi  # a new size
