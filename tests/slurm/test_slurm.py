"""The Slurm executor against a real single-node Slurm (tests/slurm/harness.py starts it; the tests
skip, saying why, only where Slurm cannot be installed on this machine).

Jobs ask for half the node's CPUs, so two run and a third waits with reason `Resources`; the
cluster has accounting (sacct) and two fake GPUs. Runs are the tiny grokking workload or a `command` run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokwatch.runner.executors.slurm import SlurmJob
from conftest import (events_of, grokwatch, metric_steps, read_json, run_dirs, start_grokwatch, state_of,
                      wait_for)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location("slurm_harness", Path(__file__).parent / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


@pytest.fixture(scope="session")
def slurm_cluster():
    try:
        started = harness.ensure_cluster()
    except harness.Unavailable as exc:
        pytest.skip(f"no Slurm for the slurm tests: {exc}")
    yield
    if started:
        harness.stop_cluster()


@pytest.fixture
def sproject(tmp_path, slurm_cluster):
    """A project directory; jobs and runners left behind are cancelled/killed at teardown."""
    yield tmp_path
    _cleanup(tmp_path)


def _cleanup(project: Path) -> None:
    jobs = [str((read_json(d / "executor.json") or {}).get("job_id")) for d in run_dirs(project)]
    harness.cancel_jobs([j for j in jobs if j and j != "None"])
    lock = read_json(project / ".grokwatch" / "runner.lock") or {}
    if isinstance(lock.get("pid"), int) and lock["pid"] != os.getpid():
        try:
            os.kill(lock["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def cpus_per_job() -> int:
    """CPUs per job such that exactly two jobs fit on the test node (the third waits: Resources)."""
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=30).stdout.split()
    cpus = int(out[0].rstrip("+")) if out else 2
    per = max(1, cpus // 2)
    if 3 * per <= cpus:
        pytest.skip(f"the Slurm node has {cpus} CPUs: no job size lets exactly two jobs fit")
    return per


def slurm_toml(*experiments: str, time_limit: str = "5", max_jobs: int = 8, signal_before_s: int = 40,
               slurm_extra: str = "", checkpoint_every_s: float = 2.0) -> str:
    return (f"[grokwatch]\nexecutor = \"slurm\"\ncheckpoint_every_s = {checkpoint_every_s}\n\n"
            f"[slurm]\ntime = \"{time_limit}\"\nmax_jobs = {max_jobs}\ncpus_per_run = {cpus_per_job()}\n"
            f"signal_before_s = {signal_before_s}\n{slurm_extra}\n" + "\n".join(experiments))


def grok(name: str = "g", seeds=(0,), steps: int = 300, eval_every: int = 20) -> str:
    return (f"[[experiment]]\nname = \"{name}\"\nkind = \"grokking\"\nseeds = {list(seeds)}\n"
            f"[experiment.params]\nmodulus = 23\nsteps = {steps}\nwidth = 64\neval_every = {eval_every}\n")


def command(name: str, script: str) -> str:
    return f"[[experiment]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''{script}''']\n"


def wait(predicate, timeout: float, what: str, project: Path | None = None, interval: float = 0.2):
    """wait_for, with what Slurm and the run directories say when it times out (the cluster may be
    shared with other test sessions: generous timeouts)."""
    try:
        return wait_for(predicate, timeout=timeout, interval=interval, what=what)
    except AssertionError as exc:
        sq = subprocess.run(["squeue", "-r", "-o", "%i %j %T %r %M"], capture_output=True, text=True).stdout
        runs = ""
        if project is not None:
            for d in run_dirs(project):
                runs += f"\n  {d.name}: {state_of(d)} {read_json(d / 'executor.json')} rows={len(metric_steps(d))}"
        raise AssertionError(f"{exc}\nsqueue:\n{sq}runs:{runs}") from None


def job_of(run_dir: Path) -> str:
    return str((read_json(run_dir / "executor.json") or {}).get("job_id") or "")


def sacct_state(job_id: str) -> tuple[str, str]:
    """(State, ExitCode) of a job from the accounting database, once it has them. (An array task that
    never started is folded into its array's line, "12_[3-5]": asked for by the array's id.)"""
    from grokwatch.runner.executors.slurm import find_job

    def ask():
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id.split("_")[0],
                              "--format=JobID,State,ExitCode,Reason,NodeList"],
                             capture_output=True, text=True, timeout=30).stdout
        raw = {line.split("|")[0]: line.split("|") for line in out.splitlines() if line.count("|") >= 4}
        job = find_job({k: SlurmJob(k, v[1]) for k, v in raw.items()}, job_id)
        if job is None or job.state in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED"):
            return None
        key = job_id if job_id in raw else next(k for k in raw if find_job({k: SlurmJob(k, "")}, job_id))
        return raw[key][1], raw[key][2]
    return wait(ask, 60, f"sacct to record job {job_id}", interval=0.5)


def squeue_state(job_id: str) -> str:
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%T"], capture_output=True,
                         text=True, timeout=30).stdout.split()
    return out[0] if out else ""


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"headless did not finish within {timeout:.0f} s:\n{out}\n{err}")
    return proc.returncode, out + err


def runs_by_name(project: Path) -> dict[str, Path]:
    return {d.name: d for d in run_dirs(project)}


# ---------------------------------------------------------------------------------------------------


def test_headless_queue_on_slurm_array_with_live_metrics(sproject):
    """Three runs go as one job array; the third waits (Resources) while two run on 2 CPUs; metrics
    grow in the run directories while the jobs run; every run ends done."""
    (sproject / "experiments.toml").write_text(slurm_toml(grok("a", seeds=(0, 1, 2), steps=2500)))
    proc = start_grokwatch("--headless", "--progress-every", "2", cwd=sproject)
    reasons, nodes, live_rows = set(), set(), {}
    try:
        t_end = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < t_end:
            for d in run_dirs(sproject):
                ex = read_json(d / "executor.json") or {}
                if ex.get("phase") == "pending":
                    reasons.add(ex.get("reason"))
                if ex.get("phase") == "running" and ex.get("node"):
                    nodes.add(ex["node"])
                if state_of(d) == "running":
                    live_rows.setdefault(d.name, set()).add(len(metric_steps(d)))
            time.sleep(0.1)
    finally:
        rc, out = finish(proc, 60)
    assert rc == 0, out
    dirs = run_dirs(sproject)
    assert len(dirs) == 3 and all(state_of(d) == "done" for d in dirs), out
    jobs = sorted(job_of(d) for d in dirs)
    array = {j.split("_")[0] for j in jobs}
    assert len(array) == 1 and all("_" in j for j in jobs), f"not one job array: {jobs}"
    assert "Resources" in reasons, f"the third job never showed as pending for Resources: {reasons}"
    host = subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True).stdout.strip()
    assert nodes == {host}, nodes
    grew = {rid: sorted(n for n in counts if n > 0) for rid, counts in live_rows.items()}
    assert any(len(v) >= 3 for v in grew.values()), f"metrics did not grow while jobs ran: {grew}"
    for d in dirs:
        log = (d / "worker.log").read_text()
        assert re.search(r"grokwatch: slurm job \d+ \(array \d+_\d\) on ", log), log[:500]
        kinds = [e["kind"] for e in events_of(d)]
        assert kinds.count("started") == 1 and kinds[-1] == "done", kinds
        assert sacct_state(job_of(d)) == ("COMPLETED", "0:0")
    # the same commands work on slurm runs
    status = grokwatch("status", "--json", cwd=sproject, check=True)
    assert status.stdout.count('"done"') >= 3, status.stdout
    export = grokwatch("export", "-o", "all.csv", cwd=sproject, check=True)
    assert len((sproject / "all.csv").read_text().splitlines()) > 3 * 10, export.stdout


def test_stop_cancels_running_and_pending_jobs_then_retry_resumes(sproject):
    """`grokwatch stop`: running jobs' workers get SIGTERM (checkpoint, `stopped`), the pending job is
    cancelled; `retry` resumes a stopped run from its checkpoint as a new job."""
    (sproject / "experiments.toml").write_text(slurm_toml(grok("s", seeds=(0, 1, 2), steps=400_000,
                                                               eval_every=200)))
    proc = start_grokwatch("--headless", cwd=sproject)
    try:
        def two_running_one_pending():
            dirs = run_dirs(sproject)
            phases = sorted((read_json(d / "executor.json") or {}).get("phase", "") for d in dirs)
            rows = [len(metric_steps(d)) for d in dirs]
            return len(dirs) == 3 and phases == ["pending", "running", "running"] and sorted(rows)[1:] >= [3, 3]
        wait(two_running_one_pending, 240, "2 running jobs with metrics + 1 pending", sproject)
        dirs = run_dirs(sproject)
        pending = next(d for d in dirs if (read_json(d / "executor.json") or {}).get("phase") == "pending")
        running = [d for d in dirs if d != pending]
        grokwatch("stop", *[d.name for d in dirs], cwd=sproject, check=True)
        rc, out = finish(proc, 180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 1, out
    for d in dirs:
        assert state_of(d) == "stopped", (d.name, read_json(d / "status.json"), out)
    for d in running:
        assert (d / "checkpoint.json").exists()
        assert sacct_state(job_of(d)) == ("FAILED", "4:0")  # the worker's own exit after SIGTERM
    assert not metric_steps(pending)
    assert sacct_state(job_of(pending))[0].startswith("CANCELLED")
    assert "cancelled through grokwatch" in (read_json(pending / "status.json") or {}).get("error", "")

    # retry resumes from the checkpoint: a new job, steps continue without repeats
    target = running[0]
    before = metric_steps(target)
    old_job = job_of(target)
    grokwatch("retry", target.name, cwd=sproject, check=True)
    wait(lambda: job_of(target) != old_job and len(metric_steps(target)) > len(before) + 3, 180,
         "the retried run to resume as a new job", sproject)
    steps = metric_steps(target)
    assert steps[:len(before)] == before and steps[len(before)] > before[-1], (before[-3:], steps[len(before):][:3])
    grokwatch("stop", cwd=sproject, check=True)
    wait(lambda: state_of(target) == "stopped", 90, "the retried run to stop again", sproject)


def test_scancel_by_someone_else_is_lost_with_slurms_reason(sproject):
    (sproject / "experiments.toml").write_text(slurm_toml(grok("x", steps=400_000, eval_every=200)))
    proc = start_grokwatch("--headless", cwd=sproject)
    try:
        wait(lambda: run_dirs(sproject) and len(metric_steps(run_dirs(sproject)[0])) >= 2, 240,
             "the job to run", sproject)
        d = run_dirs(sproject)[0]
        subprocess.run(["scancel", job_of(d)], check=True, timeout=30)
        rc, out = finish(proc, 180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 1, out
    status = read_json(d / "status.json")
    assert status["state"] == "lost", status
    assert "CANCELLED by" in status["error"] and "not through grokwatch" in status["error"], status["error"]
    assert [e["kind"] for e in events_of(d)][-1] == "lost"


def test_failing_runs(sproject):
    """A worker that fails (its command exits 3), and a job that dies before the worker starts (a
    python that does not exist on the node): both `failed`, each with its reason."""
    (sproject / "experiments.toml").write_text(slurm_toml(command("boom", "echo about to fail; exit 3")))
    rc, out = finish(start_grokwatch("--headless", cwd=sproject), 120)
    assert rc == 1, out
    d = run_dirs(sproject)[0]
    status = read_json(d / "status.json")
    assert status["state"] == "failed", status
    assert "3" in (status.get("error") or ""), status
    assert "about to fail" in (d / "worker.log").read_text()
    assert sacct_state(job_of(d)) == ("FAILED", "1:0")

    other = sproject / "nopython"
    other.mkdir()
    (other / "experiments.toml").write_text(slurm_toml(
        command("nopy", "exit 0"), slurm_extra='python = "/nonexistent/bin/python3"'))
    try:
        rc, out = finish(start_grokwatch("--headless", cwd=other), 120)
    finally:
        _cleanup(other)
    assert rc == 1, out
    status = read_json(run_dirs(other)[0] / "status.json")
    assert status["state"] == "failed", status
    assert "FAILED (exit status 127" in status["error"] and "before the worker wrote its state" in status["error"]
    assert "/nonexistent/bin/python3" in "\n".join(status.get("log_tail") or [])


def test_sbatch_rejection_fails_the_run_with_slurms_message(sproject):
    (sproject / "experiments.toml").write_text(slurm_toml(command("nopart", "exit 0"),
                                                          slurm_extra='partition = "no-such-partition"'))
    rc, out = finish(start_grokwatch("--headless", cwd=sproject), 60)
    assert rc == 1, out
    status = read_json(run_dirs(sproject)[0] / "status.json")
    assert status["state"] == "failed"
    assert "sbatch failed" in status["error"] and "partition" in status["error"].lower(), status["error"]


def test_time_limit_requeues_and_resumes_and_a_hard_timeout_is_lost(sproject):
    """time = 1 minute. With signal_before_s = 40 the worker gets SIGUSR1 20-50 s into its job,
    checkpoints and exits 75; the runner submits it again and the new job resumes from the
    checkpoint (then the test stops it). With no signal the job hits the limit: Slurm's TIMEOUT
    makes the run `lost`, its checkpoint kept. (Slurm checks time limits every 30 s.)"""
    a = sproject / "requeue"
    b = sproject / "hard"
    a.mkdir()
    b.mkdir()
    (a / "experiments.toml").write_text(slurm_toml(grok("long", steps=2_000_000, eval_every=500),
                                                   time_limit="1", signal_before_s=40))
    (b / "experiments.toml").write_text(slurm_toml(grok("hard", steps=2_000_000, eval_every=500),
                                                   time_limit="1", signal_before_s=0))
    pa = start_grokwatch("--headless", cwd=a)
    pb = start_grokwatch("--headless", cwd=b)
    try:
        da = wait_for(lambda: (run_dirs(a) or [None])[0], timeout=30, what="the run directory")

        def resumed_in_a_new_job():
            jobs = re.findall(r"grokwatch: slurm job (\d+) on ", _text(da / "worker.log"))
            kinds = [e["kind"] for e in events_of(da)]
            if len(jobs) < 2 or "requeued" not in kinds:
                return None
            at = next(e["step"] for e in events_of(da) if e["kind"] == "requeued")
            return jobs if len([s for s in metric_steps(da) if s > at]) >= 3 else None
        jobs = wait(resumed_in_a_new_job, 240, "a requeue on the time-limit signal and a resumed job", a, 0.5)
        grokwatch("stop", cwd=a, check=True)
        rc_a, out_a = finish(pa, 180)
        rc_b, out_b = finish(pb, 200)
    finally:
        for p in (pa, pb):
            if p.poll() is None:
                p.kill()
        _cleanup(a)
        _cleanup(b)
    # requeued on the signal, resumed from the checkpoint in a new job
    assert len(set(jobs)) == len(jobs), jobs
    assert sacct_state(jobs[0]) == ("FAILED", "75:0")  # checkpointed and asked for a requeue in time
    steps = metric_steps(da)
    assert steps == sorted(set(steps)), "steps repeated after the resume"
    # state events only: not the detectors' kinds (alerts, and milestones such as `generalized`)
    from grokwatch.detect.kinds import kind_of

    kinds = [e["kind"] for e in events_of(da) if kind_of(e["kind"]) is None]
    assert kinds[:3] == ["started", "requeued", "started"], kinds
    assert "lost" not in kinds and "failed" not in kinds
    assert read_json(da / "status.json")["state"] == "stopped" and rc_a == 1, out_a
    # a hard time limit
    assert rc_b == 1, out_b
    db = run_dirs(b)[0]
    status = read_json(db / "status.json")
    assert status["state"] == "lost", status
    assert "TIMEOUT" in status["error"] and "time limit" in status["error"], status["error"]
    assert (db / "checkpoint.json").exists()
    assert sacct_state(job_of(db))[0] == "TIMEOUT"


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_runner_restart_readopts_running_and_pending_jobs(sproject):
    """Kill the runner (SIGKILL) while two jobs run and one waits; a new runner re-adopts all three
    by job id (nothing is submitted again) and sees them to the end."""
    (sproject / "experiments.toml").write_text(slurm_toml(grok("r", seeds=(0, 1, 2), steps=12_000,
                                                               eval_every=200)))
    proc = start_grokwatch("--headless", cwd=sproject)
    try:
        def two_running_one_pending():
            dirs = run_dirs(sproject)
            phases = sorted((read_json(d / "executor.json") or {}).get("phase", "") for d in dirs)
            return len(dirs) == 3 and phases == ["pending", "running", "running"] and all(
                metric_steps(d) for d in dirs if (read_json(d / "executor.json") or {}).get("phase") == "running")
        wait(two_running_one_pending, 240, "2 running + 1 pending", sproject)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    jobs_before = {d.name: job_of(d) for d in run_dirs(sproject)}
    assert all(squeue_state(j) in ("RUNNING", "PENDING") for j in jobs_before.values())
    submissions = sorted(p.name for p in (sproject / ".grokwatch" / "slurm").iterdir() if p.is_dir())
    rows_before = {d.name: metric_steps(d) for d in run_dirs(sproject)}

    rc, out = finish(start_grokwatch("--headless", cwd=sproject), 240)
    assert rc == 0, out
    assert {d.name: job_of(d) for d in run_dirs(sproject)} == jobs_before, "a job was submitted again"
    assert sorted(p.name for p in (sproject / ".grokwatch" / "slurm").iterdir() if p.is_dir()) == submissions
    for d in run_dirs(sproject):
        assert state_of(d) == "done", read_json(d / "status.json")
        steps = metric_steps(d)
        assert steps[:len(rows_before[d.name])] == rows_before[d.name] and steps == sorted(set(steps))
        assert [e["kind"] for e in events_of(d)][-1] == "done"


def test_gpus_per_run_reach_the_worker_as_cuda_visible_devices(sproject):
    if harness.gpus_on_node() < 1:
        pytest.skip("this cluster advertises no gres/gpu (the harness's own cluster has two fake ones)")
    script = 'echo "grokwatch: {\\"step\\": 1, \\"train_loss\\": 0.5}"; echo "CVD=[$CUDA_VISIBLE_DEVICES]"'
    (sproject / "experiments.toml").write_text(slurm_toml(command("gpu", script), slurm_extra="gpus_per_run = 1"))
    rc, out = finish(start_grokwatch("--headless", cwd=sproject), 120)
    d = run_dirs(sproject)[0]
    log = (d / "worker.log").read_text()
    assert rc == 0, out + log
    assert "CVD=[0]" in log, log
    assert read_json(d / "config.json")["device"] == "cuda"
    script_text = Path(read_json(d / "executor.json")["script"]).read_text()
    assert "#SBATCH --gpus=1" in script_text and "CUDA_VISIBLE_DEVICES" not in script_text.split("RUNS=(")[1] \
        .split("cd ")[0]
