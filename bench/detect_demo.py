"""Issue 5's end-to-end check: a headless run of the built-in demo queue must produce exactly
one generalization_jump, for the grokking run (weight decay on), at a step where its test
accuracy is between its baseline and 90%, and none for any other run.

    python bench/detect_demo.py [--keep DIR] [--timeout 1800]

Runs `python -m grokwatch --headless --demo` in a temporary project directory (minutes on two
cores), then reads every run's events.jsonl and metrics.csv. Exit 0 when the check passes.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grokwatch.detect.kinds import KINDS  # noqa: E402
from grokwatch.runs import read_all_metrics, read_events, read_json  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="project directory to use and keep (default: a temporary one)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--reuse", action="store_true", help="only check an existing --keep directory")
    args = ap.parse_args(argv)
    proj = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gw-demo-"))
    proj.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "grokwatch", "--headless", "--demo"], cwd=proj,
                           env=env, capture_output=True, text=True, timeout=args.timeout)
        print(f"headless demo: exit {p.returncode} after {time.monotonic() - t0:.0f} s")
        alert_lines = [x for x in p.stdout.splitlines() if any(f"{k}]" in x for k in KINDS)]
        for line in alert_lines:
            print("  |", line)
    ok = True
    runs = sorted(d for d in (proj / "runs").iterdir() if (d / "config.json").exists())
    for d in runs:
        info = read_json(d / "config.json", {}) or {}
        events, _ = read_events(d / "events.jsonl")
        alerts = [e for e in events if e.get("kind") in KINDS]
        wrong = [e for e in alerts if e.get("alert") is not KINDS[e["kind"]].alert]
        jumps = [e for e in alerts if e["kind"] == "generalization_jump"]
        rows = read_all_metrics(d / "metrics.csv") if (d / "metrics.csv").exists() else []
        grok = info.get("kind") == "grokking" and float((info.get("params") or {}).get("weight_decay", 0)) > 0
        line = f"{d.name:40s} rows {len(rows):4d} " + (", ".join(
            f"{e['kind']}@{e['step']}" for e in alerts) or "no events")
        if wrong:
            ok = False
            line += f"  FAIL: {wrong[0]['kind']} with alert {wrong[0].get('alert')}"
        if grok and any(e["kind"] == "stalled" for e in alerts):
            ok = False
            line += "  FAIL: stalled on the run that groks"
        if grok:
            accs = [r["test_acc"] for r in rows if "test_acc" in r]
            baseline = min(accs[: max(3, len(accs) // 10)]) if accs else 0.0
            if len(jumps) != 1:
                ok = False
                line += f"  FAIL: {len(jumps)} generalization_jump (want 1)"
            else:
                acc = next((r.get("test_acc") for r in rows if r.get("step") == jumps[0]["step"]), None)
                line += f"  (test acc at the alert {acc}, baseline {baseline:.3f})"
                if acc is None or not (baseline < acc < 0.9):
                    ok = False
                    line += "  FAIL: not between baseline and 90%"
        elif jumps:
            ok = False
            line += "  FAIL: a generalization_jump on a run that must stay quiet"
        print(line)
    if not args.keep:
        shutil.rmtree(proj, ignore_errors=True)
    print("demo check passed" if ok else "DEMO CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
