"""`from grokwatch import log`: report metrics from your own training script.

    from grokwatch import log
    log(step=100, train_loss=0.31, test_acc=0.52)

Standard library only (importing it never imports torch or Textual). `log()` only appends to
an in-memory buffer (a few microseconds); a daemon thread hands the buffer on at least once a
second, and everything left is handed on when the interpreter exits.

Where the records go:

* **Started by grokwatch** (a `kind = "command"` experiment): the worker that wraps the script
  sets `GROKWATCH_CLIENT_CHANNEL`, a pipe (a FIFO in a private temp directory) the worker reads;
  records travel as JSON lines and the worker writes them into the run's `metrics.csv`.
* **Not started by grokwatch**: the first `log()` creates a run directory of its own,
  `./grokwatch-logs/<script>-<YYYYmmdd-HHMMSS>/` with `config.json`, `status.json` and
  `metrics.csv` (says so once on stderr); `grokwatch view grokwatch-logs/...` opens it later.

Values may be Python numbers, numpy scalars or one-element tensors (converted when `log()` is
called, so a tensor updated in place later does not change what was logged). A value that is
not a number is rejected on its own (with a warning); the rest of the record is kept. Records
that share a step are merged into one row; steps must increase (`step=None` means "the next
step"). Metric names pass through `grokwatch.columns` (`val_acc` becomes `test_acc`).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .merge import NOT_A_NUMBER, to_number

ENV_CHANNEL = "GROKWATCH_CLIENT_CHANNEL"
ENV_RUN_DIR = "GROKWATCH_RUN_DIR"
ENV_RUN_ID = "GROKWATCH_RUN_ID"
ENV_STDOUT_PREFIX = "GROKWATCH_STDOUT_PREFIX"
META_KEY = "__grokwatch__"  # a record {"__grokwatch__": {"total_steps": N}} carries run facts
FLUSH_EVERY_S = 0.5
MAX_BUFFER = 100_000  # records; beyond this log() hands them on itself (backpressure)
PIPE_CHUNK = 4096  # PIPE_BUF on Linux: writes up to this size never interleave
_monotonic = time.monotonic

__all__ = ["log", "init", "finish", "flush", "Run", "to_number"]


# ----------------------------------------------------------------------------- values


class _Coerced(dict):
    """The metrics of a `log()` call that held something other than floats and ints (the
    encoders' fast paths take plain dicts only)."""

    __slots__ = ()


def _coerce_for_log(metrics: dict[str, Any]) -> dict[str, Any]:
    """Convert tensors and numpy scalars now (they may change in place later); leave
    anything else for the row merger to accept or reject."""
    out = _Coerced()
    for k, v in metrics.items():
        t = type(v)
        if t is float or t is int or t is str or v is None:
            out[k] = v
            continue
        n = to_number(v)
        if n is NOT_A_NUMBER:  # kept (as text) for the row merger to reject, with a warning
            out[k] = v if isinstance(v, (str, int, float)) else repr(v)
        else:
            out[k] = n
    return out


# ----------------------------------------------------------------------------- encoding

_JSON_KEYS: dict[str, str] = {}
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_value(v: Any) -> str:
    t = type(v)
    if t is float:
        r = repr(v)
        return _SPECIAL.get(r, r)
    if t is int:
        return str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    return json.dumps(v if isinstance(v, (str, int, float)) else repr(v))


_TEMPLATES: dict[tuple, str] = {}


def _template(keys: tuple) -> str:
    """'{"step":%r,"k1":%r,...}' for records whose step is an int and values floats/ints."""
    parts = ['{"step":%r']
    for k in keys:
        jk = _JSON_KEYS.get(k)
        if jk is None:
            jk = _JSON_KEYS[k] = json.dumps(str(k))
        parts.append(f",{jk}:%r")
    parts.append("}\n")
    tmpl = "".join(parts).replace("%r", "\0").replace("%", "%%").replace("\0", "%r")
    if len(_TEMPLATES) < 4096:
        _TEMPLATES[keys] = tmpl
    return tmpl


def _encode_slow(step: Any, metrics: dict[str, Any]) -> str:
    parts = ['{"step":', "null" if step is None else _json_value(step)]
    for k, v in metrics.items():
        jk = _JSON_KEYS.get(k)
        if jk is None:
            jk = _JSON_KEYS[k] = json.dumps(str(k))
        parts.append(f",{jk}:{_json_value(v)}")
    parts.append("}\n")
    return "".join(parts)


def encode_records(records: list) -> str:
    """JSON lines (Python's json reads NaN/Infinity), one per (step, metrics, time) record.

    The common record — an int step and plain float/int values — is formatted through a
    template cached per set of names; anything else (and any line that may hold a NaN or an
    infinity, whose repr is not JSON) goes the careful way."""
    templates = _TEMPLATES
    out = []
    for step, metrics, _t in records:
        if type(step) is int and type(metrics) is dict:
            keys = tuple(metrics)
            tmpl = templates.get(keys) or _template(keys)
            line = tmpl % (step, *metrics.values())
            if "nan" in line or "inf" in line:
                line = _encode_slow(step, metrics)
        else:
            line = _encode_slow(step, metrics)
        out.append(line)
    return "".join(out)


def _chunks(text: bytes, limit: int = PIPE_CHUNK) -> list[bytes]:
    """Split at line ends into pieces of at most `limit` bytes (a longer line goes alone)."""
    if len(text) <= limit:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = start + limit
        if end >= len(text):
            out.append(text[start:])
            break
        cut = text.rfind(b"\n", start, end)
        if cut < start:
            cut = text.find(b"\n", end)
            cut = len(text) - 1 if cut < 0 else cut
        out.append(text[start:cut + 1])
        start = cut + 1
    return out


# ----------------------------------------------------------------------------- sinks


class _ChannelSink:
    """Hands records to the wrapping worker through its FIFO (or a pipe fd)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.fd: int | None = None
        self.broken = False

    def open(self) -> None:
        kind, _, where = self.spec.partition(":")
        if kind == "fd":
            self.fd = int(where)
            os.fstat(self.fd)
            return
        if kind != "fifo":
            raise OSError(f"unknown channel {self.spec!r}")
        fd = os.open(where, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        os.set_blocking(fd, True)  # a full pipe waits for the worker instead of losing records
        self.fd = fd

    def write(self, records: list) -> None:
        if self.broken or not records:
            return
        data = encode_records(records).encode("utf-8")
        try:
            for chunk in _chunks(data):
                view = memoryview(chunk)
                while view:
                    n = os.write(self.fd, view)  # type: ignore[arg-type]
                    view = view[n:]
        except OSError as exc:
            self.broken = True
            print(f"grokwatch: the worker's metrics channel is gone ({exc.strerror or exc}); "
                  f"further log() records are dropped", file=sys.stderr, flush=True)

    def meta(self, facts: dict[str, Any]) -> None:
        if self.fd is None or self.broken:
            return
        try:
            os.write(self.fd, (json.dumps({META_KEY: facts}) + "\n").encode())
        except OSError:
            self.broken = True

    def close(self, failed: str | None = None) -> None:
        if self.fd is not None and self.spec.startswith("fifo:"):
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None


class _StdoutSink:
    """Prefixed JSON lines on stdout, for a worker that could not give us a channel."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self) -> None:
        pass

    def write(self, records: list) -> None:
        if not records:
            return
        lines = encode_records(records).splitlines(keepends=True)
        try:
            sys.stdout.write("".join(f"{self.prefix} {line}" for line in lines))
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def meta(self, facts: dict[str, Any]) -> None:
        try:
            print(f"{self.prefix} {json.dumps({META_KEY: facts})}", flush=True)
        except (OSError, ValueError):
            pass

    def close(self, failed: str | None = None) -> None:
        pass


# ----------------------------------------------------------------------------- the run


class Run:
    """One stream of metrics. `log()` is cheap and thread-safe; a daemon thread hands the
    buffer on every `flush_every_s`; `close()` (also at interpreter exit) hands on the rest.

    Under grokwatch (GROKWATCH_CLIENT_CHANNEL set) records go to the wrapping worker; otherwise
    to a run directory of its own under `dir` (default ./grokwatch-logs/).
    """

    def __init__(self, name: str | None = None, params: dict[str, Any] | None = None,
                 total_steps: int | None = None, dir: str | os.PathLike | None = None,
                 flush_every_s: float = FLUSH_EVERY_S):
        self.name = name
        self.params = params
        self.total_steps = total_steps
        self.base_dir = dir
        self.flush_every_s = flush_every_s
        # (step, metrics, time) records; deque.append and popleft are atomic, so log() takes
        # no lock and a record appended while flush() runs is handed on now or next time
        self._buf: collections.deque = collections.deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: Any = None
        self._closed = False
        self._failed: str | None = None
        self._t0 = time.monotonic()
        self._pid = os.getpid()

    # --- the hot path

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """Record metrics for `step` (None: the step after the last one)."""
        self._append(step, metrics)

    def _append(self, step: int | None, metrics: dict[str, Any]) -> None:
        """`Run.log` and module-level `log` both: the keyword arguments are packed once, by
        the caller's call."""
        for v in metrics.values():
            t = type(v)
            if t is not float and t is not int:
                metrics = _coerce_for_log(metrics)
                break
        buf = self._buf
        buf.append((step, metrics, _monotonic()))
        if self._thread is None:
            self._start()
        elif len(buf) >= MAX_BUFFER:
            self.flush()

    # --- plumbing

    @property
    def dir(self) -> Path | None:
        """The run directory (this one's own, or the wrapping worker's)."""
        sink_dir = getattr(self._sink, "dir", None)  # a run directory of its own (local_run)
        if sink_dir is not None:
            return sink_dir
        env = os.environ.get(ENV_RUN_DIR)
        return Path(env) if env else None

    def _start(self) -> None:
        with self._flush_lock:
            if self._thread is not None or _exiting:
                return
            self._closed = False
            self._wake = threading.Event()
            self._sink = self._open_sink()
            if self.total_steps is not None:
                self._sink.meta({"total_steps": int(self.total_steps)})
            self._thread = threading.Thread(target=self._loop, name="grokwatch-log", daemon=True)
            self._thread.start()
            _register_exit(self)

    def _open_sink(self) -> Any:
        channel = os.environ.get(ENV_CHANNEL)
        if channel:
            sink = _ChannelSink(channel)
            try:
                sink.open()
                return sink
            except (OSError, ValueError) as exc:
                prefix = os.environ.get(ENV_STDOUT_PREFIX)
                if prefix:
                    print(f"grokwatch: cannot open the worker's channel ({exc}); reporting on stdout",
                          file=sys.stderr, flush=True)
                    return _StdoutSink(prefix)
                print(f"grokwatch: cannot open the worker's channel ({exc}); logging locally",
                      file=sys.stderr, flush=True)
        from .local_run import LocalSink

        sink = LocalSink(self.name, self.params, self.total_steps, self.base_dir, self._t0)
        sink.open()
        return sink

    def _loop(self) -> None:
        while not self._wake.wait(self.flush_every_s):
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 — logging must never kill the script
                print(f"grokwatch: log flush failed: {exc}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        """Hand every buffered record on now."""
        with self._flush_lock:
            if self._sink is None:
                return
            buf = self._buf
            popleft = buf.popleft
            records = [popleft() for _ in range(len(buf))]
            if records:
                self._sink.write(records)
            tick = getattr(self._sink, "tick", None)
            if tick is not None:
                tick()

    def set_total_steps(self, total_steps: int) -> None:
        """How many steps the script will run (progress and ETA)."""
        self.total_steps = int(total_steps)
        if self._sink is not None:
            with self._flush_lock:
                self._sink.meta({"total_steps": self.total_steps})

    def close(self) -> None:
        """Hand on everything and finish (a run directory of our own is marked done)."""
        if self._thread is None or self._closed or os.getpid() != self._pid:
            return
        self.flush()
        with self._flush_lock:
            self._closed = True
            self._wake.set()
            if self._sink is not None:
                self._sink.close(self._failed)
            self._sink = None
            self._thread = None  # a later log() starts afresh (a new run directory)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self._failed = f"{exc_type.__name__}: {exc}"
        self.close()

    def _after_fork(self) -> None:
        """A forked child (e.g. a DataLoader worker) starts afresh: no inherited records,
        locks or thread; it opens its own sink if it ever logs."""
        self._buf = collections.deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._sink = None
        self._closed = False
        self._pid = os.getpid()


# ----------------------------------------------------------------------------- module level

_default: Run | None = None
_default_lock = threading.Lock()
_open_runs: list[Run] = []
_exit_registered = False
_uncaught: str | None = None
_exiting = False


def _register_exit(run: Run) -> None:
    global _exit_registered
    with _default_lock:
        if run not in _open_runs:
            _open_runs.append(run)
        if not _exit_registered:
            _exit_registered = True
            atexit.register(_at_exit)
            _hook_excepthook()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    global _exiting
    _exiting = True
    for run in list(_open_runs):
        if _uncaught and run._failed is None:
            run._failed = _uncaught
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001
            print(f"grokwatch: could not flush metrics at exit: {exc}", file=sys.stderr)


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for run in _open_runs:
        run._after_fork()
    _open_runs.clear()


def _hook_excepthook() -> None:
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        global _uncaught
        if not issubclass(exc_type, KeyboardInterrupt):
            _uncaught = f"{exc_type.__name__}: {exc}"
        else:
            _uncaught = "KeyboardInterrupt"
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def _get_default() -> Run:
    global _default
    run = _default
    if run is None:
        with _default_lock:
            if _default is None:
                _default = Run()
            run = _default
    return run


def init(name: str | None = None, params: dict[str, Any] | None = None,
         total_steps: int | None = None, dir: str | os.PathLike | None = None) -> Run:
    """Configure the default run before the first `log()` (all optional).

    `name` and `params` describe a run directory of our own (not started by grokwatch; under
    grokwatch the experiment's config says these); `total_steps` feeds progress and ETA in both
    cases; `dir` replaces ./grokwatch-logs/. Returns the `Run`, usable as a context manager.
    """
    global _default
    with _default_lock:
        if _default is not None and _default._thread is not None:
            run = _default
            if total_steps is not None:
                run.set_total_steps(total_steps)
            return run
        _default = Run(name=name, params=params, total_steps=total_steps, dir=dir)
        return _default


def log(step: int | None = None, **metrics: Any) -> None:
    """Record metrics for `step` (None: the step after the last one):
    `log(step=100, train_loss=0.3, test_acc=0.5)`. Cheap (an append), thread-safe; the records
    are handed on at least every half second and at exit. See the module's docstring."""
    run = _default
    if run is None:
        run = _get_default()
    run._append(step, metrics)


def flush() -> None:
    """Hand every buffered record on now (normally done every second and at exit)."""
    if _default is not None:
        _default.flush()


def finish() -> None:
    """Flush and close the default run (a later `log()` starts a new one)."""
    global _default
    if _default is not None:
        _default.close()
        with _default_lock:
            if _default in _open_runs:
                _open_runs.remove(_default)
            _default = None
