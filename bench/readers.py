"""What reading another tool's log costs, against that tool's own reader.

    python bench/readers.py [--steps 20000] [--tags 4] [--rounds 5]

Writes a TensorBoard event file of STEPS x TAGS scalars with TensorBoard's own writer, then
times (rounds interleaved; the median of the per-round ratios) reading every scalar with TensorBoard's `EventAccumulator` (what
`tensorboard` itself uses; the baseline) and with `grokwatch.readers` (rows merged by step,
names mapped), and prints both and the ratio. Then the same for a CSV of the same values
(`runs.MetricsTail`, the CSV tail) for scale, and the cost of a live poll that finds nothing
new (what the dashboard's mirror pays each second per run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TAGS = ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "grad_norm", "weight_norm", "time")


def write_events(run: Path, steps: int, tags: int) -> int:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(run), max_queue_size=1000)
    for s in range(steps):
        for t in TAGS[:tags]:
            v = summary_pb2.Summary.Value(tag=t, simple_value=1.0 / (s + 1))
            w.add_event(event_pb2.Event(step=s, wall_time=1000.0 + s,
                                        summary=summary_pb2.Summary(value=[v])))
    w.close()
    return sum(f.stat().st_size for f in run.iterdir())


def best_of(n: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def tensorboard_own(run: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return sum(len(acc.Scalars(t)) for t in acc.Tags()["scalars"])


def grokwatch_read(run: Path) -> int:
    from grokwatch.readers import read_path

    ((src, rows),) = read_path(run)
    return sum(len(r) - 1 for r in rows)  # values, step left out (time_s counts: one per row)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--tags", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        size = write_events(run, args.steps, args.tags)
        n = args.steps * args.tags
        print(f"event file: {args.steps} steps x {args.tags} tags = {n} scalars, {size / 1e6:.1f} MB")
        ratios, tbs, gws = [], [], []
        for _ in range(args.rounds):  # interleaved: a busy machine slows both alike
            t_tb, got_tb = best_of(1, lambda: tensorboard_own(run))
            t_gw, got_gw = best_of(1, lambda: grokwatch_read(run))
            tbs.append(t_tb)
            gws.append(t_gw)
            ratios.append(t_gw / t_tb)
        t_tb, t_gw = min(tbs), min(gws)
        print(f"tensorboard EventAccumulator: {t_tb:.2f} s best ({t_tb / n * 1e6:.1f} us/scalar, "
              f"{got_tb} scalars)")
        print(f"grokwatch.readers:            {t_gw:.2f} s best ({t_gw / n * 1e6:.1f} us/scalar, "
              f"{got_gw} values incl. time_s)")
        print(f"ratio grokwatch / tensorboard: {sorted(ratios)[len(ratios) // 2]:.2f} (median of "
              f"{args.rounds} rounds; {t_gw / t_tb:.2f} best vs best)")

        csv = Path(tmp) / "m.csv"
        with open(csv, "w") as f:
            f.write("step," + ",".join(TAGS[:args.tags]).replace("/", "_") + "\n")
            for s in range(args.steps):
                f.write(f"{s}," + ",".join(repr(1.0 / (s + 1)) for _ in range(args.tags)) + "\n")
        from grokwatch.runs import MetricsTail

        t_csv, _ = best_of(3, lambda: MetricsTail(csv).read(final=True))
        print(f"the same values as CSV, runs.MetricsTail: {t_csv:.2f} s "
              f"(event file / CSV: {t_gw / t_csv:.1f}x)")

        from grokwatch.readers import open_path

        (src,) = open_path(run)
        src.read_all()
        t_poll, _ = best_of(5, lambda: src.read())
        print(f"a live poll with nothing new: {t_poll * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
