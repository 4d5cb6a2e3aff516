"""openai/grok (Power et al. 2022) as ported to PyTorch Lightning 2 in
Mabdel-03/9.520-The-Geometry-of-Grok, Replications/01_power_et_al_2022_openai_grok: its
`scripts/train.py` logs with Lightning's `CSVLogger` (rewritten in place with a wider header as
new metrics appear, a train row and a validation row per logged step, one column per parameter
tensor: a header of 1,400 bytes) and its `_accuracy` multiplies by 100.

Their setup.py needs `mod` and `blobfile`, which are not installed here. For `x+y` data their
code uses only `blobfile.join` (a path join) and `isinstance(x, mod.Mod)`; the test puts two
modules of ours on PYTHONPATH for those: `blobfile.join = os.path.join`, and a `mod.Mod` that
refuses to be built (so an operation that would need the real package fails loudly).
"""

from __future__ import annotations

import json
import math
import re
import textwrap

import pytest

from conftest import grokwatch, run_dirs, state_of, events_of
from realcode_helpers import numbers, read_csv, snapshot

REPO = "Mabdel-03/9.520-The-Geometry-of-Grok"
SUB = "Replications/01_power_et_al_2022_openai_grok"

# their column -> (grokwatch's column, scale): the curves, checked value by value
CURVES = {"train_loss": ("train_loss", 1), "val_loss": ("test_loss", 1),
          "val_accuracy": ("test_acc", 0.01), "train_accuracy": ("train_acc", 0.01),
          "full_train_loss": ("full_train_loss", 1), "full_train_acc": ("full_train_acc", 0.01),
          "epoch": ("epoch", 1), "learning_rate": ("learning_rate", 1)}

SHIMS = {
    "blobfile.py": "import os\njoin = os.path.join  # all openai/grok uses of blobfile, on local paths\n",
    "mod.py": ("class Mod:  # only isinstance(x, Mod) runs for x+y data\n"
               "    def __init__(self, *a, **k):\n"
               "        raise RuntimeError(\"PyPI 'mod' is not installed here; only x/y data needs it\")\n"),
}


def grok_code(tmp_path):
    src, commit = snapshot(tmp_path, REPO, SUB)
    shims = tmp_path / "shims"
    shims.mkdir()
    for name, text in SHIMS.items():
        (shims / name).write_text(text)
    return src, shims, commit


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_every_value_ingested(theirs: list[dict], ours: list[dict], curves=CURVES) -> None:
    """Every step of their file is a row of ours, and every curve value of theirs is there."""
    by_step = {int(float(r["step"])): r for r in ours}
    assert sorted(by_step) == sorted({int(float(r["step"])) for r in theirs})
    for r in theirs:
        mine = by_step[int(float(r["step"]))]
        for col, (dst, scale) in curves.items():
            if r.get(col, "") != "":
                assert mine.get(dst, "") != "", (r["step"], col, dst)
                assert same_value(float(mine[dst]), float(r[col]) * scale), (r["step"], col)


