"""Slurm executor bench: submitting a 100-run sweep, and what watching it costs the runner.

    python bench/slurm.py [--runs 100] [--watch-s 30]

Needs a Slurm cluster (tests/slurm/harness.py starts the single-node test cluster: run as root
`python tests/slurm/harness.py`). The runs are `command` runs that sleep, so that on a small cluster
most of them stay pending; every job is cancelled at the end.

Measures
1. the real runner: start (validates the config and writes 100 run directories) and the first tick
   (one sbatch: a 100-task job array), until all 100 jobs are in squeue;
2. for comparison, 100 single-job sbatch calls (what a non-array submit costs);
3. the runner's polling cost with 100 live jobs: CPU per tick (the runner's own and its squeue
   children's), squeue calls per minute, and one squeue for 100 jobs vs 100 one-job squeues.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grokwatch.runner.core import Runner  # noqa: E402
from grokwatch.runner.executors.slurm import SlurmExecutor, slurm_available  # noqa: E402


def toml(n: int, max_jobs: int) -> str:
    return (f'[grokwatch]\nexecutor = "slurm"\n[slurm]\ntime = "5"\nmax_jobs = {max_jobs}\n\n'
            f'[[experiment]]\nname = "sweep"\nkind = "command"\ncommand = ["sh", "-c", "sleep 300", "{{x}}"]\n'
            f'[experiment.sweep]\nx = {list(range(n))}\n')


def squeue_count(job_ids: list[str]) -> int:
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(sorted({j.split('_')[0] for j in job_ids})),
                          "-o", "%i"], capture_output=True, text=True).stdout.split()
    return len(set(out) & set(job_ids))


def children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--watch-s", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    why = slurm_available()
    if why:
        print(f"bench/slurm.py: no Slurm cluster here ({why}); start one with `python tests/slurm/harness.py`")
        return 2
    n = args.runs
    result: dict[str, float | int | str] = {"runs": n}
    all_jobs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gw-slurm-bench-") as tmp:
        project = Path(tmp)
        cfg = project / "experiments.toml"
        cfg.write_text(toml(n, max_jobs=n))
        try:
            # 1. the runner submits the sweep
            runner = Runner(cfg, project, foreground=True)
            t0 = time.perf_counter()
            runner.start()
            t1 = time.perf_counter()
            runner.tick()
            t2 = time.perf_counter()
            jobs = [r.record["job_id"] for r in runner.active.values() if r.record]
            all_jobs += jobs
            while squeue_count(jobs) < n and time.perf_counter() - t2 < 30:
                time.sleep(0.05)
            t3 = time.perf_counter()
            ex: SlurmExecutor = runner.executor  # type: ignore[assignment]
            result.update({
                "runner_start_s": round(t1 - t0, 3), "first_tick_submit_s": round(t2 - t1, 3),
                "submit_total_s": round(t2 - t0, 3), "all_in_squeue_s": round(t3 - t0, 3),
                "sbatch_calls": ex.calls["sbatch"], "jobs_submitted": len(jobs),
            })

            # 3. polling cost while the 100 jobs are live
            ticks, cpu0, ch0, sq0 = [], time.process_time(), children_cpu(), ex.calls["squeue"]
            w0 = time.perf_counter()
            while time.perf_counter() - w0 < args.watch_s:
                a = time.perf_counter()
                runner.tick()
                ticks.append(time.perf_counter() - a)
                time.sleep(max(0.0, 0.5 - (time.perf_counter() - a)))
            wall = time.perf_counter() - w0
            cpu = time.process_time() - cpu0
            ch = children_cpu() - ch0
            sq = ex.calls["squeue"] - sq0
            result.update({
                "watch_s": round(wall, 1), "ticks": len(ticks),
                "tick_ms_median": round(statistics.median(ticks) * 1e3, 2),
                "tick_ms_max": round(max(ticks) * 1e3, 1),
                "runner_cpu_pct": round(100 * cpu / wall, 2), "squeue_cpu_pct": round(100 * ch / wall, 2),
                "squeue_calls_per_min": round(60 * sq / wall, 1),
            })
            t = time.perf_counter()
            ex.squeue(jobs)
            one_call = time.perf_counter() - t
            t = time.perf_counter()
            for j in jobs:
                ex.squeue([j])
            per_job = time.perf_counter() - t
            result.update({"one_squeue_for_all_ms": round(one_call * 1e3, 1),
                           "one_squeue_per_job_ms": round(per_job * 1e3, 1)})
            t = time.perf_counter()
            runner.stop_runs(None)
            ex._refreshed_at = time.monotonic()  # (the poll right after asks anyway)
            runner.tick()  # sends the stops: one squeue, one scancel for pending, one TERM for running
            result["stop_all_s"] = round(time.perf_counter() - t, 3)
            runner.shutting_down = True
            deadline = time.monotonic() + 120
            while runner.active and time.monotonic() < deadline:
                runner.tick()
                time.sleep(0.5)
            result["all_stopped_s"] = round(time.perf_counter() - t, 2)
            result["scancel_calls"] = ex.calls["scancel"]
            states = [json.loads((d / "status.json").read_text())["state"] for d in (project / "runs").iterdir()]
            result["end_states"] = ", ".join(f"{k} {states.count(k)}" for k in sorted(set(states)))
            runner.close()

            # 2. for comparison: n single-job submissions
            single = SlurmExecutor(runner.config)
            dirs = []
            for i in range(n):
                d = project / "single" / f"r{i}"
                d.mkdir(parents=True)
                dirs.append(d)
            t = time.perf_counter()
            recs = [single.submit(d, {}) for d in dirs]
            result["single_sbatch_x_n_s"] = round(time.perf_counter() - t, 3)
            all_jobs += [r["job_id"] for r in recs]
        finally:
            if all_jobs:
                subprocess.run(["scancel", *sorted({j.split("_")[0] for j in all_jobs})], capture_output=True)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
