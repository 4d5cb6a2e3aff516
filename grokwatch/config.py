"""experiments.toml -> a validated, typed `Config`, and its expansion into runs.

Every problem becomes one `ConfigError` paragraph that names the file, the experiment, the key
(with a line number where we can find it) and, for a misspelt key, a "did you mean".
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .experiments import KIND_MODULES, get_spec
from .experiments.spec import ParamError, did_you_mean
from .runs import assign_run_ids, make_run_id

# A name is part of a directory name: matched in full (no trailing newline), short enough that
# name + sweep point + seed + hash fit one file name.
NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
MAX_NAME = 200
DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+(,\d+)*)$")


class ConfigError(Exception):
    """A bad experiments file; str() is the one readable paragraph to show the user."""

    NOTHING_STARTED = " Nothing was started; fix the file and run grokwatch again."

    @property
    def while_running(self) -> str:
        """The paragraph for an edit of a queue that is already going (the runner's reload, the
        dashboard's banner): the same, without the start-up's "Nothing was started"."""
        text = str(self)
        for tail in (self.NOTHING_STARTED, " Nothing was started."):
            if text.endswith(tail):
                return text[: -len(tail)]
        return text


# ----------------------------------------------------------------------------- typed config


@dataclass
class Settings:
    runs_dir: str = "runs"
    devices: str = "auto"
    max_parallel: int | str = "auto"
    threads_per_run: int | str = "auto"
    checkpoint_every_s: float = 60.0
    executor: str = "local"
    pack: int | str = "auto"  # "auto" | "off" | N runs per pack (grokwatch.packing)


@dataclass
class AlertSettings:
    bell: bool = True
    command: str = ""
    command_timeout_s: float = 30.0


@dataclass
class SlurmSettings:
    partition: str = ""
    time: str = "60"
    gpus_per_run: int = 0
    cpus_per_run: int = 1
    mem: str = ""
    account: str = ""
    qos: str = ""
    sbatch_options: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    max_jobs: int = 64
    signal_before_s: int = 120
    python: str = ""


@dataclass
class Experiment:
    name: str
    kind: str
    seeds: list[int]
    params: dict[str, Any]  # as given (plus top-level kind keys)
    sweep: dict[str, list[Any]]
    preset: str | None = None
    description: str = ""
    pack: int | str | None = None  # None: the [grokwatch] setting
    gpu: bool | None = None  # `gpu = false`: never on a GPU slot (None: as the kind says)


@dataclass
class RunSpec:
    """One run: an experiment at one sweep point and seed, parameters fully resolved."""

    run_id: str
    experiment: str
    kind: str
    seed: int
    params: dict[str, Any]
    sweep: dict[str, Any]
    preset: str | None
    order: int = 0
    gpu: bool | None = None  # the experiment's `gpu` (not part of the id: it says where, not what)


@dataclass
class Config:
    path: Path
    settings: Settings
    alerts: AlertSettings
    slurm: SlurmSettings
    experiments: list[Experiment]
    # Where runs_dir and .grokwatch/ live: the directory grokwatch was started in (the demo's
    # config sits inside the package, its runs do not).
    project_dir: Path = field(default_factory=Path.cwd)

    @property
    def runs_dir(self) -> Path:
        p = Path(self.settings.runs_dir).expanduser()
        return p if p.is_absolute() else self.project_dir / p


# ----------------------------------------------------------------------------- schema

_SETTINGS_KEYS = {
    "runs_dir": (str,), "devices": (str,), "max_parallel": (int, str),
    "threads_per_run": (int, str), "checkpoint_every_s": (int, float), "executor": (str,),
    "pack": (int, str),
}
_ALERT_KEYS = {"bell": (bool,), "command": (str,), "command_timeout_s": (int, float)}
_SLURM_KEYS = {
    "partition": (str,), "time": (str, int), "gpus_per_run": (int,), "cpus_per_run": (int,),
    "mem": (str,), "account": (str,), "qos": (str,), "sbatch_options": (list,),
    "setup": (list,), "max_jobs": (int,), "signal_before_s": (int,), "python": (str,),
}
_TOP_KEYS = {"grokwatch", "alerts", "slurm", "experiment"}
_EXPERIMENT_KEYS = {"name", "kind", "seeds", "seed", "params", "sweep", "preset", "description",
                    "pack", "gpu"}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean (true/false)",
               list: "a list", dict: "a table"}


def _type_desc(types: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


class _Loader:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    # --- error helpers

    def fail(self, problem: str, experiment: str | None = None, key: str | None = None,
             table: str | None = None) -> ConfigError:
        where = [f"{self.path}"]
        line = self.find_line(key, experiment, table)
        if line:
            where.append(f"line {line}")
        ctx = []
        if experiment is not None:
            ctx.append(f"in experiment {experiment!r}")
        elif table is not None:
            ctx.append(f"in [{table}]")
        if key is not None:
            ctx.append(f"key {key!r}")
        head = ", ".join(where)
        body = (" ".join(ctx) + ": " if ctx else "") + problem
        return ConfigError(f"{head}: {body}.{ConfigError.NOTHING_STARTED}")

    def find_line(self, key: str | None, experiment: str | None, table: str | None) -> int | None:
        """Best-effort line number of `key` in the experiment's block or the named table."""
        start, end = 0, len(self.lines)
        if experiment is not None:
            pat = re.compile(r"^\s*name\s*=\s*['\"]" + re.escape(experiment) + r"['\"]")
            hit = next((i for i, l in enumerate(self.lines) if pat.match(l)), None)
            if hit is None:
                return None
            # the block runs back to its [[experiment]] header and on to the next one
            start = max((i for i in range(hit + 1) if self.lines[i].strip().startswith("[[experiment]]")),
                        default=0)
            end = next((i for i in range(hit + 1, len(self.lines))
                        if self.lines[i].strip().startswith("[[experiment]]")), len(self.lines))
        elif table is not None:
            pat = re.compile(r"^\s*\[\s*" + re.escape(table) + r"\s*\]")
            start = next((i for i, l in enumerate(self.lines) if pat.match(l)), None)
            if start is None:
                return None
            end = next((i for i in range(start + 1, len(self.lines))
                        if self.lines[i].strip().startswith("[")), len(self.lines))
            if key is None:
                return start + 1
        if key is None:
            return start + 1 if experiment is not None else None
        kpat = re.compile(r"^\s*['\"]?" + re.escape(key.split(".")[-1]) + r"['\"]?\s*=")
        for i in range(start, end):
            if kpat.match(self.lines[i]):
                return i + 1
        return start + 1 if experiment is not None else None

    # --- tables

    def check_keys(self, table: dict, allowed, experiment=None, table_name=None, what="key") -> None:
        for key in table:
            if key not in allowed:
                hint = did_you_mean(key, sorted(allowed))
                raise self.fail(f"unknown {what}{hint}; allowed: {', '.join(sorted(allowed))}",
                                experiment, key, table_name)

    def typed(self, table: dict, schema: dict, table_name: str) -> dict:
        self.check_keys(table, schema, table_name=table_name)
        out = {}
        for key, value in table.items():
            types = schema[key]
            if isinstance(value, bool) and bool not in types:
                raise self.fail(f"must be {_type_desc(types)}, not a boolean", key=key, table=table_name)
            if not isinstance(value, types):
                raise self.fail(f"must be {_type_desc(types)}, not {type(value).__name__} ({value!r})",
                                key=key, table=table_name)
            out[key] = value
        return out


def no_experiments_line(config: Config) -> str | None:
    """What to say about a file that queues nothing (valid TOML without an [[experiment]]
    table), or None: headless prints it instead of "0 run(s)", the dashboard shows it."""
    if config.experiments:
        return None
    return (f"{config.path.name} has no experiments, nothing to run: add an [[experiment]] table "
            f"with name = \"...\" and kind = \"grokking\" (or overfitting, double_descent, command; "
            f"docs/experiments.md); `grokwatch init -o example.toml` writes one with every option")


def load_config(path: str | Path, project_dir: str | Path | None = None) -> Config:
    """Read and validate an experiments file. Raises ConfigError (one paragraph) on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Write one with `grokwatch init`, or run the "
                          f"built-in demo with `grokwatch --demo`.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}, line {line}, column {col}: the file is not valid UTF-8 "
                          f"(byte 0x{raw[exc.start]:02x}); TOML files must be UTF-8. "
                          f"Nothing was started.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}.{ConfigError.NOTHING_STARTED}") from None
    return parse_config(data, path, text, project_dir)


def parse_config(data: dict, path: Path, text: str = "", project_dir: str | Path | None = None) -> Config:
    L = _Loader(path, text)
    L.check_keys(data, _TOP_KEYS, what="table")
    settings = _parse_settings(L, data.get("grokwatch", {}))
    alerts = AlertSettings(**L.typed(_table(L, data, "alerts"), _ALERT_KEYS, "alerts"))
    if alerts.command_timeout_s <= 0:
        raise L.fail("must be > 0", key="command_timeout_s", table="alerts")
    slurm = _parse_slurm(L, _table(L, data, "slurm"))
    raw_experiments = data.get("experiment", [])
    if not isinstance(raw_experiments, list):
        raise L.fail("experiments are written as [[experiment]] tables (an array of tables)",
                     key="experiment")
    experiments: list[Experiment] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_experiments):
        exp = _parse_experiment(L, raw, i)
        if exp.name in seen:
            raise L.fail(f"experiment names must be unique; {exp.name!r} appears twice",
                         key="name")
        seen.add(exp.name)
        experiments.append(exp)
    config = Config(path=path.resolve(), settings=settings, alerts=alerts, slurm=slurm,
                    experiments=experiments,
                    project_dir=Path(project_dir or Path.cwd()).resolve())
    _check_runs_dir(L, config)
    expand_runs(config, loader=L)  # validates every sweep point
    return config


def _table(L: _Loader, data: dict, name: str) -> dict:
    t = data.get(name, {})
    if not isinstance(t, dict):
        raise L.fail(f"must be a table ([{name}])", key=name)
    return t


def _parse_settings(L: _Loader, table: Any) -> Settings:
    if not isinstance(table, dict):
        raise L.fail("must be a table ([grokwatch])", key="grokwatch")
    s = Settings(**L.typed(table, _SETTINGS_KEYS, "grokwatch"))
    if not DEVICE_RE.match(s.devices.replace(" ", "")):
        raise L.fail(f"{s.devices!r} is not a device list; use \"auto\", \"cpu\", \"cuda\" or "
                     f"\"cuda:0,1\"", key="devices", table="grokwatch")
    s.devices = s.devices.replace(" ", "")
    for key in ("max_parallel", "threads_per_run"):
        v = getattr(s, key)
        if isinstance(v, str) and v != "auto":
            raise L.fail(f"must be \"auto\" or a positive integer, not {v!r}", key=key, table="grokwatch")
        if isinstance(v, int) and not 1 <= v <= 1024:
            raise L.fail(f"must be between 1 and 1024, got {v}", key=key, table="grokwatch")
    if not s.checkpoint_every_s > 0:
        raise L.fail(f"must be > 0 seconds, got {s.checkpoint_every_s}", key="checkpoint_every_s",
                     table="grokwatch")
    s.checkpoint_every_s = float(s.checkpoint_every_s)
    from .runner.executors import executor_names  # the one registry (imports no backend)

    names = executor_names()
    if s.executor not in names:
        raise L.fail(f"must be one of {', '.join(repr(n) for n in names)}, not {s.executor!r}"
                     f"{did_you_mean(s.executor, names)}", key="executor", table="grokwatch")
    if not s.runs_dir.strip():
        raise L.fail("must not be empty", key="runs_dir", table="grokwatch")
    if "\0" in s.runs_dir:
        raise L.fail("must not contain a NUL character", key="runs_dir", table="grokwatch")
    s.pack = _parse_pack(L, s.pack, None, "grokwatch")
    return s


def _check_runs_dir(L: _Loader, config: Config) -> None:
    """runs_dir must be a directory grokwatch can own: not the file-system root, not a file."""
    where = config.runs_dir
    try:
        resolved = where.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise L.fail(f"{where} cannot be resolved ({exc})", key="runs_dir", table="grokwatch") from None
    if resolved == Path(resolved.anchor):
        raise L.fail(f"{where} is the root of the file system; name a directory of its own, such as "
                     f"\"runs\"", key="runs_dir", table="grokwatch")
    if resolved.exists() and not resolved.is_dir():
        raise L.fail(f"{where} exists and is not a directory; name a directory (it is created when "
                     f"missing)", key="runs_dir", table="grokwatch")


def _shown(value: Any) -> str:
    """A value for an error line: repr (so a newline shows as \\n), cut to a readable length."""
    text = repr(value)
    if len(text) <= 80:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[:60] + "..." + size


def _parse_pack(L: _Loader, value: Any, experiment: str | None, table: str | None) -> int | str:
    from .packing import parse_pack

    try:
        return parse_pack(value)
    except ValueError as err:
        raise L.fail(str(err), experiment, "pack", table=table) from None


_SLURM_TIME_RE = re.compile(r"^(\d+-)?\d+(:\d{2}){0,2}$")


def _parse_slurm(L: _Loader, table: dict) -> SlurmSettings:
    s = SlurmSettings(**L.typed(table, _SLURM_KEYS, "slurm"))
    s.time = str(s.time)
    if not _SLURM_TIME_RE.match(s.time):
        raise L.fail(f"{s.time!r} is not a Slurm time limit (minutes, \"MM:SS\", \"HH:MM:SS\" or "
                     f"\"D-HH:MM:SS\")", key="time", table="slurm")
    for key in ("gpus_per_run", "signal_before_s"):
        if getattr(s, key) < 0:
            raise L.fail("must be >= 0", key=key, table="slurm")
    for key in ("cpus_per_run", "max_jobs"):
        if getattr(s, key) < 1:
            raise L.fail("must be >= 1", key=key, table="slurm")
    for key in ("sbatch_options", "setup"):
        if not all(isinstance(x, str) for x in getattr(s, key)):
            raise L.fail("must be a list of strings", key=key, table="slurm")
    return s


def _parse_experiment(L: _Loader, raw: Any, index: int) -> Experiment:
    if not isinstance(raw, dict):
        raise L.fail(f"experiment #{index + 1} must be a table", key="experiment")
    name = raw.get("name")
    if name is None:
        raise L.fail(f"experiment #{index + 1} has no name; add name = \"...\"", key="name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise L.fail(f"experiment names use letters, digits, '.', '_' and '-' only, not {_shown(name)}",
                     None, "name")
    if len(name) > MAX_NAME:
        raise L.fail(f"experiment names are at most {MAX_NAME} characters (each run's directory "
                     f"name holds it), not {len(name)}", None, "name")
    kind = raw.get("kind")
    if kind is None:
        raise L.fail(f"has no kind; add kind = one of {', '.join(KIND_MODULES)}", name, "kind")
    if kind not in KIND_MODULES:
        raise L.fail(f"unknown kind {kind!r}{did_you_mean(str(kind), list(KIND_MODULES))}; kinds: "
                     f"{', '.join(KIND_MODULES)}", name, "kind")
    spec = get_spec(kind)
    L.check_keys(raw, _EXPERIMENT_KEYS | set(spec.top_level), experiment=name)
    if "seed" in raw and "seeds" in raw:
        raise L.fail("give either seed or seeds, not both", name, "seeds")
    one = raw.get("seed")
    if "seed" in raw and not (isinstance(one, int) and not isinstance(one, bool) and 0 <= one < 2**31):
        hint = " (a list goes in `seeds`)" if isinstance(one, list) else ""
        raise L.fail(f"must be one integer in [0, 2^31), not {one!r}{hint}", name, "seed")
    seeds = raw.get("seeds", [raw["seed"]] if "seed" in raw else [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise L.fail(f"must be a non-empty list of integers in [0, 2^31), not {seeds!r}", name,
                     "seeds" if "seeds" in raw else "seed")
    if len(set(seeds)) != len(seeds):
        raise L.fail(f"seeds must be distinct, got {seeds!r}", name, "seeds")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise L.fail("must be a table ([experiment.params])", name, "params")
    params = dict(params)
    for key in spec.top_level:
        if key in raw:
            params[key] = raw[key]
    sweep = raw.get("sweep", {})
    if not isinstance(sweep, dict):
        raise L.fail("must be a table ([experiment.sweep]) of lists", name, "sweep")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise L.fail(f"sweep values must be a non-empty list, not {values!r}", name, key)
        if key not in spec.params and not spec.open_params:
            raise L.fail(f"cannot sweep {key!r}: it is not a parameter of kind {kind!r}"
                         f"{did_you_mean(key, list(spec.params))}", name, key)
        if len(set(map(repr, values))) != len(values):
            raise L.fail(f"sweep values must be distinct, got {values!r}", name, key)
    preset = raw.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise L.fail("must be a string", name, "preset")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise L.fail("must be a string", name, "description")
    pack = _parse_pack(L, raw["pack"], name, None) if "pack" in raw else None
    gpu = raw.get("gpu")
    if gpu is not None and not isinstance(gpu, bool):
        raise L.fail(f"must be true or false, not {gpu!r}", name, "gpu")
    return Experiment(name=name, kind=kind, seeds=list(seeds), params=params, sweep=dict(sweep),
                      preset=preset, description=description, pack=pack, gpu=gpu)


def expand_runs(config: Config, loader: _Loader | None = None) -> list[RunSpec]:
    """Seeds x sweep grid -> RunSpecs, each with fully resolved, validated parameters."""
    L = loader or _Loader(config.path, "")
    runs: list[RunSpec] = []
    for exp in config.experiments:
        spec = get_spec(exp.kind)
        keys = list(exp.sweep)
        grid = list(itertools.product(*(exp.sweep[k] for k in keys))) if keys else [()]
        for point in grid:
            point_dict = dict(zip(keys, point))
            given = {**exp.params, **point_dict}
            try:
                resolved = spec.resolve(given, exp.preset)
            except ParamError as err:
                where = f" (at sweep point {point_dict})" if point_dict else ""
                raise L.fail(f"{err.message}{where}", exp.name, err.key) from None
            for seed in exp.seeds:
                run_id = make_run_id(exp.name, point_dict, seed, resolved, {"kind": exp.kind})
                runs.append(RunSpec(run_id=run_id, experiment=exp.name, kind=exp.kind, seed=seed,
                                    params=resolved, sweep=point_dict, preset=exp.preset,
                                    order=len(runs), gpu=exp.gpu))
        if exp.kind == "command":
            from .experiments.command import shared_metrics_file

            mine = [(r.run_id, r.seed, r.params) for r in runs if r.experiment == exp.name]
            problem = shared_metrics_file(mine) if len(mine) > 1 else None
            if problem:
                raise L.fail(problem, exp.name, "metrics_file")
    _disambiguate(runs, config.runs_dir)
    return runs


def _disambiguate(runs: list[RunSpec], runs_dir: Path) -> None:
    """Ids that would share a directory on a case-insensitive file system get the experiment
    name into their hash; every id of an existing run directory stays as it is."""
    try:
        existing = os.listdir(runs_dir)
    except OSError:
        existing = []
    plain = {r.run_id for r in runs}
    folded = {x.casefold() for x in plain}
    others = {n.casefold() for n in existing if n not in plain}
    if len(folded) == len(runs) and not others:
        return  # the common case: nothing collides, and no other directory could be a run's
    ids = assign_run_ids([(r.run_id, lambda r=r: make_run_id(r.experiment, r.sweep, r.seed, r.params,
                                                             {"kind": r.kind}, salt=r.experiment))
                          for r in runs], existing)
    for r, run_id in zip(runs, ids):
        r.run_id = run_id


def demo_config_path() -> Path:
    """The built-in demo queue shipped inside the package."""
    return Path(__file__).with_name("demo.toml")
