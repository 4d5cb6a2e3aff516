"""Slots that fit the hardware, planned from a fake `nvidia-smi` on PATH (1, 2 and 8 GPUs, busy
and idle) and 16 or 64 cores: several processes per GPU, CPU slots beside them, no cap of 8,
CUDA_VISIBLE_DEVICES respected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grokwatch.runner.devices import plan, plan_slots, query_gpus

MB_80G = 81559


def fake_nvidia_smi(tmp_path: Path, monkeypatch, gpus: list[tuple[int, float, bool]],
                    total_mb: float = MB_80G) -> None:
    """gpus: (index, memory used MB, busy). Answers the two queries devices.py makes."""
    lines = "\n".join(f"{i}, GPU-{i:04d}aaaa-bbbb, {used:.0f}, {total_mb:.0f}" for i, used, _ in gpus)
    apps = "\n".join(f"GPU-{i:04d}aaaa-bbbb" for i, _, busy in gpus if busy)
    exe = tmp_path / "bin" / "nvidia-smi"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text("#!/bin/sh\n"
                   "case \"$1\" in\n"
                   f"  --query-gpu=*) printf '%s\\n' '{lines}' ;;\n"
                   f"  --query-compute-apps=*) printf '%s' '{apps}' ;;\n"
                   "esac\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _count(slots, device):
    return sum(1 for s in slots if s.device == device)


def test_the_fake_nvidia_smi_is_read_like_the_real_one(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 3, False), (1, 20000, True)])
    gpus = query_gpus()
    assert [(g["index"], g["busy"], g["memory_total_mb"]) for g in gpus] == [(0, False, MB_80G), (1, True, MB_80G)]


@pytest.mark.parametrize("ncpu", [16, 64])
def test_one_idle_gpu_takes_many_processes_and_the_cpu_gets_the_rest(tmp_path, monkeypatch, ncpu):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 3, False)])
    p = plan("auto", "auto", "auto", ncpu=ncpu)
    gpu, cpu = _count(p.slots, "cuda"), _count(p.slots, "cpu")
    assert gpu == ncpu - ncpu // 4 and cpu == ncpu // 4  # a process per core: the cores feed them
    assert all(s.threads == 1 and s.env["CUDA_VISIBLE_DEVICES"] == "0" for s in p.slots if s.device == "cuda")
    assert all(s.env["CUDA_VISIBLE_DEVICES"] == "" for s in p.slots if s.device == "cpu")
    assert any("cuda:0" in n and "fit in its free memory" in n for n in p.notes)
    assert gpu + cpu > 8  # no cap of 8


def test_gpu_memory_caps_the_processes_per_gpu(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 0, False)], total_mb=6 * 1024)
    p = plan("auto", "auto", "auto", ncpu=64)
    assert _count(p.slots, "cuda") == 5  # (6 GiB - 1 GiB headroom) / 1 GiB each
    assert _count(p.slots, "cpu") == 64 - 5
    assert {s.memory_mb for s in p.slots if s.device == "cuda"} == {1024}


@pytest.mark.parametrize("ncpu", [16, 64])
def test_two_gpus_one_busy(tmp_path, monkeypatch, ncpu):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 3, False), (1, 30000, True)])
    p = plan("auto", "auto", "auto", ncpu=ncpu)
    assert {s.gpu for s in p.slots if s.device == "cuda"} == {0}  # the busy one left alone
    assert any("cuda:1: busy" in n for n in p.notes)
    forced = plan("cuda", "auto", "auto", ncpu=ncpu)  # "cuda": every GPU, busy or not
    assert {s.gpu for s in forced.slots if s.device == "cuda"} == {0, 1}
    assert _count(forced.slots, "cpu") >= 1


@pytest.mark.parametrize("ncpu,per_gpu", [(16, 1), (64, 6)])
def test_eight_idle_gpus_share_the_cores(tmp_path, monkeypatch, ncpu, per_gpu):
    fake_nvidia_smi(tmp_path, monkeypatch, [(i, 3, False) for i in range(8)])
    p = plan("auto", "auto", "auto", ncpu=ncpu)
    by_gpu = {g: sum(1 for s in p.slots if s.gpu == g) for g in range(8)}
    assert set(by_gpu.values()) == {per_gpu}
    assert _count(p.slots, "cpu") == ncpu - 8 * per_gpu


def test_eight_gpus_all_busy_means_the_cpu(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(i, 20000, True) for i in range(8)])
    p = plan("auto", "auto", "auto", ncpu=64)
    assert _count(p.slots, "cuda") == 0 and _count(p.slots, "cpu") == 64


def test_cuda_visible_devices_is_respected_and_renumbered(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(i, 3, False) for i in range(8)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,2")
    p = plan("auto", 2, "auto", ncpu=16)
    cuda = [s for s in p.slots if s.device == "cuda"]
    assert [(s.label, s.env["CUDA_VISIBLE_DEVICES"]) for s in cuda] == [  # interleaved: runs spread out
        ("cuda:0", "5"), ("cuda:1", "2"), ("cuda:0", "5"), ("cuda:1", "2")]
    only = plan("cuda:1", 1, "auto", ncpu=16)  # CUDA's numbering: the second visible one
    assert [(s.label, s.env["CUDA_VISIBLE_DEVICES"]) for s in only.slots if s.device == "cuda"] == [("cuda:1", "2")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0003")  # by UUID prefix
    uu = plan("auto", 1, "auto", ncpu=16)
    assert [(s.label, s.env["CUDA_VISIBLE_DEVICES"]) for s in uu.slots if s.device == "cuda"] == [("cuda:0", "GPU-0003")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # none visible: the CPU
    assert _count(plan("auto", "auto", "auto", ncpu=16).slots, "cuda") == 0


def test_no_gpu_every_core_is_a_slot_and_explicit_settings_win(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert [(s.device, s.threads) for s in plan_slots("auto", "auto", "auto", ncpu=2)] == [("cpu", 1)] * 2
    assert len(plan_slots("auto", "auto", "auto", ncpu=64)) == 64
    big = plan_slots("cpu", 4, "auto", ncpu=64)
    assert len(big) == 4 and all(s.threads == 16 for s in big)
    two = plan_slots("auto", "auto", 2, ncpu=16)
    assert len(two) == 8 and all(s.threads == 2 for s in two)


def test_the_runner_sends_gpu_kinds_to_gpu_slots_and_the_others_to_cpu_slots_beside(tmp_path, monkeypatch):
    from fake_executor import FakeExecutor, start_runner

    from grokwatch.runner import devices
    from grokwatch.runs import read_json

    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 3, False)])
    monkeypatch.setattr(devices, "cpu_count", lambda: 16)
    (tmp_path / "experiments.toml").write_text(
        '[grokwatch]\ndevices = "auto"\n'
        '[[experiment]]\nname = "g"\nkind = "grokking"\nseeds = [0, 1, 2]\n'
        '[[experiment]]\nname = "o"\nkind = "overfitting"\nseeds = [0, 1]\n'
        '[[experiment]]\nname = "c"\nkind = "command"\ncommand = ["true"]\ngpu = false\n')
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        assert "cuda:0: 12 process(es)" in "; ".join(runner.slot_notes)
        runner.tick()
        assert sorted(ex.submitted) == sorted(runner.active)  # all six at once: 12 GPU + 4 CPU slots
        for job in ex.jobs.values():
            info = read_json(job["dir"] / "config.json")
            want = "cuda" if info["kind"] == "grokking" else "cpu"
            assert info["device"] == want, info["run_id"]
            assert job["env"]["CUDA_VISIBLE_DEVICES"] == ("0" if want == "cuda" else "")
            assert read_json(job["dir"] / "executor.json")["slot"] == ("cuda:0" if want == "cuda" else "cpu")
    finally:
        runner.close()
