"""Shared test helpers: temporary projects, the real `grokwatch` command, waiting on files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A grokking run small enough for tests: ~300 steps, a few seconds (most of it importing torch).
TINY_GROKKING = """
[[experiment]]
name = "{name}"
kind = "grokking"
seeds = {seeds}
[experiment.params]
modulus = 23
steps = {steps}
width = 64
eval_every = 20
"""


def tiny_toml(*experiments: str, checkpoint_every_s: float = 1.0, extra: str = "") -> str:
    head = f"[grokwatch]\ncheckpoint_every_s = {checkpoint_every_s}\ndevices = \"cpu\"\n{extra}\n"
    return head + "\n".join(experiments)


def grok_exp(name: str = "g", seeds=(0,), steps: int = 300) -> str:
    return TINY_GROKKING.format(name=name, seeds=list(seeds), steps=steps)


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GROKWATCH_RUN_DIR", None)
    return env


def grokwatch(*args: str, cwd: Path, timeout: float = 120, check: bool = False,
              **kw) -> subprocess.CompletedProcess:
    """Run the real command line (as `python -m grokwatch`) in `cwd`."""
    proc = subprocess.run([sys.executable, "-m", "grokwatch", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"grokwatch {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def start_grokwatch(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grokwatch", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def state_of(run_dir: Path) -> str | None:
    return (read_json(run_dir / "status.json") or {}).get("state")


def events_of(run_dir: Path) -> list[dict]:
    try:
        return [json.loads(l) for l in (run_dir / "events.jsonl").read_text().splitlines() if l.strip()]
    except OSError:
        return []


def metric_steps(run_dir: Path) -> list[int]:
    try:
        lines = (run_dir / "metrics.csv").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        try:
            out.append(int(float(head)))
        except ValueError:
            pass
    return out


def run_dirs(project: Path) -> list[Path]:
    runs = project / "runs"
    return sorted(p for p in runs.iterdir() if (p / "config.json").exists()) if runs.exists() else []


@pytest.fixture
def project(tmp_path):
    """An empty project directory; any runner left behind is stopped at teardown."""
    yield tmp_path
    lock = read_json(tmp_path / ".grokwatch" / "runner.lock") or {}
    pid = lock.get("pid") if isinstance(lock, dict) else None
    for rd in run_dirs(tmp_path):
        ex = read_json(rd / "executor.json") or {}
        if isinstance(ex.get("pid"), int):
            try:
                os.kill(ex["pid"], 9)
            except (ProcessLookupError, PermissionError):
                pass
    if isinstance(pid, int) and pid != os.getpid():
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted at tmp_path/disk (a full disk for real), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}); the "
                    f"full-disk tests need root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill_disk(disk: Path) -> Path:
    """Write a filler file until the file system says ENOSPC; remove it to free the space."""
    import errno

    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    finally:
        os.close(fd)
    return filler
