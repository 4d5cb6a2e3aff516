"""Real code bases, not ours, run under grokwatch through the documented paths.

Their code is never checked in: each test takes it at test time from the local snapshot that
the `fetch` tool left under /work/.mirror/OWNER+NAME/repo (or $GROKWATCH_MIRROR), extracts it
with `git archive` into the test's tmp_path, and is skipped when the snapshot is absent.
Arguments and environment variables shrink a run; their files are not edited.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/conftest.py helpers (grokwatch, run_dirs, ...)

MIRROR = Path(os.environ.get("GROKWATCH_MIRROR", "/work/.mirror"))


def snapshot(dest: Path, repo: str, subdir: str | None = None) -> tuple[Path, str]:
    """`repo`'s snapshot (or `subdir` of it) extracted under `dest`: (its path, the commit)."""
    git_dir = MIRROR / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"the snapshot of {repo} is not on this machine (fetch github:{repo})")
    git = ["git", f"--git-dir={git_dir}"]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    tar = subprocess.run([*git, "archive", "HEAD", *([subdir] if subdir else [])],
                         capture_output=True, check=True).stdout
    out = dest / repo.replace("/", "+")
    out.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(out, filter="data")
    return (out / subdir if subdir else out), commit


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def numbers(rows: list[dict[str, str]], col: str) -> list[float]:
    return [float(r[col]) for r in rows if r.get(col) not in (None, "")]


def offline_env() -> dict[str, str]:
    """No network at run time: W&B offline, the HF hub offline, no telemetry."""
    return {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1"}
