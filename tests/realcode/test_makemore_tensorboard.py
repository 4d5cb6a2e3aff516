"""karpathy/makemore: `makemore.py` logs `Loss/train` and `Loss/test` every 500 steps with
torch's `SummaryWriter(log_dir=args.work_dir)` (and prints the same values). Run under
grokwatch twice, as docs/own-scripts.md offers it:

- unchanged, a `command` experiment whose `metrics_file` is its TensorBoard log directory;
- with the one-import writer: the test changes exactly one line of their file, in its own
  copy, `from torch.utils.tensorboard import SummaryWriter` ->
  `from grokwatch.integrations.tensorboard import SummaryWriter`, and sets no metrics_file.

A reduced configuration: the MLP model, 16/32 channels, 2,501 steps (five evaluations), no
data-loader workers; names.txt is in their repository (no download).
"""

from __future__ import annotations

import re
import textwrap

import pytest

from conftest import grokwatch, run_dirs, state_of
from realcode_helpers import read_csv, snapshot

REPO = "karpathy/makemore"
TORCH_IMPORT = "from torch.utils.tensorboard import SummaryWriter\n"
OUR_IMPORT = "from grokwatch.integrations.tensorboard import SummaryWriter\n"
EVALS = [500, 1000, 1500, 2000, 2500]


def run_makemore(tmp_path, src, metrics_file: str | None):
    mf = f'metrics_file = "{metrics_file}"' if metrics_file else ""
    (tmp_path / "exp.toml").write_text(textwrap.dedent(f"""
        [grokwatch]
        devices = "cpu"

        [[experiment]]
        name = "makemore"
        kind = "command"
        cwd = "{src}"
        command = ["python", "makemore.py", "--type", "mlp", "--n-embd", "16", "--n-embd2", "32",
                   "--max-steps", "2501", "--num-workers", "0", "--work-dir", "{{run_dir}}/tb",
                   "--seed", "{{seed}}"]
        {mf}
        total_steps = 2501
        """))
    p = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=tmp_path,
                  timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    (run,) = run_dirs(tmp_path)
    assert state_of(run) == "done"
    log = (run / "worker.log").read_text()
    printed = {int(m[1]): (float(m[2]), float(m[3])) for m in
               re.finditer(r"^step (\d+) train loss: (\S+) test loss: (\S+)$", log, re.M)}
    assert sorted(printed) == EVALS  # what their script printed: the ground truth
    return run, log, printed


def assert_curves(rows, printed) -> None:
    assert [int(float(r["step"])) for r in rows] == EVALS
    for r in rows:
        train, test = printed[int(float(r["step"]))]
        # TensorBoard keeps float32; their values are float32 means, so exact
        assert float(r["train_loss"]) == pytest.approx(train, rel=1e-7)
        assert float(r["test_loss"]) == pytest.approx(test, rel=1e-7)


@pytest.mark.slow
def test_makemore_unchanged_event_files_as_metrics_file(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    src, _commit = snapshot(tmp_path, REPO)
    run, log, printed = run_makemore(tmp_path, src, "{run_dir}/tb")
    assert "TensorBoard event files" in log
    assert_curves(read_csv(run / "metrics.csv"), printed)

    # the same event files read once, as `view`/`detect`/`export` read them
    out = tmp_path / "export.csv"
    e = grokwatch("export", str(run / "tb"), "-o", str(out), cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    assert_curves(read_csv(out), printed)
    d = grokwatch("detect", str(run / "tb"), cwd=tmp_path)
    assert d.returncode == 0, d.stderr


@pytest.mark.slow
def test_makemore_with_the_one_import_writer(tmp_path):
    src, _commit = snapshot(tmp_path, REPO)
    script = src / "makemore.py"
    text = script.read_text()
    assert text.count(TORCH_IMPORT) == 1
    script.write_text(text.replace(TORCH_IMPORT, OUR_IMPORT))  # the one documented change
    run, _log, printed = run_makemore(tmp_path, src, None)
    assert_curves(read_csv(run / "metrics.csv"), printed)
    assert not list((run / "tb").glob("events.out.tfevents*"))  # grokwatch's writer, not TB's
