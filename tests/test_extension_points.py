"""Each extension point, proved from outside the package: tests/fixtures/extensions/grokwatch_dummy.py
registers a dummy experiment kind, detector rule (with its alert kind row), chart view, executor and
log reader with the public calls an extension makes, and each is used end to end here — the kind in
real workers under a real headless runner (the stock executor and the dummy one), the rule through
`grokwatch detect` on a CSV, the reader through `grokwatch detect` and the readers registry, the
view in a pilot test. docs/architecture.md walks through the same five paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, cli_env, events_of, read_json, run_dirs

EXT_DIR = Path(__file__).parent / "fixtures" / "extensions"
sys.path.insert(0, str(EXT_DIR))
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))


def ext_env() -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = str(EXT_DIR) + os.pathsep + env["PYTHONPATH"]
    return env


def with_extension(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that imported the extension module first (as a plugin's
    own entry point would); its children (the runner's workers) inherit PYTHONPATH only."""
    return subprocess.run([sys.executable, "-c", "import grokwatch_dummy\n" + code], cwd=cwd,
                          env=ext_env(), capture_output=True, text=True, timeout=timeout)


def grokwatch_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return with_extension(f"import sys\nfrom grokwatch.cli import main\nsys.exit(main({list(args)!r}))",
                          cwd)


@pytest.fixture
def registered():
    """The extension registered in this process, and unregistered after (other tests count kinds)."""
    import grokwatch_dummy

    if "dummy" not in __import__("grokwatch.experiments", fromlist=["KIND_MODULES"]).KIND_MODULES:
        grokwatch_dummy.register()
    yield grokwatch_dummy
    grokwatch_dummy.unregister()


@pytest.mark.parametrize("executor", ["local", "dummy"])
def test_dummy_kind_runs_in_real_workers_under_the_headless_runner(tmp_path, executor):
    """The kind (and the rule, raised by the runner's detectors), through the stock executor and
    through the dummy one: the worker is a fresh process that learns the kind from its runner."""
    (tmp_path / "e.toml").write_text(f'[grokwatch]\ndevices = "cpu"\nexecutor = "{executor}"\n'
                                     '[[experiment]]\nname = "d"\nkind = "dummy"\n'
                                     "[experiment.params]\nsteps = 12\nping_at = 7\n")
    out = with_extension("import sys\nfrom pathlib import Path\nfrom grokwatch.headless import run_headless\n"
                         "sys.exit(run_headless(Path('e.toml'), Path('.'), progress_every_s=60))", tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    (rd,) = run_dirs(tmp_path)
    assert read_json(rd / "config.json")["kind"] == "dummy"
    assert read_json(rd / "status.json")["state"] == "done"
    record = read_json(rd / "executor.json")
    assert record["executor"] == executor
    assert (record.get("launched_by") == "dummy") == (executor == "dummy")
    header, *rows = (rd / "metrics.csv").read_text().splitlines()
    assert "ping" in header.split(",") and len(rows) == 12
    pings = [e for e in events_of(rd) if e["kind"] == "ping"]
    assert [(e["step"], e["alert"]) for e in pings] == [(7, True)]
    # --headless marks the line as the kind's row says ("~")
    assert any(" ~ [" in line and "ping reached 1 at step 7" in line for line in out.stdout.splitlines()), \
        out.stdout


def test_dummy_rule_raises_its_event_through_grokwatch_detect_on_a_csv(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text("step,train_loss,test_loss,ping\n" +
                   "".join(f"{s},{1 / s:.4f},{2 / s:.4f},{int(s >= 30)}\n" for s in range(1, 41)))
    out = grokwatch_cli("detect", str(csv), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["kind"], e["step"], e["alert"]) for e in events if e["kind"] == "ping"] == [("ping", 30, True)]
    # without the extension the same command knows no such kind, and the column is just a column
    plain = subprocess.run([sys.executable, "-m", "grokwatch", "detect", str(csv), "--json"], cwd=tmp_path,
                           env=cli_env(), capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert "ping" not in [json.loads(line)["kind"] for line in plain.stdout.splitlines()]


def test_dummy_reader_is_recognised_by_grokwatch_detect_and_the_registry(tmp_path, registered):
    from grokwatch.readers import open_path, read_path

    log = tmp_path / "logs" / "exp1.pinglog"
    log.parent.mkdir()
    log.write_text("PINGLOG\n" + "".join(f"{s} train_loss {1 / s:.4f}\n{s} ping {int(s >= 5)}\n" for s in range(1, 9))
                   + "garbled line\n")
    (src,) = open_path(log.parent)  # recognised by its contents, in a directory walk
    assert type(src).__name__ == "PingLogSource" and src.name == "exp1"
    ((src, rows),) = read_path(log)
    assert [r["step"] for r in rows] == list(range(1, 9)) and rows[4]["ping"] == 1.0
    assert src.bad_rows == 1 and src.first_bad == "garbled line"  # counted, never silent
    out = grokwatch_cli("detect", str(log), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "exp1 step 5: ping: ping reached 1 at step 5" in out.stdout.splitlines()


async def test_dummy_view_mode_is_drawn_in_a_pilot_test(tmp_path, registered):
    import tuifix
    from rich.text import Text

    from grokwatch.tui.app import GrokwatchApp, view_context
    from grokwatch.tui.screens.dashboard import DashboardScreen
    from grokwatch.tui.screens.help import HelpScreen
    from grokwatch.tui.widgets.chart.chart import ChartPanel

    tuifix.make_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        d = app.screen
        assert isinstance(d, DashboardScreen)
        chart = d.query_one(ChartPanel)

        async def drawn():
            t0 = time.monotonic()
            while chart.building or chart.dirty or chart.last_out is None:
                assert time.monotonic() - t0 < 15, "chart not drawn"
                await pilot.pause(0.05)
            return chart.last_out

        await pilot.press("z")
        assert d.view.mode == "ping"
        out = await drawn()
        assert out.title.startswith("ping view of ")
        assert "test_error" in Text.from_ansi(out.ansi).plain
        await pilot.press("z")  # again: back to the run chart
        assert d.view.mode == "run"
        assert "Ping view" in [c.title for c in app.get_system_commands(d)]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and dict(app.screen.rows)["z"].startswith("ping view")
