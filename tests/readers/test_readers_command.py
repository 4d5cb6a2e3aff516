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


HF_SCRIPT = """
import sys
import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)
x = np.random.default_rng(0).integers(1, 30, size=(64, 6))
y = (x[:, 0] > 15).astype(np.int64)


class Data(torch.utils.data.Dataset):
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def __len__(self):
        return self.hi - self.lo

    def __getitem__(self, i):
        return {{"input_ids": torch.tensor(x[self.lo + i]), "labels": torch.tensor(y[self.lo + i])}}


def accuracy(pred):
    return {{"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}}


cfg = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=8, num_labels=2)
args = TrainingArguments(output_dir=sys.argv[1], max_steps=30, per_device_train_batch_size=8,
                         learning_rate=5e-3, logging_steps=2, eval_strategy="steps", eval_steps=5,
                         save_steps=10, report_to=[], seed=0, use_cpu=True, disable_tqdm=True,
                         save_only_model=True)
Trainer(model=BertForSequenceClassification(cfg), args=args, train_dataset=Data(0, 48),
        eval_dataset=Data(48, 64), compute_metrics=accuracy).train()
"""

LIGHTNING_SCRIPT = """
import sys
import torch
import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

torch.manual_seed(0)
x = torch.randn(64, 4)
y = (x[:, 0] > 0).long()


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def training_step(self, batch, _):
        xb, yb = batch
        loss = torch.nn.functional.cross_entropy(self.net(xb), yb)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _):
        xb, yb = batch
        logits = self.net(xb)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, yb))
        self.log("val_acc", (logits.argmax(-1) == yb).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


ds = torch.utils.data.TensorDataset(x, y)
pl.Trainer(max_epochs=3, logger=CSVLogger(sys.argv[1]), enable_checkpointing=False,
           enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
           accelerator="cpu").fit(Tiny(), torch.utils.data.DataLoader(ds, batch_size=16),
                                  torch.utils.data.DataLoader(ds, batch_size=64))
"""


@pytest.mark.slow
def test_hf_trainer_output_dir_as_metrics_file(tmp_path):
    """metrics_file = the Trainer's output_dir: its newest checkpoint's trainer_state.json."""
    pytest.importorskip("transformers")
    p, run, rows = run_script(tmp_path, HF_SCRIPT, "out")
    import json

    (state,) = (run / "out" / "checkpoint-30").glob("trainer_state.json")
    history = [e for e in json.loads(state.read_text())["log_history"] if "train_runtime" not in e]
    evals = {e["step"]: e for e in history if "eval_loss" in e}
    assert sorted({int(float(r["step"])) for r in rows}) == sorted({e["step"] for e in history})
    for r in rows:
        e = evals.get(int(float(r["step"])))
        if e is not None:
            assert float(r["test_loss"]) == pytest.approx(e["eval_loss"])
            assert float(r["test_acc"]) == pytest.approx(e["eval_accuracy"])
    assert "Hugging Face Trainer state" in (run / "worker.log").read_text()


@pytest.mark.slow
def test_lightning_csvlogger_save_dir_as_metrics_file(tmp_path):
    """metrics_file = the CSVLogger's save_dir: its lightning_logs/version_0/metrics.csv, found
    once Lightning writes it and tailed as the CSV it is (every step of the file, once)."""
    pytest.importorskip("pytorch_lightning")
    p, run, rows = run_script(tmp_path, LIGHTNING_SCRIPT, "logs")
    with open(run / "logs" / "lightning_logs" / "version_0" / "metrics.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == sorted({int(x["step"]) for x in lines})
    val = {int(x["step"]): x for x in lines if x["val_acc"]}
    assert val and all(float(r["test_acc"]) == pytest.approx(float(val[int(float(r["step"]))]["val_acc"]))
                       for r in rows if int(float(r["step"])) in val)
