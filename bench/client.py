"""What `grokwatch.log()` costs a training loop.

    python bench/client.py [--calls 200000] [--metrics 4]

For each sink — the worker channel (a FIFO drained by another process, as under a `command`
run) and a run directory of its own (./grokwatch-logs/, here in a temp dir) — it times N calls of
`log(step=i, <metrics>)` through `from grokwatch import log`, then the final flush, and
prints per call: the caller's wall time for the calls alone, wall time including the final
flush, and the process's CPU time (the flush thread's encoding and writing included) over
calls + flush. The target is <= 5 us per call amortised, judged on the process CPU time (what
the training process pays, flush thread included; wall times on a busy machine mostly measure
the other processes). The no-op baseline line shows how slow the machine is right now.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_US = 5.0


def bench(sink: str, calls: int, n_metrics: int, workdir: Path) -> dict[str, float]:
    import grokwatch
    import grokwatch.client as client

    drain = None
    if sink == "channel":
        fifo = workdir / "channel"
        os.mkfifo(fifo)
        # the worker's side: another process reads the FIFO (as the worker does; read-write,
        # so that it never sees end-of-file)
        drain = subprocess.Popen([sys.executable, "-c", "import os, sys\n"
                                  "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                                  "while True: os.read(fd, 1 << 16)", str(fifo)])
        while True:  # wait until the reader has it open
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:
                time.sleep(0.01)
        os.environ["GROKWATCH_CLIENT_CHANNEL"] = f"fifo:{fifo}"
    else:
        os.environ.pop("GROKWATCH_CLIENT_CHANNEL", None)
    client.finish()
    client.init(name=f"bench-{sink}", dir=workdir / "logs")
    log = grokwatch.log
    names = ["train_loss", "test_loss", "train_acc", "test_acc", "lr", "weight_norm", "grad_norm",
             "margin"][:n_metrics]
    values = [0.5 + 0.001 * i for i in range(len(names))]
    kwargs = dict(zip(names, values))
    log(step=0, **kwargs)  # start-up (sink, thread) is not what we measure
    client.flush()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(1, calls + 1):
        log(step=i, **kwargs)
    t_calls = time.perf_counter() - t0
    client.finish()
    t_all = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if drain is not None:
        time.sleep(0.1)
        drain.kill()
        drain.wait(timeout=30)
        os.environ.pop("GROKWATCH_CLIENT_CHANNEL", None)
    rows = None
    if sink == "local":
        (d,) = list((workdir / "logs").iterdir())
        rows = sum(1 for _ in open(d / "metrics.csv")) - 1
    return {"calls_us": 1e6 * t_calls / calls, "amortised_us": 1e6 * t_all / calls,
            "cpu_us": 1e6 * cpu / calls, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--metrics", type=int, default=4, help="metrics per call (1-8)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many")
    args = ap.parse_args()
    print(f"grokwatch.log(step=i, {args.metrics} metrics) x {args.calls}, best of {args.repeat} "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    kwargs = {k: 0.5 for k in ["train_loss", "test_loss", "train_acc", "test_acc", "lr",
                               "weight_norm", "grad_norm", "margin"][:args.metrics]}

    def noop(step=None, **metrics):
        pass

    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.calls):
        noop(step=i, **kwargs)
    base = 1e6 * (time.perf_counter() - t0) / args.calls
    base_cpu = 1e6 * (time.process_time() - c0) / args.calls
    print(f"baseline: a no-op function called the same way costs {base:.2f} us wall, {base_cpu:.2f} us "
          f"CPU (about 0.1 us on an idle machine; scale by this on a busy one)")
    print(f"{'sink':<9} {'wall, calls':>12} {'+ final flush':>14} {'process CPU':>12}   target (CPU)")
    ok = True
    for sink in ("channel", "local"):
        best: dict[str, float] | None = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                r = bench(sink, args.calls, args.metrics, Path(tmp))
            if best is None or r["cpu_us"] < best["cpu_us"]:
                best = r
        assert best is not None
        verdict = "ok" if best["cpu_us"] <= TARGET_US else "OVER"
        ok &= verdict == "ok"
        print(f"{sink:<9} {best['calls_us']:>9.2f} us {best['amortised_us']:>11.2f} us "
              f"{best['cpu_us']:>9.2f} us   <= {TARGET_US:g} us per call amortised: {verdict}"
              + (f"  ({best['rows']} rows written)" if best["rows"] is not None else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
