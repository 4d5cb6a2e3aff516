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


def test_export_writes_one_name_per_column(tmp_path):
    """`grokwatch export` after the demo: the header had `n_features` (the swept key) and
    `n_features` (the double-descent kind's own metric) twice, which pandas reads as
    `n_features` and `n_features.1`."""
    import csv
    import json

    from grokwatch.export import export_csv

    for n in (20, 200):
        d = tmp_path / "runs" / f"dd-n_features={n}-s0-aaaaaa"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"experiment": "dd", "kind": "double_descent", "seed": 0,
                                                   "sweep": {"n_features": n}}))
        (d / "metrics.csv").write_text(f"step,train_error,test_error,n_features\n1,0.5,0.9,{n}\n")
    out = tmp_path / "all.csv"
    assert export_csv(tmp_path / "runs", None, out) == 2
    rows = list(csv.reader(out.open()))
    assert len(set(rows[0])) == len(rows[0]), rows[0]
    got = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [(r["n_features"], r["n_features_logged"]) for r in got] == [("20", "20"), ("200", "200")]


def test_a_single_seed_that_is_not_one_integer_is_named_as_written(tmp_path):
    """`seed = [0]` (for `seeds = [0]`) said `must be a non-empty list of integers …, not [[0]]`:
    a value the user never wrote, for a key that takes one integer."""
    import pytest

    from grokwatch.config import ConfigError, load_config

    cfg = tmp_path / "experiments.toml"
    for value, said in (("[0]", "not [0] (a list goes in `seeds`)"), ("-1", "not -1"), ('"0"', "not '0'")):
        cfg.write_text(f'[[experiment]]\nname = "g"\nkind = "grokking"\nseed = {value}\n')
        with pytest.raises(ConfigError) as e:
            load_config(cfg, tmp_path)
        assert "key 'seed': must be one integer" in str(e.value) and said in str(e.value), str(e.value)
    cfg.write_text('[[experiment]]\nname = "g"\nkind = "grokking"\nseed = 3\n')
    assert load_config(cfg, tmp_path).experiments[0].seeds == [3]


def test_plain_grokwatch_after_the_demo_views_the_runs_without_an_error_banner(tmp_path):
    """`grokwatch --demo`, quit, then `grokwatch` (as the README says, to re-attach) in a directory
    with runs/ but no experiments.toml: the dashboard's error banner said `experiments.toml has an
    error … no such file`. It is no error: the runs are shown, with a calm note."""
    from grokwatch.tui.data.poller import Poller
    from grokwatch.tui.data.store import RunStore
    from grokwatch.tui.data.supervisor import RunnerSupervisor

    (tmp_path / "runs").mkdir()
    store = RunStore()
    implicit = RunnerSupervisor(tmp_path, tmp_path / "experiments.toml", store, Poller(store, tmp_path),
                                explicit=False)
    got = implicit.attach()
    assert not got.start and implicit.poller.local_config_error is None
    assert got.notice is not None and not got.notice.error and "showing the runs" in got.notice.text
    assert store.runs_dirs == [tmp_path / "runs"]
    # a missing file the user named (--config) is still an error
    named = RunnerSupervisor(tmp_path, tmp_path / "mine.toml", store, Poller(store, tmp_path), explicit=True)
    assert not named.attach().start and "no such file" in (named.poller.local_config_error or "")


