"""`grokwatch detect` and `grokwatch view` on each format (the real command line, and the
dashboard through App.run_test), and the one line for what cannot be read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO, cli_env, grokwatch

from grokwatch.readers import read_path
from grokwatch.readers.mirror import open_for_view

FIX = REPO / "tests" / "fixtures" / "readers"
sys.path.insert(0, str(FIX))


def needs(module: str):
    return pytest.importorskip(module, reason=f"{module} not installed (its grokwatch extra)")


def jump_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "generalization_jump" in line]


@pytest.mark.parametrize("fmt, path, runs", [
    ("tensorboard", "tensorboard", 1),
    ("wandb", "wandb", 2),  # both W&B runs log the grokking curve
    (None, "mlflow", 1),
])
def test_detect_finds_the_jump_in_the_grokking_runs_only(fmt, path, runs, tmp_path):
    if fmt:
        needs(fmt)
    p = grokwatch("detect", str(FIX / path), cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    jumps = jump_lines(p.stdout)
    assert len(jumps) == runs and all(" step 420: generalization_jump: " in j for j in jumps)
    assert not any(line.startswith(("memorise ", "logs/memorise ")) for line in p.stdout.splitlines())


def test_detect_json_names_the_run_and_dates_from_the_log(tmp_path):
    needs("tensorboard")
    p = grokwatch("detect", "--json", str(FIX / "tensorboard"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    (ev,) = [e for e in map(json.loads, p.stdout.splitlines()) if e["kind"] == "generalization_jump"]
    assert ev["run_id"] == "logs/grok" and ev["kind"] == "generalization_jump" and ev["step"] == 420
    src, _rows = read_path(FIX / "tensorboard")[0]
    assert abs(ev["time"] - src.started) < 60  # the log's wall time, not now


@pytest.mark.parametrize("path", ["hf/output", "lightning/lightning_logs", "keras/training.log"])
def test_detect_reads_the_stdlib_formats(path, tmp_path):
    p = grokwatch("detect", "--json", str(FIX / path), cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    for line in p.stdout.splitlines():  # tiny real runs: whatever they raise is well formed
        assert json.loads(line)["kind"]


def test_detect_on_binary_junk_is_one_clean_line(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"\x80\x02\x00\x00\xffPK\x03\x04" * 50)
    p = grokwatch("detect", str(f), cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "binary data of no format grokwatch knows" in p.stderr
    assert "PK" not in p.stderr and "Traceback" not in p.stderr


def test_detect_on_a_directory_with_nothing_readable(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "README").write_text("nothing here\n")
    p = grokwatch("detect", str(tmp_path / "logs"), cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "no metrics.csv nor other logs grokwatch can read in 1 file under it" in p.stderr


@pytest.mark.parametrize("module, extra, path", [
    ("tensorboard", "tensorboard", "tensorboard"),
    ("wandb", "wandb", "wandb/my-run"),
])
@pytest.mark.parametrize("command", ["detect", "view"])
def test_a_missing_extra_is_named_in_one_line(module, extra, path, command, tmp_path):
    """The module made unimportable (as where the extra is not installed)."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from grokwatch.cli import main\nsys.exit(main([{command!r}, {str(FIX / path)!r}]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=cli_env(), cwd=tmp_path, timeout=60)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert f'pip install "grokwatch[{extra}]"' in p.stderr and "Traceback" not in p.stderr


def test_view_refuses_an_event_file_without_scalars(tmp_path):
    """Never an empty dashboard: a log that holds nothing (and is not being written) is
    refused before any screen."""
    needs("tensorboard")
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(tmp_path / "run"))
    w.close()
    old = time.time() - 3600
    for f in (tmp_path / "run").iterdir():
        os.utime(f, (old, old))
    from grokwatch.tui import app as tui_app

    assert tui_app.run_view([str(tmp_path / "run")]) == 2


