"""Packs through the runner, end to end with real processes: `grokwatch --headless` on a small
packed sweep (one slot, one pack process, every run its own files), stopping one member with
`grokwatch stop RUN` while the others finish, `retry` resuming it, and a SIGKILLed pack whose
members end `lost` and resume."""

from __future__ import annotations

import json
import os
import signal

import pytest

from conftest import grokwatch, read_json, run_dirs, start_grokwatch, state_of, wait_for


def sweep(steps: int, pack: str = "4", wds=(1.0, 0.3), seeds=(0, 1), extra: str = "") -> str:
    return (f'[grokwatch]\ndevices = "cpu"\nmax_parallel = 1\nthreads_per_run = 1\n'
            f'checkpoint_every_s = 0.5\n{extra}\n'
            f'[[experiment]]\nname = "g"\nkind = "grokking"\nseeds = {list(seeds)}\npack = {pack}\n'
            f'[experiment.params]\nmodulus = 23\nwidth = 32\nlr = 1e-2\nsteps = {steps}\n'
            f'eval_every = 20\neval_log_points = 4\n[experiment.sweep]\nweight_decay = {list(wds)}\n')


def steps_of(rd) -> list[int]:
    lines = (rd / "metrics.csv").read_text().splitlines()[1:]
    return [int(float(x.split(",", 1)[0])) for x in lines if x]


@pytest.mark.slow
def test_headless_runs_a_packed_sweep_as_one_pack_with_every_run_its_own_files(project):
    (project / "experiments.toml").write_text(sweep(200))
    proc = grokwatch("--headless", cwd=project, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dirs = run_dirs(project)
    assert len(dirs) == 4
    records = [read_json(rd / "executor.json") for rd in dirs]
    assert len({r["pid"] for r in records}) == 1 and len({r["pack"] for r in records}) == 1
    assert all(r["member_of"] == f"member of pack {r['pack']}" and r["pack_size"] == 4 for r in records)
    for rd in dirs:
        st = read_json(rd / "status.json")
        assert st["state"] == "done" and st["pid"] == records[0]["pid"] and st["pack"] == records[0]["pack"]
        assert steps_of(rd)[-1] == 200 and len(set(steps_of(rd))) == len(steps_of(rd))
        kinds = [json.loads(line)["kind"] for line in (rd / "events.jsonl").read_text().splitlines()]
        assert kinds.count("started") == 1 and kinds[-1] == "done"
    assert list((project / "runs" / ".packs").glob("pack-*.log"))  # the pack's own output


@pytest.mark.slow
def test_stop_one_member_the_others_finish_and_retry_resumes_it(project):
    (project / "experiments.toml").write_text(sweep(4000, pack="3", wds=(1.0, 0.3, 0.1), seeds=(0,)))
    head = start_grokwatch("--headless", cwd=project)
    try:
        wait_for(lambda: len(run_dirs(project)) == 3 and all(
            (rd / "metrics.csv").exists() and len(steps_of(rd)) > 6 for rd in run_dirs(project)),
            timeout=120, what="the pack's first rows")
        one = run_dirs(project)[1]
        assert grokwatch("stop", one.name, cwd=project).returncode == 0
        wait_for(lambda: state_of(one) == "stopped", timeout=60, what="the member stopped")
        others = [rd for rd in run_dirs(project) if rd != one]
        assert all(state_of(rd) == "running" for rd in others)  # the pack goes on without it
        out, err = head.communicate(timeout=240)
    finally:
        if head.poll() is None:
            head.kill()
    assert head.returncode == 1, out + err  # one run of this invocation ended stopped
    assert all(state_of(rd) == "done" for rd in others)
    stopped_at = read_json(one / "checkpoint.json")["step"]
    assert 0 < stopped_at < 4000
    assert grokwatch("retry", one.name, cwd=project).returncode == 0
    proc = grokwatch("--headless", cwd=project, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert state_of(one) == "done"
    s = steps_of(one)
    assert s[-1] == 4000 and len(set(s)) == len(s)


@pytest.mark.slow
def test_a_killed_pack_leaves_each_member_lost_and_resumable(project):
    (project / "experiments.toml").write_text(sweep(3000, pack="2", wds=(1.0,), seeds=(0, 1)))
    head = start_grokwatch("--headless", cwd=project)
    try:
        wait_for(lambda: len(run_dirs(project)) == 2 and all(
            (read_json(rd / "checkpoint.json") or {}).get("step", 0) > 0 for rd in run_dirs(project)),
            timeout=120, what="both checkpoints")
        os.kill(read_json(run_dirs(project)[0] / "executor.json")["pid"], signal.SIGKILL)
        out, err = head.communicate(timeout=120)
    finally:
        if head.poll() is None:
            head.kill()
    assert head.returncode == 1, out + err
    dirs = run_dirs(project)
    assert [state_of(rd) for rd in dirs] == ["lost", "lost"]
    assert grokwatch("retry", *(rd.name for rd in dirs), cwd=project).returncode == 0
    proc = grokwatch("--headless", cwd=project, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rd in dirs:
        s = steps_of(rd)
        assert state_of(rd) == "done" and s[-1] == 3000 and len(set(s)) == len(s)


def test_the_run_table_device_column_shows_the_pack():
    from pathlib import Path

    from grokwatch.runner.executors.base import JobRecord
    from grokwatch.tui.data.store import RunData

    member = RunData("r", Path("r/metrics.csv"), info={"device": "cuda"},
                     executor=JobRecord(executor="local", pid=1, slot="cuda:0", pack="pack-x", pack_size=12))
    assert member.device == "cuda:0 ×12"
    alone = RunData("s", Path("s/metrics.csv"), info={"device": "cpu"},
                    executor=JobRecord(executor="local", pid=2, slot="cpu"))
    assert alone.device == "cpu"
