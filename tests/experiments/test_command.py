"""`kind = "command"`: a user's own scripts run through the real `grokwatch --headless`, with
every way of reporting metrics (client channel, stdout JSON lines, a metrics file), crashes,
malformed lines, non-numeric values, new columns mid-run, stop, and config validation."""

from __future__ import annotations

import csv
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import (REPO, events_of, grokwatch, read_json, run_dirs, start_grokwatch, state_of,
                      wait_for)

CLIENT_SCRIPT = """
import sys
import grokwatch.client
from grokwatch import log
grokwatch.client.init(total_steps=50)   # progress and ETA, told by the script itself
print("hello from the client script", flush=True)
for step in range(0, 60, 10):
    metrics = {"train_loss": 1.0 / (step + 1), "test_acc": step / 100}
    if step >= 30:
        metrics["lr"] = 0.1           # a new metric name mid-run
    if step == 10:
        metrics["note"] = "warmup"    # not a number: rejected alone
    log(step=step, **metrics)
print("bye", file=sys.stderr)
"""

STDOUT_SCRIPT = """
import json
print("starting", flush=True)
for step in range(8):
    record = {"step": step, "train_loss": 1.0 / (step + 1), "test_error": 0.9 - 0.1 * step}
    if step >= 5:
        record["grad_norm"] = float(step)   # a new column mid-run
    if step == 3:
        record["optimizer"] = "adam"        # rejected alone
    print("grokwatch:", json.dumps(record), flush=True)
    if step == 2:
        print("grokwatch: {not json at all", flush=True)
        print("grokwatch: [1, 2, 3]", flush=True)
    print(f"plain line {step}", flush=True)
"""

CSV_SCRIPT = """
import csv, sys
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["epoch", "loss_tr", "val_acc", "val_loss", "optimizer"])
    for epoch in range(6):
        w.writerow([epoch, 1.0 / (epoch + 1), epoch / 10, 2.0 / (epoch + 1), "adam"])
        f.flush()
print("csv written")
"""

CRASH_SCRIPT = """
import time
from grokwatch import log
for step in range(3):
    log(step=step, train_loss=1.0 / (step + 1))
time.sleep(0.2)
raise RuntimeError("boom after three steps")
"""


def _write(project: Path, name: str, text: str) -> None:
    (project / name).write_text(textwrap.dedent(text).lstrip())


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _run(project: Path, prefix: str) -> Path:
    found = [d for d in run_dirs(project) if d.name.startswith(prefix + "-")]
    assert len(found) == 1, [d.name for d in run_dirs(project)]
    return found[0]


def _log(run_dir: Path) -> str:
    return (run_dir / "worker.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def queue(tmp_path_factory):
    """One headless invocation running every reporting path and a crash."""
    project = tmp_path_factory.mktemp("cmd")
    scripts = project / "scripts"
    scripts.mkdir()
    for name, text in (("client.py", CLIENT_SCRIPT), ("stdout.py", STDOUT_SCRIPT),
                       ("csvlog.py", CSV_SCRIPT), ("crash.py", CRASH_SCRIPT)):
        _write(scripts, name, text)
    (project / "exp.toml").write_text(textwrap.dedent("""
        [grokwatch]
        devices = "cpu"
        max_parallel = 2

        [[experiment]]
        name = "client"
        kind = "command"
        command = ["python", "client.py", "--lr", "{lr}"]
        cwd = "scripts"
        [experiment.sweep]
        lr = [0.5]

        [[experiment]]
        name = "stdout"
        kind = "command"
        command = ["python", "scripts/stdout.py"]

        [[experiment]]
        name = "csv"
        kind = "command"
        command = ["python", "scripts/csvlog.py", "{run_dir}/own.csv"]
        metrics_file = "{run_dir}/own.csv"
        column_map = { loss_tr = "train_loss" }

        [[experiment]]
        name = "crash"
        kind = "command"
        command = ["python", "crash.py"]
        cwd = "scripts"
        """))
    proc = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=project,
                     timeout=180)
    return project, proc


def test_headless_exit_code_and_states(queue):
    project, proc = queue
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the crash fails the queue
    states = {d.name.split("-")[0]: state_of(d) for d in run_dirs(project)}
    assert states == {"client": "done", "stdout": "done", "csv": "done", "crash": "failed"}, \
        proc.stdout + proc.stderr
    for d in run_dirs(project):
        kinds = [e["kind"] for e in events_of(d)]
        assert kinds[-1] == state_of(d), kinds


