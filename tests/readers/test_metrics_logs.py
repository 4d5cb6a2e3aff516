"""Logs other tools write, read as they are: Lightning's CSVLogger (rewritten in place with a
wider header), accuracy in percent (openai/grok's write pattern), rows that cannot be read,
BOM and quoted headers, files without a newline, and the `--map`/`--percent` controls."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from grokwatch.columns import ColumnMapError, canonical_columns, parse_column_map, parse_map_args
from grokwatch.detect.cli import detect_file, main_detect
from grokwatch.tail import MetricsTail, open_log
from grokwatch.tui.data.csvtail import CsvTail
from grokwatch.tui.data.store import RunStore, load_full


class LightningCsvWriter:
    """The write pattern of lightning_fabric.loggers.csv_logs._ExperimentWriter (2.6.6), line
    for line: rows buffered by log_metrics, save() appends them with csv.DictWriter (newline="",
    so "\\r\\n" line ends) under the sorted union of keys, and when a new key appears the file
    is rewritten in place ("w": same inode, not shorter) with the wider header."""

    def __init__(self, path: Path):
        self.path = path
        self.metrics: list[dict] = []
        self.metrics_keys: list[str] = []

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.metrics.append({**metrics, "step": step})

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = set().union(*self.metrics) - set(self.metrics_keys)
        self.metrics_keys.extend(new_keys)
        self.metrics_keys.sort()
        exists = self.path.is_file()
        if new_keys and exists:
            with open(self.path, "r", newline="") as f:
                old = list(csv.DictReader(f))
            with open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.metrics_keys)
                w.writeheader()
                w.writerows(old)
        with open(self.path, "a" if exists else "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.metrics_keys)
            if not exists:
                w.writeheader()
            w.writerows(self.metrics)
        self.metrics = []


def _lightning_epochs(writer, epochs: int, per_epoch: int = 4, percent: bool = False):
    """Training rows with `train_loss_step`, then at each epoch end `train_loss_epoch` and the
    validation metrics (new keys: a rewrite with a wider header); saved every epoch."""
    scale = 100.0 if percent else 1.0
    step = 0
    for e in range(epochs):
        for _ in range(per_epoch):
            writer.log_metrics({"train_loss_step": 2.0 / (step + 1), "epoch": e}, step)
            step += 1
        acc = min(1.0, e / epochs + 0.01)
        writer.log_metrics({"train_loss_epoch": 1.0 / (e + 1), "epoch": e}, step - 1)
        writer.log_metrics({"val_loss": 1.5 / (e + 1), "val_acc": acc * scale, "epoch": e}, step - 1)
        writer.save()
        yield e


def _rows_in(path: Path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def test_lightning_rewrite_in_place_loses_no_row(tmp_path):
    p = tmp_path / "metrics.csv"
    tail, block_tail = MetricsTail(p), CsvTail(p)
    got, blocks, inode = [], 0, None
    for e in _lightning_epochs(LightningCsvWriter(p), 12):
        if e == 0:
            inode = os.stat(p).st_ino
        rows = tail.read()
        if tail.replaced:  # rewritten with a wider header: everything comes again
            tail.replaced, got = False, []
        got += rows
        b = block_tail.read()
        if block_tail.replaced:
            block_tail.replaced, blocks = False, 0
        blocks += len(b) if b is not None else 0
    assert os.stat(p).st_ino == inode  # rewritten in place: the same inode all along
    n = _rows_in(p)
    assert len(got) == n == blocks and tail.bad_lines == 0 == block_tail.bad_lines
    last = got[-1]
    assert last["step"] == 47 and "test_acc" in last and "test_loss" in last
    assert any("train_loss" in r for r in got)  # train_loss_epoch: the train curve
    assert any("train_loss_step" in r for r in got)  # kept under its own name


@pytest.mark.slow  # imports torch (through lightning_fabric)
def test_lightning_rewrite_with_a_real_csvlogger(tmp_path):
    pytest.importorskip("lightning_fabric")
    from lightning_fabric.loggers.csv_logs import _ExperimentWriter

    w = _ExperimentWriter(str(tmp_path / "v0"))
    p = Path(w.metrics_file_path)
    tail = MetricsTail(p)
    got = []
    for _ in _lightning_epochs(w, 6):
        rows = tail.read()
        if tail.replaced:
            tail.replaced, got = False, []
        got += rows
    assert len(got) == _rows_in(p) and tail.bad_lines == 0


@pytest.mark.slow  # a real headless run
def test_a_command_run_ingests_every_row_of_a_lightning_log(tmp_path):
    """Through the real worker: every row Lightning's pattern wrote lands in metrics.csv."""
    from conftest import events_of, grokwatch, run_dirs

    script = tmp_path / "train.py"
    src = Path(__file__).read_text()
    start, end = src.index("class LightningCsvWriter"), src.index("def _rows_in")
    script.write_text("import csv, sys, time\nfrom pathlib import Path\n" + src[start:end] +
                      "for e in _lightning_epochs(LightningCsvWriter(Path(sys.argv[1])), 10, percent=True):\n"
                      "    time.sleep(0.12)\n")
    (tmp_path / "pct.py").write_text(  # records on stdout, accuracy in percent, above 1 from step 6
        "import json, time\n"
        "for s in range(12):\n"
        "    acc = 0.5 + s / 20 if s < 6 else 8.0 * s\n"
        "    print('grokwatch:', json.dumps({'step': s, 'train_acc': acc, 'test_acc': acc / 2}), flush=True)\n"
        "    time.sleep(0.05)\n")
    (tmp_path / "exp.toml").write_text(
        '[grokwatch]\ndevices = "cpu"\nmax_parallel = 2\n[[experiment]]\nname = "lt"\nkind = "command"\n'
        'command = ["python", "train.py", "{run_dir}/lightning.csv"]\n'
        'metrics_file = "{run_dir}/lightning.csv"\n'
        '[[experiment]]\nname = "pct"\nkind = "command"\ncommand = ["python", "pct.py"]\n'
        '[[experiment]]\nname = "zbad"\nkind = "command"\ncommand = ["python", "bad.py"]\n')
    (tmp_path / "bad.py").write_text(  # a line no writer of ours would write, planted in metrics.csv
        "import json, os, time\n"
        "for s in range(6):\n"
        "    print('grokwatch:', json.dumps({'step': s, 'train_loss': 1.0 / (s + 1)}), flush=True)\n"
        "    time.sleep(0.3)\n"
        "    if s == 2:\n"
        "        with open(os.path.join(os.environ['GROKWATCH_RUN_DIR'], 'metrics.csv'), 'a') as f:\n"
        "            f.write('oops\\x1b[2J,not a row\\n')\n")
    proc = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=tmp_path,
                     timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d, pct, bad = run_dirs(tmp_path)
    told = [e for e in events_of(bad) if e["kind"] == "unreadable_rows"]
    assert told and told[0]["count"] >= 1 and told[0]["first"] == "oops\\x1b[2J,not a row"
    assert "unreadable_rows" in proc.stdout and "\x1b" not in proc.stdout  # headless says it, escaped
    with open(pct / "metrics.csv", newline="") as f:
        prow = list(csv.DictReader(f))
    assert [int(r["step"]) for r in prow] == list(range(12))
    assert float(prow[0]["train_acc"]) == pytest.approx(0.005)  # written before the flip, rewritten
    assert float(prow[0]["train_error"]) == pytest.approx(0.995)
    assert float(prow[-1]["test_acc"]) == pytest.approx(0.44) and float(prow[-1]["test_error"]) == pytest.approx(0.56)
    assert all(0.0 <= float(r[c]) <= 1.0 for r in prow for c in ("train_acc", "test_acc", "train_error", "test_error"))
    with open(d / "lightning.csv", newline="") as f:
        steps = {float(r["step"]) for r in csv.DictReader(f)}
    with open(d / "metrics.csv", newline="") as f:
        ours = list(csv.DictReader(f))
    assert {float(r["step"]) for r in ours} == steps  # every step, each once
    accs = [float(r["test_acc"]) for r in ours if r.get("test_acc")]
    assert accs and max(accs) <= 1.0  # fractions in metrics.csv, always
    errs = [float(r["test_error"]) for r in ours if r.get("test_error")]
    assert min(errs) >= 0.0 and all(math.isclose(a + e, 1.0) for a, e in zip(accs, errs))
    assert "accuracy" in (d / "worker.log").read_text() and "percent" in (d / "worker.log").read_text()


