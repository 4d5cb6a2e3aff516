"""`from grokwatch import log` outside and inside grokwatch: a run directory of its own under
./grokwatch-logs/, the worker channel, value handling, threads, and `grokwatch detect` over
logs written without grokwatch."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, cli_env, grokwatch, read_json


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _python(path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = cli_env()
    for key in ("GROKWATCH_CLIENT_CHANNEL", "GROKWATCH_RUN_ID", "GROKWATCH_STDOUT_PREFIX"):
        env.pop(key, None)
    return subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_outside_grokwatch_writes_its_own_run_dir(tmp_path):
    script = _script(tmp_path, "my_train.py", """
        import grokwatch.client
        from grokwatch import log
        grokwatch.client.init(params={"lr": 0.1}, total_steps=40)
        for step in range(0, 50, 10):
            log(step=step, train_loss=1.0 / (step + 1), val_acc=step / 50)
            log(step=step, weight_norm=step * 2)   # same step: the same row
        log(step=45, train_loss="oops")            # rejected alone
        """)
    proc = _python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    dirs = list((tmp_path / "grokwatch-logs").iterdir())
    assert len(dirs) == 1 and dirs[0].name.startswith("my_train-")
    d = dirs[0]
    assert proc.stderr.count("not started by grokwatch") == 1  # said once
    assert f"grokwatch view grokwatch-logs/{d.name}" in proc.stderr
    assert "rejected train_loss='oops'" in proc.stderr
    rows = _rows(d / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30, 40, 45]
    assert float(rows[1]["test_acc"]) == pytest.approx(0.2)  # val_acc -> test_acc
    assert float(rows[1]["test_error"]) == pytest.approx(0.8)
    assert float(rows[1]["weight_norm"]) == 20.0
    assert rows[0]["time_s"] != ""
    config = read_json(d / "config.json")
    assert config["kind"] == "script" and config["params"] == {"lr": 0.1}
    assert config["total_steps"] == 40 and config["run_id"] == d.name
    status = read_json(d / "status.json")
    assert status["state"] == "done" and status["step"] == 45 and status["total_steps"] == 40


def test_outside_grokwatch_crash_keeps_rows_and_says_failed(tmp_path):
    script = _script(tmp_path, "crashy.py", """
        from grokwatch import log
        for step in range(3):
            log(step=step, train_loss=1.0)
        raise ValueError("bad batch")
        """)
    proc = _python(script, tmp_path)
    assert proc.returncode == 1
    (d,) = list((tmp_path / "grokwatch-logs").iterdir())
    assert [r["step"] for r in _rows(d / "metrics.csv")] == ["0", "1", "2"]
    status = read_json(d / "status.json")
    assert status["state"] == "failed" and "ValueError: bad batch" in status["error"]


def test_channel_records_arrive_within_a_second(tmp_path, monkeypatch):
    from grokwatch.client import Run

    fifo = tmp_path / "channel"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    monkeypatch.setenv("GROKWATCH_CLIENT_CHANNEL", f"fifo:{fifo}")

    class Scalar:  # a one-element tensor or a numpy scalar
        def item(self):
            return 0.25

    run = Run()
    try:
        run.log(step=1, train_loss=Scalar(), test_loss=float("nan"), flag=True, name="x")
        data = b""
        deadline = time.monotonic() + 1.5
        while b"\n" not in data and time.monotonic() < deadline:
            try:
                data += os.read(reader, 65536)
            except BlockingIOError:
                time.sleep(0.02)
        assert b"\n" in data, "nothing arrived within 1.5 s"
        record = json.loads(data.decode().splitlines()[0])
        assert record["step"] == 1 and record["train_loss"] == 0.25 and record["flag"] == 1.0
        assert record["test_loss"] != record["test_loss"]  # NaN travels
        assert record["name"] == "x"  # the worker rejects it, with a warning in worker.log
        run.log(step=2, train_loss=0.1)
        run.close()
        time.sleep(0.05)
        rest = os.read(reader, 65536)
        assert json.loads(rest.decode().splitlines()[-1]) == {"step": 2, "train_loss": 0.1}
    finally:
        run.close()
        os.close(reader)


def test_log_is_thread_safe(tmp_path):
    from grokwatch.client import Run

    run = Run(name="threads", dir=tmp_path)
    n_threads, per_thread = 4, 2000

    def work(i: int) -> None:
        for _ in range(per_thread):
            run.log(x=float(i))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.close()
    (d,) = list(tmp_path.iterdir())
    rows = _rows(d / "metrics.csv")
    assert len(rows) == n_threads * per_thread  # step=None: every record a row of its own
    assert [int(r["step"]) for r in rows] == list(range(n_threads * per_thread))


def test_to_number():
    from grokwatch.client import NOT_A_NUMBER, to_number

    assert to_number(3) == 3.0 and to_number(True) == 1.0 and to_number(" 0.5 ") == 0.5
    assert to_number(None) is None and to_number("") is None
    assert to_number("adam") is NOT_A_NUMBER and to_number([1, 2]) is NOT_A_NUMBER
    assert to_number(float("inf")) == float("inf")


def _has_detect() -> bool:
    try:
        from grokwatch.detect import main_detect  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_detect(), reason="grokwatch.detect.main_detect is not there yet")
def test_detect_on_a_csv_from_a_script_that_never_heard_of_grokwatch(tmp_path):
    proc = _python(REPO / "examples" / "plain_csv_logger.py", tmp_path, "--out", "log.csv")
    assert proc.returncode == 0, proc.stderr
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,val_loss,time"
    rows = _rows(tmp_path / "log.csv")
    val = [float(r["val_loss"]) for r in rows]
    best = val.index(min(val))
    assert 0 < best < len(val) // 4 and val[-1] > 1.3 * val[best]  # it does overfit
    assert float(rows[-1]["train_loss"]) < float(rows[best]["train_loss"])
    out = grokwatch("detect", "log.csv", cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    js = grokwatch("detect", "--json", "log.csv", cwd=tmp_path, timeout=60)
    assert js.returncode == 0, js.stderr
    events = [json.loads(line) for line in js.stdout.splitlines() if line.strip()]
    # which alerts fire is the detectors' business (tested there); they ran over the file
    lines = out.stdout.splitlines()
    assert len(events) == len(lines) or (not events and lines == ["log: no events in 301 rows read"])
    assert all(e["run_id"] == "log" and "kind" in e and "step" in e for e in events)


@pytest.mark.skipif(not _has_detect(), reason="grokwatch.detect.main_detect is not there yet")
def test_detect_on_the_clients_own_run_dir(tmp_path):
    script = _script(tmp_path, "grok.py", """
        from grokwatch import log
        for step in range(0, 2000, 20):
            test_acc = 0.02 if step < 1000 else 0.99
            log(step=step, train_loss=0.01, train_acc=1.0, test_loss=5.0 if step < 1000 else 0.1,
                test_acc=test_acc)
        """)
    assert _python(script, tmp_path).returncode == 0
    (d,) = list((tmp_path / "grokwatch-logs").iterdir())
    out = grokwatch("detect", str(d), cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "generalization_jump" in out.stdout


def _has_view() -> bool:
    try:
        from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_view(), reason="grokwatch view (the TUI) is not there yet")
async def test_view_opens_a_foreign_csv_and_the_clients_run_dir(tmp_path):
    """`grokwatch view` over what scripts wrote without grokwatch: a plain CSV and the
    client's ./grokwatch-logs/ run directory, side by side, launching nothing."""
    from grokwatch.tui.app import GrokwatchApp, view_context
    from grokwatch.tui.screens.dashboard import DashboardScreen

    assert _python(REPO / "examples" / "plain_csv_logger.py", tmp_path, "--out", "fourier.csv",
                   "--epochs", "60").returncode == 0
    script = _script(tmp_path, "steps.py", """
        from grokwatch import log
        for step in range(0, 500, 10):
            log(step=step, train_loss=1 / (step + 1), test_acc=min(1.0, step / 400))
        """)
    assert _python(script, tmp_path).returncode == 0
    (run_dir,) = list((tmp_path / "grokwatch-logs").iterdir())
    ctx = view_context([tmp_path / "fourier.csv", run_dir])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            screen = app.screen
            if isinstance(screen, DashboardScreen) and screen.poller.loading_count() == 0 \
                    and {"fourier", run_dir.name} <= set(screen.store.runs) \
                    and all(r.latest for r in screen.store.runs.values()):
                break
            await pilot.pause(0.1)
        runs = app.screen.store.runs
        assert runs["fourier"].latest["step"] == 60  # epoch -> step
        assert "test_loss" in runs["fourier"].latest  # val_loss -> test_loss
        assert runs[run_dir.name].latest["step"] == 490
        assert runs[run_dir.name].latest["test_error"] == 0.0  # from test_acc, capped at 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / ".grokwatch").exists()


