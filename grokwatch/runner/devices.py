"""Which devices runs go to, and how many at once, found without importing torch (the runner
never does).

GPUs come from `nvidia-smi` (index, uuid, memory used and total, compute processes). A run of
the kinds this project trains uses well under 1% of a modern GPU, so a GPU is shared: each one
gets as many worker processes as its free memory holds and the CPU cores can feed (one core
per GPU process). The memory per process is the runner's: the largest planned figure among the
queued launches that go to a GPU (a CUDA context plus the runs' own tensors, estimated per kind
and size or taken from a measured peak: runner/gpumem.py), recorded with each slot; without
queued GPU runs, GPU_PROCESS_MB. Beside them, CPU slots on the cores that remain take the kinds that never
touch a GPU (the numpy kinds, and `command` runs whose params say `gpu = false`), so those do
not wait for a GPU slot. With no GPU every core is a CPU slot (no cap).

`devices = "auto"` means idle GPUs (no compute process, little memory in use) *and* the CPU;
`"cuda"` every visible GPU and the CPU; `"cuda:0,1"` those GPUs and the CPU; `"cpu"` the CPU only.
A `CUDA_VISIBLE_DEVICES` set by the user is respected: only those GPUs, numbered as CUDA numbers
them (the first listed is cuda:0), each slot's worker pinned to its physical GPU.

CPU runs get a fixed thread budget so parallel runs never oversubscribe the cores (two-thread
torch runs sharing two busy cores ran 13-24x slower than one thread).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import math
from dataclasses import dataclass, field

IDLE_MEMORY_MB = 500  # a GPU using more than this (or running a compute process) is busy
GPU_PROCESS_MB = 1024  # a worker process's GPU memory when nothing better is known (gpumem.py)
GPU_HEADROOM_MB = 1024  # left free on each GPU


@dataclass(frozen=True)
class Slot:
    """A place one worker process can execute: a device and its thread budget."""

    device: str  # "cpu" or "cuda"
    gpu: int | None  # the GPU as CUDA numbers it for the runner (cuda:N), None for cpu
    threads: int
    index: int  # position among the slots of its device
    visible: str | None = None  # CUDA_VISIBLE_DEVICES for the worker (the physical GPU)
    # planned GPU memory of the process in it (recorded); not part of a slot's identity, so a
    # plan remade with a better figure keeps the slots that runs already hold
    memory_mb: int | None = field(default=None, compare=False)

    @property
    def env(self) -> dict[str, str]:
        t = str(self.threads)
        env = {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t,
               "NUMEXPR_NUM_THREADS": t, "VECLIB_MAXIMUM_THREADS": t}
        if self.gpu is None:
            env["CUDA_VISIBLE_DEVICES"] = ""
        else:
            env["CUDA_VISIBLE_DEVICES"] = self.visible if self.visible is not None else str(self.gpu)
        return env

    @property
    def label(self) -> str:
        return "cpu" if self.gpu is None else f"cuda:{self.gpu}"


@dataclass
class Gpu:
    index: int  # nvidia-smi's (physical) index
    uuid: str = ""
    memory_used_mb: float = 0.0
    memory_total_mb: float | None = None
    busy: bool = False  # a compute process runs on it


@dataclass
class Plan:
    """The slots, and one line per device saying why (for the runner log and runner.json)."""

    slots: list[Slot]
    notes: list[str] = field(default_factory=list)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def query_gpus() -> list[dict]:
    """[{index, uuid, memory_used_mb, memory_total_mb, busy}] from nvidia-smi; [] when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,uuid,memory.used,memory.total",
                              "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        apps = subprocess.run([exe, "--query-compute-apps=gpu_uuid", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    busy_uuids = {line.strip() for line in apps.splitlines() if line.strip()}
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        try:
            index, uuid, used = int(parts[0]), parts[1], float(parts[2])
            total = float(parts[3]) if len(parts) > 3 and parts[3] not in ("", "[N/A]") else None
        except ValueError:
            continue
        gpus.append({"index": index, "uuid": uuid, "memory_used_mb": used, "memory_total_mb": total,
                     "busy": uuid in busy_uuids})
    return gpus


def visible_gpus(gpus: list[Gpu], cuda_visible: str | None) -> list[Gpu]:
    """The GPUs CUDA would show, in its order: all of them, or those CUDA_VISIBLE_DEVICES names
    (by index or by UUID / UUID prefix), up to the first entry it cannot match (as CUDA does)."""
    if cuda_visible is None:
        return sorted(gpus, key=lambda g: g.index)
    out: list[Gpu] = []
    for item in (x.strip() for x in cuda_visible.split(",")):
        if not item:
            break
        match = None
        if item.lstrip("-").isdigit():
            match = next((g for g in gpus if g.index == int(item)), None)
        else:
            match = next((g for g in gpus if g.uuid and (g.uuid == item or g.uuid.startswith(item))), None)
        if match is None or match in out:
            break
        out.append(match)
    return out


