"""What the GPU is doing, on screen: the header shows each GPU's utilisation and memory from
runner.json's `gpus` (runner/gpustats.py), the detail pane a packed run's pack and its GPU, the
device column the pack's size; with no GPU (or no runner holding the project) none of it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.runner.lock import RunnerLock  # noqa: E402
from grokwatch.runs import atomic_write_json  # noqa: E402
from grokwatch.tui.app import GrokwatchApp, attach_context  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.widgets.detail.detail import DetailPane, render_detail  # noqa: E402
from grokwatch.tui.widgets.header.status_line import StatusLine  # noqa: E402
from grokwatch.tui.widgets.runs.table import RunTable  # noqa: E402

RUN = "grok-wd-weight_decay=0.1-s0-bbbbb1"  # running, in tuifix's project
GPUS = [{"index": 0, "util": 37, "mem_used_mib": 4198, "mem_total_mib": 81559},
        {"index": 1, "util": 2, "mem_used_mib": 700, "mem_total_mib": 81559}]


async def _until(pilot, cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def _project(tmp_path: Path, monkeypatch) -> Path:
    import grokwatch.runner.launch as launch

    monkeypatch.setattr(launch, "ensure_runner", lambda *a, **k: None)
    runs = tuifix.make_project(tmp_path)
    (runs / RUN / "executor.json").write_text(json.dumps({
        "executor": "local", "pid": 4242, "slot": "cuda:0", "pack": "pack-20260101-000000-abcdef",
        "pack_size": 12, "member_of": "member of pack pack-20260101-000000-abcdef",
        "run_dir": str(runs / RUN)}))
    cfg = tmp_path / "experiments.toml"
    cfg.write_text('[grokwatch]\ndevices = "auto"\n[[experiment]]\nname = "grok-add"\nkind = "grokking"\n')
    return cfg


async def _dashboard(tmp_path: Path, cfg: Path, gpus: list[dict], check) -> None:
    lock = RunnerLock(tmp_path)  # this process plays the runner: it holds the project
    assert lock.acquire(cfg)
    atomic_write_json(tmp_path / ".grokwatch" / "runner.json", {
        "pid": lock.info["pid"], "running": True, "runs_dir": str(tmp_path / "runs"), "gpus": gpus})
    try:
        ctx = attach_context(cfg, tmp_path, explicit=False)
        ctx.use_pool = False
        app = GrokwatchApp(ctx, project_dir=tmp_path, config_path=cfg)
        async with app.run_test(size=(160, 40)) as pilot:
            await _until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await check(app, pilot)
    finally:
        lock.release()


def _header(app) -> str:
    return str(app.screen.query_one(StatusLine).render())


async def test_the_header_and_detail_pane_show_the_gpus_and_the_pack(tmp_path, monkeypatch):
    cfg = _project(tmp_path, monkeypatch)

    async def check(app, pilot):
        await _until(pilot, lambda: "GPU0" in _header(app))
        assert "GPU0 37% 4.1/80G  GPU1 2% 0.7/80G" in _header(app)
        d = app.screen
        await _until(pilot, lambda: RUN in d.store.runs and d.store.runs[RUN].executor.get("pack"))
        run = d.store.runs[RUN]
        assert run.device == "cuda:0 ×12"
        table = d.query_one(RunTable)
        table.move_cursor(row=table.get_row_index(RUN))
        await pilot.pause(0.1)
        await pilot.press("enter")
        detail = d.query_one(DetailPane)
        await _until(pilot, lambda: detail.has_class("-shown"))
        body = str(detail.query_one("#detail-body").render())
        assert "pack pack-20260101-000000-abcdef · 12 runs" in body
        assert run.state == "running" and "on GPU0 37% 4.1/80G" in body

    await _dashboard(tmp_path, cfg, GPUS, check)


async def test_no_gpu_means_no_gpu_text(tmp_path, monkeypatch):
    cfg = _project(tmp_path, monkeypatch)

    async def check(app, pilot):
        await _until(pilot, lambda: "runner pid" in _header(app))
        await pilot.pause(0.3)
        assert "GPU" not in _header(app)

    await _dashboard(tmp_path, cfg, [], check)


def test_the_detail_text_names_the_run_s_gpu_only_while_it_runs(tmp_path):
    from grokwatch.tui.data.store import RunStore

    runs = tuifix.make_project(tmp_path)
    (runs / RUN / "executor.json").write_text(json.dumps({"slot": "cuda:1", "pid": 4242}))
    store = RunStore(runs_dirs=[runs])
    store.scan()
    run = store.runs[RUN]
    store.refresh_meta(run)
    assert run.executor.get("slot") == "cuda:1" and run.state == "running"
    text = str(render_detail(run, GPUS))
    assert "on GPU1 2% 0.7/80G" in text and "pack " not in text
    assert "GPU" not in str(render_detail(run, []))
    run.status = {**run.status, "state": "done"}
    assert "GPU" not in str(render_detail(run, GPUS))
