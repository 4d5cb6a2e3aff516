"""Generate real runs of the built-in experiments for the detector evaluation.

Each run gets its own temporary run directory with a config.json (resolved by the kind's spec,
as the runner would write it) and is trained by `python -m grokwatch.worker DIR`; its
metrics.csv and config.json are then cached under tests/fixtures/detect/real/<name>/ so that
tests and `bench/detect_eval.py` can use them without training again.

    python bench/detect_runs.py                 # every run in RUNS that is not cached yet
    python bench/detect_runs.py --list
    python bench/detect_runs.py NAME...         # just these (re-generated)
    python bench/detect_runs.py --jobs 2

Labels ("grok" / "control") live in RUNS below and are written to the fixture's label.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "detect" / "real"

# name: (kind, preset, params, seed, label, note)
# label: "grok" = test accuracy jumps after memorisation (must get one generalization_jump
# before test acc 90%); "control" = must get no generalization_jump.
RUNS: dict[str, tuple[str, str | None, dict, int, str, str]] = {
    # The "cpu" preset: quadratic MLP, x+y mod 97, 40% train, init x3, AdamW wd 1: memorises
    # at ~300 with test accuracy at chance, groks by ~1,400.
    "mlp-cpu-s0": ("grokking", "cpu", {}, 0, "grok", "default cpu preset"),
    "mlp-cpu-s1": ("grokking", "cpu", {}, 1, "grok", "default cpu preset, seed 1"),
    "mlp-cpu-sparse-s2": ("grokking", "cpu", {"eval_every": 100, "eval_log_points": 30}, 2, "grok",
                          "sparser, log-spaced evaluation"),
    "mlp-cpu-wd2-s0": ("grokking", "cpu", {"weight_decay": 2.0}, 0, "grok", "stronger wd: earlier"),
    "mlp-cpu-wd0.5-s0": ("grokking", "cpu", {"weight_decay": 0.5, "steps": 5000}, 0, "grok",
                         "weaker wd: later"),
    "mlp-cpu-tf0.5-s3": ("grokking", "cpu", {"train_fraction": 0.5}, 3, "grok", "more data"),
    "mlp-cpu-tf0.3-s4": ("grokking", "cpu", {"train_fraction": 0.3, "steps": 5000}, 4, "grok",
                         "less data: later"),
    "mlp-cpu-xmy-s0": ("grokking", "cpu", {"operation": "x-y", "steps": 3000}, 0, "grok", "x-y"),
    # An attempt at the fast case (30% train, wd 0, default init): here it memorises
    # by ~240 and never generalises (test acc 2% at 1,500): a control.
    "mlp-tf0.3-wd0-init1-s0": ("grokking", "cpu", {"train_fraction": 0.3, "weight_decay": 0.0,
                                                   "init_scale": 1.0, "steps": 1500}, 0, "control",
                               "30% train, wd 0, init x1: memorises, never generalises"),
    # Attempts at grokking without weight decay (RESEARCH.md: the MLP at lr 1e-2, 30% train):
    # here both memorise by step 40 and never generalise (test acc < 1% at 1,500 / 2,500), their
    # train loss collapsing to exactly 0 (fp32 softmax collapse) by ~1,300: controls.
    "mlp-tf0.3-wd0-lr1e-2-s0": ("grokking", "cpu", {"train_fraction": 0.3, "weight_decay": 0.0,
                                                    "init_scale": 1.0, "lr": 1e-2, "steps": 1500},
                                0, "control", "30% train, wd 0, lr 1e-2, init x1: softmax collapse, never generalises"),
    "mlp-tf0.3-wd0-lr1e-2-init3-s1": ("grokking", "cpu", {"train_fraction": 0.3, "weight_decay": 0.0,
                                                          "lr": 1e-2, "steps": 2500},
                                      1, "control", "30% train, wd 0, lr 1e-2, init x3: never generalises"),
    "transformer-cpu-s0": ("grokking", "cpu-transformer", {}, 0, "grok",
                           "the paper's transformer, x+y, batch 512"),
    # Controls: must give no generalization_jump.
    "mlp-cpu-wd0-s0": ("grokking", "cpu-no-wd", {}, 0, "control", "no weight decay: never groks"),
    "mlp-cpu-wd0-s1": ("grokking", "cpu-no-wd", {"steps": 4000}, 1, "control", "no weight decay"),
    "mlp-cpu-tf0.15-s0": ("grokking", "cpu-little-data", {}, 0, "control", "too little data"),
    # Other kinds: no generalization_jump; overfitting where test error turns up in time.
    "overfit-mlp-s0": ("overfitting", "cpu-mlp", {}, 0, "control", "noisy digits MLP: overfits"),
    "overfit-mlp-s1": ("overfitting", "cpu-mlp", {}, 1, "control", "noisy digits MLP: overfits"),
    "overfit-mlp-clean-s0": ("overfitting", "cpu-mlp-clean", {}, 0, "control",
                             "clean labels: test error falls and stays down"),
    "overfit-poly-s0": ("overfitting", "cpu", {}, 0, "control", "polynomial fit: one row"),
    "dd-epochwise-s0": ("double_descent", "epochwise", {}, 0, "control",
                        "epoch-wise double descent: down, up (overfitting alert), down"),
    "dd-epochwise-one-scale-s0": ("double_descent", "epochwise-one-scale", {}, 0, "control",
                                  "one feature scale: monotone test curve"),
    "dd-rf-s0": ("double_descent", "cpu", {}, 0, "control", "random features: one row per fit"),
}

# Whether an overfitting alert is expected (runs not listed: not judged).
OVERFITS = {"overfit-mlp-s0": True, "overfit-mlp-s1": True, "overfit-mlp-clean-s0": False,
            "dd-epochwise-one-scale-s0": False, "mlp-cpu-s0": False, "mlp-cpu-s1": False}


def resolve_config(name: str, kind: str, preset: str | None, params: dict, seed: int) -> dict:
    from grokwatch.experiments import get_spec

    spec = get_spec(kind)
    resolved = spec.resolve(params, preset)
    described = spec.describe(resolved) if spec.describe else {}
    return {"run_id": name, "experiment": name, "kind": kind, "seed": seed, "params": resolved,
            "sweep": {}, "preset": preset, "device": "cpu", "threads": 1,
            "checkpoint_every_s": 3600, **described}


def generate(name: str, out_dir: Path | None = None, label: bool = True) -> str:
    """Train run `name` of RUNS; cache it in `out_dir` (default: FIXTURES/name), with its
    label.json unless `label` is false (bench/detect_sets.py measures its own)."""
    kind, preset, params, seed, lab_name, note = RUNS[name]
    config = resolve_config(name, kind, preset, params, seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"gw-detect-{name}-"))
    run_dir = tmp / name
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    with open(run_dir / "worker.log", "w") as log:
        rc = subprocess.call([sys.executable, "-m", "grokwatch.worker", str(run_dir)],
                             stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
    took = time.monotonic() - t0
    if rc != 0:
        return f"{name}: worker exit {rc} after {took:.0f}s; log in {run_dir / 'worker.log'}"
    out = out_dir or FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "metrics.csv", out / "metrics.csv")
    # Only what the detectors read, to keep fixtures small and stable.
    keep = {k: config[k] for k in ("run_id", "kind", "seed", "params", "n_train", "n_test",
                                   "total_steps") if k in config}
    (out / "config.json").write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")
    if not label:
        shutil.rmtree(tmp, ignore_errors=True)
        return f"{name}: done in {took:.0f}s"
    lab = {"label": lab_name, "note": note}
    if lab_name == "grok":
        from detect_eval import liu_phase  # Liu et al.'s phase, measured on the whole log

        from grokwatch.columns import complete_row
        from grokwatch.runs import read_all_metrics

        lab["phase"] = liu_phase([complete_row(r) for r in read_all_metrics(out / "metrics.csv")])
    if name in OVERFITS:
        lab["overfitting"] = OVERFITS[name]
    (out / "label.json").write_text(json.dumps(lab) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return f"{name}: done in {took:.0f}s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    if args.list:
        for name, (kind, preset, params, seed, label, note) in RUNS.items():
            cached = "cached" if (FIXTURES / name / "metrics.csv").exists() else "-"
            print(f"{name:28s} {label:8s} {cached:7s} {kind} {preset} {params} seed {seed}: {note}")
        return 0
    names = args.names or [n for n in RUNS if not (FIXTURES / n / "metrics.csv").exists()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        print(f"unknown run(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for line in pool.map(generate, names):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
