"""`grokwatch plot`: figures from run directories with matplotlib (the optional extra) — a PNG a
test opens (size, not blank), SVGs whose text names the axes, one line when matplotlib is missing,
and never imported by the dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.plot import main_plot  # noqa: E402


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    tuifix.make_project(tmp_path)
    tuifix.make_phase_project(tmp_path)
    return tmp_path / "runs"


def test_curve_png_has_its_size_and_is_not_blank(runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg
    import numpy as np

    out = tmp_path / "curve.png"
    assert main_plot(["grok-add-s0-aaaaaa", "-o", str(out)], runs) == 0
    assert "wrote" in capsys.readouterr().out
    img = mpimg.imread(out)
    assert img.shape[:2] == (630, 1050)  # 7 x 4.2 inches at 150 dpi
    rgb = img[..., :3]
    assert rgb.std() > 0.05 and (rgb.mean(axis=2) < 0.9).mean() > 0.01  # lines and text, not a blank page


def test_svgs_name_their_axes_and_markers(runs, tmp_path):
    pytest.importorskip("matplotlib")
    curve, sweep, phase = tmp_path / "c.svg", tmp_path / "s.svg", tmp_path / "p.svg"
    assert main_plot(["grok-add-s0-aaaaaa", "-o", str(curve)], runs) == 0
    text = curve.read_text()
    from grokwatch.summaries import summarize_run

    _, s = summarize_run(runs / "grok-add-s0-aaaaaa")  # the markers are the run's summary
    assert ">step<" in text and ">error<" in text and f"memorised {s.memorization_step:,.0f}" in text
    assert f"generalised {s.generalization_step:,.0f}" in text and "generalization_jump" in text
    assert f"grokking delay {s.grokking_delay:,.0f} steps" in text
    assert main_plot(["dd", "--kind", "sweep", "-o", str(sweep)], runs) == 0
    text = sweep.read_text()
    assert ">n_features<" in text and ">final error<" in text and "N = n_train = 200" in text
    assert main_plot(["pd", "-o", str(phase)], runs) == 0  # two swept keys and more: a phase diagram
    text = phase.read_text()
    assert ">weight_decay<" in text and ">lr<" in text or ">train_fraction<" in text
    assert "generalisation step" in text and "never" in text


def test_bad_requests_are_one_line(runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main_plot(["nosuch"], runs) == 2
    assert main_plot(["grok-add", "--kind", "sweep", "-o", str(tmp_path / "x.png")], runs) == 2
    assert main_plot(["dd", "-o", str(tmp_path / "x.gif")], runs) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "no run or experiment named nosuch" in err[0]
    assert "no swept parameter" in err[1] and ".png, .svg or .pdf" in err[2]


def test_missing_matplotlib_is_one_line_naming_the_extra(runs):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from pathlib import Path\nfrom grokwatch.plot import main_plot\n"
            f"raise SystemExit(main_plot(['dd'], Path({str(runs)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'grokwatch: grokwatch plot needs matplotlib: pip install "grokwatch[plot]"'


def test_the_dashboard_never_imports_matplotlib():
    code = ("import sys, grokwatch.tui.app, grokwatch.tui.phase, grokwatch.tui.charts, grokwatch.summaries\n"
            "print('matplotlib' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert proc.stdout.strip() == "False", proc.stderr
