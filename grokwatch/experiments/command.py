"""`kind = "command"`: run your own training script as a grokwatch run.

    [[experiment]]
    name = "my-mlp"
    kind = "command"
    command = ["python", "train.py", "--lr", "{lr}", "--seed", "{seed}"]
    [experiment.sweep]
    lr = [1e-3, 3e-3]

The worker starts the command as its child (in its own process group) and stays its parent, so
it keeps reading the command's output even when the runner restarts. It is still the one writer
of `metrics.csv`; the command reports metrics in any of three ways, all landing there:

* `from grokwatch import log; log(step=..., train_loss=...)` — the client hands its records to
  this worker through a FIFO named in `GROKWATCH_CLIENT_CHANNEL`;
* lines on stdout that start with `stdout_prefix` (default `grokwatch:`) followed by a JSON
  object, e.g. `grokwatch: {"step": 100, "test_acc": 0.5}`; every other line goes to
  `worker.log` untouched;
* `metrics_file = "log.csv"`: a CSV the command writes itself, tailed and mapped by
  `grokwatch.columns` (`val_acc` -> `test_acc`, `epoch` -> `step`; `column_map` overrides).

SIGTERM (stop) and SIGUSR1 (requeue) are forwarded to the command; after `stop_grace_s` its
process group is killed. The command's exit status decides `done` or `failed`. Command runs
keep no checkpoint of their own, so a retry restarts the command from step 0.

Standard library only: importing this module (config validation, the TUI) stays cheap.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..columns import is_accuracy
from ..tail import PERCENT_ABOVE
from .spec import KindSpec, Param, ParamError, did_you_mean

DEFAULT_PREFIX = "grokwatch:"
RESERVED = ("seed", "run_dir", "run_id", "device", "threads", "experiment")
POLL_S = 0.2
METRICS_FILE_POLL_S = 0.5
MAX_PARTIAL_LINE = 1 << 16
SETTLE_S = 1.5  # the client hands records on every 0.5 s; stdout lines come at once
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CommandFailed(Exception):
    """The command exited with a non-zero status (the run is `failed`). Its own traceback is
    already in worker.log, so the worker shows only this message."""

    show_traceback = False


# ----------------------------------------------------------------------------- placeholders


def placeholders(text: str) -> list[str]:
    """The `{name}` placeholders in `text` (`{{` and `}}` are literal braces)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)]


def format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def substitute(text: str, values: dict[str, Any]) -> str:
    """Replace `{name}` with values[name]; `{{`/`}}` become `{`/`}`; any other brace is kept."""

    def repl(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        name = m.group(1)
        if name not in values:
            raise KeyError(name)
        return format_value(values[name])

    return _PLACEHOLDER.sub(repl, text)


def _texts(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, text) of every string that takes placeholders."""
    out: list[tuple[str, str]] = []
    for item in params.get("command") or []:
        if isinstance(item, str):
            out.append(("command", item))
    for k, v in (params.get("env") or {}).items():
        if isinstance(v, str):
            out.append(("env", v))
    for key in ("cwd", "metrics_file"):
        if isinstance(params.get(key), str):
            out.append((key, params[key]))
    if isinstance(params.get("total_steps"), str):
        out.append(("total_steps", params["total_steps"]))
    return out


def user_params(params: dict[str, Any]) -> dict[str, Any]:
    """The user's own hyperparameters (keys the kind does not define)."""
    return {k: v for k, v in params.items() if k not in SPEC.params}


# ----------------------------------------------------------------------------- validation


def _check_command(value: Any) -> str | None:
    if isinstance(value, str):
        import shlex

        try:
            parts = shlex.split(value)
        except ValueError:
            parts = value.split()
        return (f"must be a list of strings (the program and its arguments, no shell), e.g. "
                f"command = {json.dumps(parts or ['python', 'train.py'])}")
    if not value:
        return ("must list the program and its arguments, e.g. "
                "command = [\"python\", \"train.py\", \"--lr\", \"{lr}\"]")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return (f"must be a list of strings; item {i + 1} is {type(item).__name__} ({item!r}): "
                    f"quote it, e.g. \"{item}\"")
    if not value[0].strip():
        return "the program (the first item) must not be empty"
    return None


def _check_env(value: Any) -> str | None:
    for k, v in value.items():
        if not isinstance(v, str):
            return (f"must be a table of strings; {k} is {type(v).__name__} ({v!r}): "
                    f"quote it, e.g. {k} = \"{v}\"")
        if "=" in k or not k:
            return f"{k!r} is not an environment variable name"
    return None


def _check_column_map(value: Any) -> str | None:
    from ..columns import ColumnMapError, parse_column_map

    try:
        parse_column_map(value)
    except ColumnMapError as exc:
        return (f"maps a column of your CSV or record to a grokwatch name, e.g. "
                f"column_map = {{ \"acc_valid\" = \"test_acc\" }} (\"test_acc%\" for a column in "
                f"percent, or {{ name = \"test_acc\", scale = 0.01 }}); {exc}")
    return None


def _check_total_steps(value: Any) -> str | None:
    if isinstance(value, str) and not re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*\}", value.strip()):
        return f"must be an integer or one placeholder such as \"{{steps}}\", not {value!r}"
    if isinstance(value, int) and value < 1:
        return f"must be >= 1, got {value}"
    return None