def test_stop_of_a_run_that_already_ended_says_so_and_exits_2(tmp_path):
    """`grokwatch stop RUN` on a done run printed `no runner is running here; asked 0 orphaned
    worker(s) to stop` and exited 0, while `retry` of a done run exits 2 with one clear line."""
    import json

    from conftest import grokwatch

    for rid, state in (("g-s0-aaaaaa", "done"), ("g-s1-bbbbbb", "stopped")):
        d = tmp_path / "runs" / rid
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"run_id": rid, "experiment": "g", "kind": "grokking"}))
        (d / "status.json").write_text(json.dumps({"run_id": rid, "state": state, "step": 10}))
    done = grokwatch("stop", "g-s0-aaaaaa", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == (
        "grokwatch: g-s0-aaaaaa is done: it has already ended, nothing to stop"), done.stderr
    stopped = grokwatch("stop", "g-s1-bbbbbb", cwd=tmp_path)
    assert stopped.returncode == 2 and "`grokwatch retry` resumes it" in stopped.stderr
    assert "Traceback" not in done.stderr + stopped.stderr


def test_a_symlink_loop_inside_a_directory_does_not_end_its_scan(tmp_path):
    """`grokwatch detect /tmp` (or view, export) on a directory holding a link that points at
    itself said only `…/loop: Too many levels of symbolic links` and read nothing else."""
    import shutil

    from grokwatch.readers import open_path

    (tmp_path / "sub").mkdir()
    shutil.copy(FIXTURES / "keras" / "training.log", tmp_path / "sub" / "training.log")
    (tmp_path / "loop").symlink_to("loop")
    assert [s.name for s in open_path(tmp_path)] == ["sub/training"]


def test_a_broken_edit_of_a_running_queue_does_not_say_nothing_was_started(tmp_path):
    """Saving a broken experiments.toml while runs go: the dashboard's banner read "runs already
    going keep going … Nothing was started; fix the file and run grokwatch again." The reload's
    paragraph leaves out the start-up's sentence; a start-up error keeps it."""
    import os

    import pytest

    from conftest import grok_exp, tiny_toml
    from grokwatch.config import ConfigError, load_config
    from grokwatch.runner.core import Runner

    cfg = tmp_path / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("g")))
    runner = Runner(cfg, tmp_path, foreground=True)
    runner.start()  # queues the run; no tick, so nothing is launched
    try:
        cfg.write_text(tiny_toml(grok_exp("g")) + "bogus = 1\n")
        os.utime(cfg, (1, 1))
        runner._maybe_reload()
        assert runner.config_error and "bogus" in runner.config_error
        assert "Nothing was started" not in runner.config_error
    finally:
        runner.close()
    with pytest.raises(ConfigError) as e:
        load_config(cfg, tmp_path)
    assert str(e.value).endswith("Nothing was started; fix the file and run grokwatch again.")
    assert e.value.while_running == str(e.value)[: -len(ConfigError.NOTHING_STARTED)]


def test_the_csv_example_says_as_many_steps_as_its_script_logs():
    """`grokwatch --config examples/experiments.toml`: fourier-csv ended `done 300/200` (a
    progress bar past its end) because the example said total_steps = 200 for a 300-epoch script."""
    import re

    from grokwatch.config import expand_runs, load_config

    ex = Path(__file__).parent.parent / "examples"
    runs = expand_runs(load_config(ex / "experiments.toml", ex))
    total = next(r for r in runs if r.experiment == "fourier-csv").params["total_steps"]
    epochs = re.search(r'"--epochs", type=int, default=(\d+)', (ex / "plain_csv_logger.py").read_text())
    assert epochs and int(total) == int(epochs.group(1))


def test_swept_runs_keep_distinct_names_in_a_narrow_table():
    """At 80x24 the run column is 14 cells: every run of a sweep read `ph-wei…-2c4aeb`, seed
    groups `ph-wei…1-s* ×2`, so nobody could tell which row was which. Their values name them."""
    from grokwatch.tui.widgets.runs.table import short_name

    sweep = {"weight_decay": [0.1, 1.0], "train_fraction": [0.3, 0.6]}
    names = set()
    for wd in sweep["weight_decay"]:
        for tf in sweep["train_fraction"]:
            for seed in (0, 1):
                key = f"ph-weight_decay={wd}-train_fraction={tf}-s{seed}-{abs(hash((wd, tf, seed))) % 16**6:06x}"
                got = short_name(key, "ph", {"weight_decay": wd, "train_fraction": tf}, 14)
                assert len(got) <= 14 and f"s{seed}" in got, got
                names.add(got)
    assert len(names) == 8, names
    assert short_name("dd-n_features=100-s0-c01000", "dd", {"n_features": 100}, 14) == "dd 100 s0"
    assert short_name("overfit-poly-degree=10-s* ×3", "overfit-poly", {"degree": 10}, 14) == "over… 10 s* ×3"
    assert short_name("grok-add-s0-aaaaaa", "grok-add", {}, 34) == "grok-add-s0-aaaaaa"  # fits: as it is