# --- the speed-motivated copies write what the plain paths write (bench/client.py keeps them)


def test_log_and_run_log_write_identical_bytes(tmp_path, monkeypatch):
    """Module-level `log()` and `Run.log` share one implementation; the bytes prove it."""
    import grokwatch.client as client

    monkeypatch.delenv("GROKWATCH_CLIENT_CHANNEL", raising=False)

    class Scalar:
        def item(self):
            return 0.125

    def feed(log) -> None:
        for step in range(0, 30, 3):
            log(step=step, train_loss=1.0 / (step + 1), val_acc=step / 30, time_s=step * 0.5)
            log(step=step, weight_norm=Scalar(), time_s=step * 0.5)
        log(step=31, train_loss="oops", lr=3, time_s=16.0)
        log(train_loss=float("nan"), time_s=17.0)  # step None: the next one

    client.finish()
    client.init(name="module", dir=tmp_path / "a")
    feed(client.log)
    client.finish()
    with client.Run(name="run", dir=tmp_path / "b") as run:
        feed(run.log)
    (a,) = list((tmp_path / "a").iterdir())
    (b,) = list((tmp_path / "b").iterdir())
    data = (a / "metrics.csv").read_bytes()
    assert data == (b / "metrics.csv").read_bytes()
    assert data.count(b"\n") == 13  # header + 10 steps + step 31 + step 32


