"""`grokwatch retry` just as the runner exits (its queue drained, its lock about to go): the
request is addressed to a runner that never reads it, and the next runner drops such requests as
stale. The CLI notices (the file still there, the runner gone), sends it again for the next runner
and starts one: a retry that said "queued" is never lost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import cli_env, events_of, grokwatch, run_dirs, wait_for

# A runner in its last moment: it holds the lock, reads no request, and lets go as soon as one
# has been written for it.
_EXITING_RUNNER = """
import os, sys, time
from pathlib import Path
from grokwatch.runner.lock import RunnerLock
project = Path(sys.argv[1])
lock = RunnerLock(project)
assert lock.acquire(project / "experiments.toml")
print("held", flush=True)
control = project / ".grokwatch" / "control"
while not (control.is_dir() and any(n.endswith(".json") for n in os.listdir(control))):
    time.sleep(0.01)
lock.release()
"""


@pytest.mark.slow
def test_a_retry_sent_to_a_runner_that_exits_without_reading_it_is_not_lost(project):
    (project / "experiments.toml").write_text("""
[grokwatch]
devices = "cpu"

[[experiment]]
name = "flaky"
kind = "command"
command = ["python", "-c", "import sys; sys.exit(1)"]
""")
    assert grokwatch("--headless", cwd=project, timeout=120).returncode == 1
    run = run_dirs(project)[0]
    exiting = subprocess.Popen([sys.executable, "-c", _EXITING_RUNNER, str(project)], env=cli_env(),
                               stdout=subprocess.PIPE, text=True)
    try:
        assert exiting.stdout.readline().strip() == "held"
        proc = grokwatch("retry", run.name, cwd=project)
        assert proc.returncode == 0 and "queued" in proc.stdout, proc.stdout + proc.stderr
        assert exiting.wait(timeout=30) == 0
    finally:
        if exiting.poll() is None:
            exiting.kill()
    # a new runner took the request: the run restarted (attempt 1 moved aside) and ran again
    wait_for(lambda: (run / "attempt-1").is_dir() and any(e["kind"] == "failed" for e in events_of(run)),
             timeout=60, what="the retried run to run again")
    log = (project / ".grokwatch" / "runner.log").read_text()
    assert "stale" not in log, log
