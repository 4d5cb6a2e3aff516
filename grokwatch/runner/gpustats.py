"""What each GPU is doing, sampled by the runner for runner.json (the dashboard's header and
detail pane, headless's progress lines) — `nvidia-smi`, never torch.

The sample is taken without blocking the runner's loop: `poll()` starts `nvidia-smi` when one is
due (every SAMPLE_EVERY_S) and collects its answer on a later call. A missing `nvidia-smi`, one
that fails, hangs past QUERY_TIMEOUT_S or lists no GPU switches sampling off for good: a box
with no GPU pays one `shutil.which` and shows nothing. GPUs are numbered as CUDA numbers them
for the runner (`CUDA_VISIBLE_DEVICES` respected, as `devices.visible_gpus` does), so `index`
matches a run's slot `cuda:N`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

from .devices import Gpu, visible_gpus

SAMPLE_EVERY_S = 5.0
QUERY_TIMEOUT_S = 5.0
QUERY = "--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total"


def parse(text: str, cuda_visible: str | None) -> list[dict[str, Any]]:
    """nvidia-smi's CSV rows -> [{index, util, mem_used_mib, mem_total_mib}], CUDA's numbering."""
    rows: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        try:
            index = int(parts[0])
        except ValueError:
            continue
        rows[index] = {"uuid": parts[1], "util": _number(parts[2]), "mem_used_mib": _number(parts[3]),
                       "mem_total_mib": _number(parts[4])}
    shown = visible_gpus([Gpu(index=i, uuid=r["uuid"]) for i, r in rows.items()], cuda_visible)
    out = []
    for n, g in enumerate(shown):
        r = rows[g.index]
        out.append({"index": n, "physical": g.index, "util": r["util"],
                    "mem_used_mib": r["mem_used_mib"], "mem_total_mib": r["mem_total_mib"]})
    return out


def _number(s: str) -> float | None:
    """A figure nvidia-smi may not have ("[N/A]", "[Not Supported]"): None, said so on screen."""
    try:
        v = float(s)
    except ValueError:
        return None
    return int(v) if v == int(v) else v


class GpuSampler:
    """The latest sample (`gpus`, `sampled_at`), refreshed by `poll()` from the runner's tick."""

    def __init__(self, every_s: float = SAMPLE_EVERY_S, cuda_visible: str | None | bool = True):
        self.every_s = every_s
        self.cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES") if cuda_visible is True else cuda_visible
        self.gpus: list[dict[str, Any]] = []
        self.sampled_at: float | None = None
        self.off = False  # no nvidia-smi, or it failed: never asked again
        self._proc: subprocess.Popen | None = None
        self._started = 0.0
        self._next = 0.0

    def poll(self, now: float | None = None) -> bool:
        """Start a query when one is due, collect one that finished; True when `gpus` changed."""
        if self.off:
            return False
        now = time.monotonic() if now is None else now
        if self._proc is not None:
            return self._collect(now)
        if now < self._next:
            return False
        exe = shutil.which("nvidia-smi")
        if not exe:
            return self._give_up()
        try:
            self._proc = subprocess.Popen([exe, QUERY, "--format=csv,noheader,nounits"],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, close_fds=True)
        except OSError:
            return self._give_up()
        self._started = now
        self._next = now + self.every_s
        return False

    def _collect(self, now: float) -> bool:
        proc = self._proc
        assert proc is not None
        if proc.poll() is None:
            if now - self._started > QUERY_TIMEOUT_S:
                proc.kill()
                proc.wait()
                self._proc = None
                return self._give_up()
            return False
        out = proc.stdout.read() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
        self._proc = None
        gpus = parse(out, self.cuda_visible) if proc.returncode == 0 else []
        if not gpus:
            return self._give_up()
        changed = gpus != self.gpus
        self.gpus, self.sampled_at = gpus, time.time()
        return changed

    def _give_up(self) -> bool:
        self.off = True
        changed = bool(self.gpus)
        self.gpus, self.sampled_at = [], None
        return changed

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _gib(mib: float | None, digits: int) -> str:
    return "?" if mib is None else f"{mib / 1024:.{digits}f}"


def format_gpu(g: dict[str, Any]) -> str:
    """`GPU0 37% 4.1/80G`: utilisation, memory used/total in GiB ("?" for what nvidia-smi lacks)."""
    util = "?" if g.get("util") is None else f"{g['util']:g}"
    return f"GPU{g.get('index')} {util}% {_gib(g.get('mem_used_mib'), 1)}/{_gib(g.get('mem_total_mib'), 0)}G"


def format_gpus(gpus: list[dict[str, Any]] | None) -> str:
    """Every GPU's summary, or "" on a box with none (nothing is shown then)."""
    return "  ".join(format_gpu(g) for g in gpus or [] if isinstance(g, dict))


def gpu_of(gpus: list[dict[str, Any]] | None, slot: str | None) -> dict[str, Any] | None:
    """The sample of the GPU a run's slot (`cuda:N`) names, or None (a CPU run, no sample)."""
    if not slot or not str(slot).startswith("cuda:"):
        return None
    try:
        n = int(str(slot).split(":", 1)[1])
    except ValueError:
        return None
    return next((g for g in gpus or [] if isinstance(g, dict) and g.get("index") == n), None)
