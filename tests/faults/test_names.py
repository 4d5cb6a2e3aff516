"""Run ids are directory names: they fit one file name whatever the sweep, never collide on a
case-insensitive file system, and every id a project made by the previous version (tag
wave1-base: tests/fixtures/faults/old-project) already has stays exactly as it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import REPO, grokwatch, read_json, run_dirs

from grokwatch.config import expand_runs, load_config
from grokwatch.runs import MAX_RUN_ID, make_run_id

OLD_PROJECT = REPO / "tests" / "fixtures" / "faults" / "old-project"


def _ids(project: Path) -> list[str]:
    return [r.run_id for r in expand_runs(load_config(project / "experiments.toml", project))]


def _copy_old_project(tmp_path: Path) -> Path:
    project = tmp_path / "p"
    shutil.copytree(OLD_PROJECT, project)
    return project


def test_a_project_of_the_previous_version_keeps_every_run_and_runs_nothing_again(tmp_path):
    """Made by wave1-base on a case-sensitive file system: `Dd` and `dd` (same parameters) both
    have their directory, every run `done`. The new version finds the same ids and runs nothing."""
    project = _copy_old_project(tmp_path)
    before = {d.name: (d / "metrics.csv").read_bytes() for d in run_dirs(project)}
    assert sorted(_ids(project)) == sorted(before)
    proc = grokwatch("--headless", cwd=project, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 run(s) ran" in proc.stdout
    assert {d.name: (d / "metrics.csv").read_bytes() for d in run_dirs(project)} == before
    assert all(read_json(d / "status.json")["state"] == "done" for d in run_dirs(project))


def test_ids_that_cannot_collide_are_the_previous_versions_ids_with_no_directory_to_look_at(tmp_path):
    project = _copy_old_project(tmp_path)
    old = sorted(d.name for d in run_dirs(project) if d.name.startswith("sweep"))
    shutil.rmtree(project / "runs")
    assert sorted(i for i in _ids(project) if i.startswith("sweep")) == old


def test_names_differing_only_in_case_get_ids_that_differ_ignoring_case(tmp_path):
    project = _copy_old_project(tmp_path)
    shutil.rmtree(project / "runs")
    ids = _ids(project)
    assert len({i.casefold() for i in ids}) == len(ids)
    assert ids[0] == "Dd-s0-231bd6"  # the first keeps the id the previous version gave it
    assert ids[1].startswith("dd-s0-") and ids[1] != "dd-s0-231bd6"
    # once its directory exists, the id stays even when the other experiment is removed
    (project / "runs" / ids[1]).mkdir(parents=True)
    text = (project / "experiments.toml").read_text()
    (project / "experiments.toml").write_text(text.replace('name = "Dd"', 'name = "gone"'))
    assert _ids(project)[1] == ids[1]


def test_a_run_never_takes_over_the_directory_of_a_removed_experiment_differing_in_case(tmp_path):
    """`Dd` ran and was removed from the file, `dd` added: on macOS `dd-s0-231bd6` would *be*
    `Dd`'s directory, and `dd` would be taken for done. It gets an id of its own."""
    project = _copy_old_project(tmp_path)
    for d in run_dirs(project):
        if not d.name.startswith("Dd"):
            shutil.rmtree(d)
    text = (project / "experiments.toml").read_text()
    start = text.index("[[experiment]]")
    end = text.index("[[experiment]]", start + 1)
    (project / "experiments.toml").write_text(text[:start] + text[end:])
    ids = _ids(project)
    assert ids[0].startswith("dd-s0-") and ids[0].casefold() != "dd-s0-231bd6"


def test_a_long_sweep_point_is_shortened_to_one_file_name_deterministically(project):
    long_a, long_b = "a" * 300 + "x", "a" * 300 + "y"
    (project / "experiments.toml").write_text(f"""
[grokwatch]
devices = "cpu"

[[experiment]]
name = "{'n' * 200}"
kind = "command"
command = ["python", "-c", "print('grokwatch: {{\\"step\\": 1, \\"train_loss\\": 0.5}}')", "{{tag}}"]
[experiment.sweep]
tag = ["{long_a}", "{long_b}"]
""")
    ids = _ids(project)
    assert len(ids) == 2 and ids[0] != ids[1] and ids == _ids(project)
    assert all(len(i.encode()) <= MAX_RUN_ID for i in ids)
    assert all(i.startswith("n" * 200 + "-tag=aaa") and "~" in i for i in ids)
    proc = grokwatch("--headless", cwd=project, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(d.name for d in run_dirs(project)) == sorted(ids)
    assert all(read_json(d / "status.json")["state"] == "done" for d in run_dirs(project))
    sweep = json.loads((run_dirs(project)[0] / "config.json").read_text())["sweep"]
    assert sweep["tag"] in (long_a, long_b)  # the full value is kept in config.json


def test_short_ids_are_unchanged_by_the_length_rule():
    params = {"x": 1}
    rid = make_run_id("grok", {"lr": 0.001}, 3, params, {"kind": "grokking"})
    assert rid.startswith("grok-lr=0.001-s3-") and len(rid) == len("grok-lr=0.001-s3-") + 6
