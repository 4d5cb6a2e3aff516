"""Defects found by trying grokwatch as a user (the second `qa` pass): each test names what a
user saw, and drives the real command line where the user did."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import grokwatch

FIXTURES = Path(__file__).parent / "fixtures" / "readers"


def test_detect_without_events_says_so_with_the_rows_it_read(tmp_path):
    """`grokwatch detect flat.csv` on a log where nothing happens printed nothing at all: was the
    file read? One line says no events, how many rows were read, and how many could not be."""
    log = tmp_path / "flat.csv"
    log.write_text("step,train_acc,test_acc\n" + "".join(f"{s},0.5,0.5\n" for s in range(1, 41))
                   + "garbled\n")
    p = grokwatch("detect", str(log), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["flat: no events in 40 rows read; 1 row could not be read"]
    # --json stays JSON lines of events only: none is an empty stream, valid for any consumer
    js = grokwatch("detect", "--json", str(log), cwd=tmp_path)
    assert js.returncode == 0 and js.stdout == "", js.stdout
    (tmp_path / "empty.csv").write_text("")
    e = grokwatch("detect", str(tmp_path / "empty.csv"), cwd=tmp_path)
    assert e.returncode == 0 and e.stdout.strip() == "empty: no events in 0 rows read"


def test_detect_says_no_events_for_each_quiet_run_of_another_tools_logs(tmp_path):
    """Other tools' logs (grokwatch.readers) go the same way: a Keras CSVLogger file and a
    Lightning directory that raise nothing get their line; HF's run that generalised its event."""
    for path, want in (("keras/training.log", "training: no events in 8 rows read"),
                       ("lightning/lightning_logs", "version_0: no events in 24 rows read")):
        p = grokwatch("detect", str(FIXTURES / path), cwd=tmp_path)
        assert p.returncode == 0 and p.stdout.splitlines() == [want], (p.stdout, p.stderr)
    hf = grokwatch("detect", str(FIXTURES / "hf" / "output"), cwd=tmp_path)
    assert hf.returncode == 0 and "no events" not in hf.stdout and ": generalized: " in hf.stdout


EMPTY_TOML = '[grokwatch]\ndevices = "cpu"\n'


def test_headless_with_no_experiments_says_how_to_add_one(tmp_path):
    """An experiments.toml with settings but no [[experiment]] table ran "0 run(s) in
    experiments.toml (); slots: …" and exited 0: no word that the file queues nothing."""
    (tmp_path / "experiments.toml").write_text(EMPTY_TOML)
    p = grokwatch("--headless", cwd=tmp_path, timeout=60)
    assert p.returncode == 2 and p.stdout == "", p.stdout
    (line,) = p.stderr.splitlines()
    assert "experiments.toml has no experiments" in line and "[[experiment]]" in line
    assert 'kind = "grokking"' in line and "grokwatch init -o" in line and "Traceback" not in line
    assert not (tmp_path / ".grokwatch").exists() and not (tmp_path / "runs").exists()  # nothing started


def test_the_dashboard_tells_a_file_with_no_experiments_and_starts_no_runner(tmp_path):
    from grokwatch.tui.data.poller import Poller
    from grokwatch.tui.data.store import RunStore
    from grokwatch.tui.data.supervisor import RunnerSupervisor

    cfg = tmp_path / "experiments.toml"
    cfg.write_text(EMPTY_TOML)
    store = RunStore()
    got = RunnerSupervisor(tmp_path, cfg, store, Poller(store, tmp_path)).attach()
    assert not got.start and got.notice is not None and not got.notice.error
    assert "has no experiments" in got.notice.text and "[[experiment]]" in got.notice.text


async def test_the_dashboard_on_a_file_with_no_experiments_shows_the_notice(tmp_path):
    import asyncio
    import time

    from grokwatch.tui.app import GrokwatchApp, attach_context
    from grokwatch.tui.screens.dashboard import DashboardScreen

    cfg = tmp_path / "experiments.toml"
    cfg.write_text(EMPTY_TOML)
    ctx = attach_context(cfg, tmp_path, explicit=False)
    ctx.use_pool = False
    app = GrokwatchApp(ctx, project_dir=tmp_path, config_path=cfg)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        t0 = time.monotonic()
        while not any("has no experiments" in n.message for n in app._notifications):
            assert time.monotonic() - t0 < 10, [n.message for n in app._notifications]
            await pilot.pause(0.05)
        assert isinstance(app.screen, DashboardScreen)
        await asyncio.sleep(0.3)
        assert not (tmp_path / ".grokwatch" / "runner.lock").exists()  # no idle runner started


