"""One mapping from the metric column names people use to grokwatch's canonical names.

Every reader (the runner's tail, `grokwatch detect`, `grokwatch view`, a `command` run's
`metrics_file`) maps columns through `canonical_columns`, so `val_acc`, `epoch` or
`valid/loss` mean the same thing everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BASE_COLUMNS = ("step", "time_s", "train_loss", "test_loss", "train_error", "test_error")
ACCURACY_COLUMNS = ("train_acc", "test_acc")
# The six curves every surface knows, in the order the dashboard's summaries index them.
CORE_METRICS = ("train_error", "test_error", "train_loss", "test_loss", "train_acc", "test_acc")
# error = 1 - accuracy: each accuracy column and the error it gives (one split each)
ERROR_OF = {"train_acc": "train_error", "test_acc": "test_error"}

_SPLIT_NAME = "test"  # what val/valid/validation/eval/dev map to
_SPLITS = {
    "train": "train", "training": "train", "tr": "train",
    "test": "test", "val": _SPLIT_NAME, "valid": _SPLIT_NAME, "validation": _SPLIT_NAME,
    "eval": _SPLIT_NAME, "dev": _SPLIT_NAME, "te": "test",
}
_MEASURES = {
    "loss": "loss", "nll": "loss", "ce": "loss", "mse": "loss", "xent": "loss",
    "acc": "acc", "accuracy": "acc", "top1": "acc", "top1_acc": "acc",
    "err": "error", "error": "error", "error_rate": "error", "err_rate": "error",
}
_STEP_NAMES = ("step", "steps", "global_step", "iteration", "iter", "it", "update", "updates")
_EPOCH_NAMES = ("epoch", "epochs")
_TIME_NAMES = ("time_s", "time", "wall_time", "elapsed", "elapsed_s", "seconds")


def _normalise(name: str) -> str:
    name = name.strip().lower()
    name = re.sub(r"[\s/.\-:]+", "_", name)
    return name.strip("_")


_SUFFIX_RANK = {"_epoch": 1, "_step": 2}  # Lightning: `train_loss_epoch`, `train_loss_step`
_ACCURACY_WORDS = {"acc", "accuracy", "top1", "top5"}


def canonical_name(name: str) -> str | None:
    """The canonical name for one metric column (`val_acc` -> `test_acc`), or None if it is
    not one of the core metrics. Step and epoch are handled by `canonical_columns`."""
    return _ranked_name(name)[0]


def _ranked_name(name: str) -> tuple[str | None, int]:
    """(canonical name or None, rank): 0 for a plain name, 1 for Lightning's `*_epoch` (its
    epoch mean), 2 for `*_step` (one batch); where several columns give one name, the lowest
    rank takes it."""
    n = _normalise(name)
    got = _plain_name(n)
    if got is not None:
        return got, 0
    for suffix, rank in _SUFFIX_RANK.items():
        if n.endswith(suffix) and len(n) > len(suffix):
            got = _plain_name(n[:-len(suffix)])
            if got is not None:
                return got, rank
    return None, 0


def _plain_name(n: str) -> str | None:
    if n in CORE_METRICS:
        return n
    parts = n.split("_")
    for i in range(1, len(parts)):
        split, measure = "_".join(parts[:i]), "_".join(parts[i:])
        if split in _SPLITS and measure in _MEASURES:
            return f"{_SPLITS[split]}_{_MEASURES[measure]}"
        # "loss_train", "acc_val"
        measure2, split2 = "_".join(parts[:i]), "_".join(parts[i:])
        if split2 in _SPLITS and measure2 in _MEASURES:
            return f"{_SPLITS[split2]}_{_MEASURES[measure2]}"
    return None  # (a bare "loss" is ambiguous: kept under its own name)


def is_accuracy(name: str) -> bool:
    """An accuracy column (`test_acc`, `val_accuracy_epoch`, `top5`): the columns the per-file
    percent rule looks at and rescales."""
    return bool(_ACCURACY_WORDS & set(_normalise(name).split("_")))


# ----------------------------------------------------------------------------- column maps


class ColumnMapError(ValueError):
    """A `column_map` entry (or `--map` argument) that cannot be used; says which and why."""


def parse_column_map(mapping: dict | None) -> tuple[dict[str, str], dict[str, float]]:
    """A user's column map as (source -> name, source -> scale). A value is a name
    (`"test_acc"`), a name with a `%` suffix (the column is in percent: scale 0.01), or a table
    `{ name = "test_acc", scale = 0.01 }`. Raises ColumnMapError naming the bad entry."""
    names: dict[str, str] = {}
    scales: dict[str, float] = {}
    for src, value in (mapping or {}).items():
        scale = 1.0
        if isinstance(value, dict):
            unknown = set(value) - {"name", "scale"}
            if unknown or not isinstance(value.get("name"), str):
                raise ColumnMapError(f"{src!r}: a table takes name and scale, e.g. "
                                     f"{{ name = \"test_acc\", scale = 0.01 }}; got {value!r}")
            raw_scale = value.get("scale", 1.0)
            if isinstance(raw_scale, bool) or not isinstance(raw_scale, (int, float)) \
                    or not raw_scale > 0 or raw_scale == float("inf"):
                raise ColumnMapError(f"{src!r}: scale must be a positive number, not {raw_scale!r}")
            name, scale = value["name"], float(raw_scale)
        elif isinstance(value, str):
            name = value
        else:
            raise ColumnMapError(f"{src!r} maps to {value!r}: give a grokwatch name, e.g. "
                                 f"\"test_acc\" (\"test_acc%\" for a column in percent)")
        name = name.strip()
        if name.endswith("%"):
            name, scale = name[:-1].strip(), scale * 0.01
        if not name:
            raise ColumnMapError(f"{src!r} maps to an empty name")
        names[str(src)] = name
        if scale != 1.0:
            scales[str(src)] = scale
    return names, scales


def parse_map_args(items: list[str] | None) -> dict[str, str]:
    """`--map SRC=DST` arguments (repeatable) as a column map; ColumnMapError for a bad one."""
    out: dict[str, str] = {}
    for item in items or []:
        src, eq, dst = item.partition("=")
        if not eq or not src.strip() or not dst.strip():
            raise ColumnMapError(f"--map {item!r}: write SRC=DST, e.g. --map full_train_acc=train_acc "
                                 f"(DST% for a column in percent: --map acc=test_acc%)")
        out[src.strip()] = dst.strip()
    parse_column_map(out)  # the same checks as experiments.toml's column_map
    return out


def add_map_options(parser) -> None:
    """`--map SRC=DST` (repeatable) and `--percent` on an argparse parser (`view`, `detect`)."""
    parser.add_argument("--map", action="append", metavar="SRC=DST", default=[],
                        help="read column SRC as DST (repeatable; wins over the built-in names; "
                             "DST%% for a column in percent), e.g. --map full_train_acc=train_acc")
    parser.add_argument("--percent", action="store_true",
                        help="every accuracy column is in percent (by default: when any exceeds 1)")


def map_options(args, prog: str) -> tuple[dict[str, str] | None, bool | None] | None:
    """(column map or None, percent: True, or None to decide by the data) from those options;
    None after saying, in one line on stderr, what is wrong with a bad `--map`."""
    try:
        return parse_map_args(args.map) or None, (True if args.percent else None)
    except ColumnMapError as exc:
        import sys

        print(f"{prog}: {exc}", file=sys.stderr)
        return None


# ----------------------------------------------------------------------------- headers


def split_header(line: str) -> list[str]:
    """A CSV header line as its column names: a UTF-8 byte-order mark dropped, each name
    stripped of white space and of the quotes R's `write.csv` puts around it."""
    line = line.lstrip("\ufeff").strip()
    out = []
    for name in line.split(","):
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1].strip()
        out.append(name)
    return out


