"""Engine overheads: the runner's CPU use while 8 runs go, the cost of logging a row, and how
fast a finished run's slot is refilled.

    python bench/engine.py [--runs 8] [--seconds 20]
    python bench/engine.py --sweep 200 [--slots 2] [--baseline 40]

Prints the runner's CPU as % of one core (target < 2%) and ctx.log()'s cost relative to one
training step of the default grokking preset (target < 1%), measured in the same run.

--sweep N: N tiny runs (~0.3 s each, mostly interpreter start-up) on 2 slots, run by the headless
runner in this process; prints the wall time beside the runs' own time (the sum of their
start-to-end times over the slots), and the median and p90 from one run's end (its status.json
`ended`) to the next run's launch (its executor.json `submitted`) [target <= 50 ms]. The same
sweep of --baseline runs with the exit wakeup switched off (the runner's 0.5 s tick alone) is the
baseline, measured in the same invocation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grokwatch.experiments.base import RunContext  # noqa: E402
from grokwatch.runner.launch import ensure_runner  # noqa: E402
from grokwatch.runner.control import send_request  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, in ns precision where the kernel offers schedstat."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK


def runner_cpu(n_runs: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
        project = Path(d)
        cfg = project / "experiments.toml"
        cfg.write_text(f"""
[grokwatch]
devices = "cpu"
max_parallel = {n_runs}
threads_per_run = 1
checkpoint_every_s = 30

[[experiment]]
name = "load"
kind = "grokking"
seeds = {list(range(n_runs))}
[experiment.params]
modulus = 97
steps = 1000000
eval_every = 10
""")
        holder = ensure_runner(cfg, project)
        pid = holder["pid"]
        runs = project / "runs"
        def rows() -> int:
            return sum(len((p / "metrics.csv").read_text().splitlines()) for p in runs.iterdir()
                       if (p / "metrics.csv").exists())

        deadline = time.time() + 300
        while time.time() < deadline:  # every worker past its torch import and logging
            ready = [p for p in runs.iterdir() if (p / "metrics.csv").exists()] if runs.exists() else []
            if len(ready) == n_runs:
                break
            time.sleep(0.5)
        time.sleep(3)
        rows0 = rows()
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(pid), time.monotonic()
        rows1 = rows()
        send_request(project, "shutdown")
        deadline = time.time() + 60
        while time.time() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.5)
        time.sleep(1)
        return {"runs": n_runs, "runner_cpu_pct_of_core": 100 * (c1 - c0) / (t1 - t0),
                "rows_per_s": (rows1 - rows0) / (t1 - t0)}


def log_cost(n: int = 5000) -> dict:
    """ctx.log() per row vs one training step of the default grokking preset (MLP, x+y mod 97)."""
    from grokwatch.experiments import get_spec

    params = get_spec("grokking").resolve({})
    with tempfile.TemporaryDirectory() as d:
        ctx = RunContext(Path(d), {"params": params, "seed": 0, "threads": 1})
        ctx.declare_columns(["train_acc", "test_acc", "weight_norm", "lr"])
        vals = dict(train_loss=0.1, test_loss=2.3, train_acc=0.99, test_acc=0.1, weight_norm=12.0, lr=1e-3)
        ctx.log(0, **vals)
        t = time.perf_counter()
        for i in range(1, n + 1):
            ctx.log(i, **vals)
        per_row = (time.perf_counter() - t) / n
        ctx.close()
    # one training step: time the kind's own trainer for a few hundred steps, in this process
    import torch

    torch.set_num_threads(1)
    from grokwatch.experiments import grokking

    trainer = grokking.Trainer(params, seed=0)
    for _ in range(20):  # warm up
        trainer.train_step()
    t = time.perf_counter()
    for _ in range(200):
        trainer.train_step()
    step_s = (time.perf_counter() - t) / 200
    return {"log_row_us": per_row * 1e6, "train_step_ms": step_s * 1e3 if step_s else None,
            "log_vs_step_pct": 100 * per_row / step_s if step_s else None,
            "eval_every": params.get("eval_every")}


SWEEP_TOML = """
[grokwatch]
devices = "cpu"
max_parallel = {slots}
threads_per_run = 1
checkpoint_every_s = 600