def test_client_path(queue):
    project, _ = queue
    d = _run(project, "client")
    rows = _rows(d)
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30, 40, 50]
    # a column that appeared at step 30 widened the file; earlier rows are kept, empty there
    assert "lr" in rows[0] and rows[0]["lr"] == "" and float(rows[-1]["lr"]) == 0.1
    assert float(rows[2]["test_error"]) == pytest.approx(0.8)  # error = 1 - acc
    assert "note" not in rows[0]  # its only value was rejected
    assert float(rows[1]["train_loss"]) == pytest.approx(1 / 11)  # the rest of that record kept
    log = _log(d)
    assert "hello from the client script" in log and "bye" in log
    assert "rejected note='warmup'" in log
    config = read_json(d / "config.json")
    assert config["params"]["lr"] == 0.5 and config["sweep"] == {"lr": 0.5}
    assert config.get("total_steps") is None
    assert read_json(d / "status.json")["total_steps"] == 50  # from the script's init()
    assert "--lr 0.5" in log  # the substituted command line


def test_stdout_path_with_malformed_lines(queue):
    project, _ = queue
    d = _run(project, "stdout")
    rows = _rows(d)
    assert [int(r["step"]) for r in rows] == list(range(8))  # the run went on after bad lines
    assert rows[4]["grad_norm"] == "" and float(rows[6]["grad_norm"]) == 6.0
    assert float(rows[3]["train_loss"]) == pytest.approx(0.25)
    assert "optimizer" not in rows[0]
    log = _log(d)
    assert "starting" in log and "plain line 7" in log  # other output untouched
    assert "grokwatch: {" not in log.replace("grokwatch: {not json", "")  # records are not echoed
    assert "skipped a malformed metric line" in log
    assert "2 malformed metric line(s) skipped" in log
    assert "1 non-numeric value(s) rejected" in log
    assert read_json(d / "status.json")["metric_warnings"] == {"malformed": 2, "rejected": 1}


def test_metrics_file_path(queue):
    project, _ = queue
    d = _run(project, "csv")
    rows = _rows(d)
    assert [int(r["step"]) for r in rows] == list(range(6))  # epoch -> step
    assert float(rows[2]["test_acc"]) == pytest.approx(0.2)  # val_acc -> test_acc
    assert float(rows[2]["test_error"]) == pytest.approx(0.8)
    assert float(rows[2]["test_loss"]) == pytest.approx(2 / 3)  # val_loss -> test_loss
    assert float(rows[2]["train_loss"]) == pytest.approx(1 / 3)  # column_map
    assert "optimizer" not in rows[0]
    assert "csv written" in _log(d)


def test_crash_is_failed_with_rows_and_log_tail(queue):
    project, _ = queue
    d = _run(project, "crash")
    assert [int(r["step"]) for r in _rows(d)] == [0, 1, 2]
    status = read_json(d / "status.json")
    assert status["state"] == "failed" and status["exit_code"] == 1
    assert "exited with status 1" in status["error"]
    assert any("RuntimeError: boom after three steps" in line for line in status["log_tail"])
    assert not any("Traceback" in line and "grokwatch" in line for line in status["log_tail"][-3:])


# ----------------------------------------------------------------------------- stop