@dataclass(frozen=True)
class Header:
    """One file's header: its raw names, their canonical names, each column's explicit scale
    (from the column map) and the accuracy columns the per-file percent rule applies to."""

    raw: list[str]
    names: list[str]
    scales: list[float]
    auto_accuracy: list[int]

    @classmethod
    def parse(cls, line: str, column_map: dict | None = None) -> "Header":
        raw = split_header(line)
        _names, scales = parse_column_map(column_map) if column_map else ({}, {})
        names = canonical_columns(raw, column_map)
        col_scales = [scales.get(r, 1.0) for r in raw]
        auto = [i for i, (r, n) in enumerate(zip(raw, names)) if r not in scales and is_accuracy(n)]
        return cls(raw, names, col_scales, auto)

    def scales_for(self, percent: bool) -> list[float]:
        """Each column's factor: the explicit scale, and 0.01 for accuracy columns in percent."""
        if not percent:
            return list(self.scales)
        out = list(self.scales)
        for i in self.auto_accuracy:
            out[i] = 0.01
        return out


def canonical_columns(header: list[str], overrides: dict | None = None) -> list[str]:
    """Map a CSV header to canonical names, keeping unknown columns under their own
    (normalised) name. `overrides` (a column map) maps a source column to a target name and
    wins over every built-in alias: a column that would have taken that name keeps its own.

    The step column is the first of step-like names; where there is none, an epoch column
    becomes `step`. A bare `loss`, `acc`/`accuracy` or `error` next to a test/val column is the
    train curve (Keras' CSVLogger writes `epoch,accuracy,loss,val_accuracy,val_loss`).
    Lightning's `*_epoch` and `*_step` columns give the name where no plain column does
    (`*_epoch` first). A name that would appear twice keeps its original spelling the second time.
    """
    names: dict[str, str] = {}
    for src, value in (overrides or {}).items():  # names only; scales are the parsers' business
        if isinstance(value, dict):
            value = value.get("name")
        if isinstance(value, str) and value.strip().rstrip("%").strip():
            names[str(src)] = value.strip().rstrip("%").strip()
    reserved = {names[h] for h in header if h in names}
    normal = [_normalise(h) for h in header]
    free = [h not in names for h in header]
    step_src = time_src = None
    if "step" not in reserved:
        step_src = next((i for i, n in enumerate(normal) if free[i] and n in _STEP_NAMES), None)
        if step_src is None:
            step_src = next((i for i, n in enumerate(normal) if free[i] and n in _EPOCH_NAMES), None)
    if "time_s" not in reserved:
        time_src = next((i for i, n in enumerate(normal) if free[i] and n in _TIME_NAMES), None)
    ranked = [_ranked_name(h) for h in header]
    mapped = [m for m, _ in ranked]
    # Keras-style logs: a bare `loss`/`accuracy` beside `val_loss`/`val_accuracy` is the train
    # curve (only where some test/val column exists and the train one is not named already).
    has_test = any(m is not None and m.startswith("test_") for m in mapped)
    for i, n in enumerate(normal):
        if mapped[i] is None and has_test and n in _MEASURES:
            name = f"train_{_MEASURES[n]}"
            if name not in mapped:
                mapped[i] = name
    best: dict[str, int] = {}
    for i, m in enumerate(mapped):
        if m is not None and free[i] and (m not in best or ranked[i][1] < ranked[best[m]][1]):
            best[m] = i
    out: list[str] = []
    taken: set[str] = set()
    for i, (raw, n) in enumerate(zip(header, normal)):
        if not free[i]:
            name = names[raw]
        elif i == step_src:
            name = "step"
        elif i == time_src:
            name = "time_s"
        elif mapped[i] is not None and best.get(mapped[i]) == i and mapped[i] not in reserved:
            name = mapped[i]
        else:
            name = n or f"col{i}"
        if name in taken or (free[i] and name in reserved):
            name = n if n and n not in taken and n not in reserved else f"{n or 'col'}_{i}"
        taken.add(name)
        out.append(name)
    return out


def error_from_accuracy(acc):
    """error = 1 - accuracy (both fractions), never below 0; NaN stays NaN. The one home of
    this rule: a float, or a numpy array (the dashboard's block parser)."""
    err = 1.0 - acc
    if hasattr(err, "clip"):
        return err.clip(0.0, None)
    return 0.0 if err < 0.0 else err


def complete_row(row: dict[str, float]) -> dict[str, float]:
    """Fill error from accuracy (error = 1 - acc) where a row has the accuracy only."""
    for acc, err in ERROR_OF.items():
        if acc in row and err not in row:
            row[err] = error_from_accuracy(row[acc])
    return row


def has_usable_metrics(columns: list[str]) -> bool:
    """True when a log has a step column and at least one train or test curve."""
    return "step" in columns and any(c in columns for c in CORE_METRICS)
