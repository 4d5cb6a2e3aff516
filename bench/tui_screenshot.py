"""Write docs/screenshot.svg: the dashboard on real grokking runs (the detectors' fixtures).

    python bench/tui_screenshot.py [OUT.svg]

The runs are copied into a temp dir with a status and the events the detectors raise on them,
then shown by `grokwatch view` headless (frozen clock, UTC) and saved with `save_screenshot`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "fixtures" / "detect" / "real"
RUNS = ["mlp-cpu-s0", "mlp-cpu-s1", "mlp-cpu-wd2-s0", "mlp-cpu-tf0.5-s3"]
T0 = 1_760_000_000.0


def prepare(dest: Path) -> Path:
    from grokwatch.detect import DetectorSet
    from grokwatch.runs import read_all_metrics, read_json

    runs = dest / "runs"
    for k, name in enumerate(RUNS):
        d = runs / name
        shutil.copytree(REAL / name, d)
        (d / "label.json").unlink(missing_ok=True)
        info = read_json(d / "config.json", {})
        info.update({"experiment": "grok-mlp", "device": "cpu", "threads": 1, "seed": k,
                     "sweep": {}, "run_id": name})
        (d / "config.json").write_text(json.dumps(info, indent=1))
        rows = read_all_metrics(d / "metrics.csv")
        last = rows[-1]
        running = k == 3
        events = [{"time": T0 - 900 + k, "run_id": name, "step": 0, "kind": "started",
                   "message": f"{name} started on cpu"}]
        ds = DetectorSet(info)
        for row in rows:
            for ev in ds.feed(row):
                events.append({"time": T0 - 900 + row.get("time_s", 0), "run_id": name, "alert": True,
                               **ev})
        if not running:
            events.append({"time": T0 - 300 + k, "run_id": name, "step": last["step"], "kind": "done",
                           "message": f"{name} finished at step {last['step']:g}"})
        (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        (d / "status.json").write_text(json.dumps({
            "state": "running" if running else "done", "step": last["step"],
            "total_steps": info.get("total_steps"), "started": T0 - 900, "ended": None if running else T0 - 300}))
    return runs


async def shoot(runs: Path, out: Path, key: str) -> None:
    from grokwatch.tui import clock
    from grokwatch.tui.app import GrokwatchApp, view_context
    from grokwatch.tui.widgets.chart.chart import ChartPanel
    from grokwatch.tui.widgets.runs.table import RunTable

    clock.freeze(T0)
    ctx = view_context([runs])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(132, 40)) as pilot:
        while not (getattr(app.screen, "first_paint_done", False) and app.screen.poller.loading_count() == 0):
            await pilot.pause(0.05)
        d = app.screen
        d.query_one(RunTable).select_key(key)
        await pilot.press("a")  # the alert list, under the chart
        chart = d.query_one(ChartPanel)
        chart.mark_dirty(now=True)
        while chart.dirty or chart.building:
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.svg").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as d:
        runs = prepare(Path(d))
        asyncio.run(shoot(runs, out, "mlp-cpu-s0"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
