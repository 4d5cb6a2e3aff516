"""Packed grokking runs against the per-run loop, on the CPU, in the same process and run.

    nice -n 10 python bench/pack.py --runs 64 --width 32 --modulus 23

First the configuration given on the command line (default: 64 tiny MLP runs, where each run's
work is so small that per-operation overhead dominates): prints `speedup X` (loop time / packed
time, each the best of `--rounds` interleaved rounds). Then the default `cpu` preset's sizes
(MLP width 256, x+y mod 97, full batch) at 4, 16 and 64 runs, for fewer steps (`--default-steps`;
the per-step cost does not change over a run), and for each what `pack = "auto"` picks
(`grokwatch.packing.auto_pack_size`) beside what was faster here.

Both sides do the same work: `steps` optimizer steps of every run plus an evaluation every
`eval_every` steps; the runs differ in seed, weight decay and learning rate (a small sweep).
The loop is `grokking.Trainer` run after run (what one worker per run does, without process
start-up); the pack is `packed.PackTrainer`, one batched computation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from grokwatch.experiments import grokking as G  # noqa: E402
from grokwatch.experiments.packed import PackTrainer  # noqa: E402
from grokwatch.packing import auto_pack_size, step_macs  # noqa: E402


def sweep(base: dict, runs: int) -> tuple[list[dict], list[int]]:
    wds = [1.0, 0.5, 0.3, 0.1]
    lrs = [1e-3, 2e-3]
    params = [dict(base, weight_decay=wds[i % len(wds)], lr=lrs[(i // len(wds)) % len(lrs)])
              for i in range(runs)]
    return params, list(range(runs))


def time_loop(params: list[dict], seeds: list[int], steps: int, every: int) -> float:
    trainers = [G.Trainer(p, s) for p, s in zip(params, seeds)]
    t0 = time.perf_counter()
    for tr in trainers:
        for step in range(1, steps + 1):
            tr.train_step()
            if every and step % every == 0:
                tr.evaluate()
    return time.perf_counter() - t0


def time_pack(params: list[dict], seeds: list[int], steps: int, every: int) -> float:
    pack = PackTrainer(params, seeds)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        pack.train_step()
        if every and step % every == 0:
            pack.evaluate()
    return time.perf_counter() - t0


def compare(params, seeds, steps, every, rounds) -> tuple[float, float, float]:
    loops, packs, ratios = [], [], []
    for _ in range(rounds):
        a = time_loop(params, seeds, steps, every)
        b = time_pack(params, seeds, steps, every)
        loops.append(a)
        packs.append(b)
        ratios.append(a / b)
    return min(loops), min(packs), statistics.median(ratios)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--modulus", type=int, default=23)
    ap.add_argument("--model", default="mlp", choices=("mlp", "transformer"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--default-steps", type=int, default=20,
                    help="steps for the default-preset comparisons (fewer than a real run)")
    ap.add_argument("--default-runs", type=int, nargs="*", default=[4, 16, 64])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    defaults = {k: v.default for k, v in G.PARAMS.items()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU; times are the best of "
          f"{args.rounds} interleaved rounds, speedup = median of per-round loop/packed ratios")

    base = dict({**defaults, **G.CPU}, model=args.model, width=args.width, modulus=args.modulus,
                d_model=32, n_heads=2, n_layers=1)
    params, seeds = sweep(base, args.runs)
    loop, pack, ratio = compare(params, seeds, args.steps, args.eval_every, args.rounds)
    print(f"{args.runs} runs, {args.model} width {args.width}, modulus {args.modulus}, "
          f"{args.steps} steps (eval every {args.eval_every}), {step_macs(base) / 1e6:.2f} M "
          f"MACs/step/run: loop {loop:.2f} s, packed {pack:.2f} s")
    print(f"speedup {ratio:.2f}")

    dbase = {**defaults, **G.CPU}
    steps = args.default_steps
    every = max(1, min(G.CPU["eval_every"], steps))
    print(f"default preset (mlp width {dbase['width']}, modulus {dbase['modulus']}, full batch, "
          f"{step_macs(dbase) / 1e6:.0f} M MACs/step/run), {steps} steps instead of "
          f"{dbase['steps']} (eval every {every}):")
    for runs in args.default_runs:
        params, seeds = sweep(dbase, runs)
        loop, pack, ratio = compare(params, seeds, steps, every, 1 if runs >= 16 else args.rounds)
        auto = auto_pack_size("cpu", dbase)
        picks = "packed" if auto > 1 else "loop"
        faster = "packed" if ratio > 1 else "loop"
        print(f"  {runs:3d} runs: loop {loop:.2f} s, packed {pack:.2f} s, speedup {ratio:.2f}; "
              f"auto picks {picks} (pack size {auto}), faster here: {faster}"
              f"{'' if picks == faster else '  <- auto disagrees'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
