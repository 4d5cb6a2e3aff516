"""The CUDA path, proven in one prepared script (and the same shape of output on the CPU).

    PYTHONPATH=. python3 bench/gpu.py [--runs 64] [--steps 2500] [--device cuda|cpu]

Needs only Python, torch, numpy (matplotlib/scikit-learn for the demo's numpy kinds): everything
goes through the headless path (`python -m grokwatch --headless`), the worker and the pack, never
Textual or plotext. In order:

1. the test suite's CUDA tests (`pytest -k cuda` on the files that have them; skipped without
   pytest or on --device cpu);
2. the built-in demo queue on the device, launch to all done (--demo quick caps each grokking
   run at --steps, and says so; the default on the CPU);
3. a grokking sweep of the default preset (--runs runs: weight decay x seeds, --steps steps) three
   ways, each a fresh `grokwatch --headless`: one run at a time (measured on --serial-runs runs and
   extrapolated, said so), --procs worker processes per device, and packed (`pack = N`): launch to
   all done, runs per hour, GPU utilisation and memory (nvidia-smi, sampled each second; "n/a"
   without one), and the ratios; and per GPU process (sections 2 and 3) the memory the runner
   planned it with against the peak its worker measured;
4. a SIGTERM + resume round trip on the device, a single worker and a pack;
5. the determinism it can promise: the same run twice, bitwise or not, and packed against alone.

Figures are reported, not pass marks; the exit status is 1 only when something failed to run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FAILED: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)


def env_for(device: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cuda":
        env.setdefault("CUDA_VISIBLE_DEVICES", "0")
    return env


# ----------------------------------------------------------------------------- GPU sampling


class GpuSampler:
    """nvidia-smi every second while a section runs: mean/max utilisation, max memory used."""

    def __init__(self, enabled: bool):
        self.exe = shutil.which("nvidia-smi") if enabled else None
        self.util: list[float] = []
        self.mem: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self):
        if self.exe:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
        while not self._stop.is_set():
            try:
                out = subprocess.run([self.exe, f"--id={gpu}", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=5).stdout.strip().splitlines()
                u, m = (float(x) for x in out[0].split(","))
                self.util.append(u)
                self.mem.append(m)
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                pass
            self._stop.wait(1.0)

    def summary(self) -> str:
        if not self.exe:
            return "GPU utilisation n/a, GPU memory n/a"
        if not self.util:
            return "GPU utilisation n/a (nvidia-smi gave no reading), GPU memory n/a"
        mean = sum(self.util) / len(self.util)
        return (f"GPU utilisation mean {mean:.0f}% / max {max(self.util):.0f}% "
                f"({len(self.util)} samples), GPU memory max {max(self.mem):.0f} MiB")


# ----------------------------------------------------------------------------- projects


def write_project(root: Path, device: str, body: str, **settings) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    devices = "cuda:0" if device == "cuda" else "cpu"
    head = {"devices": f'"{devices}"', "checkpoint_every_s": "60"}
    head.update({k: (f'"{v}"' if isinstance(v, str) else str(v)) for k, v in settings.items()})
    text = "[grokwatch]\n" + "".join(f"{k} = {v}\n" for k, v in head.items()) + "\n" + body
    (root / "experiments.toml").write_text(text)
    return root


def sweep_body(runs: int, steps: int, name: str = "sweep") -> str:
    """The default (`cpu`) grokking preset, weight decay x seeds: `runs` runs."""
    wds = [1.0, 0.5, 0.3, 0.1]
    n_wd = min(len(wds), runs)
    seeds = list(range(math.ceil(runs / n_wd)))
    body = (f'[[experiment]]\nname = "{name}"\nkind = "grokking"\nseeds = {seeds}\n'
            f'[experiment.params]\nsteps = {steps}\n[experiment.sweep]\n'
            f'weight_decay = {wds[:n_wd]}\n')
    return body


def headless(project: Path, device: str, timeout: float, extra=()) -> tuple[int, float, str]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "grokwatch", "--headless", *extra], cwd=project,
                              env=env_for(device), capture_output=True, text=True, timeout=timeout)
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out = 124, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}"
        subprocess.run([sys.executable, "-m", "grokwatch", "stop"], cwd=project, env=env_for(device),
                       capture_output=True, timeout=60)
    return code, time.monotonic() - t0, out


def run_states(project: Path) -> tuple[dict[str, int], list[Path]]:
    counts: dict[str, int] = {}
    dirs = sorted(p for p in (project / "runs").glob("*") if (p / "config.json").exists())
    for d in dirs:
        state = (read_json(d / "status.json") or {}).get("state", "?")
        counts[state] = counts.get(state, 0) + 1
    return counts, dirs


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def rows(run_dir: Path) -> list[dict[str, str]]:
    try:
        with open(run_dir / "metrics.csv") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


# ----------------------------------------------------------------------------- sections


def section_cuda_tests(device: str, timeout: float) -> None:
    say("== 1. the test suite's CUDA tests ==")
    if device != "cuda":
        say("skipped: --device cpu")
        return
    try:
        import pytest  # noqa: F401
    except ImportError:
        say("skipped: pytest is not installed here (the CUDA path is exercised by sections 2-5)")
        return
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
                   if re.search(r"def test_\w*cuda", p.read_text(errors="replace")))
    if not files:
        say("skipped: no CUDA tests found")
        return
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider",
                           *files], cwd=REPO, env=env_for(device), capture_output=True, text=True,
                          timeout=timeout)
    summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    say(f"pytest -k cuda {' '.join(files)}: {summary} ({time.monotonic() - t0:.0f} s)")
    if proc.returncode not in (0, 5):
        FAILED.append("CUDA tests")
        say(proc.stdout[-3000:] + proc.stderr[-2000:])


def memory_report(project: Path, dirs: list[Path], device: str, show: int = 4) -> list[str]:
    """Per GPU process (a run, or a pack): the GPU memory the runner planned it with (executor.json:
    the context estimate + its runs' estimates or recorded peaks) against the peak its worker
    measured (status.json: the caching allocator's reserved and allocated peaks; the context is
    not in them). The first `show` processes, then the spread of the ratios."""
    if device != "cuda":
        return ["GPU memory, planned vs measured per run: n/a on the CPU"]
    from grokwatch.runner.gpumem import CUDA_CONTEXT_MB

    plan = [n for n in (read_json(project / ".grokwatch" / "runner.json") or {}).get("slot_plan", [])
            if n.startswith("cuda")]
    lines = [f"GPU plan: {'; '.join(plan) or 'n/a'}"]
    procs: dict[str, tuple] = {}
    for d in dirs:
        record, status = read_json(d / "executor.json") or {}, read_json(d / "status.json") or {}
        if not str(record.get("slot", "")).startswith("cuda"):
            continue
        key = status.get("pack") or d.name
        label = f"pack of {status.get('pack_size')} ({key})" if status.get("pack") else d.name
        procs.setdefault(key, (label, record.get("gpu_memory_mb"), record.get("gpu_memory_basis"),
                               status.get("gpu_peak_reserved_mb"), status.get("gpu_peak_allocated_mb")))
    ratios = []
    for i, (label, planned, basis, reserved, allocated) in enumerate(procs.values()):
        tensors = planned - CUDA_CONTEXT_MB if isinstance(planned, (int, float)) and basis != "default" else None
        ratio = reserved / tensors if isinstance(reserved, (int, float)) and tensors and tensors > 0 else None
        if ratio is not None:
            ratios.append(ratio)
        if i < show:
            plan_s = (f"planned {planned} MB ({basis}: its tensors {tensors} MB + context {CUDA_CONTEXT_MB} MB)"
                      if tensors is not None else f"planned {planned} MB ({basis})")
            meas = (f"measured peak {reserved:.1f} MB reserved / {allocated:.1f} MB allocated (tensors; "
                    f"the context is not measured)" if isinstance(reserved, (int, float))
                    and isinstance(allocated, (int, float)) else "measured peak n/a (none in status.json)")
            lines.append(f"  {label}: {plan_s}, {meas}"
                         + (f"; measured / planned tensors {ratio:.2f}" if ratio is not None else ""))
    if len(procs) > show:
        lines.append(f"  ... {len(procs) - show} more process(es)")
    if ratios:
        ratios.sort()
        lines.append(f"  measured / planned tensors over {len(ratios)} process(es): min {ratios[0]:.2f}, "
                     f"median {ratios[len(ratios) // 2]:.2f}, max {ratios[-1]:.2f} (> 1: the plan was short)")
    elif not procs:
        lines.append("  no run went to a GPU slot")
    return lines


def section_demo(device: str, mode: str, steps: int, work: Path, timeout: float) -> None:
    say("== 2. the built-in demo queue ==")
    if mode == "skip":
        say("skipped (--demo skip)")
        return
    from grokwatch.config import demo_config_path

    text = demo_config_path().read_text()
    text = re.sub(r'(?m)^devices = "[^"]*"', 'devices = "cuda:0"' if device == "cuda" else
                  'devices = "cpu"', text)
    note = "the full queue"
    if mode == "quick":
        blocks = re.split(r"(?m)^(?=\[\[experiment\]\])", text)
        out = []
        for b in blocks:
            if re.search(r'(?m)^kind = "grokking"', b) and "[experiment.params]" not in b:
                b = b.rstrip("\n") + f"\n[experiment.params]\nsteps = {steps}\n\n"
            out.append(b)
        text = "".join(out)
        note = f"quick: each grokking run capped at {steps} steps (the numpy kinds as they are)"
    project = work / "demo"
    project.mkdir(parents=True)
    (project / "experiments.toml").write_text(text)
    with GpuSampler(device == "cuda") as gpu:
        code, wall, out = headless(project, device, timeout)
    counts, dirs = run_states(project)
    say(f"demo queue on {device} ({note}): {len(dirs)} runs, {counts}, exit {code}, "
        f"launch to all done {wall:.1f} s; {gpu.summary()}")
    for line in memory_report(project, dirs, device):
        say(line)
    if code != 0:
        FAILED.append("demo queue")
        say(out[-3000:])


def one_sweep(label: str, project: Path, device: str, runs: int, timeout: float) -> float | None:
    with GpuSampler(device == "cuda") as gpu:
        code, wall, out = headless(project, device, timeout)
    counts, dirs = run_states(project)
    packs = {(read_json(d / "status.json") or {}).get("pack") for d in dirs} - {None}
    with_rows = sum(1 for d in dirs if rows(d))
    say(f"{label}: {len(dirs)} runs {counts}, {with_rows} with their own metrics.csv, "
        f"{len(packs)} pack(s), exit {code}: launch to all done {wall:.1f} s, "
        f"{len(dirs) / wall * 3600:.0f} runs/hour; {gpu.summary()}")
    for line in memory_report(project, dirs, device):
        say(line)
    if code != 0 or counts.get("done", 0) != len(dirs) or len(dirs) != runs:
        FAILED.append(label)
        say(out[-3000:])
        return None
    return wall


def section_sweep(device: str, runs: int, steps: int, procs: int, serial: int, work: Path,
                  timeout: float) -> None:
    say(f"== 3. a {runs}-run grokking sweep of the default preset ({steps} steps each), three ways ==")
    serial = min(serial, runs)
    # On the CPU every way gets one thread per process (a lone run given every core of a busy
    # machine runs many times slower: OpenMP barriers); on a GPU the runner decides.
    threads = {"threads_per_run": 1} if device == "cpu" else {}
    if threads:
        say("(CPU: one thread per worker process in every way)")
    t1 = one_sweep(f"one at a time, {serial} runs measured",
                   write_project(work / "serial", device, sweep_body(serial, steps),
                                 max_parallel=1, pack="off", **threads), device, serial, timeout)
    if t1 is not None and serial < runs:
        est = t1 * runs / serial
        say(f"one at a time, {runs} runs EXTRAPOLATED from {serial} measured: {est:.1f} s, "
            f"{runs / est * 3600:.0f} runs/hour")
    elif t1 is not None:
        say(f"one at a time: all {runs} runs measured (nothing extrapolated)")
    tp = one_sweep(f"{procs} processes per device, {runs} runs",
                   write_project(work / "procs", device, sweep_body(runs, steps), max_parallel=procs,
                                 pack="off", **threads), device, runs, timeout)
    tk = one_sweep(f"packed (pack = {runs}), {runs} runs",
                   write_project(work / "packed", device, sweep_body(runs, steps), max_parallel=1,
                                 pack=runs, **threads), device, runs, timeout)
    if tk:
        if t1:
            how = "extrapolated" if serial < runs else "measured"
            say(f"packed vs one at a time ({how}): {t1 * runs / serial / tk:.2f}x "
                f"(time ratio; > 1: packed is faster)")
        if tp:
            say(f"packed vs {procs} processes per device: {tp / tk:.2f}x (time ratio; > 1: packed "
                f"is faster)")


def make_run(run_dir: Path, device: str, params: dict, seed: int, checkpoint_every_s: float = 60):
    from grokwatch.experiments import get_spec

    spec = get_spec("grokking")
    resolved = spec.resolve(params)
    config = {"run_id": run_dir.name, "experiment": "roundtrip", "kind": "grokking", "seed": seed,
              "params": resolved, "sweep": {}, "device": device, "threads": 1,
              "checkpoint_every_s": checkpoint_every_s, **spec.describe(resolved)}
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


def start(device: str, module: str, *dirs: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *map(str, dirs)], env=env_for(device),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_rows(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        r = rows(run_dir)
        if r and float(r[-1]["step"]) >= step:
            return True
        time.sleep(0.05)
    return False


def compare_rows(a: list[dict], b: list[dict]) -> tuple[bool, float, bool]:
    """(bitwise equal, max relative difference, same steps) over every metric but time_s."""
    same_steps = [r["step"] for r in a] == [r["step"] for r in b]
    worst, equal = 0.0, same_steps
    for ra, rb in zip(a, b):
        for k in ra:
            if k == "time_s" or not ra[k] or not rb.get(k):
                continue
            x, y = float(ra[k]), float(rb[k])
            if ra[k] != rb[k]:
                equal = False
            if x != y:
                worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-12))
    return equal, worst, same_steps


ROUND_TRIP = {"steps": 1500, "eval_every": 50, "batch_size": 512}  # minibatches: RNG state matters


def section_round_trip(device: str, steps: int, work: Path, timeout: float) -> None:
    """The default preset at batch 512 for `steps` steps, SIGTERM-ed at 40%, resumed."""
    say("== 4. SIGTERM + resume round trip on the device ==")
    ROUND_TRIP["steps"] = steps
    stop_at = max(1, int(steps * 0.4))
    base = work / "roundtrip"
    straight = make_run(base / "straight", device, ROUND_TRIP, 0)
    p = start(device, "grokwatch.worker", straight)
    p.wait(timeout=timeout)
    single = make_run(base / "single", device, ROUND_TRIP, 0)
    pa = make_run(base / "pack-a", device, ROUND_TRIP, 0)
    pb = make_run(base / "pack-b", device, {**ROUND_TRIP, "weight_decay": 0.5}, 1)
    for label, module, dirs in (("single worker", "grokwatch.worker", [single]),
                                ("pack of 2", "grokwatch.pack", [pa, pb])):
        t0 = time.monotonic()
        proc = start(device, module, *dirs)
        if not all(wait_rows(d, stop_at, proc, timeout) for d in dirs):
            proc.kill()
            FAILED.append(f"round trip ({label})")
            say(f"{label}: never reached step {stop_at}: "
                f"{proc.stderr.read()[-2000:] if proc.stderr else ''}")
            continue
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=timeout)
        states = [(read_json(d / "status.json") or {}).get("state") for d in dirs]
        ckpt = [(read_json(d / "checkpoint.json") or {}).get("step") for d in dirs]
        resumed = start(device, module, *dirs)
        code2 = resumed.wait(timeout=timeout)
        final = [(read_json(d / "status.json") or {}).get("state") for d in dirs]
        steps_ok = all(len({r["step"] for r in rows(d)}) == len(rows(d)) and
                       rows(d)[-1]["step"] == str(ROUND_TRIP["steps"]) for d in dirs)
        say(f"{label}: SIGTERM -> exit {code}, states {states}, checkpoints at steps {ckpt}; resumed "
            f"-> exit {code2}, states {final}; every step logged once and to the end: {steps_ok} "
            f"({time.monotonic() - t0:.1f} s)")
        if code != 4 or code2 != 0 or final != ["done"] * len(dirs) or not steps_ok:
            FAILED.append(f"round trip ({label})")
    equal, worst, same = compare_rows(rows(straight), rows(single))
    say(f"resumed single run against the uninterrupted run: bitwise equal {equal}, max relative "
        f"difference {worst:.2e}, same steps {same}")
    equal, worst, same = compare_rows(rows(straight), rows(pa))
    say(f"resumed packed member against the uninterrupted single run: bitwise equal {equal}, max "
        f"relative difference {worst:.2e}, same steps {same}")


def section_determinism(device: str, work: Path, timeout: float) -> None:
    say("== 5. determinism ==")
    base = work / "determinism"
    a = make_run(base / "a", device, ROUND_TRIP, 3)
    b = make_run(base / "b", device, ROUND_TRIP, 3)
    for d in (a, b):
        start(device, "grokwatch.worker", d).wait(timeout=timeout)
    equal, worst, same = compare_rows(rows(a), rows(b))
    say(f"the same run twice on {device} (seed 3, one thread): bitwise equal {equal}, max relative "
        f"difference {worst:.2e}")
    if device == "cpu":
        promise = ("CPU: same seed and thread count give the same metrics bit for bit (also "
                   "tested by the suite); a packed run matches its unpacked run within float "
                   "rounding (tests/pack: test accuracy within 0.5 points, loss within 1e-3)")
    else:
        promise = ("CUDA: bitwise equality is NOT promised (atomic adds in the embedding/index "
                   "backward, cuBLAS algorithm choice); what this run measured is above; a packed "
                   "run matches its unpacked run within float rounding, as on the CPU")
    say(f"promise: {promise}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2500, help="steps per sweep run (the preset: 2500)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--procs", type=int, default=0,
                    help="worker processes per device for the second way (default: the cores, at most --runs)")
    ap.add_argument("--serial-runs", type=int, default=8, help="runs measured one at a time")
    ap.add_argument("--demo", choices=("full", "quick", "skip"), default=None,
                    help="default: full on cuda, quick on cpu")
    ap.add_argument("--timeout", type=float, default=600, help="per section step, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary projects")
    ap.add_argument("--sections", default="1,2,3,4,5", help="which sections to run, e.g. 3,4")
    args = ap.parse_args()
    t0 = time.monotonic()
    import torch

    cores = len(os.sched_getaffinity(0))
    procs = args.procs or max(1, min(cores, args.runs))
    try:
        import textual  # noqa: F401
        tui = "installed (not used)"
    except ImportError:
        tui = "not installed (not needed: headless path)"
    say(f"grokwatch bench/gpu.py: python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"{cores} CPU cores, textual {tui}")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            say("--device cuda: torch sees no CUDA device here; run with --device cpu")
            return 2
        say(f"device: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), "
            f"nvidia-smi {'found' if shutil.which('nvidia-smi') else 'not found'}")
    else:
        say("device: cpu (GPU figures n/a)")
    work = Path(tempfile.mkdtemp(prefix="grokwatch-gpu-bench-"))
    try:
        todo = {s.strip() for s in args.sections.split(",")}
        if "1" in todo:
            section_cuda_tests(args.device, args.timeout)
        if "2" in todo:
            section_demo(args.device, args.demo or ("full" if args.device == "cuda" else "quick"),
                         args.steps, work, args.timeout)
        if "3" in todo:
            section_sweep(args.device, args.runs, args.steps, procs, args.serial_runs, work,
                          args.timeout)
        if "4" in todo:
            section_round_trip(args.device, args.steps, work, args.timeout)
        if "5" in todo:
            section_determinism(args.device, work, args.timeout)
    finally:
        if args.keep:
            say(f"projects kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say(f"total {time.monotonic() - t0:.0f} s; "
        f"{'all sections ran' if not FAILED else 'FAILED: ' + ', '.join(FAILED)}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
