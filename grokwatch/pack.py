"""`python -m grokwatch.pack [--id PACK_ID] RUN_DIR RUN_DIR...`: train several runs of one
experiment that share their shapes as ONE batched computation (`experiments.packed`), in one
process that is the one writer of each member's run directory, exactly as a single worker is:
its own metrics.csv, status.json (with this process's pid and the pack's id), checkpoint.pt (the
single worker's format: `grokwatch.worker` resumes it, and a pack resumes a single run's) and
worker.log (the pack appends its lines to every member's log).

Stopping:
- SIGTERM stops the whole pack: every member checkpoints and ends `stopped` (exit 4); a second
  SIGTERM stops at once. SIGUSR1: every member checkpoints and ends `requeued` (exit 75).
- One member: create `RUN_DIR/stop.request` (any content; `grokwatch stop RUN` does it for a
  packed run). The pack polls for it about twice a second; that member checkpoints, ends
  `stopped` and leaves the pack, the others go on. The pack deletes the file once obeyed, and
  at start-up deletes requests older than itself (left over from an earlier attempt).
- A member that diverges (the shared divergence rule) ends `diverged` and leaves the pack.
- SIGKILL leaves every member at its last checkpoint; the runner marks them `lost`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .packing import STOP_REQUEST, pack_key
from .runs import EXIT_DIVERGED, EXIT_DONE, EXIT_FAILED, EXIT_REQUEUE, EXIT_STOPPED, tail_lines
from .worker import LOG_TAIL_LINES, Worker

STOP_POLL_S = 0.5
COLUMNS = ["train_acc", "test_acc", "weight_norm", "lr"]


class PackError(Exception):
    """These run directories cannot train as one pack (said in one line)."""


class Member(Worker):
    """One run of the pack: the single worker's status bookkeeping, plus its log and its
    per-run stop channel."""

    def __init__(self, run_dir: Path, pack_id: str, pack_size: int):
        super().__init__(run_dir)
        self.status.update(pack=pack_id, pack_size=pack_size)
        self.stop_file = self.paths.dir / STOP_REQUEST

    def say(self, message: str) -> None:
        """A line in this member's worker.log (the pack is its writer)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.paths.worker_log, "a", encoding="utf-8") as f:
            f.write(f"[{stamp}] {message}\n")

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def clear_request(self, older_than: float | None = None) -> None:
        try:
            if older_than is None or self.stop_file.stat().st_mtime < older_than:
                self.stop_file.unlink()
        except OSError:
            pass

    def end(self, state: str, code: int, **extra: Any) -> None:
        if self.ctx is not None:
            self.status["step"] = self.ctx.step
            self.ctx.close()
        self.write_status(state=state, exit_code=code, ended=time.time(), **extra)