def _validate(params: dict[str, Any]) -> None:
    if params.get("command") is None:
        raise ParamError("command", "is required for kind \"command\": the program and its "
                         "arguments, e.g. command = [\"python\", \"train.py\", \"--seed\", \"{seed}\"]")
    problem = _check_command(params["command"])  # (Param does not run `check` on lists)
    if problem:
        raise ParamError("command", problem)
    own = user_params(params)
    for key in own:
        if key in RESERVED:
            raise ParamError(key, f"is set by grokwatch ({{{key}}} is always available); "
                             + ("use seeds = [...] to choose seeds" if key == "seed"
                                else "choose another name"))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ParamError(key, "parameter names of a command experiment are used as {name} "
                             "placeholders: letters, digits and '_' only")
    known = set(own) | set(RESERVED)
    if params.get("total_steps") is not None:
        known.add("total_steps")
    used: set[str] = set()
    for where, text in _texts(params):
        for name in placeholders(text):
            if name not in known:
                hint = did_you_mean(name, sorted(known))
                raise ParamError(where, f"the placeholder {{{name}}} has no value{hint}: set it in "
                                 f"[experiment.params] or [experiment.sweep], or use one of "
                                 f"{', '.join('{' + k + '}' for k in RESERVED)} (write {{{{ and }}}} "
                                 f"for literal braces)")
            used.add(name)
    if isinstance(params.get("total_steps"), str):
        name = placeholders(params["total_steps"])[0]
        value = own.get(name)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ParamError("total_steps", f"{{{name}}} must be a positive integer parameter to give "
                             f"total_steps, not {value!r}")
    for key in own:
        if key not in used:
            raise ParamError(key, f"is set (in params or sweep) but never used: the command only "
                             f"sees values written as {{{key}}} in command or env, e.g. "
                             f"command = [..., \"--{key.replace('_', '-')}\", \"{{{key}}}\"]; "
                             f"use it there or remove it")


def shared_metrics_file(runs: list[tuple[str, int, dict[str, Any]]]) -> str | None:
    """The problem, when several runs of one experiment (each given as (run_id, seed, params))
    would write one `metrics_file`: they would clobber each other's log. A path is the run's own
    when its cwd or metrics_file holds {run_dir}, {run_id}, {seed} or a parameter that differs
    between the runs. Checked once per experiment, at config load."""
    seen: dict[str, str] = {}
    for run_id, seed, params in runs:
        if not params.get("metrics_file"):
            return None
        values = dict(user_params(params))
        values.update({"seed": seed, "run_id": run_id, "run_dir": f"<runs_dir>/{run_id}",
                       "device": "{device}", "threads": "{threads}", "experiment": ""})
        total = _describe(params).get("total_steps")
        if total is not None:
            values["total_steps"] = total
        try:
            mf = substitute(params["metrics_file"], values)
            cwd = substitute(params.get("cwd") or "", values)
        except KeyError:  # an unknown placeholder: _validate says so
            return None
        path = mf if os.path.isabs(os.path.expanduser(mf)) else os.path.join(cwd, mf)
        path = os.path.normpath(os.path.expanduser(path))
        if path in seen:
            return (f"metrics_file {params['metrics_file']!r} is the same file for runs "
                    f"{seen[path]} and {run_id}, which would overwrite each other's log; put the "
                    f"run's own directory in it, e.g. metrics_file = \"{{run_dir}}/"
                    f"{os.path.basename(mf) or 'metrics.csv'}\" (and have the command write there: "
                    f"pass \"{{run_dir}}\" in command)")
        seen[path] = run_id
    return None


