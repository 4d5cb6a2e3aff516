"""The poller: one background thread that keeps the store up to date and tells the UI.

Every tick (half a second) it stats each run's files and reads only what changed: status and
config when their mtime moved, events and metrics from their saved offsets. Files with a lot
to read (a big run on first attach) go to a small process pool that builds their summaries in
parallel, away from the UI's GIL; the rest is read here in small chunks so the event loop is
never starved. Results go into an outbox; `notify()` posts one coalescing message per tick.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...runs import read_events, read_json
from .order import initial_focus
from .store import LoadResult, RunData, RunStore, is_alert, load_full

TICK_S = 1.0  # pokes (a key, a selection) wake it at once
SCAN_EVERY_S = 2.0
RUNNER_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 3.0
POOL_MIN_BYTES = 2 << 20  # files with more than this left to read load in the pool
THREAD_CHUNK = 256 << 10  # in-thread reads: ~10 ms of parsing at a time
TICK_WORK_S = 0.3  # in-thread reading stops after this long; the UI hears of it, then more
BACKLOG_PAUSE_S = 0.1  # between rounds while in-thread reading is left over
BATCH_MIN_RUNS = 64  # this many small files still to load: they go to the pool in batches
BATCH_BYTES = 8 << 20  # ... of about this much CSV each


@dataclass
class RunnerInfo:
    """What the header and the banner show about the runner."""

    holder: dict[str, Any] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    config_error: str | None = None


@dataclass
class RunnerGone:
    """The runner that held the directory is gone. `clean`: it wrote runner.json with
    running=false on its way out (`grokwatch stop`, or a drained queue); otherwise it was killed
    or crashed. `successor`: the holder that replaced it before we looked (another grokwatch)."""

    holder: dict[str, Any]
    clean: bool
    status: dict[str, Any] = field(default_factory=dict)
    successor: dict[str, Any] | None = None

    @property
    def pid(self) -> Any:
        return self.holder.get("pid")


@dataclass
class Outbox:
    dirty: set[str] = field(default_factory=set)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # new, to toast
    missed: list[dict[str, Any]] = field(default_factory=list)  # raised while detached
    history: list[dict[str, Any]] = field(default_factory=list)  # older, listed only
    runner: bool = False
    first: bool = False
    gone: list[RunnerGone] = field(default_factory=list)  # runners that went away


def load_batch(jobs: list[tuple]) -> list[LoadResult]:
    """Many small files in one pool job (`load_full` each): a thousand short runs on attach."""
    return [load_full(*args) for args in jobs]


def _nice() -> None:  # pool workers yield a little to the UI (more would starve them on a busy box)
    try:
        os.nice(1)
    except OSError:
        pass


@contextmanager
def _real_stdio():
    """Textual replaces sys.stdout/stderr with objects whose fileno() is not a descriptor, and
    multiprocessing passes sys.stderr's descriptor to its helper processes: lend it the real ones."""
    saved = sys.stdout, sys.stderr
    if sys.__stdout__ is not None and sys.__stderr__ is not None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class Poller:
    def __init__(self, store: RunStore, project_dir: Path | None = None,
                 last_detach: float | None = None, use_pool: bool = True,
                 pool_workers: int | None = None):
        self.store = store
        self.project_dir = project_dir
        self.last_detach = last_detach
        self.use_pool = use_pool
        self.pool_workers = pool_workers or max(1, min(2, os.cpu_count() or 1))
        self.focus: str | None = None  # the selected run: loaded first, its log read
        self.runner = RunnerInfo()
        self.local_config_error: str | None = None
        self._last_holder: dict[str, Any] | None = None  # the runner we saw last (or started)
        self._lock = threading.Lock()
        self._out = Outbox()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        self._batches: dict[Future, list[str]] = {}  # a batch of small files in the pool: its runs
        self._project_events_offset = 0
        self._initial_done = False
        self._last_scan = self._last_runner = self._last_beat = 0.0
        self.ticks = 0
        self.backlog = False  # in-thread reading left for the next round
        self.bulk_after = 0.0  # bulk loading waits for the first chart (or this monotonic time)

    # ---------------------------------------------------------------- UI side

    def drain(self) -> Outbox:
        with self._lock:
            out, self._out = self._out, Outbox()
        return out

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def release_bulk(self) -> None:
        """The first chart is up: bulk loading may start."""
        self.bulk_after = 0.0
        self._wake.set()

    def poke(self) -> None:
        """Tick now (the selection changed, a request was sent)."""
        self._wake.set()

    def note_holder(self, holder: dict[str, Any] | None) -> None:
        """A runner we just started: watched from now on, even if it dies before the next tick."""
        if holder and holder.get("pid"):
            self._last_holder = holder
        self._wake.set()

    # ---------------------------------------------------------------- thread side

    def run(self, notify: Callable[[], None], busy: Callable[[], bool] = lambda: False) -> None:
        """Tick until stopped. An exception in a tick ends this call (the screen's worker-error
        handler shows it and calls `run` again); the pool is kept for that next call."""
        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                if self.tick():
                    while busy() and not self._stop.is_set():  # back-pressure
                        time.sleep(0.05)
                    notify()
                # reading left over (many files on first attach): the next round after a breath,
                # not a whole tick later (else a backlog is read at TICK_WORK_S/TICK_S of the pace)
                wait = BACKLOG_PAUSE_S if self.backlog else TICK_S - (time.monotonic() - t0)
                self._wake.wait(max(0.0, wait))
                self._wake.clear()
        finally:
            if self._stop.is_set():
                self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def tick(self) -> bool:
        """One round of refreshing; True when something changed for the UI."""
        self.ticks += 1
        now = time.monotonic()
        out = Outbox()
        first = not self._initial_done
        if self.project_dir is not None:
            if now - self._last_runner >= RUNNER_EVERY_S or first:
                self._last_runner = now
                out.runner = self._refresh_runner(out)
            if now - self._last_beat >= HEARTBEAT_EVERY_S:
                self._last_beat = now
                self._heartbeat()
        if now - self._last_scan >= SCAN_EVERY_S or first:
            self._last_scan = now
            new = self.store.scan()
            out.dirty.update(new)
            if first:
                for key in self.store.order:  # table from the files' tails: the first paint
                    run = self.store.runs[key]
                    self.store.refresh_meta(run, want_log=key == self.focus)
                    self.store.peek(run)
                    self._file_alerts(run.alerts, out, initial=True)
                if self.focus is None and self.store.order:  # the first running run, else the latest
                    self.focus = initial_focus(self.store.runs, self.store.order)
                if self.focus in self.store.runs:
                    focus = self.store.runs[self.focus]
                    if focus.tail is not None and focus.tail.remaining() > POOL_MIN_BYTES:
                        self.store.preview(focus)
                out.first = True
                self._initial_done = True
                self.bulk_after = time.monotonic() + 1.5
                self._emit(out)
                return True
        self._harvest(out)
        deadline = time.monotonic() + TICK_WORK_S
        self.backlog = False
        batch: list[RunData] = []
        batch_bytes = 0
        batching = self.use_pool and sum(1 for r in self.store.runs.values()
                                         if not r.loaded and not r.loading) > BATCH_MIN_RUNS
        for key in self._ordered_keys():
            run = self.store.runs[key]
            changed, events = self.store.refresh_meta(run, want_log=key == self.focus)
            if changed:
                out.dirty.add(key)
            if events:
                self._file_alerts([e for e in events if is_alert(e)], out, initial=False)
            if run.loading:
                continue
            tail = run.tail
            assert tail is not None
            left = tail.remaining()
            if left > POOL_MIN_BYTES and not run.loaded:
                if time.monotonic() < self.bulk_after:  # the first paint goes first
                    self.backlog = True
                    continue
                if self._submit(run):
                    continue
            elif batching and left > 0 and not run.loaded and key != self.focus:
                if time.monotonic() < self.bulk_after:
                    self.backlog = True
                    continue
                batch.append(run)
                batch_bytes += left
                if batch_bytes >= BATCH_BYTES:
                    self._submit_batch(batch)
                    batch, batch_bytes = [], 0
                continue
            if left > 0 and time.monotonic() > deadline:
                self.backlog = True
                continue
            while left > 0 and not self._stop.is_set():
                if time.monotonic() > deadline:
                    self.backlog = True
                    break
                got, evs = self.store.tail(run, THREAD_CHUNK)
                if got:
                    out.dirty.add(key)
                if evs:
                    self._file_alerts([e for e in evs if is_alert(e)], out, initial=not run.loaded)
                if not got:
                    break
                left = tail.remaining()
                time.sleep(0.002)  # let the event loop have the GIL
            if left == 0 and not run.loaded:
                run.loaded = True
                out.dirty.add(key)
        if batch:
            self._submit_batch(batch)
        if out.dirty or out.alerts or out.missed or out.runner or out.history or out.gone:
            self._emit(out)
            return True
        return False

    def _ordered_keys(self) -> list[str]:
        keys = list(self.store.order)
        if self.focus in self.store.runs:
            keys.remove(self.focus)
            keys.insert(0, self.focus)
        return keys

    def _emit(self, out: Outbox) -> None:
        with self._lock:
            o = self._out
            o.dirty |= out.dirty
            o.alerts += out.alerts
            o.missed += out.missed
            o.history += out.history
            o.runner = o.runner or out.runner
            o.gone += out.gone
            o.first = o.first or out.first

    def _file_alerts(self, alerts: list[dict[str, Any]], out: Outbox, initial: bool) -> None:
        for a in alerts:
            if not initial:
                out.alerts.append(a)
            elif self.last_detach is not None and (a.get("time") or 0) > self.last_detach:
                out.missed.append(a)
            else:
                out.history.append(a)

    # ---------------------------------------------------------------- bulk loads

    def _detect_arg(self, run: RunData) -> Any:
        return None if self.store.detect_files and run.is_file else False

    def _pool_submit(self, fn: Callable, *args: Any) -> Future | None:
        """A job for the pool (started on first use); None where there is no pool."""
        if not self.use_pool:
            return None
        try:
            if self._pool is None:
                with _real_stdio():  # the helper processes start now; they need real descriptors
                    ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
                    self._pool = ProcessPoolExecutor(self.pool_workers, mp_context=ctx, initializer=_nice)
                    return self._pool.submit(fn, *args)
            return self._pool.submit(fn, *args)
        except Exception:  # noqa: BLE001 — no pool here: read in this thread instead
            self.use_pool = False
            return None

    def _submit(self, run: RunData) -> bool:
        fut = self._pool_submit(load_full, *self.store.bulk_args(run, self._detect_arg(run)))
        if fut is None:
            return False
        run.loading = True
        self._futures[run.key] = fut
        return True

    def _submit_batch(self, runs: list[RunData]) -> bool:
        fut = self._pool_submit(load_batch, [self.store.bulk_args(r, self._detect_arg(r)) for r in runs])
        if fut is None:
            return False
        for r in runs:
            r.loading = True
        self._batches[fut] = [r.key for r in runs]
        return True

    def _harvest(self, out: Outbox) -> None:
        for key, fut in list(self._futures.items()):
            if not fut.done():
                continue
            del self._futures[key]
            run = self.store.runs.get(key)
            if run is None:
                continue
            try:
                res: LoadResult = fut.result()
            except Exception:  # noqa: BLE001 — a broken pool: fall back to the thread
                run.loading = False
                self.use_pool = False
                continue
            events = self.store.apply_load(run, res)
            self._file_alerts([e for e in events if e.get("alert")], out, initial=True)
            out.dirty.add(key)
        for fut, keys in list(self._batches.items()):
            if not fut.done():
                continue
            del self._batches[fut]
            try:
                results: list[LoadResult] = fut.result()
            except Exception:  # noqa: BLE001 — a broken pool: these runs are read in the thread
                results = []
                self.use_pool = False
            got = {r.key: r for r in results}
            for key in keys:
                run = self.store.runs.get(key)
                if run is None:
                    continue
                res = got.get(key)
                if res is None:
                    run.loading = False
                    continue
                events = self.store.apply_load(run, res)
                self._file_alerts([e for e in events if e.get("alert")], out, initial=True)
                out.dirty.add(key)
        if not self._futures and not self._batches and self._pool is not None and self._initial_done:
            if all(r.loaded for r in self.store.runs.values()):
                self._pool.shutdown(wait=False)
                self._pool = None

    def loading_count(self) -> int:
        return sum(1 for r in list(self.store.runs.values()) if not r.loaded)

    # ---------------------------------------------------------------- the runner

    def _refresh_runner(self, out: Outbox) -> bool:
        from ...paths import ProjectPaths
        from ...runner.lock import runner_holder

        assert self.project_dir is not None
        before = (self.runner.holder, self.runner.config_error, self.runner.status.get("counts"),
                  self.runner.status.get("disk_full"), self.runner.status.get("gpus"))
        holder = runner_holder(self.project_dir)
        files = ProjectPaths(Path(self.project_dir))
        status = read_json(files.runner_status, {}) or {}
        gone = self._gone(self._last_holder, holder, status)
        if holder and holder.get("pid") not in (None, "?"):
            self._last_holder = holder
        elif not holder:
            self._last_holder = None
        self.runner.holder = holder
        self.runner.status = status
        if holder:
            self.runner.config_error = status.get("config_error")
            rd = status.get("runs_dir")
            if rd and Path(rd) not in self.store.runs_dirs:
                self.store.set_runs_dir(Path(rd))
        else:
            self.runner.config_error = self.local_config_error
        evs, self._project_events_offset = read_events(files.events,
                                                       self._project_events_offset)
        after = (self.runner.holder, self.runner.config_error, self.runner.status.get("counts"),
                 self.runner.status.get("disk_full"), self.runner.status.get("gpus"))
        if gone is not None:
            out.gone.append(gone)
        return before != after or bool(evs) or gone is not None

    @staticmethod
    def _gone(prev: dict[str, Any] | None, holder: dict[str, Any] | None,
              status: dict[str, Any]) -> RunnerGone | None:
        """The runner we saw is no longer the one holding the lock: how did it go? A clean exit
        writes runner.json with running=false (and its pid) before it lets go of the lock."""
        if not prev:
            return None
        pid = prev.get("pid")
        if holder and str(holder.get("pid")) in (str(pid), "?"):
            return None  # the same runner (or one whose lock file is being written)
        clean = status.get("running") is False and str(status.get("pid")) == str(pid)
        return RunnerGone(prev, clean, status, successor=holder or None)

    def _heartbeat(self) -> None:
        from ...runner.control import touch_heartbeat

        assert self.project_dir is not None
        try:
            touch_heartbeat(self.project_dir)
        except OSError:
            pass
