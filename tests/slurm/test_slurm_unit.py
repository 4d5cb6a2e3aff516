"""The Slurm executor's logic without a cluster: parsing squeue/sacct, the state mapping, the
batch script, poll caching (one squeue per interval for all jobs), cancel's choice of scancel."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from grokwatch.config import SlurmSettings, load_config
from grokwatch.runner.executors import make_executor
from grokwatch.runner.executors.slurm import (SlurmError, SlurmExecutor, SlurmJob, parse_sacct, parse_squeue)


class FakeSlurm(SlurmExecutor):
    """Answers Slurm commands from canned outputs and records every call."""

    def __init__(self, tmp_path: Path, settings: SlurmSettings | None = None, **kw):
        self.answers: dict[str, tuple[int, str, str]] = {}
        self.log: list[list[str]] = []
        self.next_job = 100
        super().__init__(SimpleNamespace(slurm=settings or SlurmSettings(), project_dir=tmp_path), **kw)

    def _run(self, args, timeout=60.0):
        self.log.append(list(args))
        self.calls[args[0]] = self.calls.get(args[0], 0) + 1
        if args[0] == "sbatch":
            self.next_job += 1
            return subprocess.CompletedProcess(args, 0, f"{self.next_job}\n", "")
        rc, out, err = self.answers.get(args[0], (0, "", ""))
        return subprocess.CompletedProcess(args, rc, out, err)

    def _spawn(self, args):
        self.log.append(list(args))
        return subprocess.Popen(["true"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_parse_squeue_lines():
    jobs = parse_squeue("12|RUNNING|None|node7|0|\n13_4|PENDING|Resources||0|\n"
                        "14|FAILED|NonZeroExitCode|node1|768|\n15|CANCELLED|None|node2|15|\n\n")
    assert jobs["12"] == SlurmJob("12", "RUNNING", "", "node7", 0)
    assert jobs["13_4"].reason == "Resources" and jobs["13_4"].node == ""
    assert jobs["14"].exit_code == 3
    assert jobs["15"].exit_code == -15


def test_parse_sacct_lines():
    jobs = parse_sacct("20|CANCELLED by 1001|0:15|None|n1\n21|TIMEOUT|0:0|TimeLimit|n2\n"
                       "22_[3-9]|PENDING|0:0|None|None assigned\n21|COMPLETED|0:0|None|n3\n")
    assert jobs["20"].state == "CANCELLED" and jobs["20"].by_uid == 1001 and jobs["20"].exit_code == -15
    assert jobs["21"].state == "COMPLETED"  # the last line of a job wins
    assert jobs["22_[3-9]"].node == ""


@pytest.mark.parametrize("state,code,phase,final,needle", [
    ("PENDING", 0, "pending", None, "Priority"),
    ("RUNNING", 0, "running", None, ""),
    ("COMPLETING", 0, "running", None, "completing"),
    ("COMPLETED", 0, "exited", None, "COMPLETED"),
    ("FAILED", 75, "exited", None, "FAILED"),  # the worker asks for a requeue: status.json decides
    ("FAILED", 4, "exited", None, "FAILED"),  # the worker's own exit after SIGTERM
    ("FAILED", 127, "exited", "failed", "exit status 127"),
    ("FAILED", -9, "exited", "failed", "killed by signal 9"),
    ("TIMEOUT", -15, "exited", "lost", "time limit"),
    ("NODE_FAIL", None, "exited", "lost", "node failed"),
    ("OUT_OF_MEMORY", -9, "exited", "failed", "OUT_OF_MEMORY"),
    ("BOOT_FAIL", None, "exited", "lost", "boot"),
    ("WEIRD_NEW_STATE", 0, "exited", "failed", "WEIRD_NEW_STATE"),
])
def test_state_mapping(tmp_path, state, code, phase, final, needle):
    ex = FakeSlurm(tmp_path)
    js = ex.job_state(SlurmJob("7", state, "Priority" if state == "PENDING" else "", "n1", code))
    assert js.phase == phase and js.final_state == final
    assert needle in js.reason
    if phase == "running":
        assert js.node == "n1"


def test_preempted_takes_the_requeue_path(tmp_path):
    js = FakeSlurm(tmp_path).job_state(SlurmJob("7", "PREEMPTED", "", "n1", -15))
    assert js.phase == "exited" and js.exit_code == 75 and js.final_state is None


def test_cancelled_by_grokwatch_is_stopped_by_someone_else_lost(tmp_path):
    ex = FakeSlurm(tmp_path)
    ex.answers["squeue"] = (0, "8|PENDING|Priority||0|\n", "")
    ex.cancel({"job_id": "8"})
    assert ex.calls["scancel"] == 0  # sent at the next poll
    ex.poll({"r": {"job_id": "8"}})
    assert ["scancel", "8"] in ex.log  # pending: cancelled, never signalled (that would block)
    assert ex.job_state(SlurmJob("8", "CANCELLED")).final_state == "stopped"
    other = ex.job_state(SlurmJob("9", "CANCELLED", by_uid=0))
    assert other.final_state == "lost" and "uid 0" in other.reason and "not through grokwatch" in other.reason
    # remembered across a runner restart
    assert FakeSlurm(tmp_path).job_state(SlurmJob("8", "CANCELLED")).final_state == "stopped"


def test_stop_many_is_one_squeue_and_two_scancels(tmp_path):
    ex = FakeSlurm(tmp_path)
    lines = [f"5_{i}|RUNNING|None|n1|0|{7 + i}|" for i in range(2)] + [f"5_{i}|PENDING|Resources||0|" for i in range(2, 50)]
    ex.answers["squeue"] = (0, "\n".join(lines) + "\n6|COMPLETED|None|n1|0|\n", "")
    for i in range(50):
        ex.cancel({"job_id": f"5_{i}"})
    ex.cancel({"job_id": "6"})
    ex.flush()
    assert ex.calls["squeue"] == 1 and ex.calls["scancel"] == 2
    assert ["scancel", "--batch", "--signal=TERM", "5_0", "5_1"] in ex.log
    cancelled = next(a for a in ex.log if a[0] == "scancel" and "--batch" not in a)
    assert sorted(cancelled[1:]) == sorted(f"5_{i}" for i in range(2, 50))  # "6" has ended: left alone
    ex.flush()
    assert ex.calls["scancel"] == 2


def test_cancel_running_sends_term_to_the_batch_step_and_requeue_usr1(tmp_path):
    ex = FakeSlurm(tmp_path)
    ex.answers["squeue"] = (0, "5|RUNNING|None|n1|0|\n", "")
    ex.cancel({"job_id": "5"}, requeue=True)
    ex.flush()
    assert ex.log[-1] == ["scancel", "--batch", "--signal=USR1", "5"]
    ex.cancel({"job_id": "5"})
    ex.flush()
    assert ex.log[-1] == ["scancel", "--batch", "--signal=TERM", "5"]
    ex.kill({"job_id": "5"})
    ex.close()
    assert ex.log[-1] == ["scancel", "5"]


def test_a_stop_survives_a_slurm_outage(tmp_path):
    ex = FakeSlurm(tmp_path)
    ex.answers["squeue"] = (1, "", "slurm_load_jobs error: Unable to contact slurm controller")
    ex.cancel({"job_id": "5"})
    ex.poll_interval_s = 0
    ex.poll({"r": {"job_id": "5"}})
    assert ex.calls["scancel"] == 0
    ex.answers["squeue"] = (0, "5|RUNNING|None|n1|0|\n", "")
    ex.poll({"r": {"job_id": "5"}})
    assert ["scancel", "--batch", "--signal=TERM", "5"] in ex.log


def test_poll_asks_squeue_once_per_interval_for_all_jobs(tmp_path):
    ex = FakeSlurm(tmp_path, poll_interval_s=60)
    records = {f"r{i}": {"job_id": f"40_{i}"} for i in range(50)}
    ex.answers["squeue"] = (0, "".join(f"40_{i}|RUNNING|None|n{i % 3}|0|\n" for i in range(50)), "")
    for _ in range(20):
        states = ex.poll(records)
    assert ex.calls["squeue"] == 1 and ex.calls.get("sacct", 0) == 0
    assert {s.phase for s in states.values()} == {"running"} and states["r4"].node == "n1"
    squeue_args = [a for a in ex.log if a[0] == "squeue"][0]
    assert "--jobs=40" in squeue_args  # the array, asked for whole
    ex._refreshed_at -= 61
    ex.poll(records)
    assert ex.calls["squeue"] == 2


def test_ended_jobs_squeue_forgot_come_from_sacct_once(tmp_path):
    ex = FakeSlurm(tmp_path, poll_interval_s=0)
    ex.answers["squeue"] = (1, "", "slurm_load_jobs error: Invalid job id specified")
    ex.answers["sacct"] = (0, "3|TIMEOUT|0:15|TimeLimit|n1\n", "")
    states = ex.poll({"a": {"job_id": "3"}, "b": {"job_id": "4"}})
    assert states["a"].final_state == "lost" and "TIMEOUT" in states["a"].reason
    assert states["b"].phase == "gone"
    ex.poll({"a": {"job_id": "3"}, "b": {"job_id": "4"}})
    assert ex.calls["sacct"] == 1 and ex.calls["squeue"] == 1  # ended jobs are not asked again


def test_no_accounting_still_works_for_live_jobs(tmp_path):
    ex = FakeSlurm(tmp_path, poll_interval_s=0)
    ex.answers["squeue"] = (0, "3|RUNNING|None|n1|0|\n", "")
    ex.answers["sacct"] = (1, "", "sacct: error: Slurm accounting storage is disabled")
    states = ex.poll({"a": {"job_id": "3"}, "b": {"job_id": "4"}})
    assert states["a"].phase == "running"
    assert states["b"].phase == "gone" and "sacct does not work" in states["b"].reason


def test_a_slurm_outage_keeps_the_runs_as_they_were(tmp_path):
    ex = FakeSlurm(tmp_path, poll_interval_s=0)
    ex.answers["squeue"] = (0, "3|RUNNING|None|n1|0|\n", "")
    ex.poll({"a": {"job_id": "3"}})
    ex.answers["squeue"] = (1, "", "slurm_load_jobs error: Unable to contact slurm controller")
    states = ex.poll({"a": {"job_id": "3"}, "b": {"job_id": "4"}})
    assert states["a"].phase == "running" and states["b"].phase == "pending"
    assert "does not answer" in states["b"].reason
    restarted = FakeSlurm(tmp_path)
    restarted.answers["squeue"] = ex.answers["squeue"]
    assert restarted.adopt({"job_id": "3"}) is True  # never submitted twice because of a hiccup


def test_adopt_asks_once_for_all_of_this_users_jobs(tmp_path):
    ex = FakeSlurm(tmp_path)
    ex.answers["squeue"] = (0, "3|RUNNING|None|n1|0|\n7_1|PENDING|Priority||0|\n9|COMPLETED|None|n1|0|\n", "")
    assert ex.adopt({"job_id": "3"}) and ex.adopt({"job_id": "7_1"})
    assert not ex.adopt({"job_id": "9"}) and not ex.adopt({"job_id": "11"}) and not ex.adopt({})
    assert ex.calls["squeue"] == 1
    assert any(a.startswith("--user=") for a in ex.log[0])


def test_submit_many_is_one_array_with_the_settings(tmp_path):
    settings = SlurmSettings(partition="gpu", time="2:00:00", gpus_per_run=1, cpus_per_run=4, mem="16G",
                             account="lab", qos="high", sbatch_options=["--constraint=a100", "--requeue"],
                             setup=["module load cuda", "source /opt/venv/bin/activate"], signal_before_s=120,
                             python="python")
    ex = FakeSlurm(tmp_path, settings)
    env = {"OMP_NUM_THREADS": "4", "CUDA_VISIBLE_DEVICES": "", "GROKWATCH_RUN_ID": "x"}
    dirs = [tmp_path / "runs" / f"r{i}" for i in range(3)]
    records = ex.submit_many([(d, {**env, "GROKWATCH_RUN_DIR": str(d)}) for d in dirs])
    assert [r["job_id"] for r in records] == ["101_0", "101_1", "101_2"] and ex.calls["sbatch"] == 1
    script = Path(records[0]["script"]).read_text()
    for line in ("#SBATCH --array=0-2", "#SBATCH --signal=B:USR1@120", "#SBATCH --gpus=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --partition=gpu", "#SBATCH --time=2:00:00",
                 "#SBATCH --mem=16G", "#SBATCH --account=lab", "#SBATCH --qos=high",
                 "module load cuda", "export OMP_NUM_THREADS=4", 'exec python -m grokwatch.worker "$RUN_DIR"'):
        assert line in script, line
    assert "export CUDA_VISIBLE_DEVICES" not in script  # Slurm sets it from the GPUs it gives
    assert script.index("--no-requeue") < script.index("--requeue\n")  # the user's options win
    assert script.index("module load") < script.index("exec python")
    sub = Path(records[0]["script"]).parent
    assert (sub / "1.log").is_symlink() and Path(str((sub / "1.log").readlink())) == dirs[1] / "worker.log"
    # one run: no array
    rec = ex.submit(dirs[0], env)
    assert rec["job_id"] == "102" and "--array" not in Path(rec["script"]).read_text()
    # a new job is known at once: no extra squeue just because it is new
    ex.answers["squeue"] = (0, "101_0|RUNNING|None|n1|0|\n", "")
    ex.poll({"a": records[0]})
    ex.poll({"a": records[0], "b": ex.submit(dirs[1], env)})
    assert ex.calls["squeue"] == 1


def test_submit_failure_names_slurms_message(tmp_path):
    ex = FakeSlurm(tmp_path)

    def run(args, timeout=60.0):
        return subprocess.CompletedProcess(args, 1, "", "sbatch: error: Batch job submission failed: "
                                                        "Invalid partition name specified")
    ex._run = run
    with pytest.raises(SlurmError, match="Invalid partition"):
        ex.submit(tmp_path / "r", {})


def test_slots_follow_max_jobs_and_the_device_kind(tmp_path):
    ex = FakeSlurm(tmp_path, SlurmSettings(max_jobs=5, cpus_per_run=3, gpus_per_run=1))
    slots = ex.slots()
    assert ex.capacity() == 5 and len(slots) == 5
    assert {(s.device, s.threads) for s in slots} == {("cuda", 3)}


def test_make_executor_from_the_config(tmp_path):
    (tmp_path / "experiments.toml").write_text(
        '[grokwatch]\nexecutor = "slurm"\n[slurm]\nmax_jobs = 3\npartition = "p"\n'
        '[[experiment]]\nname = "a"\nkind = "grokking"\n')
    config = load_config(tmp_path / "experiments.toml", tmp_path)
    ex = make_executor("slurm", config)
    assert isinstance(ex, SlurmExecutor) and ex.capacity() == 3
    assert ex.work_dir == tmp_path / ".grokwatch" / "slurm"


def test_array_tasks_folded_into_their_arrays_line():
    from grokwatch.runner.executors.slurm import _in_range, find_job

    assert _in_range(3, "2-3") and _in_range(5, "2-3,5,7-9%4") and not _in_range(6, "2-3,5,7-9%4")
    assert _in_range(9, "1-9:2") and not _in_range(8, "1-9:2")
    squeue = parse_squeue("477|CANCELLED|None||0|477|\n477_1|FAILED|None|n1|1024|479|\n")
    assert find_job(squeue, "477_1").state == "FAILED"
    folded = find_job(squeue, "477_3")
    assert folded.state == "CANCELLED" and folded.job_id == "477_3"
    sacct = parse_sacct("477_0|FAILED|4:0|None|n1\n477_[2-3]|CANCELLED by 0|0:0|None|None assigned\n")
    assert find_job(sacct, "477_2").by_uid == 0 and find_job(sacct, "477_4") is None
    assert find_job(sacct, "47") is None


def test_pending_tasks_cancelled_through_grokwatch_end_stopped(tmp_path):
    """scancel of never-started array tasks folds them into the array's line: still `stopped`."""
    ex = FakeSlurm(tmp_path, poll_interval_s=0)
    ex.answers["squeue"] = (0, "50_0|RUNNING|None|n1|0|51|\n50_1|PENDING|Resources||0|50|\n", "")
    records = {"a": {"job_id": "50_0"}, "b": {"job_id": "50_1"}}
    ex.poll(records)
    ex.cancel(records["b"])
    ex.flush()
    ex.answers["squeue"] = (0, "50_0|RUNNING|None|n1|0|51|\n50|CANCELLED|None||0|50|\n", "")
    states = ex.poll(records)
    assert ["scancel", "50_1"] in ex.log
    assert states["b"].final_state == "stopped" and states["a"].phase == "running"
    assert any(a[0] == "squeue" and "--jobs=50" in a for a in ex.log)  # arrays asked for whole


def test_describe_is_one_line(tmp_path):
    ex = FakeSlurm(tmp_path, SlurmSettings(max_jobs=64, gpus_per_run=1, partition="gpu", time="2:00:00"))
    assert ex.describe() == "slurm: up to 64 job(s), 1 CPU(s), 1 GPU(s), time 2:00:00, partition gpu each"
