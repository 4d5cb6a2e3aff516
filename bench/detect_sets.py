"""Generate the two run sets the early-warning rules are judged on: `tune` (the rules were
tuned on it) and `heldout` (generated from other seeds and other hyperparameter values, and
not looked at until the rules were frozen). Each run is a real run of the built-in grokking
kind, trained by `python -m grokwatch.worker` with the progress measures on (the default), and
cached under tests/fixtures/detect/sets/<set>/<name>/ (metrics.csv, config.json, label.json).

    python bench/detect_sets.py --set tune --jobs 2     # every run of the set not cached yet
    python bench/detect_sets.py --set heldout --list
    python bench/detect_sets.py --set tune NAME...      # just these (re-generated)
    python bench/detect_sets.py --relabel               # labels again from the cached logs

The label is *measured* from the whole log, never taken from the recipe (see `label_of`):
"grok" when the run memorised (train accuracy >= 99%) while test accuracy was still below 20%
and later reached 90%; "never" when test accuracy stayed below 20% over the run's whole
length (chance is 1% for p = 97); "other" otherwise (partial generalisation, or test accuracy
rising with train accuracy)
(left out of both groups, listed by `bench/detect_eval.py`). The recipes below say what each
was *meant* to show; several meant to grok did not, and are "never" for that reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SETS_DIR = ROOT / "tests" / "fixtures" / "detect" / "sets"

MEMORISED = 0.99  # train accuracy
LOW = 0.2  # test accuracy "still low" at memorisation / "never left" the low range
GENERALISED = 0.9  # test accuracy reached later


def _mlp(**kw):
    return ("cpu", kw)


def _tf(**kw):
    return ("cpu-transformer", kw)


def _paper(**kw):
    return ("paper", {"steps": 2500, **kw})


# name: (preset, params, seed, what it is meant to show)
TUNE: dict[str, tuple[str, dict, int, str]] = {}
HELDOUT: dict[str, tuple[str, dict, int, str]] = {}


def _add(table, name, recipe, seed, why):
    preset, params = recipe
    table[f"{name}-s{seed}"] = (preset, params, seed, why)


# --- tune: meant to grok ---------------------------------------------------------------------
for s in (10, 11, 12):
    _add(TUNE, "mlp", _mlp(), s, "the cpu preset (wd 1, 40% train)")
_add(TUNE, "mlp-wd2", _mlp(weight_decay=2.0), 10, "stronger weight decay: earlier")
_add(TUNE, "mlp-wd3", _mlp(weight_decay=3.0), 11, "stronger weight decay")
_add(TUNE, "mlp-tf0.5", _mlp(train_fraction=0.5), 10, "more data")
_add(TUNE, "mlp-tf0.5", _mlp(train_fraction=0.5), 11, "more data")
_add(TUNE, "mlp-tf0.6", _mlp(train_fraction=0.6), 10, "more data")
_add(TUNE, "mlp-wd0.5-tf0.5", _mlp(weight_decay=0.5, train_fraction=0.5, steps=4000), 10,
     "weaker weight decay: later")
_add(TUNE, "mlp-tf0.3", _mlp(train_fraction=0.3, steps=4000), 10, "less data: later")
_add(TUNE, "mlp-lr2e-3", _mlp(lr=2e-3), 10, "higher learning rate")
_add(TUNE, "mlp-lr5e-4-wd2", _mlp(lr=5e-4, weight_decay=2.0, steps=4000), 10, "lower lr")
_add(TUNE, "mlp-init2", _mlp(init_scale=2.0), 10, "smaller initialisation")
_add(TUNE, "mlp-init4", _mlp(init_scale=4.0, steps=3000), 10, "larger initialisation")
_add(TUNE, "mlp-xmy", _mlp(operation="x-y", steps=3000), 10, "x-y")
_add(TUNE, "mlp-xmy-wd2", _mlp(operation="x-y", weight_decay=2.0), 11, "x-y")
_add(TUNE, "mlp-width128", _mlp(width=128, steps=3000), 10, "narrower")
_add(TUNE, "mlp-wd0-init1-tf0.5", _mlp(weight_decay=0.0, init_scale=1.0, train_fraction=0.5), 10,
     "no weight decay, init x1, 50% train: generalises without weight decay")
_add(TUNE, "mlp-wd0-init1-tf0.5", _mlp(weight_decay=0.0, init_scale=1.0, train_fraction=0.5), 11,
     "no weight decay: generalises without weight decay")
_add(TUNE, "mlp-wd0-init1-tf0.6", _mlp(weight_decay=0.0, init_scale=1.0, train_fraction=0.6), 10,
     "no weight decay: generalises without weight decay")
_add(TUNE, "mlp-wd0-init1.5-tf0.5", _mlp(weight_decay=0.0, init_scale=1.5, train_fraction=0.5,
                                         steps=3000), 10, "no weight decay, larger init")
_add(TUNE, "tf", _tf(), 10, "the paper's transformer, x+y, batch 512")
_add(TUNE, "tf-wd2", _tf(weight_decay=2.0, steps=2500), 11, "transformer, stronger wd")
# --- tune: meant never to grok ---------------------------------------------------------------
for s in (10, 11, 12):
    _add(TUNE, "mlp-wd0", _mlp(weight_decay=0.0), s, "no weight decay, init x3")
_add(TUNE, "mlp-wd0-tf0.3", _mlp(weight_decay=0.0, train_fraction=0.3), 10, "no weight decay")
_add(TUNE, "mlp-wd0-tf0.5", _mlp(weight_decay=0.0, train_fraction=0.5), 10, "no weight decay")
_add(TUNE, "mlp-wd0-lr1e-2-init1-tf0.3", _mlp(weight_decay=0.0, lr=1e-2, init_scale=1.0,
                                              train_fraction=0.3), 10, "softmax collapse")
_add(TUNE, "mlp-wd0-lr1e-2", _mlp(weight_decay=0.0, lr=1e-2), 10, "softmax collapse")
_add(TUNE, "mlp-tf0.15", _mlp(train_fraction=0.15), 10, "too little data")
_add(TUNE, "mlp-tf0.15", _mlp(train_fraction=0.15), 11, "too little data")
_add(TUNE, "mlp-tf0.2", _mlp(train_fraction=0.2), 10, "too little data")
_add(TUNE, "mlp-tf0.2-wd2", _mlp(train_fraction=0.2, weight_decay=2.0), 10, "too little data")
_add(TUNE, "mlp-wd0.05", _mlp(weight_decay=0.05), 10, "weight decay too small for 2,500 steps")
_add(TUNE, "mlp-wd0.05", _mlp(weight_decay=0.05), 11, "weight decay too small")
_add(TUNE, "mlp-wd0.1", _mlp(weight_decay=0.1), 10, "weight decay too small")
_add(TUNE, "mlp-wd0.1-tf0.3", _mlp(weight_decay=0.1, train_fraction=0.3), 10, "wd too small")
_add(TUNE, "mlp-lr2e-4", _mlp(lr=2e-4), 10, "learning rate too low")
_add(TUNE, "mlp-lr1e-4", _mlp(lr=1e-4, steps=3000), 10, "learning rate too low")
_add(TUNE, "mlp-xmy-wd0", _mlp(operation="x-y", weight_decay=0.0), 10, "x-y, no weight decay")
_add(TUNE, "mlp-xmy-tf0.15", _mlp(operation="x-y", train_fraction=0.15), 10, "x-y, too little data")
_add(TUNE, "mlp-wd0-init0.5-tf0.3", _mlp(weight_decay=0.0, init_scale=0.5, train_fraction=0.3), 10,
     "no weight decay, small init, 30% train")
_add(TUNE, "mlp-wd0-init1-tf0.4", _mlp(weight_decay=0.0, init_scale=1.0), 10, "no wd, init x1")
_add(TUNE, "tf-wd0", _tf(weight_decay=0.0, steps=2000), 10, "transformer, no weight decay")
_add(TUNE, "tf-paper", _paper(), 10, "Power et al.'s transformer, x/y, 50% train: groks")
_add(TUNE, "tf-paper-wd0", _paper(weight_decay=0.0), 10, "the same without weight decay")

# --- heldout: meant to grok (other seeds, other values) -----------------------------------------
for s in (20, 21, 22, 23, 24):
    _add(HELDOUT, "mlp", _mlp(), s, "the cpu preset")
_add(HELDOUT, "mlp-wd1.5", _mlp(weight_decay=1.5), 20, "stronger weight decay")
_add(HELDOUT, "mlp-wd1.5-tf0.45", _mlp(weight_decay=1.5, train_fraction=0.45), 22, "wd 1.5, 45% train")
_add(HELDOUT, "mlp-wd2.5", _mlp(weight_decay=2.5), 21, "stronger weight decay")
_add(HELDOUT, "mlp-tf0.45", _mlp(train_fraction=0.45), 20, "more data")
_add(HELDOUT, "mlp-tf0.55", _mlp(train_fraction=0.55), 21, "more data")
_add(HELDOUT, "mlp-tf0.65", _mlp(train_fraction=0.65), 20, "more data")
_add(HELDOUT, "mlp-wd0.7-tf0.45", _mlp(weight_decay=0.7, train_fraction=0.45, steps=4000), 20,
     "weaker weight decay")
_add(HELDOUT, "mlp-tf0.35", _mlp(train_fraction=0.35, steps=4000), 20, "less data")
_add(HELDOUT, "mlp-lr1.5e-3", _mlp(lr=1.5e-3), 20, "higher learning rate")
_add(HELDOUT, "mlp-lr7e-4-wd1.5", _mlp(lr=7e-4, weight_decay=1.5, steps=4000), 20, "lower lr")
_add(HELDOUT, "mlp-init2.5", _mlp(init_scale=2.5), 20, "smaller initialisation")
_add(HELDOUT, "mlp-init3.5", _mlp(init_scale=3.5, steps=3000), 20, "larger initialisation")
_add(HELDOUT, "mlp-xmy", _mlp(operation="x-y", steps=3000), 20, "x-y")
_add(HELDOUT, "mlp-xmy-tf0.5", _mlp(operation="x-y", train_fraction=0.5), 21, "x-y")
_add(HELDOUT, "mlp-width192", _mlp(width=192, steps=3000), 20, "narrower")
_add(HELDOUT, "mlp-wd0-init1-tf0.55", _mlp(weight_decay=0.0, init_scale=1.0, train_fraction=0.55),
     20, "no weight decay: generalises without weight decay")
_add(HELDOUT, "mlp-wd0-init1-tf0.5", _mlp(weight_decay=0.0, init_scale=1.0, train_fraction=0.5), 21,
     "no weight decay: generalises without weight decay")
_add(HELDOUT, "mlp-wd0-init0.8-tf0.6", _mlp(weight_decay=0.0, init_scale=0.8, train_fraction=0.6),
     20, "no weight decay: generalises without weight decay")
_add(HELDOUT, "mlp-wd0-init1.2-tf0.6", _mlp(weight_decay=0.0, init_scale=1.2, train_fraction=0.6,
                                            steps=3000), 21, "no weight decay, larger init")
_add(HELDOUT, "tf-paper", _paper(), 20, "Power et al.'s transformer, x/y, 50% train")
_add(HELDOUT, "tf-paper-wd1.5", _paper(weight_decay=1.5), 21, "the same, stronger wd")
# --- heldout: meant never to grok ---------------------------------------------------------------
for s in (20, 21, 22, 23):
    _add(HELDOUT, "mlp-wd0", _mlp(weight_decay=0.0), s, "no weight decay, init x3")
_add(HELDOUT, "mlp-wd0-tf0.35", _mlp(weight_decay=0.0, train_fraction=0.35), 20, "no weight decay")
_add(HELDOUT, "mlp-wd0-tf0.55", _mlp(weight_decay=0.0, train_fraction=0.55), 20, "no weight decay")
_add(HELDOUT, "mlp-wd0-lr1e-2-init1-tf0.35", _mlp(weight_decay=0.0, lr=1e-2, init_scale=1.0,
                                                  train_fraction=0.35), 20, "softmax collapse")
_add(HELDOUT, "mlp-wd0-lr7e-3", _mlp(weight_decay=0.0, lr=7e-3), 20, "softmax collapse")
_add(HELDOUT, "mlp-tf0.17", _mlp(train_fraction=0.17), 20, "too little data")
_add(HELDOUT, "mlp-tf0.13", _mlp(train_fraction=0.13), 21, "too little data")
_add(HELDOUT, "mlp-tf0.2", _mlp(train_fraction=0.2), 21, "too little data")
_add(HELDOUT, "mlp-tf0.15-wd1.5", _mlp(train_fraction=0.15, weight_decay=1.5), 22, "too little data")
_add(HELDOUT, "mlp-tf0.18-wd2.5", _mlp(train_fraction=0.18, weight_decay=2.5), 20, "too little data")
_add(HELDOUT, "mlp-wd0.07", _mlp(weight_decay=0.07), 20, "weight decay too small")
_add(HELDOUT, "mlp-wd0.03", _mlp(weight_decay=0.03), 21, "weight decay too small")
_add(HELDOUT, "mlp-wd0.12", _mlp(weight_decay=0.12), 20, "weight decay too small")
_add(HELDOUT, "mlp-wd0.08-tf0.35", _mlp(weight_decay=0.08, train_fraction=0.35), 20, "wd too small")
_add(HELDOUT, "mlp-lr3e-4", _mlp(lr=3e-4), 20, "learning rate too low")
_add(HELDOUT, "mlp-lr1.5e-4", _mlp(lr=1.5e-4, steps=3000), 20, "learning rate too low")
_add(HELDOUT, "mlp-xmy-wd0", _mlp(operation="x-y", weight_decay=0.0), 20, "x-y, no weight decay")
_add(HELDOUT, "mlp-xmy-tf0.17", _mlp(operation="x-y", train_fraction=0.17), 20, "x-y, little data")
_add(HELDOUT, "mlp-wd0-init0.6-tf0.35", _mlp(weight_decay=0.0, init_scale=0.6,
                                             train_fraction=0.35), 20, "no wd, small init")
_add(HELDOUT, "mlp-wd0-init1.2-tf0.4", _mlp(weight_decay=0.0, init_scale=1.2), 20, "no wd, init 1.2")
_add(HELDOUT, "tf-paper-wd0", _paper(weight_decay=0.0), 20, "Power et al.'s transformer, no wd")

SETS = {"tune": TUNE, "heldout": HELDOUT}


def first_step(rows, key, level):
    for r in rows:
        v = r.get(key)
        if v is not None and v >= level:
            return r["step"]
    return None


def label_of(rows: list[dict]) -> dict:
    """The run's label measured from its whole log (accuracy columns), never its recipe."""
    mem = first_step(rows, "train_acc", MEMORISED)
    best = max((r["test_acc"] for r in rows if r.get("test_acc") is not None), default=0.0)
    at_mem = next((r.get("test_acc") for r in rows if r["step"] == mem), None)
    gen = first_step(rows, "test_acc", GENERALISED)
    out = {"memorised": mem, "generalised": gen, "best_test_acc": round(best, 4),
           "test_acc_at_memorised": None if at_mem is None else round(at_mem, 4),
           "last_step": rows[-1]["step"] if rows else None}
    if mem is not None and at_mem is not None and at_mem < LOW and gen is not None and gen > mem:
        out["label"] = "grok"
    elif best < LOW:
        out["label"] = "never"
    else:
        out["label"] = "other"
    return out


