"""What the GPU is doing (runner/gpustats.py), from a fake `nvidia-smi` on PATH: the runner samples
each GPU's utilisation and memory into runner.json (CUDA's numbering), headless prints them once
per round of progress lines, and a box with no nvidia-smi (or one that fails or lists no GPU)
shows nothing and stops asking after the first miss."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from conftest import grokwatch

from grokwatch.runner import gpustats
from grokwatch.runner.gpustats import GpuSampler, format_gpus, gpu_of
from grokwatch.runs import atomic_write_json, read_json

# (physical index, utilisation %, memory used MiB): an 80 GB card
GPUS = [(0, 37, 4198), (1, 0, 3), (2, 91, 40960)]
TOTAL = 81559


def fake_nvidia_smi(tmp_path: Path, monkeypatch, gpus=GPUS, rc: int = 0) -> Path:
    """Answers devices.py's two queries (every GPU idle, so the runner plans GPU slots) and the
    sampler's utilisation query; counts its calls in `calls`."""
    plan_rows = "\n".join(f"{i}, GPU-{i:04d}aaaa, 3, {TOTAL}" for i, _, _ in gpus)
    use_rows = "\n".join(f"{i}, GPU-{i:04d}aaaa, {u}, {m}, {TOTAL}" for i, u, m in gpus)
    calls = tmp_path / "calls"
    exe = tmp_path / "bin" / "nvidia-smi"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text("#!/bin/sh\n"
                   f"echo \"$1\" >> '{calls}'\n"
                   "case \"$1\" in\n"
                   f"  *utilization.gpu*) printf '%s\\n' '{use_rows}' ; exit {rc} ;;\n"
                   f"  --query-gpu=*) printf '%s\\n' '{plan_rows}' ;;\n"
                   "  --query-compute-apps=*) ;;\n"
                   "esac\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return calls


def sample(sampler: GpuSampler, timeout: float = 10.0) -> list[dict]:
    """Poll as the runner's tick does until a query has been collected (or sampling is off)."""
    t0 = time.monotonic()
    sampler.poll()
    while sampler._proc is not None:
        assert time.monotonic() - t0 < timeout, "nvidia-smi never answered"
        time.sleep(0.02)
        sampler.poll()
    return sampler.gpus


def test_the_sampler_reads_each_gpu_and_formats_it_compactly(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)
    gpus = sample(GpuSampler())
    assert [(g["index"], g["util"], g["mem_used_mib"], g["mem_total_mib"]) for g in gpus] == [
        (0, 37, 4198, TOTAL), (1, 0, 3, TOTAL), (2, 91, 40960, TOTAL)]
    assert format_gpus(gpus) == "GPU0 37% 4.1/80G  GPU1 0% 0.0/80G  GPU2 91% 40.0/80G"
    assert gpu_of(gpus, "cuda:2")["util"] == 91 and gpu_of(gpus, "cpu") is None


def test_cuda_visible_devices_renumbers_the_samples_as_cuda_does(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    gpus = sample(GpuSampler())
    assert [(g["index"], g["physical"], g["util"]) for g in gpus] == [(0, 2, 91), (1, 0, 37)]
    assert format_gpus(gpus).startswith("GPU0 91% 40.0/80G")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0001")  # by UUID prefix
    assert [(g["index"], g["physical"]) for g in sample(GpuSampler())] == [(0, 1)]


def test_samples_are_taken_at_most_every_few_seconds(tmp_path, monkeypatch):
    calls = fake_nvidia_smi(tmp_path, monkeypatch)
    s = GpuSampler(every_s=60.0)
    sample(s)
    for _ in range(20):
        s.poll()
    assert calls.read_text().count("utilization") == 1
    assert s.poll(now=time.monotonic() + 61) is False and s._proc is not None  # the next one, due
    s.close()


def test_no_failing_or_empty_nvidia_smi_shows_nothing_and_is_not_asked_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no nvidia-smi at all
    asked = []
    real_which = gpustats.shutil.which
    monkeypatch.setattr(gpustats.shutil, "which", lambda name: asked.append(name) or real_which(name))
    s = GpuSampler()
    assert s.poll() is False and s.off and s.gpus == []
    for _ in range(5):
        s.poll(now=time.monotonic() + 3600)
    assert asked == ["nvidia-smi"]  # one look, then nothing
    monkeypatch.setattr(gpustats.shutil, "which", real_which)

    calls = fake_nvidia_smi(tmp_path, monkeypatch, rc=9)  # it fails
    s = GpuSampler()
    assert sample(s) == [] and s.off
    s.poll(now=time.monotonic() + 3600)
    assert calls.read_text().count("utilization") == 1

    fake_nvidia_smi(tmp_path, monkeypatch, gpus=[])  # it lists no GPU
    s = GpuSampler()
    assert sample(s) == [] and s.off and format_gpus(s.gpus) == ""


def _runner_json(project: Path) -> dict:
    return read_json(project / ".grokwatch" / "runner.json", {}) or {}


def _gpu_toml(project: Path) -> None:
    (project / "experiments.toml").write_text(
        '[grokwatch]\ndevices = "auto"\n'
        '[[experiment]]\nname = "g"\nkind = "grokking"\nseeds = [0]\n')


def test_the_runner_writes_the_samples_into_runner_json(tmp_path, monkeypatch):
    from fake_executor import FakeExecutor, start_runner

    fake_nvidia_smi(tmp_path, monkeypatch)
    _gpu_toml(tmp_path)
    runner = start_runner(tmp_path, FakeExecutor())
    try:
        t0 = time.monotonic()
        while not _runner_json(tmp_path).get("gpus"):
            assert time.monotonic() - t0 < 10, _runner_json(tmp_path)
            runner.tick()
            time.sleep(0.05)
        status = _runner_json(tmp_path)
        assert [(g["index"], g["util"], g["mem_used_mib"]) for g in status["gpus"]] == [
            (0, 37, 4198), (1, 0, 3), (2, 91, 40960)]
        assert abs(status["gpus_sampled"] - time.time()) < 30
    finally:
        runner.close()


def test_a_runner_without_gpus_writes_no_samples(tmp_path, monkeypatch):
    from fake_executor import FakeExecutor, start_runner

    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    _gpu_toml(tmp_path)
    runner = start_runner(tmp_path, FakeExecutor())
    try:
        for _ in range(3):
            runner.tick()
        assert runner.gpu_sampler is None  # no GPU slot: nothing to sample
        assert _runner_json(tmp_path)["gpus"] == []
    finally:
        runner.close()


def _running_run(project: Path) -> str:
    from grokwatch.headless import Follower

    d = project / "runs" / "g-s0"
    d.mkdir(parents=True)
    (d / "metrics.csv").write_text("step,time_s,train_error,test_error\n0,0.1,0.9,0.95\n20,1.0,0.5,0.9\n")
    atomic_write_json(d / "status.json", {"state": "running", "step": 20, "total_steps": 100})
    assert Follower  # the module imports without Textual
    return "g-s0"


def test_headless_prints_the_gpu_summary_once_per_round_of_progress_lines(tmp_path):
    from grokwatch.headless import Follower

    rid = _running_run(tmp_path)
    state = tmp_path / ".grokwatch"
    state.mkdir()
    atomic_write_json(state / "runner.json", {"running": True, "gpus": [
        {"index": 0, "util": 37, "mem_used_mib": 4198, "mem_total_mib": TOTAL}]})
    out = io.StringIO()
    f = Follower(tmp_path / "runs", [rid], out, progress_every_s=0.0, project_dir=tmp_path)
    f.tick()
    f.tick()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and "g-s0: step 20/100" in lines[0]
    assert lines[1].endswith("   gpu GPU0 37% 4.1/80G") and lines[3][8:] == lines[1][8:]

    atomic_write_json(state / "runner.json", {"running": True, "gpus": []})  # no GPU: no line
    out.truncate(0), out.seek(0)
    f.tick()
    assert len(out.getvalue().splitlines()) == 1 and "gpu" not in out.getvalue()


@pytest.mark.slow  # ~2.5 s: a real headless runner and workers
def test_real_headless_prints_the_gpu_line_from_the_runner_it_runs(tmp_path, monkeypatch):
    """The whole path: `grokwatch --headless` on a box whose (fake) nvidia-smi lists GPUs."""
    fake_nvidia_smi(tmp_path, monkeypatch)
    project = tmp_path / "p"
    project.mkdir()
    script = "import time\nfor i in range(12):\n    print(i, flush=True); time.sleep(0.1)"
    (project / "exp.toml").write_text(
        '[grokwatch]\ndevices = "auto"\n'
        f'[[experiment]]\nname = "c"\nkind = "command"\ngpu = false\n'
        f'command = {json.dumps([sys.executable, "-c", script])}\n')
    proc = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "0.2", cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "   gpu GPU0 37% 4.1/80G  GPU1 0% 0.0/80G  GPU2 91% 40.0/80G" in proc.stdout, proc.stdout


@pytest.mark.slow  # ~2.5 s; the Follower test above covers the no-GPU case fast
def test_real_headless_on_a_box_without_gpus_prints_no_gpu_line(tmp_path, monkeypatch):
    project = tmp_path / "p"
    project.mkdir()
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # python, but no nvidia-smi
    script = "import time\nfor i in range(12):\n    print(i, flush=True); time.sleep(0.1)"
    (project / "exp.toml").write_text(
        '[grokwatch]\ndevices = "auto"\n'
        f'[[experiment]]\nname = "c"\nkind = "command"\n'
        f'command = {json.dumps([sys.executable, "-c", script])}\n')
    proc = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "0.2", cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "step" in proc.stdout and " gpu " not in proc.stdout and "GPU" not in proc.stdout, proc.stdout
