"""The built-in demo queue end to end: `grokwatch --headless --demo` in an empty directory.

    python bench/demo_queue.py [--keep DIR]

Prints the wall time of the whole queue (target: within 5 minutes on 2 cores), each
experiment's wall time, and the alerts each run raised — the grokking run must raise exactly one
generalization_jump, at a step where its test accuracy lies between its baseline and 90%, and
no other run may raise one.
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
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="run in this directory and keep it")
    args = ap.parse_args()
    project = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="grokwatch-demo-"))
    project.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grokwatch", "--headless", "--demo", "--progress-every", "30"],
                          cwd=project, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    print(f"demo queue: exit {proc.returncode}, {wall:.0f} s wall  [target <= 300 s on 2 cores]")
    runs = sorted(p for p in (project / "runs").iterdir() if (p / "config.json").exists())
    per_exp: dict[str, list[float]] = defaultdict(list)
    ok = proc.returncode == 0
    jumps_elsewhere = 0
    for run in runs:
        cfg = json.loads((run / "config.json").read_text())
        status = json.loads((run / "status.json").read_text())
        events = [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines() if l.strip()]
        alerts = [e for e in events if e.get("alert")]
        started = next((e["time"] for e in events if e["kind"] == "started"), None)
        ended = next((e["time"] for e in reversed(events) if e["kind"] == status["state"]), None)
        if started and ended:
            per_exp[cfg["experiment"]].append(ended - started)
        jumps = [e for e in alerts if e["kind"] == "generalization_jump"]
        if cfg["experiment"] == "grok-add":
            rows = list(csv.DictReader(open(run / "metrics.csv")))
            accs = {int(float(r["step"])): float(r["test_acc"]) for r in rows if r.get("test_acc")}
            base = min(list(accs.values())[:5])
            for j in jumps:
                acc = accs.get(int(j["step"]))
                print(f"  grok-add: generalization_jump at step {j['step']}, test acc then {acc:.3f} "
                      f"(baseline {base:.3f}); {j['message']}")
                ok &= acc is not None and base < acc < 0.9
            ok &= len(jumps) == 1
            print(f"  grok-add: {len(jumps)} generalization_jump event(s)  [target exactly 1]")
        else:
            jumps_elsewhere += len(jumps)
        if alerts:
            print(f"  {run.name}: alerts {[e['kind'] + '@' + str(e['step']) for e in alerts]}")
    for exp, times in per_exp.items():
        print(f"  {exp}: {len(times)} run(s), {sum(times):.1f} s of run time, longest {max(times):.1f} s")
    print(f"generalization_jump events on the other runs: {jumps_elsewhere}  [target 0]")
    ok &= jumps_elsewhere == 0 and wall <= 300
    print("PASS" if ok else "FAIL")
    if not args.keep:
        print(f"(runs kept in {project})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
