"""Logs that real code bases (not ours) wrote here, checked in under
tests/fixtures/realcode/ (see the README there for the repository, commit and command), read
through the documented paths with no snapshot needed: `grokwatch export` takes every row,
`grokwatch detect` reads the unit right and raises nothing false."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, grokwatch
from realcode_helpers import numbers, read_csv
from test_openai_grok_lightning import CURVES, assert_every_value_ingested

FIX = REPO / "tests" / "fixtures" / "realcode"


def export(tmp_path, path, *opts) -> list[dict]:
    out = tmp_path / "export.csv"
    p = grokwatch("export", str(path), "-o", str(out), *opts, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return read_csv(out)


def detect(tmp_path, path, *opts) -> tuple[set[str], str]:
    p = grokwatch("detect", "--json", *opts, str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return {json.loads(l)["kind"] for l in p.stdout.splitlines() if l.strip()}, p.stderr


def test_openai_grok_lightning_csvlogger(tmp_path):
    """openai/grok (Lightning 2 port), 300 steps: a 1.3 kB header, train and validation rows
    apart, accuracy in percent (full_train_acc reaches 1.36)."""
    log = FIX / "openai-grok" / "lightning_logs"
    theirs = read_csv(log / "version_0" / "metrics.csv")
    assert len(theirs) == 30
    ours = export(tmp_path, log)
    assert len(ours) == len(theirs)
    assert_every_value_ingested(theirs, ours)
    assert max(numbers(ours, "full_train_acc")) == pytest.approx(0.01360544204711914)
    kinds, err = detect(tmp_path, log)
    assert err.count("accuracy read as percent") == 1
    assert not kinds & {"generalization_jump", "generalized"}


@pytest.mark.slow  # importing wandb's protobuf schema, twice: ~8 s here
def test_danielmamay_grokking_wandb_offline(tmp_path):
    """danielmamay/grokking, x+y mod 23, 1,500 steps: the steps its loop logs, once each."""
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    log = FIX / "danielmamay-grokking"
    ours = export(tmp_path, log)
    assert [int(float(r["step"])) for r in ours] == [0, 1, 10, *range(100, 1500, 100)]
    for col, n in (("train_acc", 264), ("test_acc", 265)):  # counts over their split
        vals = numbers(ours, col)
        assert len(vals) == len(ours) and all(abs(v * n - round(v * n)) < 1e-3 for v in vals)
    kinds, err = detect(tmp_path, log)
    assert "percent" not in err and "unreadable_rows" not in kinds


# what makemore printed for this run ("step N train loss: X test loss: Y"), seed 3407
MAKEMORE_PRINTED = {500: (2.4417643547058105, 2.4259018898010254),
                    1000: (2.344768762588501, 2.335566282272339),
                    1500: (2.2928991317749023, 2.286635637283325),
                    2000: (2.269307851791382, 2.2530059814453125),
                    2500: (2.2501637935638428, 2.2324576377868652)}


def test_makemore_tensorboard_event_file(tmp_path):
    """karpathy/makemore's SummaryWriter log (`Loss/train`, `Loss/test`): the values it printed."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    ours = export(tmp_path, FIX / "makemore")
    assert [int(float(r["step"])) for r in ours] == sorted(MAKEMORE_PRINTED)
    for r in ours:
        train, test = MAKEMORE_PRINTED[int(float(r["step"]))]
        assert float(r["train_loss"]) == pytest.approx(train, rel=1e-7)
        assert float(r["test_loss"]) == pytest.approx(test, rel=1e-7)
    kinds, _err = detect(tmp_path, FIX / "makemore")
    assert "unreadable_rows" not in kinds
