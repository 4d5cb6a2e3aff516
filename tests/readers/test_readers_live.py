"""Logs that grow while they are read: the readers keep their offsets and read only what is
new, whatever point a write stops at (inside a record, across a W&B block), and a step's row
waits for values still to come. The bytes are the real frameworks' (the fixtures), written in
pieces."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from conftest import REPO

from grokwatch.readers import open_path
from grokwatch.readers.mirror import Mirror

FIX = REPO / "tests" / "fixtures" / "readers"
sys.path.insert(0, str(FIX))
from make_fixtures import STEPS  # noqa: E402


def grow(src_bytes: bytes, target, cuts, read):
    """Write `src_bytes` to `target` in pieces ending at `cuts`; `read()` after each piece."""
    out = []
    done = 0
    for cut in [*cuts, len(src_bytes)]:
        with open(target, "ab") as f:
            f.write(src_bytes[done:cut])
        done = cut
        out.extend(read())
    return out


def test_wandb_log_read_in_pieces_across_blocks(tmp_path):
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    (log,) = (FIX / "wandb" / "my-run").glob("*.wandb")
    data = log.read_bytes()
    target = tmp_path / "run" / log.name
    target.parent.mkdir()
    target.write_bytes(data[:7])  # the header alone, as wandb starts the file
    (src,) = open_path(tmp_path / "run")
    cuts = [7 + 3, 5000, 32768 - 2, 32768 + 5, 40001, 65536 + 7, 70000]
    rows = grow(data[7:], target, [c - 7 for c in cuts], src.read)
    rows += src.read(final=True)
    whole = open_path(FIX / "wandb" / "my-run")[0].read_all()
    assert rows == [{k: v for k, v in r.items()} for r in whole]
    assert [r["step"] for r in rows] == [float(s) for s in STEPS] and src.bad_rows == 0


def test_wandb_corrupt_record_is_counted_not_silent(tmp_path):
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    (log,) = (FIX / "wandb" / "my-run").glob("*.wandb")
    data = bytearray(log.read_bytes())
    data[20000] ^= 0xFF  # one flipped byte inside some record
    target = tmp_path / "x.wandb"
    target.write_bytes(bytes(data))
    (src,) = open_path(target)
    rows = src.read_all()
    assert src.bad_rows == 1 and src.first_bad
    assert 50 <= len(rows) <= 60  # the other records still read


def test_event_file_read_in_pieces(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    (event,) = (FIX / "tensorboard" / "logs" / "grok").iterdir()
    data = event.read_bytes()
    run = tmp_path / "grok"
    run.mkdir()
    target = run / event.name
    target.write_bytes(data[:100])
    (src,) = open_path(run)
    rows = grow(data[100:], target, [n - 100 for n in (777, 1500, 1501, 4000, len(data) - 3)],
                src.read)
    rows += src.read(final=True)
    assert rows == open_path(FIX / "tensorboard" / "logs" / "grok")[0].read_all()


def test_hf_new_checkpoints_give_only_new_steps(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    shutil.copytree(FIX / "hf" / "output" / "checkpoint-10", out / "checkpoint-10")
    (src,) = open_path(out)
    first = src.read()
    shutil.copytree(FIX / "hf" / "output" / "checkpoint-20", out / "checkpoint-20")
    second = src.read()
    shutil.copytree(FIX / "hf" / "output" / "checkpoint-30", out / "checkpoint-30")
    third = src.read(final=True)
    steps = [r["step"] for r in first + second + third]
    assert steps == sorted(set(steps))  # each step once, in order
    whole = open_path(FIX / "hf" / "output")[0].read_all()
    assert first + second + third == whole
    assert first[-1]["step"] < 10 <= second[0]["step"]  # step 10 waited for checkpoint-20


def test_mirror_widens_its_header_when_a_tag_appears(tmp_path):
    """The dashboard's CSV for a TensorBoard run whose evaluation starts late: rewritten with
    the wider header (a new file: the dashboard's tail reads it again), earlier rows kept."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    from test_readers_cli import _write_events  # tensorboard's own writer

    run = tmp_path / "late"
    _write_events(run, [(s, "train/loss", 1.0 / s) for s in (1, 2, 3)])
    (src,) = open_path(run)
    m = Mirror([src], tmp_path / "mirror", hold_s=3600)
    m.poll(first=True)
    (csv,) = m.files
    assert csv.read_text().splitlines() == ["step,time_s,train_loss", "1,0,1", "2,1,0.5"]
    inode = csv.stat().st_ino
    # a second event file beside the first, as a restarted writer leaves
    _write_events(run, [(4, "train/loss", 0.25), (4, "val/acc", 0.5), (5, "train/loss", 0.2)])
    m.poll()
    lines = csv.read_text().splitlines()
    assert lines[0] == "step,time_s,train_loss,test_acc"
    assert lines[1:] == ["1,0,1,", "2,1,0.5,", "3,2,0.3333333432674408,", "4,3,0.25,0.5"]  # float32
    assert csv.stat().st_ino != inode  # replaced atomically, not edited in place
    m.close()
    assert csv.exists()  # a directory it was given is left alone


def test_mlflow_metric_files_grow(tmp_path):
    """Every metric file written up to step 250 (one cut inside its next line), then the rest."""
    run = tmp_path / "mlruns" / "1" / "abc"
    shutil.copytree(next(p for p in (FIX / "mlflow" / "mlruns").glob("*/*")
                         if p.is_dir() and (p / "metrics").is_dir()), run)
    files = sorted((run / "metrics").rglob("*"))
    full = {f: f.read_text() for f in files if f.is_file()}
    for f, text in full.items():
        lines = text.splitlines(keepends=True)
        f.write_text("".join(lines[:25]) + (lines[25][:7] if f.name == "acc" else ""))
    (src,) = open_path(tmp_path / "mlruns")
    first = src.read()
    for f, text in full.items():
        f.write_text(text)
    rest = src.read(final=True)
    assert [r["step"] for r in first] == [float(s) for s in STEPS[:24]]  # 250 waits for more
    assert [r["step"] for r in first + rest] == [float(s) for s in STEPS]
    assert json.dumps(first + rest) == json.dumps(open_path(run)[0].read_all())


def test_event_file_with_a_corrupt_record_says_so(tmp_path):
    """TensorBoard's loader stops at a record that fails its CRC (and tries it again later,
    as for one being written); at the end of the log the bytes left are counted and quoted."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (grokwatch[tensorboard])")
    (event,) = (FIX / "tensorboard" / "logs" / "grok").iterdir()
    data = bytearray(event.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / event.name).write_bytes(bytes(data))
    (src,) = open_path(tmp_path / "run")
    rows = src.read()
    assert rows and src.bad_rows == 0  # still being written, perhaps: nothing said yet
    rows += src.read(final=True)
    assert src.bad_rows == 1 and "could not be read (a corrupt or truncated record)" in src.first_bad
    assert 20 < len(rows) < 40


def test_wandb_typed_history_values(tmp_path):
    """A history record whose values are in HistoryItem's typed fields (no value_json), framed
    as wandb frames its log: read like the JSON ones."""
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    import struct
    import zlib

    from wandb.proto import wandb_internal_pb2 as pb

    if "value" not in pb.HistoryItem.DESCRIPTOR.oneofs_by_name:
        pytest.skip("this wandb's HistoryItem has no typed values")
    rec = pb.Record()
    rec.history.step.num = 7
    a = rec.history.item.add()
    a.nested_key.extend(["val", "acc"])
    a.number = 0.75
    b = rec.history.item.add()
    b.key = "train_loss"
    b.integer = 2
    c = rec.history.item.add()
    c.key = "note"
    c.text = "hello"
    body = rec.SerializeToString()
    data = b":W&B\xe1\xbe\x00" + struct.pack("<IHB", zlib.crc32(bytes([1]) + body), len(body), 1) + body
    (tmp_path / "run-x.wandb").write_bytes(data)
    (src,) = open_path(tmp_path / "run-x.wandb")
    assert src.read_all() == [{"step": 7.0, "test_acc": 0.75, "train_loss": 2.0}]
    assert src.bad_rows == 0


def test_a_killed_views_mirror_directory_is_swept(tmp_path):
    """`grokwatch view` killed with its terminal runs no `finally`: the next view removes the
    directory a dead process left, and leaves a live one's."""
    import os
    import subprocess

    from grokwatch.readers.mirror import PREFIX, sweep_stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{PREFIX}{dead.pid}-abc"
    alive = tmp_path / f"{PREFIX}{os.getpid()}-def"
    for d in (gone, alive):
        d.mkdir()
        (d / "run.csv").write_text("step,test_acc\n1,0.5\n")
    other = tmp_path / "grokwatch-viewer-notes"
    other.mkdir()
    assert sweep_stale(str(tmp_path)) == 1
    assert not gone.exists() and alive.exists() and other.exists()
