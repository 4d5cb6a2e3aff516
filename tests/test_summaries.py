"""`grokwatch export --summary` and grokwatch/summaries.py: one row per run, checked against the
runs' own metrics (a real tiny grokking run, and generated runs for every phase)."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

import pytest

from conftest import events_of, grok_exp, grokwatch, run_dirs, tiny_toml

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.export import export_summary  # noqa: E402
from grokwatch.detect.phase import phase_of  # noqa: E402
from grokwatch.detect.summary import summarize  # noqa: E402
from grokwatch.summaries import alert_kinds, summary_columns  # noqa: E402

ALERT_KINDS = alert_kinds()


def metrics(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def expected(rows: list[dict[str, float]]) -> dict[str, float | None]:
    """The documented criteria, written out plainly over the rows."""
    mem = gen = None
    run = 0
    for k, r in enumerate(rows):
        err = r.get("train_error", 1 - r["train_acc"] if "train_acc" in r else None)
        run = run + 1 if err is not None and err <= 0.01 else 0
        if run == 3 and mem is None:
            mem = rows[k - 2]["step"]
        if gen is None and r.get("test_acc", 0) >= 0.95:
            gen = r["step"]
    return {"memorization_step": mem, "generalization_step": gen,
            "final_test_error": rows[-1]["test_error"], "best_test_error": min(r["test_error"] for r in rows),
            "final_train_loss": rows[-1]["train_loss"], "best_train_loss": min(r["train_loss"] for r in rows)}


def read_summary(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def num(s: str) -> float | None:
    return None if s == "" else float(s)


def test_columns_are_the_documented_ones():
    cols = summary_columns()
    assert cols[:4] == ["memorization_step", "generalization_step", "grokking_delay", "phase"]
    assert all(f"first_{k}_step" in cols for k in ALERT_KINDS)
    assert {"generalization_jump", "grokking_likely", "overfitting", "divergence"} <= set(ALERT_KINDS)
    assert cols.index("phase") < cols.index("final_train_error")
    for c in ("final_train_error", "final_test_error", "best_train_error", "best_test_error",
              "final_test_loss", "best_test_loss"):
        assert c in cols


def test_summary_of_generated_runs_matches_their_metrics(tmp_path):
    runs = tuifix.make_project(tmp_path)
    buf = io.StringIO()
    n = export_summary(runs, None, buf)
    rows = {r["run_id"]: r for r in read_summary(buf.getvalue())}
    assert n == len(rows) == len(run_dirs(tmp_path))
    head = buf.getvalue().splitlines()[0].split(",")
    assert head[:3] == ["run_id", "experiment", "seed"] and head[-1] == "state"
    assert "weight_decay" in head and "n_features" in head  # every swept key
    grok = rows["grok-add-s0-aaaaaa"]
    want = expected(metrics(runs / "grok-add-s0-aaaaaa"))
    assert num(grok["memorization_step"]) == want["memorization_step"] == 560
    assert num(grok["generalization_step"]) == want["generalization_step"]
    assert num(grok["grokking_delay"]) == want["generalization_step"] - want["memorization_step"]
    assert grok["phase"] == "grokking" and grok["state"] == "done" and grok["seed"] == "0"
    for c in ("final_test_error", "best_test_error", "final_train_loss", "best_train_loss"):
        assert math.isclose(num(grok[c]), want[c], rel_tol=1e-9), c
    assert num(grok["first_generalization_jump_step"]) is not None
    # a run that has not generalised (yet): no generalisation step, no delay
    wd = rows["grok-wd-weight_decay=0.1-s0-bbbbb1"]
    assert wd["generalization_step"] == "" and wd["grokking_delay"] == "" and wd["phase"] == "memorization"
    assert wd["weight_decay"] == "0.1" and wd["state"] == "running"
    # every run: the detectors' own summary of its rows, column for column
    from grokwatch.runs import read_all_metrics

    for rid, row in rows.items():
        info = json.loads((runs / rid / "config.json").read_text())
        det = summarize(read_all_metrics(runs / rid / "metrics.csv"), info)
        for k, v in det.items():
            assert (num(row[k]) if k != "phase" else row[k]) == v, (rid, k)
    assert rows["dd-n_features=400-s0-c04000"]["n_features"] == "400"


def test_export_summary_command_line(tmp_path):
    tuifix.make_project(tmp_path)
    out = tmp_path / "summary.csv"
    proc = grokwatch("export", "--summary", "-o", str(out), cwd=tmp_path, check=True)
    assert "wrote 16 row(s)" in proc.stdout
    assert len(read_summary(out.read_text())) == 16
    proc = grokwatch("export", "--summary", "--long", cwd=tmp_path)
    assert proc.returncode == 2 and "not both" in proc.stderr


@pytest.mark.slow
def test_summary_of_a_real_run_matches_its_metrics_and_events(tmp_path):
    (tmp_path / "experiments.toml").write_text(tiny_toml(grok_exp("g", steps=600)))
    grokwatch("--headless", cwd=tmp_path, timeout=180, check=True)
    [run] = run_dirs(tmp_path)
    proc = grokwatch("export", "--summary", cwd=tmp_path, check=True)
    [row] = read_summary(proc.stdout)
    rows = metrics(run)
    want = expected(rows)
    assert num(row["memorization_step"]) == want["memorization_step"]
    assert num(row["generalization_step"]) == want["generalization_step"]
    for c in ("final_test_error", "best_test_error", "final_train_loss", "best_train_loss"):
        assert math.isclose(num(row[c]), want[c], rel_tol=1e-6), c
    assert row["state"] == "done" and row["experiment"] == "g"
    # the alerts the runner raised live are the ones the summary finds
    first: dict[str, float] = {}
    for e in events_of(run):
        if e.get("kind") in ALERT_KINDS:
            first.setdefault(e["kind"], float(e["step"]))
    for k in ALERT_KINDS:
        assert num(row[f"first_{k}_step"]) == first.get(k), k
    assert row["phase"] == phase_of(num(row["train_level_step"]), num(row["test_level_step"]))
    assert json.loads((run / "config.json").read_text())["seed"] == int(row["seed"])
