"""The GPU memory the runner plans for each grokking preset, and the estimate against a measurement.

    PYTHONPATH=. python3 bench/gpu_memory.py [--no-measure]

For every preset of the `grokking` kind: the estimate's terms (experiments/grokking_memory.py), one
run's tensors, one process (plus the CUDA context estimate, runner/gpumem.py), a 64-run pack, and
how many processes an idle 80 GB GPU's memory holds at that figure. Then, unless --no-measure, the
estimate against the peak of live tensor bytes the CPU allocator sees for a real
`grokking.Trainer` (init, two steps, one evaluation; torch.profiler's memory events) — the
measurable part of it on a machine with no GPU; on a GPU box `bench/gpu.py` prints the planned
figure against the workers' measured CUDA peaks.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grokwatch.experiments import get_spec  # noqa: E402
from grokwatch.experiments import grokking_memory as M  # noqa: E402
from grokwatch.runner import devices, gpumem  # noqa: E402

GPU_80G_MIB = 81559  # an 80 GB GPU's memory.total as nvidia-smi reports it (MiB)


def measured_peak_mb(params) -> float:
    from torch.profiler import ProfilerActivity, profile

    from grokwatch.experiments import grokking as G
    from grokwatch.experiments import progress

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        trainer = G.Trainer(params, 0, "cpu")
        evaluate = progress.evaluator(trainer)
        trainer.train_step()
        trainer.train_step()
        evaluate()
        del trainer
    live = peak = 0
    for e in sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak / M.MB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-measure", action="store_true", help="only the estimates (no torch)")
    args = ap.parse_args()
    spec = get_spec("grokking")
    print(f"CUDA context estimate {gpumem.CUDA_CONTEXT_MB} MB per process (not measured here); "
          f"headroom {devices.GPU_HEADROOM_MB} MB per GPU; MB = 2^20 bytes")
    print("| preset | model | parameters | state | data | train step | evaluation | one run | "
          "one process | 64-run pack | processes an idle 80 GB GPU holds |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in spec.presets:
        p = spec.resolve({}, name)
        t = {k: v / M.MB for k, v in M.terms(p).items()}
        info = {"kind": "grokking", "params": p}
        proc = gpumem.process_estimate([info]).mb
        pack = gpumem.process_estimate([info] * 64).mb
        fits = int((GPU_80G_MIB - devices.GPU_HEADROOM_MB) // math.ceil(proc))
        model = "mlp" if p["model"] == "mlp" else f"transformer d{p['d_model']} x{p['n_layers']}"
        print(f"| `{name}` | {model}, p={p['modulus']}, batch {p['batch_size'] or 'full'} | "
              f"{M.parameter_count(p):,} | {t['state']:.1f} | {t['data']:.2f} | {t['train_step']:.1f} | "
              f"{t['evaluation']:.1f} | {M.gpu_memory_mb(p):.1f} | {proc:.0f} | {pack:.0f} | {fits} |")
    if args.no_measure:
        return 0
    import torch

    torch.set_num_threads(1)
    print(f"\nestimate against the CPU allocator's peak of live tensor bytes (torch {torch.__version__}; "
          f"init + 2 steps + 1 evaluation); ratio = estimated / measured (>= 1: the estimate covers it)")
    cases = [("cpu", {}), ("cpu-little-data", {}), ("cpu-transformer", {}), ("cpu-transformer", {"batch_size": 0}),
             ("cpu-transformer", {"batch_size": 0, "n_layers": 4}), ("grokfast", {}),
             ("cpu", {"embed_dim": 32, "progress_measures": False})]
    for name, over in cases:
        p = spec.resolve(over, name)
        t0 = time.monotonic()
        measured = measured_peak_mb(p)
        est = M.gpu_memory_mb(p)
        print(f"{name} {over or ''}: measured {measured:.1f} MB, estimated {est:.1f} MB, ratio {est / measured:.2f} "
              f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
