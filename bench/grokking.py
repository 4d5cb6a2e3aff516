"""Wall time for the default grokking preset to grok, through the real worker process.

"Grokked" = train accuracy >= 99% reached while test accuracy is still < 50%, then test
accuracy >= 95%. Wall time counts from launching `python -m grokwatch.worker` (torch import
included) to the first evaluation row with test accuracy >= 95%. Target: <= 90 s on 2 cores.

    python bench/grokking.py [--preset cpu] [--threads 1] [--seeds 0 1] [--controls]

--controls also runs the presets that must not grok (cpu-no-wd, cpu-little-data) and prints
their best test accuracy.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grokwatch.experiments import get_spec  # noqa: E402


def run_preset(preset: str, seed: int, threads: int, root: Path, extra: dict | None = None):
    spec = get_spec("grokking")
    params = spec.resolve(extra or {}, preset)
    run_dir = root / f"{preset}-s{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({
        "run_id": run_dir.name, "experiment": preset, "kind": "grokking", "seed": seed,
        "params": params, "sweep": {}, "device": "cpu", "threads": threads,
        "checkpoint_every_s": 600, **spec.describe(params)}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grokwatch.worker", str(run_dir)], env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{preset} seed {seed}: worker exited {proc.returncode}\n{proc.stderr}")
    rows = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(open(run_dir / "metrics.csv"))]
    startup = wall - rows[-1]["time_s"]  # process start + torch import before the clock started
    return rows, wall, startup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--controls", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="grokwatch-bench-"))
    print(f"preset {args.preset}, threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    for seed in args.seeds:
        rows, wall, startup = run_preset(args.preset, seed, args.threads, root)
        mem = next((r for r in rows if r["train_acc"] >= 0.99), None)
        g95 = next((r for r in rows if r["test_acc"] >= 0.95), None)
        g99 = next((r for r in rows if r["test_acc"] >= 0.99), None)
        n_steps = rows[-1]["step"]
        ms = 1e3 * (rows[-1]["time_s"] - rows[0]["time_s"]) / max(1, n_steps)
        grokked = mem is not None and mem["test_acc"] < 0.5 and g95 is not None
        if g95 is not None:
            to95 = startup + g95["time_s"]
            g95_text = f"test >= 95% at step {g95['step']:.0f}, {to95:.1f} s wall from launch"
        else:
            g95_text = "test never reached 95%"
        print(f"seed {seed}: train >= 99% at step {mem['step'] if mem else float('nan'):.0f} "
              f"(test acc then {mem['test_acc'] if mem else float('nan'):.3f}); {g95_text}; "
              f"99% at step {g99['step'] if g99 else float('nan'):.0f}; "
              f"{'GROKKED' if grokked else 'did not grok'}  [target <= 90 s]")
        print(f"   whole run: {n_steps:.0f} steps, {wall:.1f} s wall ({startup:.1f} s start-up), "
              f"{ms:.1f} ms/step incl. evaluation")
    if args.controls:
        for preset in ("cpu-no-wd", "cpu-little-data"):
            rows, wall, _ = run_preset(preset, args.seeds[0], args.threads, root)
            best = max(r["test_acc"] for r in rows)
            mem = next((r["step"] for r in rows if r["train_acc"] >= 0.99), None)
            print(f"control {preset}: memorised at step {mem}, best test acc {best:.3f} over "
                  f"{rows[-1]['step']:.0f} steps ({wall:.0f} s) -> "
                  f"{'no grokking (as it should)' if best < 0.5 else 'GENERALISED (unexpected)'}")


if __name__ == "__main__":
    main()
