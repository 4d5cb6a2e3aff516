"""Memory of `grokwatch detect` on a big CSV and of `grokwatch view` over many small ones
(issue 12, item 8), each against a baseline measured in the same run.

    python bench/detect_memory.py                      # both: 2,000,000 rows; 2,000 files
    python bench/detect_memory.py --rows 200000 --files 200    # a quicker, smaller run

1. `grokwatch detect` on a 2M-row (~140 MB) CSV: peak RSS of the process  ≤ 100 MB
   baseline: the same process importing what detect imports and reading nothing
2. `grokwatch view` of 2,000 small CSVs until every file is loaded: peak RSS  ≤ 300 MB
   baseline: the same app over a single one of those files

Each figure is the child's peak RSS (`resource.getrusage(RUSAGE_CHILDREN)` in a fresh wrapper
process whose only child it is), printed with the ratio to its baseline and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = "step,time_s,train_loss,test_loss,train_error,test_error,train_acc,test_acc,weight_norm,lr\n"


def make_big(path: Path, rows: int) -> None:
    """A grokking-shaped log with rows of ~70 bytes (2M rows: ~140 MB), written in blocks."""
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write(HEADER)
        block = 200_000
        for k0 in range(0, rows, block):
            k = np.arange(k0, min(rows, k0 + block))
            s = k * 5.0
            tr = np.clip(0.97 * np.exp(-s / 20000.0) + rng.random(len(k)) * 1e-3, 0, 1)
            te = np.clip(0.02 + 0.93 / (1 + np.exp(np.clip((s - rows * 2.5) / 8000.0, -50, 50))), 0, 1)
            cols = [k * 5, s * 0.004, tr * 3, te * 3, tr, te, 1 - tr, 1 - te, 10 + s / 1e5, np.full(len(k), 1e-3)]
            lines = ("%d,%.3f,%.5g,%.5g,%.5g,%.5g,%.5g,%.5g,%.5g,%.3g" % r for r in zip(*cols))
            f.write("\n".join(lines) + "\n")


def make_small(root: Path, n: int, rows: int = 200) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    body = "".join(f"{k * 10},{k * 0.1:.1f},{2.0 / (k + 1):.4g},{2.5 / (k + 1):.4g},"
                   f"{max(0.0, 0.9 - k / rows):.4g},{max(0.05, 0.95 - k / rows):.4g},"
                   f"{min(1.0, 0.1 + k / rows):.4g},{min(0.95, 0.05 + k / rows):.4g},1.0,0.001\n"
                   for k in range(rows))
    for i in range(n):
        p = root / f"log-{i:05d}.csv"
        p.write_text(HEADER + body)
        out.append(p)
    return out


_WRAP = ("import resource, subprocess, sys\n"
         "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
         "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)\n")


def child_rss(argv: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit status) of one child process, measured by a fresh
    wrapper process whose only child it is (RUSAGE_CHILDREN is a maximum over all children)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAP, *argv], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    last = [l for l in proc.stderr.splitlines() if l.startswith("MAXRSS ")]
    if not last:
        print(proc.stderr[-2000:])
        return float("nan"), wall, proc.returncode
    _, kb, code = last[-1].split()
    if int(code) != 0:
        print(proc.stderr[-2000:])
    return int(kb) / 1024.0, wall, int(code)


def view_child(paths: list[str]) -> None:
    """In a fresh process: the `view` app over `paths` until every file is loaded."""
    from grokwatch.tui.app import GrokwatchApp, view_context

    app = GrokwatchApp(view_context([Path(p) for p in paths]))

    async def go() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                await pilot.pause(0.5)
                store = getattr(screen, "store", None)
                runs = list(store.runs.values()) if store is not None else []
                if len(runs) == len(paths) and all(r.loaded for r in runs):
                    break
            print(f"loaded {sum(r.loaded for r in runs)}/{len(paths)}", file=sys.stderr)

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--skip", default="", help="comma list of: detect,view")
    ap.add_argument("--data", default="", help="keep the generated files here (reused when present)")
    ap.add_argument("--view-child", nargs="*")
    args = ap.parse_args()
    if args.view_child is not None:
        view_child(args.view_child)
        return
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="gw-mem-"))
    data.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; data in {data}")
    if "detect" not in skip:
        big = data / f"big-{args.rows}.csv"
        if not big.exists():
            make_big(big, args.rows)
        mb = big.stat().st_size / 1e6
        base, _, _ = child_rss([sys.executable, "-c", "import grokwatch.detect.cli, grokwatch.tail"], env)
        peak, wall, rc = child_rss([sys.executable, "-m", "grokwatch", "detect", str(big)], env)
        print(f"detect: {args.rows:,} rows, {mb:.0f} MB: peak RSS {peak:.0f} MB (target <= 100), "
              f"{wall:.1f} s, exit {rc}; baseline (imports only) {base:.0f} MB: ratio {peak / base:.2f}")
    if "view" not in skip:
        small = sorted((data / "small").glob("*.csv")) if (data / "small").exists() else []
        if len(small) < args.files:
            small = make_small(data / "small", args.files)
        small = small[: args.files]
        me = [sys.executable, str(Path(__file__).resolve()), "--view-child"]
        base, bwall, _ = child_rss(me + [str(small[0])], env)
        peak, wall, rc = child_rss(me + [str(p) for p in small], env)
        print(f"view: {len(small):,} files of 200 rows: peak RSS {peak:.0f} MB (target <= 300), "
              f"{wall:.1f} s to load all, exit {rc}; baseline (1 file) {base:.0f} MB in {bwall:.1f} s: "
              f"ratio {peak / base:.2f}")


if __name__ == "__main__":
    main()
