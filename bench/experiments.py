"""The numpy experiment kinds' default sweeps and runs through the real worker, timed.

    python bench/experiments.py [--parallel 2] [--only dd|poly|mlp|epochwise|ridge|digits]

- dd: the default model-wise double-descent sweep (preset `cpu`, the demo queue's n_features
  grid): the peak must sit at N = n_train and be >= 1.5x the widest model's test error; the whole
  sweep within 60 s.
- ridge: the same sweep with the `cpu-ridge` control (the peak should be gone).
- digits: the `digits` preset sweep (Fourier features of sklearn's digits).
- poly: the polynomial degree sweep (preset `cpu`): the U.
- mlp: overfitting in time (preset `cpu-mlp`): where test error bottoms, and how far it climbs.
- epochwise: epoch-wise double descent (preset `epochwise`): down, up, down.

Each run is one `python -m grokwatch.worker` process with one thread, `--parallel` at a time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grokwatch.experiments import get_spec  # noqa: E402

DD_GRID = [20, 50, 100, 150, 180, 200, 220, 260, 400, 800, 2000]
DIGITS_GRID = [50, 150, 300, 450, 500, 550, 700, 1000, 2500, 5000]
DEGREES = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16]


def run_one(root: Path, kind: str, preset: str, params: dict, seed: int = 0) -> tuple[list[dict], float]:
    spec = get_spec(kind)
    resolved = spec.resolve(params, preset)
    name = f"{kind}-{preset}-" + "-".join(f"{k}{v}" for k, v in params.items())
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({
        "run_id": name, "experiment": preset, "kind": kind, "seed": seed, "params": resolved,
        "sweep": params, "device": "cpu", "threads": 1, "checkpoint_every_s": 600,
        **spec.describe(resolved)}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grokwatch.worker", str(run_dir)], env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: worker exited {proc.returncode}\n{proc.stderr}")
    rows = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(open(run_dir / "metrics.csv"))]
    return rows, wall


def sweep(root, pool, kind, preset, key, values):
    t0 = time.monotonic()
    results = list(pool.map(lambda v: run_one(root, kind, preset, {key: v}), values))
    wall = time.monotonic() - t0
    errs = {v: r[0][-1]["test_error"] for v, r in zip(values, results)}
    trains = {v: r[0][-1]["train_error"] for v, r in zip(values, results)}
    return errs, trains, wall, sum(r[1] for r in results)


def fmt(d):
    return "  ".join(f"{k}:{v:.3g}" for k, v in d.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=["dd", "ridge", "digits", "poly", "mlp", "epochwise"])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="grokwatch-bench-exp-"))
    print(f"load average {os.getloadavg()[0]:.1f}, {args.parallel} worker(s) at a time, 1 thread each")
    with ThreadPoolExecutor(args.parallel) as pool:
        if "dd" in args.only or "ridge" in args.only:
            for preset in [p for p in ("cpu", "cpu-ridge") if ("dd" if p == "cpu" else "ridge") in args.only]:
                errs, trains, wall, cpu = sweep(root, pool, "double_descent", preset, "n_features", DD_GRID)
                peak = max(errs, key=errs.get)
                ratio = errs[peak] / errs[DD_GRID[-1]]
                print(f"double_descent {preset}: test MSE by n_features (n_train 200): {fmt(errs)}")
                target = ("[target: peak at 200, >= 1.5x]" if preset == "cpu"
                          else "[control: no peak, < 1.5x]")
                print(f"   peak at N = {peak}; peak / widest = {ratio:.1f}x "
                      f"{target}; sweep {wall:.1f} s wall "
                      f"({cpu:.1f} s of worker time) [target < 60 s]")
        if "digits" in args.only:
            errs, trains, wall, _ = sweep(root, pool, "double_descent", "digits", "n_features", DIGITS_GRID)
            peak = max(errs, key=errs.get)
            print(f"double_descent digits: test error by n_features (n_train 500): {fmt(errs)}")
            print(f"   peak at N = {peak}; peak / widest = {errs[peak] / errs[DIGITS_GRID[-1]]:.1f}x; "
                  f"{wall:.1f} s wall")
        if "poly" in args.only:
            errs, trains, wall, _ = sweep(root, pool, "overfitting", "cpu", "degree", DEGREES)
            best = min(errs, key=errs.get)
            print(f"overfitting polynomial: median test MSE by degree (n_train 20): {fmt(errs)}")
            print(f"   train MSE: {fmt(trains)}")
            print(f"   best degree {best}; degree 0 / best = {errs[0] / errs[best]:.1f}x, "
                  f"degree {DEGREES[-1]} / best = {errs[DEGREES[-1]] / errs[best]:.3g}x; {wall:.1f} s wall")
        if "mlp" in args.only:
            rows, wall = run_one(root, "overfitting", "cpu-mlp", {})
            best = min(rows, key=lambda r: r["test_error"])
            last = rows[-1]
            print(f"overfitting mlp: test error bottoms at {best['test_error']:.3f} (step {best['step']:.0f}), "
                  f"ends at {last['test_error']:.3f} (step {last['step']:.0f}); train error "
                  f"{best['train_error']:.3f} -> {last['train_error']:.3f}; {wall:.1f} s wall")
        if "epochwise" in args.only:
            rows, wall = run_one(root, "double_descent", "epochwise", {})
            test = {int(r["step"]): r["test_error"] for r in rows}
            marks = [s for s in (1, 20, 100, 1000, 3000, 10_000, 100_000) if s in test]
            near = {s: test[min(test, key=lambda t: abs(t - s))] for s in (1, 20, 100, 1000, 3000, 10_000, 100_000)}
            print(f"double_descent epochwise: test MSE near step {fmt(near)} "
                  f"(exact steps logged: {marks}); {len(rows)} rows; {wall:.1f} s wall")
            train = [r["train_error"] for r in rows]
            print(f"   train MSE monotone: {all(b <= a for a, b in zip(train, train[1:]))}")


if __name__ == "__main__":
    main()
