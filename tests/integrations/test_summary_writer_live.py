"""The SummaryWriter in a real TensorBoard-logging PyTorch script: the same script with torch's
writer (one import line apart) writes event files, read back with TensorBoard's own reader,
and every scalar is in grokwatch's run with the same step and value. (Under grokwatch:
test_frameworks_under_grokwatch.py.)"""

from __future__ import annotations

import pytest

from conftest import REPO
from example_runs import assert_same_curves, by_step, client_run_dir, csv_rows, needs, run_example

pytestmark = [pytest.mark.slow, needs("torch")]

OURS = "from grokwatch.integrations.tensorboard import SummaryWriter\n"
TORCH = "from torch.utils.tensorboard import SummaryWriter\n"
# (directory under log_dir, tag) as TensorBoard files them -> grokwatch's name
SERIES = {("", "Loss/train"): "train_loss", ("", "Loss/test"): "test_loss",
          ("Accuracy_train", "Accuracy"): "train_acc", ("Accuracy_test", "Accuracy"): "test_acc"}


def _event_scalars(log_dir) -> dict[tuple[str, str], dict[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    dirs = {p.parent for p in log_dir.rglob("events.out.tfevents.*")}
    for d in dirs:
        acc = EventAccumulator(str(d))
        acc.Reload()
        sub = "" if d == log_dir else str(d.relative_to(log_dir))
        for tag in acc.Tags()["scalars"]:
            out[(sub, tag)] = {e.step: e.value for e in acc.Scalars(tag)}
    return out


@needs("tensorboard")
def test_one_import_line_apart_the_same_scalars(tmp_path):
    source = (REPO / "examples" / "tensorboard_writer.py").read_text()
    assert source.count(OURS) == 1
    original = tmp_path / "original.py"
    original.write_text(source.replace(OURS, TORCH))
    assert sum(a != b for a, b in zip(source.splitlines(), original.read_text().splitlines())) == 1
    run_example(original, tmp_path, "--steps", "60", "--log-dir", "tb")
    theirs = _event_scalars(tmp_path / "tb")
    assert not (tmp_path / "grokwatch-logs").exists()

    proc = run_example("tensorboard_writer.py", tmp_path, "--steps", "60")
    ours = by_step(csv_rows(client_run_dir(tmp_path) / "metrics.csv"))
    assert sorted(ours) == list(range(0, 61, 10))
    for key, name in SERIES.items():
        assert sorted(theirs[key]) == sorted(ours), key
        for step, value in theirs[key].items():
            assert ours[step][name] == pytest.approx(value, rel=1e-6), (key, step)  # float32 there
    from grokwatch.readers import read_path

    # grokwatch reading the event files: add_scalars' series are runs of their own there (as in
    # TensorBoard); the root run has the losses
    root = [rows for src, rows in read_path(tmp_path / "tb") if src.name == "tb"]
    assert assert_same_curves(ours, root[0], names=("train_loss", "test_loss")) == 2 * 7
    assert "SummaryWriter.add_histogram is ignored" in proc.stderr
    assert proc.stderr.count("add_histogram") == 1  # said once, though called every step