def test_view_of_junk_exits_2_with_one_line(tmp_path, capsys):
    from grokwatch.tui import app as tui_app

    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00" + bytes(100))
    assert tui_app.run_view([str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grokwatch view: ") and err.count("\n") == 1 and "NUMPY" not in err


# ------------------------------------------------------------------ the dashboard itself

def _aged_copy(src, tmp_path):
    """A copy of a fixture log a day old: a fresh checkout's files are minutes old, which the
    dashboard rightly treats as live (still being written)."""
    dst = tmp_path / src.name
    (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    day_ago = time.time() - 86400
    for f in [dst, *(dst.rglob("*") if dst.is_dir() else [])]:
        os.utime(f, (day_ago, day_ago))
    return dst


async def _dashboard(paths, keys, until=None):
    """Open the dashboard over `paths` as `grokwatch view` does; the runs once loaded (and,
    given `until`, once it holds of them or 15 s have passed: the test then asserts)."""
    from grokwatch.tui.app import GrokwatchApp, view_context

    shown, mirror = open_for_view([p.resolve() for p in paths])
    try:
        ctx = view_context(shown)
        ctx.use_pool = False
        app = GrokwatchApp(ctx)
        async with app.run_test(size=(120, 40)) as pilot:
            store = ctx.store
            t0 = time.monotonic()
            while not (set(keys) <= set(store.runs) and all(store.runs[k].loaded for k in keys)):
                assert time.monotonic() - t0 < 15, (list(store.runs), keys)
                await pilot.pause(0.1)
            await pilot.pause(0.3)
            t0 = time.monotonic()
            while until is not None and not until({k: store.runs[k] for k in keys}) \
                    and time.monotonic() - t0 < 15:
                await pilot.pause(0.1)
            return {k: store.runs[k] for k in keys}
    finally:
        mirror.close()


@pytest.mark.parametrize("fmt, path, key, source", [
    ("tensorboard", "tensorboard", "logs-grok", "logs/grok"),
    ("wandb", "wandb", "my-run", "my-run"),
    (None, "mlflow", "grok", "grok"),
])
async def test_view_shows_the_curves_and_the_jump(fmt, path, key, source, tmp_path):
    if fmt:
        needs(fmt)
    old_log = _aged_copy(FIX / path, tmp_path)

    def judged(runs):  # the detectors' pass over the loaded rows can trail the load
        return "generalization_jump" in {a.get("kind") for a in runs[key].alerts}

    runs = await _dashboard([old_log], [key], until=judged)
    run = runs[key]
    want = dict(read_path(FIX / path))  # (source -> rows), by name below
    rows = next(r for s, r in want.items() if s.name == source)
    assert run.summary.rows == len(rows) == 60
    assert run.latest["test_acc"] == pytest.approx(rows[-1]["test_acc"])
    assert run.latest["train_loss"] == pytest.approx(rows[-1]["train_loss"])
    assert run.summary.has("test_error")  # from the accuracy, as for any log
    assert "generalization_jump" in {a.get("kind") for a in run.alerts}
    assert run.state == "file"  # an old log is not live


@pytest.mark.parametrize("path, key", [("hf/output", "output"),
                                       ("lightning/lightning_logs", "version_0"),
                                       ("keras/training.log", "training")])
async def test_view_of_the_stdlib_formats(path, key, tmp_path):
    runs = await _dashboard([_aged_copy(FIX / path, tmp_path)], [key])
    (src, rows), = read_path(FIX / path)
    run = runs[key]
    assert run.summary.has("test_loss") and run.summary.has("test_acc")
    if src.csv is not None:  # the dashboard tails the CSV itself: its last line, as written
        from grokwatch.runs import MetricsTail

        last = MetricsTail(src.csv).read()[-1]
    else:
        last = rows[-1]
        assert run.summary.rows == len(rows)
    for k, v in last.items():
        if k in ("step", "test_loss", "test_acc", "train_loss", "train_acc"):
            assert run.latest[k] == pytest.approx(v), k


async def test_view_tails_a_growing_event_file(tmp_path):
    """Live: bytes of a real event file arrive in two writes, cut inside a record."""
    needs("tensorboard")
    (event,) = (FIX / "tensorboard" / "logs" / "grok").iterdir()
    data = event.read_bytes()
    run_dir = tmp_path / "live"
    run_dir.mkdir()
    target = run_dir / event.name
    target.write_bytes(data[: len(data) // 3 + 5])
    from grokwatch.tui.app import GrokwatchApp, view_context

    shown, mirror = open_for_view([run_dir])
    try:
        mirror.start(interval_s=0.1)
        ctx = view_context(shown)
        ctx.use_pool = False
        app = GrokwatchApp(ctx)
        async with app.run_test(size=(120, 40)) as pilot:
            store = ctx.store
            t0 = time.monotonic()
            while "live" not in store.runs or not store.runs["live"].summary.rows:
                assert time.monotonic() - t0 < 15
                await pilot.pause(0.1)
            run = store.runs["live"]
            first = run.summary.rows
            assert 0 < first < 60 and run.state == "live"
            with open(target, "ab") as f:
                f.write(data[len(data) // 3 + 5:])
            while run.summary.rows < 59:  # every step but the last, each row whole
                assert time.monotonic() - t0 < 20, run.summary.rows
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            assert run.summary.rows == 59 and run.latest["step"] == 590
            old = time.time() - 3600  # the log falls quiet: its last step is shown too
            os.utime(target, (old, old))
            while run.summary.rows < 60:
                assert time.monotonic() - t0 < 25, run.summary.rows
                await pilot.pause(0.1)
            assert run.latest["step"] == 600 and run.latest["test_acc"] == pytest.approx(0.96875)
            assert run.state == "file"
    finally:
        mirror.close()
    assert not mirror.dir.exists()


def _write_events(run_dir, scalars):
    """An event file written with TensorBoard's own writer: scalars = [(step, tag, value)]."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(run_dir))
    for step, tag, value in scalars:
        summ = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        w.add_event(event_pb2.Event(step=step, wall_time=1000.0 + step, summary=summ))
    w.close()


def test_detect_reads_accuracy_in_percent_per_run(tmp_path):
    """The per-file rule on a TensorBoard run that logs percent: said once, errors never
    negative, the jump at the right step with the right values."""
    needs("tensorboard")
    from make_fixtures import STEPS, curve  # noqa: F401 (tests/fixtures/readers is on sys.path)

    scalars = []
    for s in STEPS:
        for tag, v in curve(s, "grok").items():
            scalars.append((s, tag, v * 100 if tag.endswith("acc") else v))
    _write_events(tmp_path / "pct", scalars)
    p = grokwatch("detect", "--json", str(tmp_path / "pct"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "accuracy read as percent" in p.stderr and p.stderr.count("\n") == 1
    (ev,) = [e for e in map(json.loads, p.stdout.splitlines()) if e["kind"] == "generalization_jump"]
    assert ev["step"] == 420 and 0 <= ev["test_error"] <= 1 and ev["test_acc"] < 1
    assert "from 6.2% to 66." in ev["message"]  # 66.25%, rounded either way from float32


def test_export_reads_other_tools_logs(tmp_path):
    needs("tensorboard")
    out = tmp_path / "all.csv"
    p = grokwatch("export", str(FIX / "tensorboard"), str(FIX / "mlflow"), "-o", str(out),
                  cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    import csv as _csv

    with open(out, newline="") as f:
        rows = list(_csv.DictReader(f))
    assert len(rows) == 4 * 60
    assert {r["run_id"] for r in rows} == {"logs/grok", "logs/memorise", "grok", "memorise"}
    last = [r for r in rows if r["run_id"] == "grok"][-1]
    assert float(last["step"]) == 600 and float(last["test_acc"]) == 0.96875
    p = grokwatch("export", "--long", str(FIX / "hf" / "output"), cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("run_id,experiment,kind,seed,step,metric,value\n")
    assert "output,a Hugging Face Trainer state (trainer_state.json),,,30,test_acc,1\n" in p.stdout


def test_export_of_junk_is_one_line(tmp_path):
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)))
    p = grokwatch("export", str(tmp_path / "junk.bin"), cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1
    assert "not a log grokwatch can read" in p.stderr