class Pack:
    def __init__(self, run_dirs: list[Path], pack_id: str | None = None):
        self.pid = os.getpid()
        self.id = pack_id or f"pack-{self.pid}"
        self.started = time.time()
        self.members = [Member(d, self.id, len(run_dirs)) for d in run_dirs]
        self._check()
        self.stop_signal: str | None = None
        self.trainer = None

    def _check(self) -> None:
        if not self.members:
            raise PackError("no run directories given")
        kinds = {m.config.get("kind") for m in self.members}
        if kinds != {"grokking"}:
            raise PackError(f"only grokking runs can be packed, got kind(s) {sorted(map(str, kinds))}")
        keys = {pack_key("grokking", m.config["params"]) for m in self.members}
        if len(keys) != 1:
            raise PackError("these runs do not share their shapes (model, modulus, operation, "
                            "widths, steps, batch size, evaluation schedule) and cannot be packed")
        devices = {m.config.get("device", "cpu") for m in self.members}
        if len(devices) != 1:
            raise PackError(f"the runs were placed on different devices: {sorted(devices)}")
        ids = [m.paths.run_id for m in self.members]
        if len(set(ids)) != len(ids):
            raise PackError("a run directory is given twice")

    # ------------------------------------------------------------------ signals

    def _on_signal(self, signum: int, _frame: Any) -> None:
        from .experiments.base import StopRun

        kind = "requeue" if signum == signal.SIGUSR1 else "stop"
        if self.stop_signal == "stop" and kind == "stop":
            raise StopRun(requeue=False)  # second SIGTERM: stop now, without checkpoints
        self.stop_signal = kind

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGUSR1, self._on_signal)
        from .experiments.base import RunContext, StopRun

        for m in self.members:
            m.clear_request(older_than=self.started)
            m.write_status()
            m.ctx = RunContext(m.paths.dir, m.config)
            m.ctx.on_status = (lambda mm: (lambda s: mm.write_status(**s)))(m)
        device = self.members[0].config.get("device", "cpu")
        names = ", ".join(m.paths.run_id for m in self.members)
        for m in self.members:
            m.say(f"grokwatch: member of pack {self.id} (pid {self.pid}, {len(self.members)} runs "
                  f"on {device}): {names}")
        try:
            return self._train(device)
        except StopRun:  # second SIGTERM
            for m in self.members:
                m.say(f"pack {self.id}: stopped at once (second SIGTERM), no new checkpoint")
                m.end("stopped", EXIT_STOPPED)
            return EXIT_STOPPED
        except BaseException as exc:  # noqa: BLE001 — a crash fails every member still in it
            text = traceback.format_exc()
            sys.stderr.write(text)
            message = f"{type(exc).__name__}: {exc}"
            for m in self.members:
                m.say(f"pack {self.id} failed:\n{text.rstrip()}")
                m.end("failed", EXIT_FAILED, error=message,
                      log_tail=tail_lines(m.paths.worker_log, LOG_TAIL_LINES))
            return EXIT_FAILED

    def _train(self, device: str) -> int:
        import numpy as np
        import torch

        from .experiments.base import eval_schedule
        from .experiments.packed import PackTrainer

        torch.set_num_threads(max(1, int(self.members[0].config.get("threads", 1))))
        params = [m.config["params"] for m in self.members]
        total = int(params[0]["steps"])
        for m in self.members:
            m.ctx.set_total_steps(total)
            m.ctx.declare_columns(COLUMNS)
        sched = np.zeros(total + 1, dtype=bool)
        sched[eval_schedule(total, params[0]["eval_every"], params[0]["eval_log_points"])] = True
        trainer = self.trainer = PackTrainer(params, [m.ctx.seed for m in self.members], device)
        for r, m in enumerate(self.members):
            if m.ctx.resume("pt", lambda path, r=r: trainer.load_member(r, path)):
                m.say(f"pack {self.id}: resumed from its checkpoint at step {int(trainer.steps[r])}")
        every_s = min(m.ctx.checkpoint_every_s for m in self.members)
        last_ckpt = time.monotonic()
        last_poll = 0.0
        fresh = [r for r in range(trainer.size) if trainer.steps[r] == 0]
        if fresh and sched[0]:
            self._log(fresh, trainer.evaluate())
        self._leave([r for r in range(trainer.size) if trainer.steps[r] >= total], "done")
        while self.members:
            if self.stop_signal is not None:
                return self._stop_all()
            now = time.monotonic()
            if now - last_poll >= STOP_POLL_S:
                last_poll = now
                asked = [r for r, m in enumerate(self.members) if m.stop_requested()]
                if asked:
                    self._checkpoint(asked)
                    for r in asked:
                        self.members[r].clear_request()
                    self._leave(asked, "stopped", "a stop request (stop.request)")
                    continue
            trainer.train_step()
            due = np.flatnonzero(sched[np.minimum(trainer.steps, total)])
            if len(due):
                diverged = self._log(list(due), trainer.evaluate())
                if diverged:
                    self._leave(diverged, "diverged")
            finished = [r for r in range(trainer.size) if trainer.steps[r] >= total]
            if finished:
                self._leave(finished, "done")
            if self.members and time.monotonic() - last_ckpt >= every_s:
                self._checkpoint(range(len(self.members)))
                last_ckpt = time.monotonic()
        return EXIT_DONE

    def _log(self, rows: list[int], metrics: list[dict[str, float]]) -> list[int]:
        """Write each due member's row; returns the members that diverged (their error kept)."""
        from .experiments.base import Diverged

        bad = []
        for r in rows:
            m = self.members[r]
            try:
                m.ctx.log(int(self.trainer.steps[r]), **metrics[r])
            except Diverged as exc:
                m.status["error"] = str(exc)
                bad.append(r)
        return bad

    def _peak(self) -> dict[str, float]:
        """The pack process's measured GPU peak (CUDA only), for each member's status.json."""
        from .experiments.grokking import gpu_peak

        return gpu_peak(self.trainer.device) if self.trainer is not None else {}

    def _checkpoint(self, rows) -> None:
        peak = self._peak()
        for r in rows:
            m = self.members[r]
            step = int(self.trainer.steps[r])
            m.status.update(peak)
            if step > 0:
                m.ctx.save_checkpoint(step, lambda path, r=r: self.trainer.save_member(r, path), "pt")

    def _leave(self, rows: list[int], state: str, why: str = "") -> None:
        """These members end (`done`, `stopped`, `diverged`) and leave; the others go on."""
        if not rows:
            return
        gone = set(rows)
        peak = self._peak()
        for r in sorted(gone):
            m = self.members[r]
            m.status.update(peak)
            step = int(self.trainer.steps[r])
            if state == "done":
                m.end("done", EXIT_DONE, step=step)
                m.say(f"pack {self.id}: finished at step {step}")
            elif state == "stopped":
                m.end("stopped", EXIT_STOPPED, step=step)
                m.say(f"pack {self.id}: stopped at step {step} on {why}; checkpoint kept, the "
                      f"other runs go on")
            else:
                error = m.status.get("error") or "diverged"
                m.end("diverged", EXIT_DIVERGED, error=error)
                m.say(f"grokwatch: run diverged: {error} (it leaves pack {self.id}; the others go on)")
        keep = [r for r in range(len(self.members)) if r not in gone]
        self.members = [self.members[r] for r in keep]
        self.trainer.keep(keep)

    def _stop_all(self) -> int:
        requeue = self.stop_signal == "requeue"
        self._checkpoint(range(len(self.members)))
        for m in self.members:
            if requeue:
                m.end("requeued", EXIT_REQUEUE)
                m.say(f"pack {self.id}: checkpointed at step {m.ctx.step} on SIGUSR1 (requeue)")
            else:
                m.end("stopped", EXIT_STOPPED)
                m.say(f"pack {self.id}: stopped on SIGTERM; checkpoint kept")
        self.members = []
        return EXIT_REQUEUE if requeue else EXIT_STOPPED


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grokwatch.pack",
                                 description="train runs that share their shapes as one pack")
    ap.add_argument("--id", dest="pack_id", default=None, help="the pack's id (default pack-PID)")
    ap.add_argument("run_dirs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    try:
        pack = Pack(args.run_dirs, args.pack_id)
    except PackError as exc:
        print(f"grokwatch.pack: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # a directory without a readable config.json
        print(exc, file=sys.stderr)
        return 2
    return pack.run()


if __name__ == "__main__":
    sys.exit(main())
