"""The grokking kind's GPU memory estimate (experiments/grokking_memory.py), checked against the
real thing: its parameter count against the torch models' `numel()`, its total against the
peak of tensor bytes the CPU allocator sees for a real Trainer (init, two steps, one evaluation
with the progress measures), measured with torch.profiler's memory events."""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")

from grokwatch.experiments import grokking as G  # noqa: E402
from grokwatch.experiments import grokking_memory as M  # noqa: E402
from grokwatch.experiments import progress  # noqa: E402

MLP_SIZES = [dict(modulus=23, width=16), dict(modulus=97, width=256), dict(modulus=59, width=100, embed_dim=24),
             dict(modulus=7, width=3, embed_dim=1)]
TRANSFORMER_SIZES = [dict(modulus=23, d_model=32, n_heads=2, n_layers=1), dict(modulus=97, d_model=128, n_heads=4),
                     dict(modulus=31, d_model=48, n_heads=3, n_layers=3), dict(modulus=113, d_model=16, n_heads=1,
                                                                                  n_layers=5)]


@pytest.mark.parametrize("over", MLP_SIZES + [{**t, "model": "transformer"} for t in TRANSFORMER_SIZES])
def test_the_parameter_count_is_the_models(over):
    params = G.SPEC.resolve(over, "cpu")
    with torch.device("meta"):
        real = sum(q.numel() for q in G.build_model(params).parameters())
    assert M.parameter_count(params) == real


def measured_peak_mb(params) -> float:
    """The CPU allocator's peak of live tensor bytes over a Trainer's life: init, two steps,
    one evaluation (with the progress measures when they are on)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        trainer = G.Trainer(params, 0, "cpu")
        evaluate = progress.evaluator(trainer)
        trainer.train_step()
        trainer.train_step()
        evaluate()
        del trainer
    live = peak = 0
    allocations = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                         key=lambda e: e.start_ns())
    assert allocations, "the profiler saw no allocations"
    for e in allocations:
        live += e.nbytes()
        peak = max(peak, live)
    return peak / M.MB


CASES = [
    ("cpu", dict(modulus=23, width=64)),
    ("cpu", dict(modulus=31, width=48, embed_dim=16, progress_measures=False)),
    ("cpu-transformer", dict(modulus=23, d_model=32, n_heads=2)),  # full batch (n_train < 512)
    ("cpu-transformer", dict(modulus=29, d_model=32, n_heads=2, n_layers=3, batch_size=64)),
]


@pytest.mark.parametrize("preset,over", CASES)
def test_the_estimate_covers_the_measured_tensor_peak_without_gross_overshoot(preset, over):
    torch.set_num_threads(1)
    params = G.SPEC.resolve(over, preset)
    measured, estimate = measured_peak_mb(params), M.gpu_memory_mb(params)
    assert measured <= estimate <= 2.0 * measured, (measured, estimate)


@pytest.mark.parametrize("preset,over", [("cpu", {}), ("cpu-transformer", {}), ("cpu-transformer", {"batch_size": 0}),
                                         ("grokfast", {})])
def test_the_estimate_covers_the_default_presets(preset, over):
    torch.set_num_threads(1)
    params = G.SPEC.resolve(over, preset)
    t0 = time.monotonic()
    measured, estimate = measured_peak_mb(params), M.gpu_memory_mb(params)
    print(f"{preset} {over}: measured {measured:.1f} MB, estimated {estimate:.1f} MB "
          f"({time.monotonic() - t0:.1f} s)")
    assert measured <= estimate <= 2.0 * measured, (measured, estimate)


def test_the_estimate_grows_with_every_size_it_reads():
    base = G.SPEC.resolve({}, "cpu")
    for key, bigger in [("width", 512), ("modulus", 113), ("train_fraction", 0.8), ("grokfast", True)]:
        assert M.gpu_memory_mb({**base, key: bigger}) > M.gpu_memory_mb(base), key
    tr = G.SPEC.resolve({"batch_size": 0}, "cpu-transformer")
    for key, bigger in [("d_model", 256), ("n_layers", 4), ("n_heads", 8)]:
        assert M.gpu_memory_mb({**tr, key: bigger}) > M.gpu_memory_mb(tr), key
    assert M.gpu_memory_mb(G.SPEC.resolve({"batch_size": 64}, "cpu-transformer")) < M.gpu_memory_mb(tr)
    assert set(M.MEMORY_SHAPE) <= set(G.PARAMS)


# ----------------------------------------------------------------------------- the measured peak
# Reading the CUDA counters cannot run here (no GPU): these check that the counters are read only
# on CUDA, and that what a CUDA worker reads reaches status.json, in the single worker and in a
# pack, with `gpu_peak` standing in for the counters.

def test_the_peak_is_read_on_cuda_only(monkeypatch):
    import types

    assert G.gpu_peak(torch.device("cpu")) == {}
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 300 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 512 * 2**20)
    assert G.gpu_peak(types.SimpleNamespace(type="cuda")) == {"gpu_peak_allocated_mb": 300.0,
                                                              "gpu_peak_reserved_mb": 512.0}


def _run_dir(path, seed=0):
    import json

    spec = G.SPEC
    params = spec.resolve({"modulus": 11, "width": 8, "steps": 30, "eval_every": 10})
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({
        "run_id": path.name, "experiment": "e", "kind": "grokking", "seed": seed, "params": params,
        "sweep": {}, "device": "cpu", "threads": 1, "checkpoint_every_s": 60, **spec.describe(params)}))
    return path


def test_a_workers_measured_peak_reaches_status_json_single_and_packed(tmp_path, monkeypatch):
    from grokwatch.pack import Pack
    from grokwatch.runs import read_json
    from grokwatch.worker import Worker

    seen = {"gpu_peak_allocated_mb": 40.0, "gpu_peak_reserved_mb": 64.0}
    monkeypatch.setattr(G, "gpu_peak", lambda device: dict(seen))  # what CUDA's counters would say
    single = _run_dir(tmp_path / "runs" / "a")
    assert Worker(single).run() == 0
    status = read_json(single / "status.json")
    assert status["state"] == "done" and status["gpu_peak_reserved_mb"] == 64.0
    members = [_run_dir(tmp_path / "runs" / n, seed) for seed, n in enumerate("bc")]
    assert Pack(members, "pack-t").run() == 0
    for d in members:
        status = read_json(d / "status.json")
        assert status["state"] == "done" and status["pack_size"] == 2
        assert (status["gpu_peak_allocated_mb"], status["gpu_peak_reserved_mb"]) == (40.0, 64.0)