def write_label(out: Path, why: str) -> dict:
    from detect_eval import liu_phase

    from grokwatch.columns import complete_row
    from grokwatch.runs import read_all_metrics

    rows = [complete_row(r) for r in read_all_metrics(out / "metrics.csv")]
    lab = {**label_of(rows), "recipe": why}
    if lab["label"] == "grok":
        lab["phase"] = liu_phase(rows)
    (out / "label.json").write_text(json.dumps(lab) + "\n")
    return lab


def generate(set_name: str, name: str) -> str:
    import detect_runs

    preset, params, seed, why = SETS[set_name][name]
    out = SETS_DIR / set_name / name
    detect_runs.RUNS[name] = ("grokking", preset, params, seed, "-", why)
    msg = detect_runs.generate(name, out_dir=out, label=False)
    if (out / "metrics.csv").exists() and "done" in msg:
        lab = write_label(out, why)
        msg += f" -> {lab['label']} (memorised {lab['memorised']}, 90% test at {lab['generalised']})"
    return msg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--set", choices=sorted(SETS), default="tune")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--relabel", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    table = SETS[args.set]
    if args.list:
        for name, (preset, params, seed, why) in table.items():
            d = SETS_DIR / args.set / name
            lab = json.loads((d / "label.json").read_text())["label"] if (d / "label.json").exists() else "-"
            print(f"{name:34s} {lab:6s} {preset} {params} seed {seed}: {why}")
        return 0
    if args.relabel:
        for name, (_, _, _, why) in table.items():
            if (SETS_DIR / args.set / name / "metrics.csv").exists():
                print(name, write_label(SETS_DIR / args.set / name, why)["label"])
        return 0
    names = args.names or [n for n in table if not (SETS_DIR / args.set / n / "metrics.csv").exists()]
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"unknown run(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for line in pool.map(lambda n: generate(args.set, n), names):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