def _run_dir(runs: Path, rid: str, csv: str, state: str = "done", **info) -> Path:
    d = runs / rid
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"run_id": rid, "experiment": rid.split("-s")[0],
                                               "kind": "command", "seed": 0, **info}))
    (d / "status.json").write_text(json.dumps({"run_id": rid, "state": state, "step": 3}))
    (d / "metrics.csv").write_text(csv)
    return d


def test_status_shows_the_loss_of_a_loss_only_run_marked(tmp_path):
    """`grokwatch status` on a script that logs train_loss and val_loss only: TRAIN_ERR and
    TEST_ERR said `-`, though the dashboard charts its loss. The loss is shown, marked `*` and
    explained under the table; an accuracy-only run shows its error (1 - accuracy)."""
    runs = tmp_path / "runs"
    _run_dir(runs, "lossy-s0-aaaaaa", "step,train_loss,test_loss\n1,2.5,2.6\n3,0.25,1.75\n")
    _run_dir(runs, "accy-s0-bbbbbb", "step,train_acc,test_acc\n1,0.5,0.25\n3,1.0,0.75\n")
    _run_dir(runs, "errs-s0-cccccc", "step,train_error,test_error,train_loss\n3,0.125,0.5,0.01\n")
    p = grokwatch("status", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:] if line[:1] != "*"}
    assert rows["lossy-s0-aaaaaa"][4:6] == ["0.2500*", "1.7500*"], rows
    assert rows["accy-s0-bbbbbb"][4:6] == ["0.0000", "0.2500"], rows
    assert rows["errs-s0-cccccc"][4:6] == ["0.1250", "0.5000"], rows  # an error wins over a loss
    assert p.stdout.splitlines()[-1].startswith("* the loss")
    js = {r["run_id"]: r for r in json.loads(grokwatch("status", "--json", cwd=tmp_path).stdout)}
    assert js["lossy-s0-aaaaaa"]["test_error"] is None and js["lossy-s0-aaaaaa"]["test_loss"] == 1.75
    assert js["accy-s0-bbbbbb"]["test_error"] == 0.25