SLOW_SCRIPT = """
import json, os, signal, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
step = 0
while True:
    print("grokwatch:", json.dumps({"step": step, "train_loss": 1.0 / (step + 1)}), flush=True)
    step += 1
    time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_stop_forwards_sigterm_and_kills_after_grace(project):
    _write(project, "slow.py", SLOW_SCRIPT)
    (project / "exp.toml").write_text(textwrap.dedent("""
        [grokwatch]
        devices = "cpu"
        max_parallel = 2
        [[experiment]]
        name = "polite"
        kind = "command"
        command = ["python", "slow.py", "polite.pid", "obey"]
        [[experiment]]
        name = "stubborn"
        kind = "command"
        command = ["python", "slow.py", "stubborn.pid", "ignore"]
        stop_grace_s = 1
        """))
    head = start_grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=project)
    try:
        wait_for(lambda: len(run_dirs(project)) == 2 and all(
            len(_rows_or_empty(d)) >= 3 for d in run_dirs(project)), timeout=60, what="rows from both runs")
        pids = [int((project / f"{n}.pid").read_text()) for n in ("polite", "stubborn")]
        stop = grokwatch("stop", cwd=project, timeout=30)
        assert stop.returncode == 0, stop.stderr
        out, err = head.communicate(timeout=60)
    finally:
        if head.poll() is None:
            head.kill()
    assert head.returncode == 1, out + err
    for d in run_dirs(project):
        assert state_of(d) == "stopped", (d.name, _log(d))
        assert "sending SIGTERM to the command" in _log(d)
    assert "killing it" in _log(_run(project, "stubborn"))
    for pid in pids:
        wait_for(lambda: not _alive(pid), timeout=10, what=f"command {pid} gone")


def _rows_or_empty(d: Path) -> list:
    try:
        return _rows(d)
    except OSError:
        return []


# ----------------------------------------------------------------------------- validation


BAD = {
    "missing command": ('', "is required"),
    "command as a string": ('command = "python train.py --lr 3"',
                            'command = ["python", "train.py", "--lr", "3"]'),
    "number in command": ('command = ["python", "train.py", 3]', "item 3 is int"),
    "env not strings": ('command = ["python"]\nenv = { A = 1 }', "table of strings"),
    "unknown placeholder": ('command = ["python", "{lrr}"]\n[experiment.params]\nlr = 1',
                            "did you mean 'lr'"),
    "unused sweep key": ('command = ["python", "train.py"]\n[experiment.sweep]\nlr = [0.1, 0.2]',
                         "never used"),
    "list param": ('command = ["python", "{opt}"]\n[experiment.params]\nopt = [1, 2]',
                   "must be a string, number or boolean"),
    "misspelt key": ('command = ["python"]\ncomand = 1', "did you mean 'command'"),
    "reserved name": ('command = ["python", "{seed}"]\n[experiment.params]\nseed = 3', "seeds = [...]"),
    "total_steps unset": ('command = ["python", "--steps", "{total_steps}"]', "{total_steps} has no value"),
    "bad total_steps": ('command = ["python", "{steps}"]\ntotal_steps = "steps"\n'
                        '[experiment.params]\nsteps = 3', "one placeholder"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_config_errors(case, tmp_path):
    from grokwatch.config import ConfigError, load_config

    body, expected = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(f'[[experiment]]\nname = "mine"\nkind = "command"\n{body}\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, tmp_path)
    message = str(err.value)
    assert expected in message, message
    assert "'mine'" in message and str(path) in message


def test_config_error_exits_2_from_headless(tmp_path):
    (tmp_path / "bad.toml").write_text(
        '[[experiment]]\nname = "mine"\nkind = "command"\ncommand = ["python", "t.py"]\n'
        '[experiment.sweep]\nlr = [1, 2]\n')
    proc = grokwatch("--headless", "--config", "bad.toml", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "key 'lr'" in proc.stderr and "never used" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_valid_command_config_resolves(tmp_path):
    from grokwatch.config import expand_runs, load_config

    path = tmp_path / "ok.toml"
    path.write_text(textwrap.dedent("""
        [[experiment]]
        name = "mine"
        kind = "command"
        seeds = [0, 1]
        command = ["python", "train.py", "--lr", "{lr}", "--steps", "{steps}", "--out", "{run_dir}/x"]
        env = { MY_FLAG = "{lr}" }
        total_steps = "{steps}"
        [experiment.params]
        steps = 100
        [experiment.sweep]
        lr = [0.1, 0.2]
        """))
    runs = expand_runs(load_config(path, tmp_path))
    assert len(runs) == 4 and len({r.run_id for r in runs}) == 4
    from grokwatch.experiments import get_spec

    assert get_spec("command").describe(runs[0].params) == {"total_steps": 100}


# ----------------------------------------------------------------------------- pieces


def test_placeholders_and_literal_braces():
    from grokwatch.experiments.command import placeholders, substitute

    text = 'python -c "print({{1: 2}})" {lr} {"json": 1} {flag}'
    assert placeholders(text) == ["lr", "flag"]
    assert substitute(text, {"lr": 0.001, "flag": True}) == \
        'python -c "print({1: 2})" 0.001 {"json": 1} true'


def test_row_merger_merges_orders_and_rejects():
    from grokwatch.merge import RowMerger

    out: list = []
    warnings: list = []
    m = RowMerger(lambda s, v: out.append((s, v)), warn=warnings.append, settle_s=1.0)
    m.add({"step": 0, "train_loss": 1.0}, source="a", now=0.0)
    m.add({"step": 0, "val_acc": "0.5", "note": "x"}, source="b", now=0.1)
    m.add({"step": 10, "train_loss": 0.5}, source="a", now=0.2)
    m.add({"epoch": 5, "val_acc": 0.6}, source="b", now=0.3)  # out of order, still in time
    m.flush_idle(0.5)
    assert out == []  # still settling (a second source may be late)
    m.flush_idle(1.6)
    assert [s for s, _ in out] == [0, 5]
    assert out[0][1] == {"train_loss": 1.0, "test_acc": 0.5}
    m.add({"step": 3, "train_loss": 9.0}, source="a", now=1.7)  # before the last row: dropped
    m.flush()
    assert [s for s, _ in out] == [0, 5, 10]
    assert m.counts == {"rejected": 1, "backwards": 1}
    assert any("note" in w for w in warnings)


def test_stdlib_only_imports():
    """`import grokwatch.client` and the command kind's spec never import torch or textual."""
    import subprocess

    code = ("import sys, grokwatch, grokwatch.client, grokwatch.experiments.command; "
            "from grokwatch import log; "
            "print(sorted(m for m in ('torch', 'textual', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ----------------------------------------------------------------------------- retry, requeue

SECOND_TIME_LUCKY = """
import json, os, sys, time
marker = sys.argv[1]
first = not os.path.exists(marker)
open(marker, "a").write("x")
start = 0 if first else 100
for step in range(start, start + 5):
    print("grokwatch:", json.dumps({"step": step, "train_loss": 1.0 / (step + 1)}), flush=True)
    time.sleep(0.02)
if first and sys.argv[2] == "fail":
    sys.exit(3)
if first and sys.argv[2] == "wait":
    time.sleep(120)  # until SIGUSR1 (forwarded by the worker) ends it
"""


@pytest.mark.slow  # ~2 s: real workers, twice
def test_retry_restarts_a_failed_command_from_step_0(project):
    _write(project, "lucky.py", SECOND_TIME_LUCKY)
    (project / "experiments.toml").write_text(textwrap.dedent("""
        [grokwatch]
        devices = "cpu"
        [[experiment]]
        name = "lucky"
        kind = "command"
        command = ["python", "lucky.py", "marker", "fail"]
        """))
    first = grokwatch("--headless", cwd=project, timeout=120)
    assert first.returncode == 1, first.stdout + first.stderr
    (d,) = run_dirs(project)
    assert state_of(d) == "failed" and "exited with status 3" in read_json(d / "status.json")["error"]
    assert grokwatch("retry", d.name, cwd=project, timeout=60).returncode == 0
    wait_for(lambda: state_of(d) == "done", timeout=90, what="the retried run to finish")
    assert [int(r["step"]) for r in _rows(d)] == [100, 101, 102, 103, 104]  # a fresh metrics.csv
    assert [int(r["step"]) for r in _rows(d / "attempt-1")] == [0, 1, 2, 3, 4]
    assert read_json(d / "status.json")["attempt"] == 2


@pytest.mark.slow
def test_sigusr1_requeues_and_the_command_starts_again(project):
    _write(project, "lucky.py", SECOND_TIME_LUCKY)
    (project / "experiments.toml").write_text(textwrap.dedent("""
        [grokwatch]
        devices = "cpu"
        [[experiment]]
        name = "req"
        kind = "command"
        command = ["python", "lucky.py", "marker", "wait"]
        stop_grace_s = 5
        """))
    head = start_grokwatch("--headless", cwd=project)
    try:
        wait_for(lambda: len(run_dirs(project)) == 1 and len(_rows_or_empty(run_dirs(project)[0])) == 5,
                 timeout=60, what="the first attempt's rows")
        d = run_dirs(project)[0]
        worker = read_json(d / "status.json")["pid"]
        os.kill(worker, signal.SIGUSR1)  # a cluster's "you will be killed soon"
        out, err = head.communicate(timeout=90)
    finally:
        if head.poll() is None:
            head.kill()
    assert head.returncode == 0, out + err
    assert state_of(d) == "done"
    # the same metrics.csv goes on: the second start's rows follow the first's
    assert [int(r["step"]) for r in _rows(d)] == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert "sending SIGUSR1 to the command" in _log(d)


# ----------------------------------------------------------------------------- the examples


@pytest.mark.slow
def test_the_examples_run_through_grokwatch(project):
    """examples/experiments.toml (shortened): a plain-PyTorch script with the client, a stdout
    reporter and a CSV writer, all to `done` with their metrics in metrics.csv."""
    pytest.importorskip("torch")
    text = (REPO / "examples" / "experiments.toml").read_text()
    assert text.count("steps = 3000") == 1
    text = text.replace("steps = 3000", "steps = 1000").replace(
        'kind = "command"', f'kind = "command"\ncwd = "{REPO / "examples"}"')
    text = text.replace('devices = "auto"', 'devices = "cpu"')
    (project / "examples.toml").write_text(text)
    proc = grokwatch("--headless", "--config", "examples.toml", "--progress-every", "60",
                     cwd=project, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dirs = {d.name.split("-s0-")[0]: d for d in run_dirs(project)}
    assert set(dirs) == {"mlp-grok-lr=0.003", "mlp-grok-lr=0.01", "softmax-stdout", "fourier-csv"}
    fast = _rows(dirs["mlp-grok-lr=0.01"])
    assert int(fast[-1]["step"]) == 1000 and float(fast[-1]["train_error"]) == 0.0
    assert float(fast[0]["test_error"]) > 0.8 and float(fast[-1]["test_error"]) < 0.2  # it grokked
    assert read_json(dirs["mlp-grok-lr=0.01"] / "config.json")["total_steps"] == 1000
    soft = _rows(dirs["softmax-stdout"])
    assert int(soft[-1]["step"]) == 400 and float(soft[-1]["test_acc"]) > 0.5
    four = _rows(dirs["fourier-csv"])
    assert int(four[-1]["step"]) == 300 and "test_loss" in four[0]
