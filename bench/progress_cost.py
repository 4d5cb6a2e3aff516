"""What the grokking kind's progress measures cost (grokwatch/experiments/progress.py), as a
share of training time at each preset's default evaluation interval.

    python bench/progress_cost.py [--presets cpu cpu-transformer] [--reps 5]

For each preset: CPU time of a training step, of an evaluation without the measures, and of an
evaluation with them (the same logits reused), interleaved and repeated; the cost is
(evaluation with - without) / (eval_every x step). One thread, as a worker runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="*", default=["cpu", "cpu-transformer"])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    import torch

    from grokwatch.experiments import get_spec, progress
    from grokwatch.experiments.grokking import Trainer

    torch.set_num_threads(1)
    ok = True
    for preset in args.presets:
        p = get_spec("grokking").resolve({}, preset)
        t = Trainer(p, seed=0)
        with_measures = progress.evaluator(t)
        for _ in range(10):  # warm up, and leave the initial state
            t.train_step()
        steps, plain, full = [], [], []
        for _ in range(args.reps):
            t0 = time.process_time()
            for _ in range(10):
                t.train_step()
            steps.append((time.process_time() - t0) / 10)
            t.keep_logits = False
            t0 = time.process_time()
            t.evaluate()
            plain.append(time.process_time() - t0)
            t.keep_logits = True
            t0 = time.process_time()
            with_measures()
            full.append(time.process_time() - t0)
        step, ev, evm = (statistics.median(x) for x in (steps, plain, full))
        every = p["eval_every"]
        cost = (evm - ev) / (every * step)
        ok &= cost <= 0.10
        print(f"{preset:16s} step {1e3 * step:7.1f} ms  evaluate {1e3 * ev:7.1f} ms  with measures "
              f"{1e3 * evm:7.1f} ms (x{evm / ev:.2f})  eval_every {every}: measures cost "
              f"{100 * cost:.1f}% of training time, evaluation itself {100 * ev / (every * step):.1f}%")
    print("target met (<= 10%)" if ok else "TARGET NOT MET (> 10%)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
