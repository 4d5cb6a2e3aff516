"""Figures for the dashboard (issue 4), measured headless with `App.run_test`.

    python bench/tui.py                 # everything (generates ~1.1 GB of CSV in a temp dir)
    python bench/tui.py --rows 20000    # a quicker, smaller run of the same checks

1. start to first paint with no runs (a fresh process: imports included)      ≤ 0.5 s
2. 32 runs x 200,000 rows on disk: first paint (table + selected chart)       ≤ 2 s
   every summary loaded in the background                                      ≤ 30 s
   p95 event-loop stall throughout                                             ≤ 50 ms
   steady state while the runs grow (CPU of the TUI process)                   ≤ 10% of a core
3. memory: 32 runs x 1,000,000 rows streamed into summaries (TUI process RSS)  ≤ 300 MB
4. scale (issue 14), `--skip empty,big,memory --scale`: 1,000 short runs x 2,000 rows, two
   experiments of 500 swept over two keys, 50 of them growing: first paint ≤ 2 s, every summary
   ≤ 30 s, p95 stall ≤ 50 ms, steady CPU ≤ 10% of a core, the phase diagram over 500 runs redrawn
   ≤ 100 ms (after its summaries are in), peak RSS ≤ 300 MB

The machine may be shared: each figure is printed with the machine's load average, and the
stall figure is a percentile, not a maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "step,time_s,train_loss,test_loss,train_error,test_error,train_acc,test_acc,weight_norm,lr\n"


# ----------------------------------------------------------------------------- data


def make_metrics(rows: int, seed: int) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    step = np.arange(rows, dtype=np.int64) * 5
    s = step.astype(float)
    jump = rows * 5 * (0.3 + 0.4 * rng.random())
    tr_err = 0.97 * np.exp(-s / 2000.0) + rng.random(rows) * 1e-3
    te_err = 0.02 + 0.93 / (1 + np.exp(np.clip((s - jump) / 800.0, -50, 50))) + rng.normal(0, 0.01, rows)
    cols = [step, 1.0 + s * 0.004, -np.log(np.clip(1 - tr_err, 1e-3, 1)) + tr_err,
            -np.log(np.clip(1 - te_err, 1e-3, 1)) + te_err, tr_err, te_err, 1 - tr_err, 1 - te_err,
            10 + s / 1e5, np.full(rows, 0.001)]
    cols = [c.astype(np.float32).astype(float) if k >= 2 else c for k, c in enumerate(cols)]
    lines = [",".join(map(repr, r)) for r in zip(*(c.tolist() for c in cols))]
    return (HEADER + "\n".join(lines) + "\n").encode()


def make_scale_runs(root: Path, n_runs: int, rows: int, growing: int) -> Path:
    """Two experiments swept over weight_decay x train_fraction (x 2 seeds); the first `growing`
    runs (by name) are running, the rest done."""
    runs = root / "runs"
    blobs = [make_metrics(rows, k) for k in range(8)]
    per = n_runs // 2
    n_wd = 25
    n_tf = max(1, per // (n_wd * 2))
    k = 0
    for exp in ("scale-a", "scale-b"):
        for i in range(n_wd):
            for j in range(n_tf):
                for seed in (0, 1):
                    wd, tf = round(0.01 * 1.25 ** i, 6), round(0.1 + 0.05 * j, 3)
                    rid = f"{exp}-weight_decay={wd:g}-train_fraction={tf:g}-s{seed}-{k:06x}"
                    d = runs / rid
                    d.mkdir(parents=True)
                    (d / "metrics.csv").write_bytes(blobs[k % len(blobs)])
                    total = rows * 5
                    running = k < growing
                    (d / "config.json").write_text(json.dumps({
                        "run_id": rid, "experiment": exp, "kind": "grokking", "seed": seed,
                        "params": {"weight_decay": wd, "train_fraction": tf},
                        "sweep": {"weight_decay": wd, "train_fraction": tf}, "device": "cpu", "threads": 1,
                        "total_steps": total * 2 if running else total}))
                    (d / "status.json").write_text(json.dumps({
                        "state": "running" if running else "done", "step": total,
                        "total_steps": total * 2 if running else total, "pid": 1}))
                    (d / "events.jsonl").write_text(json.dumps({"time": time.time(), "run_id": rid, "step": 0,
                                                                "kind": "started", "message": "started"}) + "\n")
                    k += 1
    return runs


def make_runs(root: Path, n_runs: int, rows: int) -> Path:
    runs = root / "runs"
    blobs = [make_metrics(rows, k) for k in range(4)]
    for k in range(n_runs):
        rid = f"bench-lr={k}-s0-{k:06x}"
        d = runs / rid
        d.mkdir(parents=True)
        (d / "metrics.csv").write_bytes(blobs[k % 4])
        total = rows * 5
        (d / "config.json").write_text(json.dumps({
            "run_id": rid, "experiment": "bench", "kind": "grokking", "seed": 0,
            "params": {"lr": k}, "sweep": {"lr": k}, "device": "cpu", "threads": 1,
            "total_steps": total * 2}))
        (d / "status.json").write_text(json.dumps({"state": "running", "step": total,
                                                   "total_steps": total * 2, "pid": 1}))
        (d / "events.jsonl").write_text(json.dumps({"time": time.time(), "run_id": rid, "step": 0,
                                                    "kind": "started", "message": "started"}) + "\n")
    return runs


# ----------------------------------------------------------------------------- child: the app


def child_app(args) -> None:
    """In a fresh process: time to first paint, load time, stalls, steady-state CPU."""
    t_exec = float(args.t0)
    from grokwatch.tui.app import GrokwatchApp, view_context
    from grokwatch.tui.widgets.chart.chart import ChartPanel
    from grokwatch.tui.widgets.runs.table import RunTable

    t_import = time.time()
    paths = [Path(args.runs)] if args.runs else []
    app = GrokwatchApp(view_context(paths))
    result: dict = {"import_s": t_import - t_exec}

    async def main() -> None:
        probe_state = {"stop": False, "paused": False}
        stalls: list[float] = []

        async def probe() -> None:
            while not probe_state["stop"]:
                if probe_state["paused"]:
                    await asyncio.sleep(0.1)
                    continue
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                stalls.append(time.perf_counter() - t - 0.01)

        async with app.run_test(size=(160, 48)) as pilot:
            task = asyncio.create_task(probe())
            screen = None
            while True:
                screen = app.screen
                if getattr(screen, "first_paint_done", False) and (
                        not paths or screen.query_one(RunTable).row_count > 0):
                    chart = screen.query_one(ChartPanel)
                    if not paths or chart.last_out is not None:
                        break
                await asyncio.sleep(0.005)
            result["first_paint_s"] = time.time() - t_exec
            if paths:
                t_paint = time.time()
                while screen.poller.loading_count():
                    await asyncio.sleep(0.05)
                result["all_loaded_s"] = time.time() - t_exec
                result["load_after_paint_s"] = time.time() - t_paint
                result["rows_loaded"] = sum(r.summary.rows for r in screen.store.runs.values())
                result["p95_stall_load_ms"] = _pct(stalls, 95) * 1000
                result["max_stall_load_ms"] = max(stalls) * 1000
                stalls.clear()
                # steady state: a writer appends to every run; measure our CPU
                await asyncio.sleep(1.0)
                writer = subprocess.Popen([sys.executable, __file__, "--child", "writer",
                                           "--runs", args.runs, "--seconds", str(args.steady),
                                           "--grow", str(args.grow)])
                await asyncio.sleep(1.0)
                # CPU with the probe paused (its 100 wake-ups a second cost ~1% of a core), then stalls
                half = (args.steady - 2) / 2
                probe_state["paused"] = True
                c0, w0 = _cpu(), time.time()
                await asyncio.sleep(half)
                c1, w1 = _cpu(), time.time()
                stalls.clear()
                probe_state["paused"] = False
                await asyncio.sleep(half)
                writer.wait()
                result["steady_cpu_pct"] = (c1 - c0) / (w1 - w0) * 100
                result["p95_stall_steady_ms"] = _pct(stalls, 95) * 1000
                chart = screen.query_one(ChartPanel)
                result["chart_builds"] = chart.builds
                result["chart_skipped"] = chart.unchanged + (chart.cache.hits if chart.cache else 0)
                result["grown_rows"] = sum(r.summary.rows for r in screen.store.runs.values()) - result["rows_loaded"]
                if args.phase:
                    result.update(_phase_figures(screen))
            probe_state["stop"] = True
            await task
            result["rss_mb"] = _peak_rss_mb()

    asyncio.run(main())
    print("RESULT " + json.dumps(result))


def _phase_figures(screen) -> dict:
    """The phase diagram over one experiment's runs: time until every summary is in (builds of
    the view's own budget, back to back), then the redraw with every summary cached."""
    from grokwatch.tui.chartout import ChartCache
    from grokwatch.tui.phase import phase_chart
    from grokwatch.tui.view import View

    runs = list(screen.store.runs.values())
    exp = sorted({r.experiment for r in runs})[0]
    cur = next(r for r in runs if r.experiment == exp)
    n = sum(1 for r in runs if r.experiment == exp)
    cache = ChartCache()
    view = View(mode="phase")
    t0 = time.perf_counter()
    builds = 0
    while True:
        builds += 1
        out = phase_chart(runs, cur, view, 150, 40, True, cache)
        if not out.again:
            break
    fill = time.perf_counter() - t0
    times = []
    for _ in range(7):
        t = time.perf_counter()
        phase_chart(runs, cur, view, 150, 40, True, cache)
        times.append(time.perf_counter() - t)
    return {"phase_runs": n, "phase_fill_s": fill, "phase_builds": builds,
            "phase_redraw_ms": sorted(times)[len(times) // 2] * 1000}


def child_writer(args) -> None:
    """Append a row to every run (or the first --grow) 10 times a second (a fast eval cadence)."""
    runs = sorted(Path(args.runs).iterdir())
    if args.grow:
        runs = runs[:args.grow]
    files = [open(r / "metrics.csv", "a") for r in runs]
    steps = {}
    t_end = time.time() + args.seconds
    while time.time() < t_end:
        for k, f in enumerate(files):
            s = steps.get(k, 10_000_000) + 5
            steps[k] = s
            f.write(f"{s},{s * 0.004:.3f},0.01,0.02,0.001,0.02,0.999,0.98,11.0,0.001\n")
            f.flush()
        time.sleep(0.1)


def child_memory(args) -> None:
    """Stream generated rows into 32 summaries inside a process that holds the TUI."""
    import numpy as np

    import grokwatch.tui.app  # noqa: F401  the TUI's own baseline
    from grokwatch.tui.data.summary import METRICS, Summary

    base = _peak_rss_mb()
    rng = np.random.default_rng(0)
    sums = [Summary() for _ in range(32)]
    chunk = 50_000
    for start in range(0, args.mem_rows, chunk):
        n = min(chunk, args.mem_rows - start)
        steps = (np.arange(start, start + n) * 5).astype(float)
        vals = rng.random((n, len(METRICS)))
        for s in sums:
            s.feed(steps, vals)
    rss = _peak_rss_mb()
    print("RESULT " + json.dumps({"rss_mb": rss, "baseline_mb": base,
                                  "rows": sum(s.rows for s in sums)}))


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss survives exec and would count the parent's)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def scale(args) -> None:
    root = Path(tempfile.mkdtemp(prefix="gw-scale-"))
    try:
        t = time.time()
        runs = make_scale_runs(root, args.scale_runs, args.scale_rows, growing=50)
        size = sum(p.stat().st_size for p in runs.glob("*/metrics.csv"))
        n = len(list(runs.iterdir()))
        print(f"scale data: {n} runs x {args.scale_rows:,} rows = {size / 1e6:.0f} MB of CSV "
              f"(made in {time.time() - t:.0f} s), 50 running")
        os.system("sync")
        r = run_child("app", runs=runs, steady=args.steady, grow=50, phase="")
        print(f"scale: first paint {r['first_paint_s']:.2f} s (target ≤ 2 s); every summary "
              f"{r['all_loaded_s']:.1f} s (≤ 30 s); stall while loading p95 {r['p95_stall_load_ms']:.0f} ms "
              f"(max {r['max_stall_load_ms']:.0f} ms; ≤ 50 ms)")
        print(f"scale: steady state, 50 runs growing 10 rows/s each: {r['steady_cpu_pct']:.1f}% of a core "
              f"(≤ 10%), p95 stall {r['p95_stall_steady_ms']:.0f} ms")
        print(f"scale: phase diagram over {r['phase_runs']} runs: every summary in {r['phase_fill_s']:.1f} s "
              f"({r['phase_builds']} builds), redrawn in {r['phase_redraw_ms']:.0f} ms (≤ 100 ms)")
        print(f"scale: TUI process peak RSS {r['rss_mb']:.0f} MB (≤ 300 MB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_child(kind: str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--t0", repr(time.time())]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}"] + ([str(v)] if v != "" else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench child {kind} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--t0", default="0")
    ap.add_argument("--runs", default="")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--n-runs", type=int, default=32)
    ap.add_argument("--mem-rows", type=int, default=1_000_000)
    ap.add_argument("--steady", type=float, default=22.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--skip", default="", help="comma list of: empty,big,memory")
    ap.add_argument("--data", default="", help="keep the generated runs here (reused when present)")
    ap.add_argument("--grow", type=int, default=0, help="writer: grow only this many runs (0: all)")
    ap.add_argument("--phase", action="store_true", help="app: also time the phase diagram")
    ap.add_argument("--scale", action="store_true", help="issue 14's scale: 1,000 runs x 2,000 rows")
    ap.add_argument("--scale-runs", type=int, default=1000)
    ap.add_argument("--scale-rows", type=int, default=2000)
    args = ap.parse_args()
    if args.child == "app":
        return child_app(args)
    if args.child == "writer":
        return child_writer(args)
    if args.child == "memory":
        return child_memory(args)
    skip = set(args.skip.split(","))
    print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}")
    if "empty" not in skip:
        with tempfile.TemporaryDirectory() as d:
            r = [run_child("app", runs=d) if False else run_child("app") for _ in range(3)]
        best = min(x["first_paint_s"] for x in r)
        print(f"no runs: start to first paint {best:.2f} s (best of 3; imports {r[0]['import_s']:.2f} s)"
              f"   target ≤ 0.5 s")
    if "big" not in skip:
        root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="gw-bench-"))
        try:
            t = time.time()
            runs = root / "runs"
            if not runs.exists():
                runs = make_runs(root, args.n_runs, args.rows)
            size = sum(p.stat().st_size for p in runs.glob("*/metrics.csv"))
            print(f"data: {args.n_runs} runs x {args.rows:,} rows = {size / 1e9:.2f} GB of CSV "
                  f"(made in {time.time() - t:.0f} s)")
            os.system("sync")
            r = run_child("app", runs=runs, steady=args.steady)
            print(f"first paint (table + selected chart): {r['first_paint_s']:.2f} s   target ≤ 2 s")
            print(f"every summary loaded: {r['all_loaded_s']:.1f} s ({r['rows_loaded']:,} rows)   "
                  f"target ≤ 30 s")
            print(f"event-loop stall while loading: p95 {r['p95_stall_load_ms']:.0f} ms "
                  f"(max {r['max_stall_load_ms']:.0f} ms)   target p95 ≤ 50 ms")
            print(f"steady state, 32 runs growing 10 rows/s each: {r['steady_cpu_pct']:.1f}% of a core, "
                  f"p95 stall {r['p95_stall_steady_ms']:.0f} ms, {r['grown_rows']} rows followed, "
                  f"{r['chart_builds']} charts shown, {r['chart_skipped']} redraws skipped as unchanged   "
                  f"target ≤ 10%")
            print(f"TUI process peak RSS with the big runs: {r['rss_mb']:.0f} MB")
        finally:
            if not args.data:
                shutil.rmtree(root, ignore_errors=True)
    if args.scale:
        scale(args)
    if "memory" not in skip:
        r = run_child("memory", mem_rows=args.mem_rows)
        print(f"memory: 32 runs x {args.mem_rows:,} rows streamed into summaries: peak RSS "
              f"{r['rss_mb']:.0f} MB (TUI baseline {r['baseline_mb']:.0f} MB)   target ≤ 300 MB")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