def _gpu_processes(g: Gpu, per_process_mb: float) -> int:
    """How many worker processes this GPU's free memory holds."""
    if g.memory_total_mb is None:
        return 1
    free = g.memory_total_mb - g.memory_used_mb - GPU_HEADROOM_MB
    return max(1, int(free // per_process_mb))


def plan(devices: str, max_parallel: int | str, threads_per_run: int | str,
         gpus: list[dict] | None = None, ncpu: int | None = None,
         cuda_visible: str | None | bool = True, per_process_mb: float = GPU_PROCESS_MB,
         memory_basis: str = "the default") -> Plan:
    """Turn the [grokwatch] device settings into slots: GPU slots (several per GPU) and CPU
    slots beside them. `cuda_visible`: True reads CUDA_VISIBLE_DEVICES from the environment.
    `per_process_mb`: one GPU process's planned memory, `memory_basis` says where it is from."""
    per_process_mb = max(1, math.ceil(per_process_mb))
    ncpu = ncpu or cpu_count()
    if cuda_visible is True:
        cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    notes: list[str] = []
    chosen: list[tuple[int, Gpu]] = []  # (cuda number, gpu)
    if devices != "cpu":
        raw = query_gpus() if gpus is None else gpus
        found = [Gpu(index=g["index"], uuid=g.get("uuid", ""), memory_used_mb=g.get("memory_used_mb", 0.0),
                     memory_total_mb=g.get("memory_total_mb"), busy=g.get("busy", False)) for g in raw]
        visible = list(enumerate(visible_gpus(found, cuda_visible)))
        if devices == "auto":
            for n, g in visible:
                if g.busy or g.memory_used_mb >= IDLE_MEMORY_MB:
                    notes.append(f"cuda:{n}: busy ({g.memory_used_mb:.0f} MB in use"
                                 f"{', a compute process' if g.busy else ''}): left alone")
                else:
                    chosen.append((n, g))
        elif devices == "cuda":
            chosen = visible
        else:  # cuda:0,1 — CUDA's numbers
            wanted = [int(x) for x in devices.split(":", 1)[1].split(",")]
            chosen = [(n, g) for n, g in visible if n in wanted]
            chosen += [(n, Gpu(index=n)) for n in wanted if n not in {c for c, _ in chosen} and not visible]
    slots: list[Slot] = []
    gpu_cores = 0
    if chosen:
        # one core feeds one GPU process; keep a quarter of the cores (at least one) for CPU slots
        budget = max(len(chosen), ncpu - max(1, ncpu // 4))
        per_gpu_cap = max(1, budget // len(chosen))
        per_gpu: list[list[Slot]] = []
        for n, g in chosen:
            if max_parallel == "auto":
                fits = _gpu_processes(g, per_process_mb)
                k = min(fits, per_gpu_cap)
                why = (f"{fits} fit in its free memory at {per_process_mb} MB each ({memory_basis})"
                       if g.memory_total_mb is not None else "its memory is unknown")
                notes.append(f"cuda:{n}: {k} process(es) ({why}; {per_gpu_cap} core(s) to feed them)")
            else:
                k = int(max_parallel)
                notes.append(f"cuda:{n}: {k} process(es) (max_parallel)")
            visible_id = str(g.index) if cuda_visible is None else _as_listed(g, cuda_visible)
            per_gpu.append([Slot("cuda", n, 1, i, visible=visible_id, memory_mb=per_process_mb)
                            for i in range(k)])
        for i in range(max(len(x) for x in per_gpu)):  # interleaved: runs spread over the GPUs
            slots += [x[i] for x in per_gpu if i < len(x)]
        gpu_cores = min(ncpu - 1, len(slots)) if ncpu > 1 else 0
        if threads_per_run != "auto":
            slots = [Slot(s.device, s.gpu, int(threads_per_run), s.index, s.visible, s.memory_mb) for s in slots]
    cpu_cores = max(1, ncpu - gpu_cores)
    if max_parallel == "auto":
        threads = 1 if threads_per_run == "auto" else int(threads_per_run)
        parallel = max(1, cpu_cores // threads)
    else:
        parallel = int(max_parallel)
        threads = max(1, cpu_cores // parallel) if threads_per_run == "auto" else int(threads_per_run)
    notes.append(f"cpu: {parallel} process(es) x {threads} thread(s) on {cpu_cores} core(s)"
                 + (" beside the GPUs, for the kinds that do not use one" if chosen else ""))
    slots += [Slot("cpu", None, threads, i) for i in range(parallel)]
    return Plan(slots, notes)


def _as_listed(g: Gpu, cuda_visible: str) -> str:
    """The worker's CUDA_VISIBLE_DEVICES: the entry the user wrote for this GPU (index or UUID)."""
    for item in (x.strip() for x in cuda_visible.split(",")):
        if item == str(g.index) or (g.uuid and item and g.uuid.startswith(item)):
            return item
    return str(g.index)


def plan_slots(devices: str, max_parallel: int | str, threads_per_run: int | str,
               gpus: list[dict] | None = None, ncpu: int | None = None, **kw) -> list[Slot]:
    return plan(devices, max_parallel, threads_per_run, gpus=gpus, ncpu=ncpu, **kw).slots
