"""The test cluster: a real single-node Slurm 22.05 (slurmctld, slurmd, munge, slurmdbd + MariaDB so
that sacct works, two fake GPUs), started by `start-slurm.sh` beside this file (a copy of the recipe
in ../shared/slurm/).

    python tests/slurm/harness.py          # start it (idempotent), as .ci/run does
    python tests/slurm/harness.py stop     # stop its daemons

`ensure_cluster()` is what the tests' session fixture calls: it returns when a cluster answers,
raises `Unavailable` (the tests skip, saying why) only where Slurm cannot be installed here (not
root, no apt-get, the packages cannot be fetched), and raises RuntimeError (the tests fail) where
Slurm is installed but does not start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = HERE / "start-slurm.sh"
STOP = HERE / "stop-slurm.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
FAKE_GPUS = 2
CLUSTER_NAME = "ci"  # what start-slurm.sh writes; any other slurm.conf is left alone


class Unavailable(Exception):
    """Slurm cannot be installed on this machine (the reason is the message)."""


def answers() -> str | None:
    """None when the client commands are here and slurmctld answers; else why not."""
    for cmd in ("sbatch", "squeue", "scancel", "scontrol"):
        if shutil.which(cmd) is None:
            return f"`{cmd}` is not installed"
    try:
        proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"scontrol ping: {exc}"
    if proc.returncode != 0 or "UP" not in proc.stdout:
        return " ".join((proc.stdout + proc.stderr).split())[:300] or "slurmctld does not answer"
    return None


def ours() -> bool:
    """Is /etc/slurm/slurm.conf absent or written by start-slurm.sh (so ours to rewrite)?"""
    try:
        text = SLURM_CONF.read_text()
    except OSError:
        return True
    return f"ClusterName={CLUSTER_NAME}\n" in text and "SchedulerParameters=batch_sched_delay=0" in text


def _installed(pkg: str) -> bool:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "ok installed" in out


def ensure_cluster(timeout: float = 900) -> bool:
    """Make sure a Slurm cluster answers. Returns True when this call started daemons."""
    if not ours():
        why = answers()
        if why is None:
            return False  # somebody's real cluster: use it as it is, touch nothing
        raise RuntimeError(f"{SLURM_CONF} belongs to another Slurm setup (not the test harness) and "
                           f"its controller does not answer: {why}")
    was_up = answers() is None
    if os.geteuid() != 0:
        if was_up:
            return False
        raise Unavailable("Slurm is not running and starting the test cluster needs root "
                          "(apt-get install, munge/slurm daemons); run tests/slurm/start-slurm.sh as root")
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        if was_up:
            return False
        raise Unavailable("Slurm is not running and this is no Debian-like system (no apt-get) where "
                          "tests/slurm/start-slurm.sh could install it")
    env = {**os.environ, "SLURM_FAKE_GPUS": str(FAKE_GPUS)}
    try:
        proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{START} did not finish within {timeout:.0f} s") from None
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
    if proc.returncode != 0:
        if not all(_installed(p) for p in ("slurmctld", "slurmd", "slurm-client", "munge")):
            raise Unavailable(f"Slurm could not be installed here (apt-get failed):\n{tail}")
        raise RuntimeError(f"Slurm is installed but the test cluster did not start:\n{tail}")
    why = answers()
    if why is not None:
        raise RuntimeError(f"start-slurm.sh succeeded but slurmctld does not answer: {why}\n{tail}")
    return not was_up


def stop_cluster() -> None:
    if ours() and os.geteuid() == 0:
        subprocess.run(["bash", str(STOP)], capture_output=True, text=True, timeout=120)


def gpus_on_node() -> int:
    """gres/gpu devices the cluster's nodes advertise (0 where none)."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    best = 0
    for item in out.replace(",", " ").split():
        if item.startswith("gpu:"):
            try:
                best = max(best, int(item.split(":")[-1].split("(")[0]))
            except ValueError:
                pass
    return best


def cancel_jobs(job_ids: list[str]) -> None:
    if job_ids and shutil.which("scancel"):
        subprocess.run(["scancel", *job_ids], capture_output=True, timeout=30)


if __name__ == "__main__":
    if sys.argv[1:] == ["stop"]:
        stop_cluster()
        sys.exit(0)
    try:
        started = ensure_cluster()
    except Unavailable as exc:
        print(f"slurm harness: cannot install Slurm here: {exc}", file=sys.stderr)
        sys.exit(3)
    print(f"slurm harness: cluster up ({'started now' if started else 'already running'})")
