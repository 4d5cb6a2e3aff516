"""Packed grokking runs against the per-run loop, on the CPU, in the same process and run.

    nice -n 10 python bench/pack.py --runs 64 --width 32 --modulus 23

First the configuration given on the command line (default: 64 tiny MLP runs, where each run's
work is so small that per-operation overhead dominates): prints `speedup X` (loop time / packed
time, CPU time of this process, loop and pack alternating in `--rounds` segments so both see
the same load; the wall-clock ratio alongside). Then the default `cpu` preset's sizes
(MLP width 256, x+y mod 97, full batch) at 4, 16 and 64 runs, for fewer steps (`--default-steps`, 40:
the per-step cost does not change over a run), and for each what `pack = "auto"` picks
(`grokwatch.packing.auto_pack_size`) beside what was faster here.

Both sides do the same work: `steps` optimizer steps of every run plus an evaluation every
`eval_every` steps; the runs differ in seed, weight decay and learning rate (a small sweep).
The loop is `grokking.Trainer` run after run (what one worker per run does, without process
start-up); the pack is `packed.PackTrainer`, one batched computation.
"""

from __future__ import annotations

import argparse
import os
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


class Loop:
    """One grokking.Trainer per run, run after run (one worker per run, without start-up)."""

    def __init__(self, params, seeds):
        self.trainers = [G.Trainer(p, s) for p, s in zip(params, seeds)]
        self.step = 0

    def advance(self, steps: int, every: int) -> None:
        for tr in self.trainers:
            for step in range(self.step + 1, self.step + steps + 1):
                tr.train_step()
                if every and step % every == 0:
                    tr.evaluate()
        self.step += steps


class Packed:
    """The same runs as one packed.PackTrainer."""

    def __init__(self, params, seeds):
        self.pack = PackTrainer(params, seeds)
        self.step = 0

    def advance(self, steps: int, every: int) -> None:
        for step in range(self.step + 1, self.step + steps + 1):
            self.pack.train_step()
            if every and step % every == 0:
                self.pack.evaluate()
        self.step += steps


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def compare(params, seeds, steps, every, rounds) -> dict[str, float]:
    """Both sides advance `steps` steps in total, in `rounds` alternating segments (so both see
    the same load on a shared machine). Ratios are loop/packed, for wall time and for this
    process's CPU time (one thread: the time a dedicated core would take)."""
    loop, packed = Loop(params, seeds), Packed(params, seeds)
    loop.advance(1, 0), packed.advance(1, 0)  # warm-up (first-call allocations)
    seg = max(1, steps // rounds)
    lw = lc = pw = pc = 0.0
    ratios = []
    for _ in range(rounds):
        a = timed(lambda: loop.advance(seg, every))
        b = timed(lambda: packed.advance(seg, every))
        lw, lc, pw, pc = lw + a[0], lc + a[1], pw + b[0], pc + b[1]
        ratios.append(a[0] / b[0])
    return {"loop_wall": lw, "pack_wall": pw, "loop_cpu": lc, "pack_cpu": pc,
            "wall": statistics.median(ratios), "cpu": lc / pc, "steps": seg * rounds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--modulus", type=int, default=23)
    ap.add_argument("--model", default="mlp", choices=("mlp", "transformer"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--default-steps", type=int, default=40,
                    help="steps for the default-preset comparisons (fewer than a real run)")
    ap.add_argument("--default-runs", type=int, nargs="*", default=[4, 16, 64])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    defaults = {k: v.default for k, v in G.PARAMS.items()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU, load average "
          f"{os.getloadavg()[0]:.1f}; loop and pack alternate in {args.rounds} segments; "
          f"speedup = loop/packed CPU time of this process (wall-clock ratio, median of the "
          f"segments, alongside)")

    base = dict({**defaults, **G.CPU}, model=args.model, width=args.width, modulus=args.modulus,
                d_model=32, n_heads=2, n_layers=1)
    params, seeds = sweep(base, args.runs)
    m = compare(params, seeds, args.steps, args.eval_every, args.rounds)
    print(f"{args.runs} runs, {args.model} width {args.width}, modulus {args.modulus}, "
          f"{m['steps']} steps (eval every {args.eval_every}), {step_macs(base) / 1e6:.2f} M "
          f"MACs/step/run: loop {m['loop_cpu']:.2f} s CPU ({m['loop_wall']:.2f} s wall), "
          f"packed {m['pack_cpu']:.2f} s CPU ({m['pack_wall']:.2f} s wall)")
    print(f"speedup {m['cpu']:.2f}  (wall-clock {m['wall']:.2f})")

    dbase = {**defaults, **G.CPU}
    steps = args.default_steps
    every = G.CPU["eval_every"]
    print(f"default preset (mlp width {dbase['width']}, modulus {dbase['modulus']}, full batch, "
          f"{step_macs(dbase) / 1e6:.0f} M MACs/step/run), {steps} steps instead of "
          f"{dbase['steps']} (eval every {every}):")
    for runs in args.default_runs:
        params, seeds = sweep(dbase, runs)
        m = compare(params, seeds, steps, every, 2)
        auto = auto_pack_size("cpu", dbase)
        picks = "packed" if auto > 1 else "loop"
        faster = "packed" if m["cpu"] > 1 else "loop"
        print(f"  {runs:3d} runs: loop {m['loop_cpu']:.2f} s CPU, packed {m['pack_cpu']:.2f} s CPU, "
              f"speedup {m['cpu']:.2f} (wall-clock {m['wall']:.2f}); "
              f"auto picks {picks} (pack size {auto}), faster here: {faster}"
              f"{'' if picks == faster else '  <- auto disagrees'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
