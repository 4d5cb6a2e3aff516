"""What the system refuses gets one clear line and exit 2, never a traceback; a closed stdout
pipe (`| head`) ends the printing quietly. Each case runs the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_env, grokwatch, read_json, run_dirs

OLD_PROJECT = REPO / "tests" / "fixtures" / "faults" / "old-project"  # six `done` runs


@pytest.fixture
def done_project(tmp_path):
    project = tmp_path / "p"
    shutil.copytree(OLD_PROJECT, project)
    return project


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert err.startswith("grokwatch: ") and "\n" not in err, err
    for w in words:
        assert w.lower() in err.lower(), err
    return err


def mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip() or 'mount failed'}); needs root")


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ----------------------------------------------------------------------------- export -o


def test_export_to_a_directory(done_project):
    one_line_error(grokwatch("export", "-o", str(done_project), cwd=done_project), "is a directory",
                   "give a file name")


def test_export_into_a_missing_directory(done_project):
    target = done_project / "no" / "such" / "all.csv"
    one_line_error(grokwatch("export", "-o", str(target), cwd=done_project), str(target),
                   "does not exist")


def test_export_to_dev_full_and_a_failed_export_leaves_no_file(done_project):
    one_line_error(grokwatch("export", "-o", "/dev/full", cwd=done_project), "no space left on device")
    one_line_error(grokwatch("export", "--summary", "-o", "/dev/full", cwd=done_project),
                   "no space left on device")


def test_export_to_a_read_only_place(done_project, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    mount("-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro))
    try:
        one_line_error(grokwatch("export", "-o", str(ro / "all.csv"), cwd=done_project),
                       "read-only file system")
    finally:
        umount(ro)


def test_a_good_export_replaces_the_file_whole(done_project):
    target = done_project / "all.csv"
    target.write_text("old\n")
    proc = grokwatch("export", "-o", str(target), cwd=done_project)
    assert proc.returncode == 0, proc.stderr
    lines = target.read_text().splitlines()
    assert lines[0].startswith("run_id,") and len(lines) == 7
    assert [p.name for p in done_project.iterdir() if p.name.startswith(".all.csv")] == []


# ----------------------------------------------------------------------------- config and paths


def test_runs_dir_naming_an_existing_file(tmp_path):
    (tmp_path / "experiments.toml").write_text('[grokwatch]\nruns_dir = "experiments.toml"\n')
    one_line_error(grokwatch("--headless", cwd=tmp_path), "runs_dir", "not a directory")


def test_runs_dir_at_the_root_is_refused(tmp_path):
    (tmp_path / "experiments.toml").write_text('[grokwatch]\nruns_dir = "/"\n')
    one_line_error(grokwatch("--headless", cwd=tmp_path), "runs_dir", "root of the file system")


def test_view_of_a_symlink_loop(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    one_line_error(grokwatch("view", str(tmp_path / "loop"), cwd=tmp_path), "loop")


_HOLD = """
import sys, time
from pathlib import Path
from grokwatch.runner.lock import RunnerLock
lock = RunnerLock(Path(sys.argv[1]))
assert lock.acquire(Path(sys.argv[1]) / "experiments.toml")
print("held", flush=True)
time.sleep(120)
"""


def test_read_only_state_directory_stop_and_retry_say_so_and_never_deny_the_runner(done_project):
    """A process holds the runner lock (the way a runner does); then .grokwatch/ becomes
    read-only. `stop` must not say "no runner is running" and signal workers behind the runner's
    back: it says the request cannot be written, and stops nothing."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(done_project)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    state = done_project / ".grokwatch"
    try:
        assert holder.stdout.readline().strip() == "held"
        mount("--bind", str(state), str(state))
        try:
            mount("-o", "remount,ro,bind", str(state))
            err = one_line_error(grokwatch("stop", cwd=done_project), f"pid {holder.pid}", "is running",
                                 "read-only file system", "nothing was stopped")
            assert "no runner" not in err
            run = run_dirs(done_project)[0]
            (run / "status.json").write_text((run / "status.json").read_text().replace(
                '"done"', '"stopped"'))
            one_line_error(grokwatch("retry", run.name, cwd=done_project), "is running",
                           "read-only file system", "nothing was queued")
        finally:
            umount(state)
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------------------- closed pipes


def closed_stdout(*args: str, cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run the command with its stdout a pipe whose reader has already gone (as `| head` does
    once it has its lines)."""
    proc = subprocess.Popen([sys.executable, "-m", "grokwatch", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("export",), ("export", "--long"),
                                  ("export", "--summary")])
def test_a_closed_pipe_ends_quietly(done_project, args):
    code, err = closed_stdout(*args, cwd=done_project)
    assert code == 0 and err == "", err


@pytest.mark.slow
def test_headless_into_a_closed_pipe_keeps_running_and_exits_0_when_all_done(tmp_path):
    (tmp_path / "experiments.toml").write_text("""
[grokwatch]
devices = "cpu"

[[experiment]]
name = "dd"
kind = "double_descent"
[experiment.params]
n_train = 20
n_test = 50
repeats = 1
[experiment.sweep]
n_features = [10, 20, 40]
""")
    code, err = closed_stdout("--headless", cwd=tmp_path)
    assert "Traceback" not in err and "Broken pipe" not in err, err
    assert code == 0, err
    states = [read_json(d / "status.json")["state"] for d in run_dirs(tmp_path)]
    assert states == ["done"] * 3
    code, err = closed_stdout("--headless", cwd=tmp_path)  # all done already: still exit 0
    assert code == 0 and "Traceback" not in err, err


def test_headless_with_a_read_only_state_directory_and_no_runner(tmp_path):
    from conftest import grok_exp, tiny_toml

    (tmp_path / "experiments.toml").write_text(tiny_toml(grok_exp("g")))  # a queue (none: said first)
    state = tmp_path / ".grokwatch"
    state.mkdir()
    mount("--bind", str(state), str(state))
    try:
        mount("-o", "remount,ro,bind", str(state))
        one_line_error(grokwatch("--headless", cwd=tmp_path), "read-only file system")
    finally:
        umount(state)