def test_export_summary_takes_other_tools_logs_as_detect_does(tmp_path):
    """`grokwatch export --summary mlruns/` said "--summary takes run ids; export other tools'
    logs without it", though `detect` and `view` read the same logs. Each run found is a row,
    summarised by the same detectors (detect's jump at step 420 is its first_…_step), beside
    the project's own runs when both are named."""
    import csv

    _run_dir(tmp_path / "runs", "mine-s0-aaaaaa", "step,train_acc,test_acc\n1,0.5,0.25\n3,1.0,0.75\n")
    out = tmp_path / "summary.csv"
    p = grokwatch("export", "--summary", "mine-s0-aaaaaa", str(FIXTURES / "mlflow"), "-o", str(out),
                  cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"grokwatch: wrote 3 row(s) to {out}"
    rows = {r["run_id"]: r for r in csv.DictReader(out.open())}
    assert sorted(rows) == ["grok", "memorise", "mine-s0-aaaaaa"]
    assert rows["grok"]["first_generalization_jump_step"] == "420" and rows["grok"]["memorization_step"] == "100"
    assert rows["memorise"]["phase"] == "memorization" and rows["memorise"]["generalization_step"] == ""
    assert rows["mine-s0-aaaaaa"]["state"] == "done" and rows["mine-s0-aaaaaa"]["final_test_error"] == "0.25"
    detected = grokwatch("detect", str(FIXTURES / "mlflow"), cwd=tmp_path).stdout
    assert "grok step 420: generalization_jump" in detected
    # a path alone, to stdout, with no runs directory at all
    alone = grokwatch("export", "--summary", str(FIXTURES / "keras" / "training.log"), cwd=tmp_path / "runs")
    assert alone.returncode == 0 and alone.stdout.splitlines()[1].startswith("training,"), alone.stderr


@pytest.mark.slow  # ~4 s: matplotlib in a subprocess
def test_plot_with_no_arguments_draws_the_latest_experiment_and_names_the_others(tmp_path):
    """`grokwatch plot` after the demo drew every run of five experiments in one figure (a
    legend of ten curves). With several experiments it draws the latest started, and says which
    the others are and how to pick; with one experiment, just that one."""
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
    import tuifix

    runs = tmp_path / "runs"
    for seed in (0, 1):
        tuifix.write_run(runs, f"old-s{seed}-aaaaa{seed}", experiment="old", kind="grokking", seed=seed)
    new = tuifix.write_run(runs, "new-s0-bbbbbb", experiment="new", kind="grokking")
    status = json.loads((new / "status.json").read_text())
    (new / "status.json").write_text(json.dumps({**status, "started": status["started"] + 60}))
    p = grokwatch("plot", "-o", str(tmp_path / "fig.svg"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    note, wrote = p.stdout.splitlines()
    assert note == ("grokwatch: 2 experiments here; drawing the latest started, new (1 run). The others: "
                    "old (2 runs). Pick one with `grokwatch plot EXPERIMENT`, or runs with `grokwatch plot RUN…`")
    assert wrote == f"grokwatch: wrote {tmp_path / 'fig.svg'} (curve, 1 run)"
    assert "new" in (tmp_path / "fig.svg").read_text() and ">old" not in (tmp_path / "fig.svg").read_text()
    # naming one picks it; a project of one experiment needs no note
    picked = grokwatch("plot", "old", "-o", str(tmp_path / "old.svg"), cwd=tmp_path)
    assert picked.stdout.splitlines() == [f"grokwatch: wrote {tmp_path / 'old.svg'} (curve, 2 runs)"]
    import shutil

    shutil.rmtree(new)
    alone = grokwatch("plot", "-o", str(tmp_path / "alone.svg"), cwd=tmp_path)
    assert alone.stdout.splitlines() == [f"grokwatch: wrote {tmp_path / 'alone.svg'} (curve, 2 runs)"]
    assert "the latest one started" in " ".join(grokwatch("plot", "--help", cwd=tmp_path).stdout.split())


def _freeze(state: Path) -> callable:
    """Make `state` a directory no file can be created in, for whoever runs the tests: chmod
    for a user; for root (which chmod does not stop) `chattr +i`, else a read-only bind mount.
    Returns the undo; skips where none of them works here."""
    import os
    import subprocess

    if os.geteuid() != 0:
        state.chmod(0o555)
        return lambda: state.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(state)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(state)], capture_output=True)
    if (subprocess.run(["mount", "--bind", str(state), str(state)], capture_output=True).returncode == 0
            and subprocess.run(["mount", "-o", "remount,ro,bind", str(state)],
                               capture_output=True).returncode == 0):
        return lambda: subprocess.run(["umount", "-l", str(state)], capture_output=True)
    pytest.skip("running as root without chattr +i or a read-only bind mount: cannot make a "
                "directory unwritable for root here")


def test_a_runner_whose_state_directory_is_read_only_says_so_in_one_line(tmp_path):
    """`.grokwatch/` made read-only (a copied project, an immutable or read-only mount): the
    runner took its lock, queued the runs, then died writing runner.json with a traceback (in
    runner.log, behind the dashboard's "did not start"). Now: one line naming the directory and
    what to do, exit 2, before any run is touched; the runs already logged are as they were."""
    import subprocess

    from conftest import cli_env, grok_exp, tiny_toml

    (tmp_path / "experiments.toml").write_text(tiny_toml(grok_exp("g", seeds=(0, 1))))
    done = _run_dir(tmp_path / "runs", "old-s0-aaaaaa", "step,train_error,test_error\n1,0.5,0.5\n")
    before = {f.name: f.read_bytes() for f in done.iterdir()}
    state = tmp_path / ".grokwatch"
    state.mkdir()
    (state / "runner.lock").write_text("")  # left by an earlier runner: the lock itself can be taken
    undo = _freeze(state)
    try:
        p = grokwatch("--headless", cwd=tmp_path, timeout=60)
        detached = subprocess.run([sys.executable, "-m", "grokwatch.runner", "--config",
                                   str(tmp_path / "experiments.toml"), "--project-dir", str(tmp_path)],
                                  cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    finally:
        undo()
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    (line,) = p.stderr.splitlines()
    assert line.startswith(f"grokwatch: cannot write {state}/ (") and "nothing was started" in line, line
    assert "make the directory writable" in line and "Traceback" not in line
    assert detached.returncode == 2 and "Traceback" not in detached.stdout + detached.stderr
    (logged,) = detached.stdout.splitlines()
    assert logged.endswith(line[len("grokwatch: "):]) and " ERROR " in logged
    assert sorted(d.name for d in (tmp_path / "runs").iterdir()) == ["old-s0-aaaaaa"]  # none queued
    assert {f.name: f.read_bytes() for f in done.iterdir()} == before
    assert not (state / "runner.json").exists()


@pytest.mark.parametrize("with_log", [False, True])
def test_the_dashboard_says_why_a_runner_cannot_start_in_a_read_only_state_directory(tmp_path, with_log,
                                                                                    monkeypatch):
    """The dashboard's start of a runner there said only "the runner did not start; see
    runner.log" (or failed opening runner.log): the banner now says the line itself."""
    from conftest import cli_env, grok_exp, tiny_toml

    monkeypatch.setenv("PYTHONPATH", cli_env()["PYTHONPATH"])  # the runner it starts is this tree's
    from grokwatch.tui.data.poller import Poller
    from grokwatch.tui.data.store import RunStore
    from grokwatch.tui.data.supervisor import RunnerSupervisor

    cfg = tmp_path / "experiments.toml"
    cfg.write_text(tiny_toml(grok_exp("g")))
    state = tmp_path / ".grokwatch"
    state.mkdir()
    (state / "runner.lock").write_text("")
    if with_log:  # an earlier runner's log: the new runner starts, and says why it stops
        (state / "runner.log").write_text("")
    store = RunStore()
    sup = RunnerSupervisor(tmp_path, cfg, store, Poller(store, tmp_path))
    undo = _freeze(state)
    try:
        notice = sup.start()
    finally:
        undo()
    assert notice is not None and notice.error and notice.banner, notice
    assert f"cannot write {state}/" in notice.text and "make the directory writable" in notice.text
    assert not (tmp_path / "runs").exists()


async def test_the_command_palette_has_one_entry_per_title(tmp_path):
    """ctrl+p on the dashboard listed "Keys" twice (Textual's help panel and grokwatch's help
    screen, both "Keys"). One entry for the keys, every title once."""
    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
    import tuifix

    from grokwatch.tui.app import GrokwatchApp, view_context
    from grokwatch.tui.screens.dashboard import DashboardScreen

    tuifix.make_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        keys = [c for c in app.get_system_commands(app.screen) if "key" in c.title.lower()]
        assert [c.title for c in keys] == ["Help: every key"] and keys[0].help.endswith("(?)")


@pytest.mark.parametrize("size", [(130, 36), (90, 30), (84, 34)])
def test_the_progress_views_marker_labels_never_overwrite_each_other(tmp_path, size):
    """P on a grokked run: the small test-accuracy chart read `mem··~grgrok`: the ⚡grok label
    drawn over ~grok? (labels were stepped down by 8% of the axis, less than one text row in a
    five-row chart). Each label is now placed by the cells it covers, a row down where needed."""
    import re

    sys.path.insert(0, str(Path(__file__).parent / "tui"))
    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
    from test_tui_progress import REAL, _run, plain, progress_project

    from grokwatch.tui import progress_view
    from grokwatch.tui.charts import _narrow, chart_markers

    run = _run(progress_project(tmp_path) / REAL / "metrics.csv")
    progress_view.forget(str(run.csv))
    out = progress_view.progress_chart(run, None, *size, color=False)
    labels = [_narrow(m.label) for m in chart_markers(run)]
    assert labels == ["mem", "~grok?", "grok", "✓gen"]
    first = plain(out).splitlines()[:size[1] // 4]  # the top panel: test accuracy, with the labels
    text = "\n".join(line[: size[0] // 2] for line in first)
    words = re.findall(r"[~✓]?[a-z]+\??", text)
    for label in labels:
        assert words.count(label) == 1, (label, text)


def test_a_directory_of_one_unreadable_file_says_1_file(tmp_path):
    """`grokwatch detect logs/` said "… can read in 1 files under it"."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "notes.txt").write_text("nothing here\n")
    one = grokwatch("detect", str(tmp_path / "logs"), cwd=tmp_path)
    assert one.returncode == 2 and " in 1 file under it" in one.stderr, one.stderr
    (tmp_path / "logs" / "more.txt").write_text("nor here\n")
    two = grokwatch("detect", str(tmp_path / "logs"), cwd=tmp_path)
    assert " in 2 files under it" in two.stderr, two.stderr