def test_number_rows_writer_writes_what_metrics_writer_writes(tmp_path):
    """The client's batched writer and `runs.MetricsWriter` give the same file, byte for byte:
    new columns mid-file (the header widens), missing values, ints, NaN and infinities,
    a step that goes backwards."""
    from grokwatch.local_run import NumberRowsWriter
    from grokwatch.runs import MetricsWriter

    rows = [{"step": 0, "train_loss": 2.5, "time_s": 0.0},
            {"step": 1, "train_loss": 1e-17, "test_acc": 0.1, "time_s": 0.25},
            {"step": 2, "test_acc": float("nan"), "lr": 3, "time_s": 0.5},
            {"step": 2, "train_loss": 9.0},  # not after the last step: refused by both
            {"step": 5, "train_loss": float("inf"), "grad_norm": float("-inf"), "time_s": 1e16},
            {"step": 7, "lr": -0.0, "test_acc": 1.0, "time_s": 123456.789}]
    fast, plain = NumberRowsWriter(tmp_path / "fast.csv"), MetricsWriter(tmp_path / "plain.csv")
    for row in rows:
        assert fast.write(dict(row)) == plain.write(dict(row))
    fast.close()
    plain.close()
    data = (tmp_path / "fast.csv").read_bytes()
    assert data == (tmp_path / "plain.csv").read_bytes()
    assert b"nan" in data and b"-inf" in data and data.count(b"\n") == 6


def test_add_batch_fast_path_emits_what_add_emits():
    """RowMerger.add_batch (the client's batches) and one `add` per record: the same rows
    and the same counted problems."""
    from grokwatch.client import _coerce_for_log
    from grokwatch.merge import RowMerger

    records = [(0, {"train_loss": 1.0, "val_acc": 0.5}, 10.0),
               (0, {"weight_norm": 3}, 10.1),  # same step: one row
               (None, {"train_loss": 0.9}, 10.2),  # the next step
               (4, _coerce_for_log({"train_loss": "x", "test_loss": 2.0}), 10.3),  # goes slow
               (1, {"train_loss": 0.8}, 10.4),  # step 1 was written: dropped, counted
               (6, {"train_loss": 0.7, "time_s": 99.0}, 10.5),
               (7, {"valid/acc": 0.75}, 10.6)]
    fast: list = []
    slow: list = []
    warnings: list = []
    def stamp(arrived: float) -> float:
        return round(arrived - 10.0, 3)

    m_fast = RowMerger(lambda s, v: fast.append((s, v)), warn=warnings.append, stamp=stamp)
    m_fast.add_batch(records)
    m_fast.flush()
    m_slow = RowMerger(lambda s, v: slow.append((s, v)), warn=warnings.append, stamp=stamp)
    for step, metrics, t in records:
        m_slow.add({"step": step, **metrics}, now=t)
    m_slow.flush()
    # the same rows; an int value stays an int on the fast path (written "3", not "3.0")
    assert fast == slow
    assert [s for s, _ in fast] == [0, 1, 4, 6, 7]
    assert fast[0][1] == {"train_loss": 1.0, "test_acc": 0.5, "time_s": 0.0, "weight_norm": 3}
    assert fast[3][1]["time_s"] == 99.0 and fast[1][1]["time_s"] == 0.2
    assert m_fast.counts == m_slow.counts == {"rejected": 1, "backwards": 1}