# ----------------------------------------------------------------------------- percent


def grok_style_log(path: Path, rows: int = 60, flip_at: int = 20) -> Path:
    """openai/grok's metrics: accuracy * 100 (`_accuracy`), logged through CSVLogger with
    `train_accuracy`, `val_accuracy`, `full_train_acc` and friends. The first rows have every
    accuracy at or below 1 (chance on p = 97 is ~1%): the unit cannot be told from them."""
    w = LightningCsvWriter(path)
    for k in range(rows):
        tr = 0.5 + 0.5 * k / flip_at if k < flip_at else min(100.0, 3.0 * k)
        va = 0.9 if k < 2 * rows // 3 else 95.0
        w.log_metrics({"train_loss": 4.0 / (k + 1), "train_accuracy": tr, "epoch": k,
                       "learning_rate": 1e-3}, k)
        w.log_metrics({"val_loss": 4.5, "val_accuracy": va, "full_train_acc": tr,
                       "full_train_loss": 4.0 / (k + 1), "epoch": k}, k)
        w.save()
    return path


def test_percent_is_decided_per_file_and_errors_are_never_negative(tmp_path):
    p = grok_style_log(tmp_path / "metrics.csv")
    rows = MetricsTail(p).read()
    assert max(r["train_acc"] for r in rows if "train_acc" in r) == pytest.approx(1.0)
    assert all(0.0 <= r.get("full_train_acc", 0.0) <= 1.0 for r in rows)  # every accuracy column
    assert rows[0]["train_acc"] == pytest.approx(0.005)  # 0.5%, not 50%
    b = CsvTail(p).read()
    from grokwatch.tui.data.summary import M_INDEX

    err = b.vals[:, M_INDEX["test_error"]]
    assert np.nanmin(err) >= 0.0 and np.nanmax(b.vals[:, M_INDEX["test_acc"]]) <= 1.0