def _describe(params: dict[str, Any]) -> dict[str, Any]:
    total = params.get("total_steps")
    if isinstance(total, str):
        total = params.get(placeholders(total)[0])
    return {"total_steps": int(total)} if isinstance(total, int) and total > 0 else {}


_KEYS = ("command", "cwd", "env", "metrics_file", "column_map", "stdout_prefix", "total_steps",
         "stop_grace_s")

SPEC = KindSpec(
    name="command",
    module=__name__,
    doc="Your own training script, run, stopped, retried and reported like a built-in run.",
    params={
        "command": Param(None, (list, str), "the program and its arguments; {name} takes a "
                         "parameter, {seed}, {run_dir} or {run_id}", nullable=True),
        "cwd": Param("", str, "working directory, relative to the experiments file's directory "
                     "(default: that directory)"),
        "env": Param({}, dict, "extra environment variables (strings; placeholders allowed)",
                     check=_check_env),
        "metrics_file": Param("", str, "a CSV the command writes (relative to cwd), tailed into "
                              "metrics.csv"),
        "column_map": Param({}, dict, "source column or metric name -> grokwatch name (\"test_acc%\": "
                            "the metrics_file column is in percent; or { name = ..., scale = ... })",
                            check=_check_column_map),
        "stdout_prefix": Param(DEFAULT_PREFIX, str, "stdout lines starting with this hold a JSON "
                               "metrics record (\"\" turns this off)"),
        "total_steps": Param(None, (int, str), "the last step, for progress and ETA (an integer "
                             "or a placeholder such as \"{steps}\")", nullable=True,
                             check=_check_total_steps),
        "stop_grace_s": Param(10.0, float, "seconds between forwarding a stop signal and killing "
                              "the command", min=0.0, max=3600.0),
    },
    validate=_validate,
    describe=_describe,
    top_level=_KEYS,
    open_params=True,
    uses_gpu=True,  # a script may use one; `gpu = false` in its [[experiment]] says it never does
)


# ----------------------------------------------------------------------------- running


def _placeholder_values(ctx: Any) -> dict[str, Any]:
    values = dict(user_params(ctx.params))
    values.update({"seed": ctx.seed, "run_dir": str(ctx.run_dir), "run_id": ctx.paths.run_id,
                   "device": ctx.device, "threads": ctx.threads,
                   "experiment": ctx.config.get("experiment", "")})
    total = _describe(ctx.params).get("total_steps")
    if total is not None:
        values["total_steps"] = total
    return values


def _base_dir(ctx: Any) -> Path:
    exp_file = ctx.config.get("experiment_file")
    return Path(exp_file).parent if exp_file else Path.cwd()