def test_their_checked_in_log_every_row_and_percent(tmp_path):
    """The metrics.csv their own full run wrote (401 rows, checked into their repository):
    export takes every row, accuracy is read as percent (test accuracy never above 1.04%),
    errors are never negative, and detect raises no jump from a misread unit."""
    src, _shims, _commit = grok_code(tmp_path)
    log = src / "logs" / "lightning_logs" / "version_1"
    theirs = read_csv(log / "metrics.csv")
    assert len(theirs) == 401 and max(numbers(theirs, "val_accuracy")) < 1.04

    out = tmp_path / "all.csv"
    p = grokwatch("export", str(log), "-o", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    ours = read_csv(out)
    assert len(ours) == len(theirs)  # one step per row in this file
    assert_every_value_ingested(theirs, ours)
    assert max(numbers(ours, "test_acc")) < 0.0104

    p = grokwatch("detect", "--json", str(log), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("accuracy read as percent") == 1
    kinds = {json.loads(l)["kind"] for l in p.stdout.splitlines() if l.strip()}
    assert not kinds & {"generalization_jump", "generalized"}, p.stdout

    # their train curve is full_train_acc (train_accuracy is logged once): --map makes it so
    p = grokwatch("detect", "--map", "full_train_acc=train_acc", "--map",
                  "full_train_loss=train_loss", str(log), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "generalization_jump" not in p.stdout and not re.search(r"-\d[\d.]*%", p.stdout)


def lightning_version_dir(tmp_path):
    """A Lightning CSVLogger `version_0/` shaped as openai/grok's (ours, small)."""
    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    norms = [f"paramnorm_transformer.decoder.blocks.{i}.self_attn.Wo.weight" for i in range(30)]
    header = ["epoch", *norms, "step", "train_loss", "val_accuracy", "val_loss"]
    lines = [",".join(header)]
    for s in range(1, 6):
        lines.append(",".join([str(s), *["0.1"] * len(norms), str(s), str(5 - s * 0.5), "", ""]))
        lines.append(",".join([str(s), *[""] * len(norms), str(s), "", str(s * 10.0), "4.0"]))
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "hparams.yaml").write_text("max_lr: 0.001\n")
    return run, header


def test_view_reads_a_lightning_version_dir_as_a_lightning_log(tmp_path):
    """`grokwatch view lightning_logs/version_1` (openai/grok's own checked-in log) showed a
    run of kind '?' in state 'queued': a metrics.csv in a directory was taken for a grokwatch
    run directory. A Lightning version directory (hparams.yaml beside it) is a Lightning log."""
    from grokwatch.readers.mirror import is_grokwatch_dir, open_for_view

    run, _header = lightning_version_dir(tmp_path)
    assert not is_grokwatch_dir(run)
    paths, mirror = open_for_view([run])
    try:
        assert run not in paths  # not a grokwatch run: its CSV, read natively, named version_0
        assert [p.name for p in paths] == ["version_0.csv"]
        assert paths[0].resolve() == (run / "metrics.csv").resolve()
    finally:
        mirror.close()


def test_a_header_wider_than_the_sniffed_bytes_is_a_csv(tmp_path):
    """A Lightning CSVLogger log whose header line is longer than the bytes the readers sniff
    (openai/grok names a column per parameter tensor) is found in its directory."""
    from grokwatch.readers import read_path

    _run, header = lightning_version_dir(tmp_path)
    assert len(",".join(header)) > 1024
    ((src, rows),) = read_path(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert [round(r["test_acc"], 6) for r in rows] == [0.1, 0.2, 0.3, 0.4, 0.5]  # percent
    assert src.info.get("params", {}).get("max_lr") == 0.001


@pytest.mark.slow
def test_openai_grok_runs_under_grokwatch(tmp_path):
    """`grokwatch --headless` runs their scripts/train.py (300 steps of a 1-layer, d_model=32
    transformer on x+y mod 97, ~1 min on CPU) as a `command` experiment with `metrics_file` at
    their Lightning log directory: every row of their metrics.csv is in the run's metrics.csv,
    accuracies as fractions (their first value above 1 comes mid-run: the rows already written
    are rewritten), no negative error, no false alert."""
    src, shims, _commit = grok_code(tmp_path)
    (tmp_path / "exp.toml").write_text(textwrap.dedent(f"""
        [grokwatch]
        devices = "cpu"

        [[experiment]]
        name = "openai-grok"
        kind = "command"
        cwd = "{src}"
        command = ["python", "scripts/train.py", "--math_operator=+", "--train_data_pct=50",
                   "--max_steps=300", "--d_model=32", "--n_layers=1", "--n_heads=2",
                   "--random_seed=0", "--logdir", "{{run_dir}}/logs", "--datadir", "{{run_dir}}/data"]
        env = {{ PYTHONPATH = "{src}:{shims}" }}
        metrics_file = "{{run_dir}}/logs/lightning_logs"
        column_map = {{ full_train_acc = "train_acc", full_train_loss = "train_loss" }}
        total_steps = 300
        """))
    p = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=tmp_path,
                  timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr
    (run,) = run_dirs(tmp_path)
    assert state_of(run) == "done"
    theirs = read_csv(run / "logs" / "lightning_logs" / "version_0" / "metrics.csv")
    ours = read_csv(run / "metrics.csv")
    assert len(theirs) >= 25
    curves = dict(CURVES, full_train_acc=("train_acc", 0.01), full_train_loss=("train_loss", 1))
    del curves["train_loss"], curves["train_accuracy"]  # their one-off values keep their own names
    assert_every_value_ingested(theirs, ours, curves)
    assert max(numbers(theirs, "full_train_acc")) > 1  # percent, as they log it
    assert 0 < max(numbers(ours, "train_acc")) <= 1
    for col in ("train_error", "test_error"):
        assert min(numbers(ours, col)) >= 0
    log = (run / "worker.log").read_text()
    assert log.count("accuracy is in percent") == 1
    status = json.loads((run / "status.json").read_text())
    assert not status.get("unreadable_rows")
    assert not {e["kind"] for e in events_of(run)} & {"generalization_jump", "generalized",
                                                      "unreadable_rows"}