def test_import_grokwatch_client_leaves_the_run_directory_code_alone():
    """A script run under grokwatch only needs the channel: `grokwatch.runs` and the local
    run directory's module are loaded by the first log() that finds no channel."""
    code = ("import sys, grokwatch.client\n"
            "print(sorted(m for m in sys.modules if m.startswith('grokwatch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=cli_env(), cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['grokwatch', 'grokwatch.client', 'grokwatch.merge']"


def test_local_run_errors_follow_complete_row(tmp_path):
    """The client's own run directory derives error from accuracy inline (bench/client.py);
    it gives what `columns.complete_row`, the one rule, gives."""
    from grokwatch.columns import complete_row
    from grokwatch.local_run import LocalSink

    sink = LocalSink("errors", None, None, tmp_path, t0=0.0)
    sink.open()
    rows = [{"train_acc": 0.25, "test_acc": 1.0}, {"train_acc": 1 + 1e-10, "test_acc": float("nan")},
            {"test_acc": 0.5, "test_error": 0.4}, {"train_loss": 1.0}, {"train_acc": 0, "test_acc": -1}]
    for step, row in enumerate(rows):
        ours = dict(row)
        sink._emit(step, ours)
        theirs = complete_row(dict(row))
        theirs["step"] = step
        assert repr(ours) == repr(theirs)  # repr: NaN equals NaN, 0 and 0.0 differ
    sink.close()


PERCENT_SCRIPT = """
from grokwatch import log
for step in range(0, 100, 10):   # accuracy in percent; the first value alone could be a fraction
    log(step=step, train_loss=1.0, train_acc=min(100.0, 1.0 + step), val_acc=0.5 + step / 10)
"""


def test_local_run_and_command_run_agree_on_percent(tmp_path):
    """The percent rule, kept by the client's own run directory and by a command run's worker:
    the same script gives the same metrics.csv values either way, in fractions, errors never
    negative (and no false alert from a 100 read as 1)."""
    from conftest import grokwatch

    script = _script(tmp_path, "pct.py", PERCENT_SCRIPT)
    alone = _python(script, tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert "accuracy is in percent (train_acc = 11 at step 10)" in alone.stderr
    (d,) = list((tmp_path / "grokwatch-logs").iterdir())
    (tmp_path / "e.toml").write_text('[grokwatch]\ndevices = "cpu"\n[[experiment]]\nname = "pct"\n'
                                     'kind = "command"\ncommand = ["python", "pct.py"]\n')
    proc = grokwatch("--headless", "--config", "e.toml", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [r for r in (tmp_path / "runs").iterdir() if (r / "metrics.csv").is_file()]
    cols = ("train_acc", "test_acc", "train_error", "test_error")
    ours = [{c: float(r[c]) for c in cols} | {"step": int(r["step"])} for r in _rows(d / "metrics.csv")]
    worker = [{c: float(r[c]) for c in cols} | {"step": int(r["step"])} for r in _rows(run / "metrics.csv")]
    assert ours == worker
    assert ours[0]["train_acc"] == 0.01 and ours[-1]["train_acc"] == 0.91
    assert all(0.0 <= r[c] <= 1.0 for r in ours for c in cols)
    assert ": no events in 10 rows read" in grokwatch("detect", str(d), cwd=tmp_path).stdout  # no false jump