def _pdeathsig_setup() -> Any:
    """A preexec function that makes the kernel kill the command if this worker dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(137)

    return setup


class _Command:
    """The running command and everything read from it."""

    def __init__(self, ctx: Any):
        from ..merge import RowMerger

        self.ctx = ctx
        p = ctx.params
        self.values = _placeholder_values(ctx)
        self.argv = [substitute(a, self.values) for a in p["command"]]
        if self.argv[0] in ("python", "python3"):
            self.argv[0] = sys.executable  # the interpreter grokwatch runs in (has grokwatch)
        base = _base_dir(ctx)
        cwd = Path(substitute(p.get("cwd") or "", self.values)).expanduser() if p.get("cwd") else base
        self.cwd = cwd if cwd.is_absolute() else (base / cwd)
        self.prefix = (p.get("stdout_prefix") if p.get("stdout_prefix") is not None
                       else DEFAULT_PREFIX).encode()
        self.grace_s = float(p.get("stop_grace_s", 10.0))
        self.merger = RowMerger(self._emit, column_map=p.get("column_map") or {}, warn=self._warn,
                                settle_s=SETTLE_S, stamp=self._stamp)
        self.proc: Any = None
        self.partial = {"stdout": b"", "channel": b""}
        self.tmpdir: str | None = None
        self.channel_r: int | None = None
        self.channel_keep: int | None = None
        self.forwarded: str | None = None
        self.kill_at: float | None = None
        self.killed = False
        self.metrics_tail: Any = None
        self.metrics_path: Path | None = None
        if p.get("metrics_file"):
            mf = Path(substitute(p["metrics_file"], self.values)).expanduser()
            self.metrics_path = mf if mf.is_absolute() else self.cwd / mf
        self.rows = 0
        self.bad_told = 0  # unreadable rows of the metrics_file already reported
        self.percent = False  # accuracy in percent: decided once per run (see _units)

    # --- output

    def _warn(self, message: str) -> None:
        self._log_line(f"grokwatch: {message}")

    @staticmethod
    def _log_line(line: str) -> None:
        sys.stdout.flush()
        print(line, file=sys.stderr, flush=True)

    def _stamp(self, arrived: float) -> float:
        """A row's time_s: when its first record arrived, not when it was written (rows wait
        up to SETTLE_S for records of the same step from another source)."""
        ctx = self.ctx
        return round(getattr(ctx, "_time_offset", 0.0) + arrived - getattr(ctx, "_t0", arrived), 3)

    def _emit(self, step: int, metrics: dict[str, float]) -> None:
        if "self" in metrics:  # RunContext.log(self, step, **metrics)
            metrics["self_"] = metrics.pop("self")
        self._units(step, metrics)
        if self.ctx.log(step, **metrics):
            self.rows += 1

    # --- start

    def start(self) -> None:
        if not self.cwd.is_dir():
            raise CommandFailed(f"the command's cwd {self.cwd} is not a directory")
        self.tmpdir = tempfile.mkdtemp(prefix="grokwatch-channel-")
        fifo = os.path.join(self.tmpdir, "channel")
        os.mkfifo(fifo, 0o600)
        self.channel_r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        # our own write end: no EOF (and no busy select) while no client has it open
        self.channel_keep = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        env = dict(os.environ)
        env.update({k: substitute(v, self.values) for k, v in (self.ctx.params.get("env") or {}).items()})
        env.update({
            "GROKWATCH_RUN_DIR": str(self.ctx.run_dir),
            "GROKWATCH_RUN_ID": self.ctx.paths.run_id,
            "GROKWATCH_SEED": str(self.ctx.seed),
            "GROKWATCH_DEVICE": str(self.ctx.device),
            "GROKWATCH_CLIENT_CHANNEL": f"fifo:{fifo}",
        })
        if self.prefix:
            env["GROKWATCH_STDOUT_PREFIX"] = self.prefix.decode()
        else:
            env.pop("GROKWATCH_STDOUT_PREFIX", None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._prepare_metrics_file()
        self._log_line(f"grokwatch: starting {' '.join(_quote(a) for a in self.argv)} (cwd {self.cwd})")
        import subprocess

        try:
            self.proc = subprocess.Popen(self.argv, cwd=str(self.cwd), env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=None, close_fds=True,
                                         start_new_session=True, preexec_fn=_pdeathsig_setup())
        except OSError as exc:
            raise CommandFailed(f"cannot start {self.argv[0]!r}: {exc.strerror or exc} "
                                f"(cwd {self.cwd})") from None
        os.set_blocking(self.proc.stdout.fileno(), False)

    def _prepare_metrics_file(self) -> None:
        if self.metrics_path is None:
            return
        from ..readers.live import LogTail  # a CSV as ever, or TensorBoard, W&B, HF, MLflow...

        # units are decided over all of metrics.csv (_units); column_map's `%` and scales apply here
        tail = LogTail(self.metrics_path, self.ctx.params.get("column_map") or None, percent=False,
                       warn=self._warn)
        if tail.size() > 0:
            # Left by an earlier run: read only what is appended from now on (a rewrite or a
            # new file is noticed by the tail and read from its top).
            tail.skip_to_end()
            self._warn(f"metrics_file {self.metrics_path} existed before the command started; "
                       f"its earlier rows are not read (write it into {{run_dir}} to keep runs apart)")
        self.metrics_tail = tail

    # --- the loop

    def supervise(self) -> int:
        sel = selectors.DefaultSelector()
        assert self.proc is not None and self.proc.stdout is not None
        sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
        sel.register(self.channel_r, selectors.EVENT_READ, "channel")
        open_streams = {"stdout", "channel"}
        next_file_poll = 0.0
        try:
            while True:
                self._handle_signals()
                code = self.proc.poll()
                if code is not None:
                    self._drain(sel)
                    self._poll_metrics_file(final=True)
                    return code
                for key, _ in sel.select(POLL_S):
                    if not self._read(key.data, key.fd) and key.data in open_streams:
                        open_streams.discard(key.data)
                        sel.unregister(key.fd)
                now = time.monotonic()
                if now >= next_file_poll:
                    next_file_poll = now + METRICS_FILE_POLL_S
                    self._poll_metrics_file()
                self.merger.flush_idle(now)
        finally:
            sel.close()

    def _handle_signals(self) -> None:
        wanted = self.ctx.stop_signal
        if wanted is not None and self.forwarded != wanted:
            self.forwarded = wanted
            sig = signal.SIGUSR1 if wanted == "requeue" else signal.SIGTERM
            self._log_line(f"grokwatch: {'requeue' if wanted == 'requeue' else 'stop'} requested; "
                           f"sending {sig.name} to the command (killed in {self.grace_s:g} s if it "
                           f"has not exited)")
            self._send(sig, group=False)
            self.kill_at = time.monotonic() + self.grace_s
        if self.kill_at is not None and not self.killed and time.monotonic() >= self.kill_at:
            self._log_line("grokwatch: the command did not exit in time; killing it")
            self.kill()

    def _send(self, sig: int, group: bool) -> None:
        if self.proc is None:
            return
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                os.kill(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        self.killed = True
        self._send(signal.SIGKILL, group=True)

    def _read(self, stream: str, fd: int) -> bool:
        """Read what is there; False at end of file."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            self._lines(stream, b"", final=True)
            return False
        self._lines(stream, data)
        return True

    def _drain(self, sel: selectors.BaseSelector) -> None:
        """The command has exited: take whatever its pipes still hold (without waiting for a
        grandchild that may keep them open)."""
        for stream, fd in (("stdout", self.proc.stdout.fileno()), ("channel", self.channel_r)):
            for _ in range(10_000):
                try:
                    data = os.read(fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self._lines(stream, data)
            self._lines(stream, b"", final=True)

    def _lines(self, stream: str, data: bytes, final: bool = False) -> None:
        buf = self.partial[stream] + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        if final and rest:
            lines.append(rest)
            rest = b""
        passthrough: list[bytes] = []
        for line in lines:
            if stream == "channel":
                if line.strip():
                    self._record(line, "the log() channel", "channel")
            elif self.prefix and line.startswith(self.prefix):
                self._record(line[len(self.prefix):], "stdout", "stdout")
            else:
                passthrough.append(line + b"\n")
        if stream == "stdout" and len(rest) > MAX_PARTIAL_LINE and not rest.startswith(self.prefix or b"\0"):
            passthrough.append(rest)  # a very long line without a newline: pass it on as is
            rest = b""
        self.partial[stream] = rest
        if passthrough:
            sys.stdout.flush()
            out = sys.stdout.buffer
            out.write(b"".join(passthrough))
            out.flush()

    def _record(self, raw: bytes, where: str, source: str) -> None:
        from ..client import META_KEY

        text = raw.decode("utf-8", "replace").strip()
        try:
            obj = json.loads(text)
        except ValueError as exc:
            shown = text if len(text) <= 80 else text[:77] + "..."
            self.merger.warn("malformed", f"skipped a malformed metric line on {where} ({exc}): "
                             f"{shown!r}", key=shown)
            return
        if not isinstance(obj, dict):
            self.merger.warn("malformed", f"skipped a metric line on {where} that is not a JSON "
                             f"object: {text[:80]!r}")
            return
        meta = obj.pop(META_KEY, None)
        if isinstance(meta, dict):
            self._meta(meta)
        if obj:
            self.merger.add(obj, source=source)

    def _meta(self, meta: dict[str, Any]) -> None:
        total = meta.get("total_steps")
        if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0:
            self.ctx.set_total_steps(int(total))
            if self.ctx.on_status is not None:
                self.ctx.on_status({"step": self.ctx.step, "total_steps": self.ctx.total_steps})

    def _poll_metrics_file(self, final: bool = False) -> None:
        tail = self.metrics_tail
        if tail is None:
            return
        rows = tail.read(final=final)  # final: a last line without its newline counts
        if tail.replaced:  # rewritten from the top: rows already taken come again
            tail.replaced = False
        if tail.bad_lines > self.bad_told:
            self._unreadable(tail)
        for row in rows:
            step = row.get("step")
            last = self.merger.last_step
            if step is not None and last is not None and step <= last:
                continue  # taken before the file was rewritten from its top
            self.merger.add(row, mapped=True, source="metrics_file")

    def _units(self, step: int, metrics: dict[str, float]) -> None:
        """The per-file percent rule over metrics.csv, whatever the source (log(), stdout, the
        metrics_file): the first accuracy above 1 makes every accuracy percent; the rows already
        written are rewritten as fractions, so metrics.csv always holds fractions."""
        acc = [k for k in metrics if is_accuracy(k) and isinstance(metrics[k], (int, float))]
        if not acc:
            return
        if not self.percent:
            over = next((k for k in acc if metrics[k] > PERCENT_ABOVE), None)
            if over is None:
                return
            self.percent = True
            written = [c for c in self.ctx.metrics_columns if is_accuracy(c)]
            n = self.ctx.rescale_metrics(written, 0.01) if written else 0
            self._warn(f"accuracy is in percent ({over} = {metrics[over]:g} at step {step}): every "
                       f"accuracy is divided by 100 (error = 1 - accuracy); the {n} row(s) already "
                       f"in metrics.csv were rewritten as fractions")
        for k in acc:
            metrics[k] = metrics[k] * 0.01

    def _unreadable(self, tail: Any) -> None:
        """Rows of the metrics_file that cannot be read: counted, the first quoted, in
        worker.log and status.json (never dropped in silence)."""
        for _ in range(tail.bad_lines - self.bad_told):
            self.merger.warn("unreadable", f"metrics_file {self.metrics_path}: a row that cannot be "
                             f"read was skipped (the first: {tail.first_bad!r})", key=tail.first_bad)
        self.bad_told = tail.bad_lines
        if self.ctx.on_status is not None:
            self.ctx.on_status({"step": self.ctx.step, "total_steps": self.ctx.total_steps,
                                "unreadable_rows": tail.bad_lines,
                                "first_unreadable_row": tail.first_bad})

    # --- end

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
            try:
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        if self.proc is not None:
            # whatever the command left running in its process group goes with it
            self._send(signal.SIGTERM, group=True)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        for fd in (self.channel_r, self.channel_keep):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.channel_r = self.channel_keep = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def run(ctx: Any) -> None:
    from .base import StopRun

    cmd = _Command(ctx)
    _ = ctx.last_logged_step  # opens metrics.csv now: its header, and the time offset of a resumed run
    try:
        cmd.start()
        code = cmd.supervise()
        cmd.merger.flush()
    finally:
        cmd.close()
        summary = cmd.merger.summary()
        if summary:
            cmd._warn(f"metrics: {summary}")
            if ctx.on_status is not None:
                ctx.on_status({"step": ctx.step, "total_steps": ctx.total_steps,
                               "metric_warnings": dict(cmd.merger.counts)})
    if ctx.stop_signal is not None:
        cmd._log_line(f"grokwatch: the command ended after the {ctx.stop_signal} request "
                      f"(exit status {code})")
        raise StopRun(requeue=ctx.stop_signal == "requeue")
    if code != 0:
        how = (f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}")
        raise CommandFailed(f"the command {how} (see worker.log)")
    if cmd.rows == 0 and ctx.last_logged_step is None:  # nothing now, nothing before
        cmd._warn("the command finished without reporting any metrics: call grokwatch.log(), print "
                  f"{cmd.prefix.decode() or '<prefix>'} {{\"step\": ...}} lines, or set metrics_file")