[[experiment]]
name = "tiny"
kind = "overfitting"
seeds = {seeds}
[experiment.params]
degree = 3
n_train = 20
n_test = 50
repeats = 1
steps = 10
eval_every = 5
"""


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def sweep(n_runs: int, slots: int, wakeup: bool = True) -> dict:
    """Run a sweep of tiny runs through the headless runner, in this process."""
    import io
    import json

    from grokwatch.headless import run_headless
    from grokwatch.runner.executors import local

    saved = local.LocalExecutor.wakeup_fd
    if not wakeup:
        local.LocalExecutor.wakeup_fd = lambda self: None  # the tick alone: the baseline
    try:
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
            project = Path(d)
            cfg = project / "experiments.toml"
            cfg.write_text(SWEEP_TOML.format(slots=slots, seeds=list(range(n_runs))))
            c0, t0 = time.process_time(), time.monotonic()
            rc = run_headless(cfg, project, out=io.StringIO(), progress_every_s=3600)
            wall, cpu = time.monotonic() - t0, time.process_time() - c0
            runs = []
            for p in sorted((project / "runs").iterdir()):
                st = json.loads((p / "status.json").read_text())
                ex = json.loads((p / "executor.json").read_text())
                seen = max((json.loads(line)["time"] for line in (p / "events.jsonl").read_text().splitlines()
                            if json.loads(line).get("kind") == "done"), default=float("nan"))
                runs.append((float(ex["submitted"]), float(st["started"]), float(st["ended"]), st["state"], seen))
    finally:
        local.LocalExecutor.wakeup_fd = saved
    submits = sorted(r[0] for r in runs)
    ends = sorted(r[2] for r in runs)
    # the k-th end frees the slot that the (k + slots)-th launch takes
    gaps = [submits[k + slots] - ends[k] for k in range(len(ends) - slots)]
    notice = [r[4] - r[2] for r in runs]  # end -> the runner's `done` event: the exit noticed
    own = sum(r[2] - r[1] for r in runs) / slots
    return {"runs": n_runs, "rc": rc, "done": sum(r[3] == "done" for r in runs), "wall_s": wall,
            "own_s": own, "gap_median_ms": 1e3 * _pct(gaps, 0.5), "gap_p90_ms": 1e3 * _pct(gaps, 0.9),
            "negative_gaps": sum(g < 0 for g in gaps), "runner_cpu_s": cpu,
            "notice_median_ms": 1e3 * _pct(notice, 0.5)}


def _print_sweep(label: str, r: dict, slots: int) -> None:
    print(f"{label}: {r['runs']} runs on {slots} slots, {r['done']} done: wall {r['wall_s']:.1f} s; "
          f"runs' own time {r['own_s']:.1f} s (sum of start-to-end / slots; wall/own {r['wall_s'] / r['own_s']:.2f}); "
          f"end -> next launch: median {r['gap_median_ms']:.1f} ms, p90 {r['gap_p90_ms']:.1f} ms "
          f"(of which end -> exit noticed: median {r['notice_median_ms']:.1f} ms); "
          f"runner CPU {r['runner_cpu_s']:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--sweep", type=int, default=0, help="run a sweep of N tiny runs instead")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--baseline", type=int, default=40, help="runs in the tick-only baseline sweep (0: none)")
    args = ap.parse_args()
    if args.sweep:
        r = sweep(args.sweep, args.slots)
        _print_sweep("exit wakeup", r, args.slots)
        if args.baseline:
            b = sweep(args.baseline, args.slots, wakeup=False)
            _print_sweep("baseline (0.5 s tick only)", b, args.slots)
            print(f"median end -> next launch: {r['gap_median_ms']:.1f} ms vs {b['gap_median_ms']:.1f} ms "
                  f"(baseline / this = {b['gap_median_ms'] / max(r['gap_median_ms'], 1e-9):.1f}x)  [target <= 50 ms]")
        return
    lc = log_cost()
    print(f"log a metrics row: {lc['log_row_us']:.1f} us/row")
    if lc["train_step_ms"]:
        print(f"one training step (default grokking preset, 1 thread): {lc['train_step_ms']:.2f} ms")
        print(f"logging one row costs {lc['log_vs_step_pct']:.2f}% of one step "
              f"(rows come every {lc['eval_every']} steps: {lc['log_vs_step_pct'] / max(1, lc['eval_every']):.3f}% "
              f"amortised)  [target < 1%]")
    rc = runner_cpu(args.runs, args.seconds)
    print(f"runner CPU with {rc['runs']} running runs ({rc['rows_per_s']:.0f} rows/s arriving): "
          f"{rc['runner_cpu_pct_of_core']:.2f}% of one core  [target < 2%]")


if __name__ == "__main__":
    main()
