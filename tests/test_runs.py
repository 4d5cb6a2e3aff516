"""Run files and run ids, and how devices become slots: the pieces every process shares."""

from __future__ import annotations

import os

from grokwatch.runner.devices import plan_slots
from grokwatch.runs import MetricsTail, MetricsWriter, last_row, make_run_id


def test_run_ids_are_safe_stable_and_change_with_the_config():
    a = make_run_id("dd", {"n_features": 200, "path": "a/b"}, 3, {"x": 1})
    assert a == make_run_id("dd", {"n_features": 200, "path": "a/b"}, 3, {"x": 1})
    assert "/" not in a and a.startswith("dd-n_features=200-path=a-b-s3-")
    assert a != make_run_id("dd", {"n_features": 200, "path": "a/b"}, 3, {"x": 2})
    assert a != make_run_id("dd", {"n_features": 200, "path": "a/b"}, 4, {"x": 1})


def test_writer_skips_logged_steps_and_widens_atomically(tmp_path):
    path = tmp_path / "metrics.csv"
    w = MetricsWriter(path, ["train_acc"])
    assert w.write({"step": 0, "train_loss": 1.0, "train_acc": 0.1})
    assert w.write({"step": 10, "train_loss": 0.5})
    assert not w.write({"step": 10, "train_loss": 0.4})  # a resumed run never logs a step twice
    inode = os.stat(path).st_ino
    assert w.write({"step": 20, "train_loss": 0.2, "weight_norm": 3.0})  # a new column
    assert os.stat(path).st_ino != inode  # replaced, not edited in place
    w.close()
    lines = path.read_text().splitlines()
    assert lines[0].endswith(",train_acc,weight_norm")
    assert len(lines) == 4 and all(l.count(",") == lines[0].count(",") for l in lines)
    again = MetricsWriter(path)  # a resumed worker picks up where it was
    assert again.last_step == 20 and not again.write({"step": 20, "train_loss": 0.1})
    again.close()


def test_writer_repairs_a_half_written_last_line(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,time_s,train_loss,test_loss,train_error,test_error\n0,0.1,1,1,1,1\n10,0.2,0.")
    w = MetricsWriter(path)
    assert w.last_step == 0
    w.write({"step": 10, "train_loss": 0.5})
    w.close()
    rows = MetricsTail(path).read()
    assert [r["step"] for r in rows] == [0, 10]


def test_tail_reads_incrementally_keeps_partial_lines_and_rereads_a_replaced_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,val_acc,loss\n1,0.5,2.0\n2,0.6")
    tail = MetricsTail(path)
    rows = tail.read()
    assert rows == [{"step": 1.0, "test_acc": 0.5, "train_loss": 2.0}]  # Keras names: epoch, val_acc, loss
    with open(path, "a") as f:
        f.write(",1.5\nnot,a,number,row\n3,0.7,1.0\n")
    rows = tail.read()
    assert [r["step"] for r in rows] == [2.0, 3.0]
    assert tail.bad_lines == 1
    assert tail.read() == []
    tmp = tmp_path / "new.csv"
    tmp.write_text("epoch,val_acc,loss,lr\n1,0.5,2.0,0.1\n")
    os.replace(tmp, path)  # a writer widened the header
    rows = tail.read()
    assert tail.replaced and rows == [{"step": 1.0, "test_acc": 0.5, "train_loss": 2.0, "lr": 0.1}]
    assert last_row(path)["lr"] == 0.1


def test_slots_give_cpu_runs_fixed_thread_budgets_and_gpus_one_device_each():
    cpu = plan_slots("auto", "auto", "auto", gpus=[], ncpu=2)
    assert [(s.device, s.threads) for s in cpu] == [("cpu", 1), ("cpu", 1)]
    assert cpu[0].env["OMP_NUM_THREADS"] == "1" and cpu[0].env["CUDA_VISIBLE_DEVICES"] == ""
    big = plan_slots("cpu", 4, "auto", ncpu=64)
    assert len(big) == 4 and all(s.threads == 16 for s in big)
    gpus = [{"index": 0, "memory_used_mb": 10, "busy": False},
            {"index": 1, "memory_used_mb": 30000, "busy": True},
            {"index": 2, "memory_used_mb": 5, "busy": False}]
    auto = [s for s in plan_slots("auto", 2, "auto", gpus=gpus, ncpu=16, cuda_visible=None) if s.gpu is not None]
    assert sorted({s.gpu for s in auto}) == [0, 2] and len(auto) == 4  # busy GPU 1 left alone
    assert {s.env["CUDA_VISIBLE_DEVICES"] for s in auto} == {"0", "2"}
    assert all(s.threads == 1 for s in auto)  # one core feeds one GPU process (tests/runner/test_devices.py)
    explicit = plan_slots("cuda:1", "auto", "auto", gpus=gpus, ncpu=16, cuda_visible=None)
    assert [s.gpu for s in explicit if s.gpu is not None] == [1]