def test_a_live_tail_that_flips_reads_again_in_percent(tmp_path):
    p = tmp_path / "metrics.csv"
    w = LightningCsvWriter(p)
    tail, block_tail = MetricsTail(p), CsvTail(p)
    handed = []
    for k in range(30):
        acc = 0.8 if k < 10 else 40.0 + k  # above 1 from row 10 on: percent
        w.log_metrics({"val_acc": acc, "train_acc": acc, "epoch": k}, k)
        w.save()
        rows = tail.read()
        if tail.replaced:
            assert tail.rescaled or k == 1  # (k == 1: the header widened)
            if tail.rescaled:
                assert rows[0]["test_acc"] == pytest.approx(0.008)
            tail.replaced, tail.rescaled, handed = False, False, []
        handed += rows
        blk = block_tail.read()
        if block_tail.replaced:
            block_tail.replaced = False
    assert tail.percent and block_tail.percent
    assert len(handed) == 30 and all(r["test_acc"] <= 1.0 for r in handed)
    assert handed[0]["test_acc"] == pytest.approx(0.008)


def test_detect_decides_units_before_it_emits(tmp_path, capsys):
    p = grok_style_log(tmp_path / "metrics.csv", rows=120, flip_at=60)
    assert main_detect([str(p)]) == 0
    out, err = capsys.readouterr()
    assert "accuracy read as percent" in err and err.count("percent") == 1
    import re

    assert not re.search(r"-\d+(\.\d+)?%", out)  # never a negative error or accuracy
    jumps = [line for line in out.splitlines() if "generalization_jump" in line]
    assert all(int(line.split()[2].rstrip(":")) >= 80 for line in jumps), jumps  # not before it happened
    assert detect_file(p)  == [e for e in detect_file(p)]  # (deterministic)


def test_percent_flag_and_column_map_controls(tmp_path, capsys):
    p = tmp_path / "own.csv"
    p.write_text("iter,full_train_acc,acc\n" + "".join(f"{k},{min(1.0, k / 50)},{0.5}\n" for k in range(60)))
    log = open_log(p, parse_map_args(["full_train_acc=train_acc", "acc=test_acc%"]))
    rows = list(log)
    assert rows[-1]["train_acc"] == 1.0 and rows[-1]["test_acc"] == pytest.approx(0.005)
    assert list(open_log(p, percent=True))[-1].get("full_train_acc") == pytest.approx(0.01)
    assert main_detect([str(p), "--percent", "--map", "full_train_acc=train_acc"]) == 0
    assert "--percent" in capsys.readouterr().err
    with pytest.raises(ColumnMapError):
        parse_map_args(["nonsense"])
    assert main_detect([str(p), "--map", "x"]) == 2
    assert "SRC=DST" in capsys.readouterr().err
    names, scales = parse_column_map({"a": "test_acc%", "b": {"name": "train_acc", "scale": 0.01}})
    assert names == {"a": "test_acc", "b": "train_acc"} and scales == {"a": 0.01, "b": 0.01}
    # --map wins over the built-in aliases: the column that had the name keeps its own
    assert canonical_columns(["step", "train_acc", "full_train_acc"], {"full_train_acc": "train_acc"}) \
        == ["step", "train_acc_1", "train_acc"]


