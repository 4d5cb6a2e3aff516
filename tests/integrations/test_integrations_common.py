"""grokwatch.integrations without running a framework: the one-line message when one is
missing, import hygiene, bare-name mapping, and the SummaryWriter (standard library only)."""

from __future__ import annotations

import csv
import importlib.util
import inspect
import json
import subprocess
import sys

import pytest

from conftest import REPO, cli_env


def _python(code: str, cwd=REPO) -> subprocess.CompletedProcess:
    env = cli_env()
    for key in ("GROKWATCH_CLIENT_CHANNEL", "GROKWATCH_RUN_ID", "GROKWATCH_STDOUT_PREFIX"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize("integration, blocked, message", [
    ("keras", ["keras"], "grokwatch.integrations.keras needs keras, which is not installed: "
                         "pip install keras"),
    ("transformers", ["transformers"], "grokwatch.integrations.transformers needs transformers, "
                                       "which is not installed: pip install transformers"),
    ("lightning", ["lightning", "pytorch_lightning"],
     "grokwatch.integrations.lightning needs PyTorch Lightning, which is not installed: "
     "pip install lightning (or pytorch-lightning)"),
])
def test_a_missing_framework_is_one_line_naming_the_pip_package(integration, blocked, message):
    block = "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)  # as if not installed
    proc = _python(f"import sys\n{block}import grokwatch.integrations.{integration}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"ModuleNotFoundError: {message}"
    assert "During handling" not in proc.stderr  # the framework's own error is not chained


def test_imports_stay_light():
    """`import grokwatch` never loads an integration; the package and the SummaryWriter are
    standard library only (no torch, no tensorboard)."""
    proc = _python("import sys, grokwatch\nassert 'grokwatch.integrations' not in sys.modules\n"
                   "import grokwatch.integrations, grokwatch.integrations.tensorboard\n"
                   "heavy = {'torch', 'tensorboard', 'numpy', 'keras', 'transformers', "
                   "'pytorch_lightning', 'lightning', 'textual'}\n"
                   "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_bare_names_of_a_training_step_are_the_train_curve():
    from grokwatch.integrations import train_name

    assert [train_name(n) for n in ("loss", "accuracy", "acc", "error_rate")] == \
        ["train_loss", "train_acc", "train_acc", "train_error"]
    for name in ("val_loss", "val_accuracy", "learning_rate", "grad_norm", "epoch",
                 "sparse_categorical_accuracy", "train_loss"):
        assert train_name(name) == name  # columns maps val_*; the rest is left alone


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_summary_writer_scalars_tags_and_ignored_methods(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GROKWATCH_CLIENT_CHANNEL", raising=False)
    from grokwatch.client import Run
    from grokwatch.integrations.tensorboard import SummaryWriter

    class Scalar:  # a one-element tensor
        def __init__(self, v):
            self.v = v

        def item(self):
            return self.v

    run = Run(name="tb", dir=tmp_path / "logs")
    with SummaryWriter(str(tmp_path / "tb"), run=run) as w:
        assert w.get_logdir() == str(tmp_path / "tb") and (tmp_path / "tb").is_dir()
        w.add_hparams({"lr": 0.1, "opt": {"name": "adamw"}}, {})  # before the first scalar
        for step in (0, 10, 20):
            w.add_scalar("Loss/train", 1.0 / (step + 1), step)
            w.add_scalar("train/loss_smoothed", Scalar(0.5), global_step=Scalar(float(step)))
            w.add_scalars("Accuracy", {"train": step / 20, "val": Scalar(step / 40)}, step)
            w.add_histogram("weights", [1, 2, 3], step)
            w.add_text("note", "hello", step)
        w.add_hparams({"late": 1}, {"hparam/acc": 1.0}, global_step=20)
        w.flush()
    run.close()
    err = capsys.readouterr().err
    assert err.count("SummaryWriter.add_histogram is ignored") == 1
    assert err.count("SummaryWriter.add_text is ignored") == 1
    assert "add_hparams after the first scalars" in err
    (d,) = list((tmp_path / "logs").iterdir())
    rows = {int(r["step"]): r for r in _rows(d / "metrics.csv")}
    assert sorted(rows) == [0, 10, 20]
    assert float(rows[10]["train_loss"]) == pytest.approx(1 / 11)
    assert float(rows[10]["train_acc"]) == 0.5 and float(rows[20]["test_acc"]) == 0.5
    assert float(rows[20]["test_error"]) == 0.5
    assert rows[0]["train_loss_smoothed"] == "0.5" and float(rows[20]["hparam_acc"]) == 1.0
    config = json.loads((d / "config.json").read_text())
    assert config["params"] == {"lr": 0.1, "opt.name": "adamw"}


def test_summary_writer_without_global_steps(tmp_path, monkeypatch):
    """A tag's n-th value is at step n, so the values of one loop iteration share a row."""
    monkeypatch.delenv("GROKWATCH_CLIENT_CHANNEL", raising=False)
    from grokwatch.client import Run
    from grokwatch.integrations.tensorboard import SummaryWriter

    run = Run(name="tb", dir=tmp_path)
    w = SummaryWriter(run=run)
    for i in range(5):
        w.add_scalar("train_loss", 1.0 / (i + 1))
        w.add_scalars("acc", {"test": i / 4})
    w.close()
    run.close()
    (d,) = list(tmp_path.iterdir())
    rows = _rows(d / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3, 4]
    assert [float(r["test_acc"]) for r in rows] == [0, 0.25, 0.5, 0.75, 1.0]
    assert float(rows[1]["train_loss"]) == 0.5


def test_summary_writer_default_log_dir_is_not_created(tmp_path, monkeypatch):
    """TensorBoard's default runs/<time>_<host> would land in a grokwatch project's runs/."""
    from grokwatch.integrations.tensorboard import SummaryWriter

    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="-x")
    assert w.log_dir.startswith("runs") and w.log_dir.endswith("-x")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_summary_writer_takes_torch_summary_writer_calls():
    """Every public method of torch's SummaryWriter is there; the ones that record take the
    same parameters, in the same order, with the same defaults."""
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    from grokwatch.integrations.tensorboard import SummaryWriter

    public = [n for n in dir(TorchWriter) if not n.startswith("_") and callable(getattr(TorchWriter, n))]
    assert public and all(callable(getattr(SummaryWriter, n, None)) for n in public), \
        sorted(n for n in public if not hasattr(SummaryWriter, n))
    for name in ("__init__", "add_scalar", "add_scalars", "add_hparams", "flush", "close", "get_logdir"):
        theirs = list(inspect.signature(getattr(TorchWriter, name)).parameters.values())
        ours = list(inspect.signature(getattr(SummaryWriter, name)).parameters.values())
        assert [(p.name, p.default) for p in ours[:len(theirs)]] == \
            [(p.name, p.default) for p in theirs], name
