"""Which devices runs go to, found without importing torch (the runner never does).

GPUs come from `nvidia-smi`; with `devices = "auto"` only idle GPUs count (no compute process,
little memory in use). CPU runs get a fixed thread budget so parallel runs never oversubscribe
the cores (two-thread torch runs sharing two busy cores ran 13-24x slower than one thread).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

IDLE_MEMORY_MB = 500


@dataclass(frozen=True)
class Slot:
    """A place one run can execute: a device (cpu or a GPU index) and its thread budget."""

    device: str  # "cpu" or "cuda"
    gpu: int | None
    threads: int
    index: int  # position among the slots of its device

    @property
    def env(self) -> dict[str, str]:
        t = str(self.threads)
        env = {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t,
               "NUMEXPR_NUM_THREADS": t, "VECLIB_MAXIMUM_THREADS": t}
        env["CUDA_VISIBLE_DEVICES"] = "" if self.gpu is None else str(self.gpu)
        return env

    @property
    def label(self) -> str:
        return "cpu" if self.gpu is None else f"cuda:{self.gpu}"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def query_gpus() -> list[dict]:
    """[{index, memory_used_mb, busy}] from nvidia-smi; [] when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,uuid,memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        apps = subprocess.run([exe, "--query-compute-apps=gpu_uuid", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    busy_uuids = {line.strip() for line in apps.splitlines() if line.strip()}
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            index, uuid, mem = int(parts[0]), parts[1], float(parts[2])
        except ValueError:
            continue
        gpus.append({"index": index, "memory_used_mb": mem, "busy": uuid in busy_uuids})
    return gpus


def plan_slots(devices: str, max_parallel: int | str, threads_per_run: int | str,
               gpus: list[dict] | None = None, ncpu: int | None = None) -> list[Slot]:
    """Turn the [grokwatch] device settings into run slots."""
    ncpu = ncpu or cpu_count()
    if devices == "cpu":
        gpu_ids: list[int] = []
    else:
        gpus = query_gpus() if gpus is None else gpus
        if devices == "auto":
            gpu_ids = [g["index"] for g in gpus
                       if not g["busy"] and g["memory_used_mb"] < IDLE_MEMORY_MB]
        elif devices == "cuda":
            gpu_ids = [g["index"] for g in gpus]
        else:  # cuda:0,1
            gpu_ids = [int(x) for x in devices.split(":", 1)[1].split(",")]
    if gpu_ids:
        per_gpu = 1 if max_parallel == "auto" else int(max_parallel)
        total = per_gpu * len(gpu_ids)
        threads = (max(1, ncpu // total) if threads_per_run == "auto" else int(threads_per_run))
        return [Slot("cuda", g, threads, i) for g in gpu_ids for i in range(per_gpu)]
    if max_parallel == "auto":
        threads = 1 if threads_per_run == "auto" else int(threads_per_run)
        parallel = max(1, min(ncpu // threads, 8))
        if threads_per_run == "auto":
            threads = max(1, ncpu // parallel)
    else:
        parallel = int(max_parallel)
        threads = max(1, ncpu // parallel) if threads_per_run == "auto" else int(threads_per_run)
    return [Slot("cpu", None, threads, i) for i in range(parallel)]