def test_lightning_suffixes_name_the_curves():
    assert canonical_columns(["epoch", "step", "train_loss_step", "train_loss_epoch", "val_acc_epoch"]) \
        == ["epoch", "step", "train_loss_step", "train_loss", "test_acc"]
    assert canonical_columns(["step", "train_acc_step", "val_acc"]) == ["step", "train_acc", "test_acc"]


# ----------------------------------------------------------------------------- bad input


def test_unreadable_rows_are_counted_quoted_and_said(tmp_path, capsys):
    p = tmp_path / "m.csv"
    p.write_text("step,train_loss,test_acc\n0,1.0,0.1\n1,0.9\n\x1b[31mstep,train_loss,test_acc\n"
                 "2,0.8,0.3\n3,0.7,0.4,9\n")
    tail = MetricsTail(p)
    assert [r["step"] for r in tail.read()] == [0, 2]
    assert tail.bad_lines == 3 and tail.first_bad == "1,0.9"
    ct = CsvTail(p)
    b = ct.read()
    assert b.steps.tolist() == [0, 2] and ct.bad_lines == 3 and ct.first_bad == "1,0.9"
    assert main_detect([str(p)]) == 0
    err = capsys.readouterr().err
    assert "3 row(s) could not be read" in err and "'1,0.9'" in err and len(err.splitlines()) == 1
    res = load_full("m", str(p), None, False)
    store = RunStore(files=[p])
    store.scan()
    run = store.runs["m"]
    store.apply_load(run, res)
    assert any("3 row(s)" in n and "1,0.9" in n for n in run.data_notes)
    p2 = tmp_path / "esc.csv"
    p2.write_bytes(b"step,train_loss\n0,1\n\x1b]0;evil\x07,\xff\xfe\n")
    t2 = MetricsTail(p2)
    t2.read()
    assert t2.first_bad == "\\x1b]0;evil\\x07,\\xff\\xfe"


def test_bom_and_quoted_headers_are_accepted(tmp_path, capsys):
    rows = "".join(f'"{k + 1}",{k},{1.0 / (k + 1)},{min(1.0, k / 40)}\n' for k in range(80))
    r_style = tmp_path / "r.csv"  # R's write.csv: quoted names, a row-name column
    r_style.write_text('"","epoch","train_loss","val_acc"\n' + rows)
    bom = tmp_path / "bom.csv"  # Excel's "CSV UTF-8"
    bom.write_bytes("\ufeffepoch,train_loss,val_acc\n".encode() +
                    "".join(f"{k},{1.0 / (k + 1)},{min(1.0, k / 40)}\n" for k in range(80)).encode())
    for p in (r_style, bom):
        log = open_log(p)
        assert "step" in log.header and "test_acc" in log.header, log.header
        assert len(list(log)) == 80 and log.bad_lines == 0
        assert main_detect([str(p)]) == 0
        assert "no usable columns" not in capsys.readouterr().err


def test_a_file_without_a_newline_is_one_line_and_exit_2(tmp_path, capsys):
    from grokwatch.tui.app import run_view

    text = tmp_path / "one-line.csv"
    text.write_bytes(b"step,loss," + b"x" * (3 << 20))  # text, and no line break at all
    assert main_detect([str(text)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no line break" in err[0] and "'step,loss,xxx" in err[0]
    assert run_view([str(text)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"\x89PNG" + b"\x00" * (3 << 20))  # binary: one line too, no bytes quoted raw
    assert main_detect([str(blob)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "\x00" not in err[0]


def test_view_takes_map_and_percent(tmp_path):
    from grokwatch.tui.app import view_context

    p = grok_style_log(tmp_path / "g.csv")
    ctx = view_context([p], {"full_train_acc": "train_acc"}, True)
    store = ctx.store
    store.scan()
    run = next(iter(store.runs.values()))
    b = run.tail.read()
    assert run.tail.percent and run.tail.header.count("train_acc") == 1
    from grokwatch.tui.data.summary import M_INDEX

    accs = b.vals[:, [M_INDEX["train_acc"], M_INDEX["test_acc"]]]
    assert np.nanmax(accs) <= 1.0 and any("percent" in n for n in run.data_notes)
    assert json.dumps(run.data_notes)
