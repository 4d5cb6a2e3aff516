"""A `command` experiment whose script logs with another tool's writer, its `metrics_file`
pointing at that log: read as it grows into the run's metrics.csv, with no change to the
script (the real `grokwatch --headless`)."""

from __future__ import annotations

import csv
import textwrap

import pytest

from conftest import REPO, grokwatch, run_dirs, state_of

FIX = REPO / "tests" / "fixtures" / "readers"

TB_SCRIPT = """
import sys, time
sys.path.insert(0, {fix!r})
from make_fixtures import STEPS, curve
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

w = EventFileWriter(sys.argv[1], flush_secs=1)
for i, s in enumerate(STEPS):
    for tag, v in curve(s, "grok").items():
        value = summary_pb2.Summary.Value(tag=tag, simple_value=v)
        w.add_event(event_pb2.Event(step=s, wall_time=time.time(),
                                    summary=summary_pb2.Summary(value=[value])))
    if i % 20 == 19:
        w.flush()
        time.sleep(0.6)  # the worker tails the file between writes
w.close()
"""


TORCH_SCRIPT = """
import sys, time
sys.path.insert(0, {fix!r})
from make_fixtures import STEPS, curve
from torch.utils.tensorboard import SummaryWriter

w = SummaryWriter(log_dir=sys.argv[1], flush_secs=1)
for i, s in enumerate(STEPS):
    for tag, v in curve(s, "grok").items():
        w.add_scalar(tag, v, s)
    if i % 20 == 19:
        time.sleep(1.2)
w.close()
"""

WANDB_SCRIPT = """
import os, sys, time
sys.path.insert(0, {fix!r})
from make_fixtures import STEPS, curve
import wandb

run = wandb.init(project="grok", dir=sys.argv[1], mode="offline", config={{"lr": 0.001}})
for i, s in enumerate(STEPS):
    run.log(curve(s, "grok"), step=s)
    if i % 20 == 19:
        time.sleep(1.0)
run.finish()
"""


def run_script(tmp_path, script: str, log: str, env: str = "") -> tuple[object, list[dict]]:
    """`grokwatch --headless` over one command experiment: (the process, metrics.csv rows)."""
    (tmp_path / "script.py").write_text(script.format(fix=str(FIX)))
    (tmp_path / "exp.toml").write_text(textwrap.dedent(f"""
        [grokwatch]
        devices = "cpu"

        [[experiment]]
        name = "logger"
        kind = "command"
        command = ["python", "script.py", "{{run_dir}}/{log}"]
        metrics_file = "{{run_dir}}/{log}"
        {env}
        """))
    p = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=tmp_path,
                  timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    (run,) = run_dirs(tmp_path)
    assert state_of(run) == "done"
    with open(run / "metrics.csv", newline="") as f:
        return p, run, list(csv.DictReader(f))


def assert_grok_rows(rows) -> None:
    import sys

    sys.path.insert(0, str(FIX))
    from make_fixtures import STEPS, curve

    assert [int(float(r["step"])) for r in rows] == STEPS  # every step, once
    for r in rows:
        want = curve(int(float(r["step"])), "grok")
        assert float(r["test_acc"]) == pytest.approx(want["val/acc"], rel=1e-6)
        assert float(r["train_loss"]) == pytest.approx(want["train/loss"], rel=1e-6)


@pytest.mark.slow
def test_a_tensorboard_logging_script_runs_unchanged(tmp_path):
    """TensorBoard's own writer, flushing in bursts while the worker tails the file."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    p, run, rows = run_script(tmp_path, TB_SCRIPT, "tb")
    assert_grok_rows(rows)
    log = (run / "worker.log").read_text()
    assert "TensorBoard event files" in log and "read as it grows" in log
    assert "generalization_jump" in p.stdout


@pytest.mark.slow
def test_torch_summarywriter_script_live(tmp_path):
    """torch.utils.tensorboard.SummaryWriter (Lightning's default logger writes the same)."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    pytest.importorskip("torch")
    p, run, rows = run_script(tmp_path, TORCH_SCRIPT, "tb")
    assert_grok_rows(rows)
    assert "generalization_jump" in p.stdout


@pytest.mark.slow
def test_wandb_offline_script_live(tmp_path):
    """wandb.init(mode="offline") writing its run under {run_dir}/wandb/offline-run-*/."""
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    p, run, rows = run_script(tmp_path, WANDB_SCRIPT, "wandb",
                              env='env = { WANDB_SILENT = "true", WANDB_MODE = "offline" }')
    assert_grok_rows(rows)
    assert "W&B run log" in (run / "worker.log").read_text()
