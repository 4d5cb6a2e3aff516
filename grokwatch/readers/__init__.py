"""Logs written by other tools, read as grokwatch runs: one interface (`Source`, in
`base`), one module per format, and this registry, which recognises a path by its contents
(never by its name: an event file in any directory, a W&B run under any name).

    sources = open_path("tb_logs")        # every run found there, or ReaderError (one line)
    for src in sources:
        rows = src.read()                 # canonical rows, new since the last call

| module        | format                                     | needs                      |
| ------------- | ------------------------------------------ | -------------------------- |
| `tensorboard` | TensorBoard event files                    | `grokwatch[tensorboard]`   |
| `wandb`       | W&B run logs (`run-*.wandb`, offline runs) | `grokwatch[wandb]`         |
| `hf`          | HF Trainer `trainer_state.json`            | standard library           |
| `mlflow`      | MLflow file store and sqlite database      | standard library           |
| `csvlog`      | CSV: ours, a script's, Keras', Lightning's | standard library           |

Adding a format: a module with a sniff function (first bytes -> bool) and a `Source`
subclass, then one branch in `_file_sources` or `_dir_sources` below, a fixture written by
the real tool under tests/fixtures/readers/, and a line in docs/own-scripts.md. A format
read by a module outside this package is added with `register_format(Format(...))`: its files
are asked first, wherever a file is sniffed (tests/test_extension_points.py does it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import hf, mlflow
from .base import ReaderError, Row, Source, SourceLog, shown
from .csvlog import CsvSource, csv_header
from .tensorboard import TensorBoardSource, is_event_file
from .wandb import WandbSource, is_wandb_log

__all__ = ["ReaderError", "Row", "Source", "SourceLog", "open_path", "read_path", "looks_like_text", "FORMATS",
           "Format", "register_format"]

FORMATS = ("TensorBoard event files", "W&B runs (run-*.wandb)", "HF Trainer trainer_state.json",
           "MLflow runs (mlruns/ or mlflow.db)", "CSV logs with a step or epoch column "
           "(grokwatch, Keras and Lightning CSVLogger, your own)")


@dataclass(frozen=True)
class Format:
    """A format registered from outside the package: `sniff(path, first_bytes)` says whether a
    file is one of its logs; `sources(path, run_name, column_map)` returns its runs."""

    name: str  # what the messages say grokwatch reads ("Foo logs (*.foo)")
    sniff: Callable[[Path, bytes], bool]
    sources: Callable[[Path, str, "dict[str, str] | None"], "list[Source]"]


REGISTERED: list[Format] = []


def register_format(fmt: Format) -> None:
    REGISTERED.append(fmt)


def _formats() -> str:
    names = (*FORMATS[:-1], *(f.name for f in REGISTERED))
    return f"{', '.join(names)} and {FORMATS[-1]}"


HEAD = 512            # bytes sniffed of every file
LINE_HEAD = 1 << 20   # of a text file with no line break in HEAD (a wide CSV header: openai/grok's
                      # Lightning log names a column per parameter tensor), as far as the tail reads
JSON_HEAD = 8192      # of a file that starts like JSON ("log_history" comes after the short keys)
MAX_DEPTH = 8
MAX_FILES = 20000     # sniffed in one walk; a bigger tree is cut short (and the message says so)
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", ".git"}


class Sniffer:
    """First bytes of files, read once (a directory walk asks several formats)."""

    def __init__(self) -> None:
        self.cache: dict[str, bytes] = {}
        self.files = 0

    def __call__(self, path: Path) -> bytes:
        key = str(path)
        head = self.cache.get(key)
        if head is not None:
            return head
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD)
                if head.lstrip()[:1] == b"{":
                    head += f.read(JSON_HEAD - HEAD)
                elif len(head) == HEAD and b"\n" not in head and b"\x00" not in head:
                    while b"\n" not in head[-(1 << 16):] and len(head) < LINE_HEAD:
                        more = f.read(1 << 16)
                        if not more:
                            break
                        head += more
        except OSError:
            head = b""
        self.files += 1
        self.cache[key] = head
        return head


def open_path(path: str | Path, column_map: dict[str, str] | None = None) -> list[Source]:
    """Every run at `path` (a log file, a run directory, or a directory of runs), nothing
    read yet. Raises ReaderError with one line saying what was found when nothing is."""
    p = Path(path)
    if not p.exists():
        raise ReaderError(f"{p}: no such file or directory")
    sniff = Sniffer()
    if p.is_file():
        return _file_sources(p, sniff, column_map)
    found: list[Source] = []
    cut = _walk(p, sniff, column_map, found)
    if not found:
        more = f" (stopped after {MAX_FILES} files)" if cut else ""
        raise ReaderError(
            f"{p}: no metrics.csv nor other logs grokwatch can read in {sniff.files} "
            f"file{'' if sniff.files == 1 else 's'} under "
            f"it{more}; it reads "
            f"{_formats()}: give the directory your logger "
            "writes to, or the log file itself")
    return found


def read_path(path: str | Path, column_map: dict[str, str] | None = None
              ) -> list[tuple[Source, list[Row]]]:
    """Every run at `path` with all its rows (for one-shot readers: `detect`, `export`).
    Raises ReaderError when a format is found but cannot be read (a missing extra, a
    corrupt file) or when nothing at `path` holds a single metric row."""
    out = [(s, s.read_all()) for s in open_path(path, column_map)]
    if not any(rows for _s, rows in out):
        kinds = sorted({s.format for s, _ in out})
        raise ReaderError(f"{path}: found {' and '.join(kinds)} but no metric values in it "
                          "(no scalars logged yet?)")
    return out


def describe(path: Path, head: bytes) -> str:
    """What an unreadable file looks like, for the one-line error (never raw bytes)."""
    if not head:
        return "it is empty"
    if b"\x00" in head or not _is_text(head):
        return "it is binary data of no format grokwatch knows"
    first = head.split(b"\n", 1)[0]
    return f"its first line is {shown(first)!r}"


def looks_like_text(path: Path) -> bool:
    """True for a file whose first bytes decode as text (a CSV with the wrong columns is told
    so by the CSV reader's own message, which quotes its header, escaped)."""
    head = Sniffer()(Path(path))
    return bool(head) and _is_text(head)


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # cut in the middle of a character


def _file_sources(p: Path, sniff: Sniffer, column_map) -> list[Source]:
    head = sniff(p)
    for fmt in REGISTERED:
        if fmt.sniff(p, head):
            return fmt.sources(p, p.stem, column_map)
    if is_event_file(head):
        return [TensorBoardSource(p.parent, p.parent.name, sniff, column_map, files=[p],
                                  info=_run_info(p.parent))]
    if is_wandb_log(head):
        return [WandbSource(p, p.parent.name, column_map)]
    if hf.is_trainer_state(head):
        return [hf.TrainerStateSource(p.parent, p.parent.name, column_map, state=p)]
    if mlflow.is_mlflow_db(p, head):
        return mlflow.db_sources(p, column_map)
    header = csv_header(head)
    if header is not None:
        return [CsvSource(p, _csv_name(p), header, _run_info(p.parent), column_map)]
    raise ReaderError(f"{p}: not a log grokwatch can read ({describe(p, head)}); it reads "
                      f"{_formats()}")


def _csv_name(p: Path) -> str:
    return p.parent.name if p.name == "metrics.csv" and p.parent.name else p.stem


def _run_info(d: Path) -> dict[str, Any]:
    """config.json of a grokwatch run, or hparams.yaml of a Lightning run, as run info."""
    from ..runs import read_json
    from .csvlog import read_hparams

    info = read_json(d / "config.json", None)
    if isinstance(info, dict):
        return info
    if (d / "hparams.yaml").is_file():
        return {"params": read_hparams(d / "hparams.yaml")}
    return {}


def _natural(name: str) -> list:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name)]


def _is_file(entry: os.DirEntry) -> bool:
    """A regular file (or a link to one); a link that loops or cannot be followed is none, so
    one bad entry never ends the scan of a whole directory."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _walk(root: Path, sniff: Sniffer, column_map, found: list[Source]) -> bool:
    """Depth-first, in natural name order; returns True when cut short by MAX_FILES."""
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        d, depth = stack.pop()
        if sniff.files >= MAX_FILES:
            return True
        try:
            entries = sorted(os.scandir(d), key=lambda e: _natural(e.name))
        except OSError:
            continue
        files = [Path(e.path) for e in entries if _is_file(e)]
        subdirs = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)
                   and e.name not in _SKIP_DIRS and not e.name.startswith(".")]
        name = d.relative_to(root).as_posix() if d != root else root.name
        if (d / "meta.yaml").is_file():  # an MLflow experiment: its runs in the order they started
            subdirs.sort(key=mlflow.start_time)
        descend = _dir_sources(d, root, name, files, sniff, column_map, found)
        if descend and depth < MAX_DEPTH:
            stack.extend((s, depth + 1) for s in reversed(subdirs))
    return False


def _dir_sources(d: Path, root: Path, name: str, files: list[Path], sniff: Sniffer, column_map,
                 found: list[Source]) -> bool:
    """The runs directory `d` itself holds; returns whether to look in its sub-directories
    (not inside a run that owns them: an MLflow run, a W&B run, an HF output directory)."""
    if mlflow.is_run_dir(d):
        if not mlflow.is_deleted(d):
            found.append(mlflow.MlflowFileSource(d, mlflow.run_name(d) or name, column_map))
        return False
    states = [s for s in hf.candidates(d) if hf.is_trainer_state(sniff(s))]
    if states:
        found.append(hf.TrainerStateSource(d, name, column_map))
        return False
    logs = [f for f in files if is_wandb_log(sniff(f))]
    for f in logs:
        found.append(WandbSource(f, name if len(logs) == 1 else f"{name}/{f.stem}", column_map))
    if logs:
        return False
    info = None
    if any(is_event_file(sniff(f)) for f in files):
        info = _run_info(d)  # Lightning's TensorBoardLogger leaves hparams.yaml beside
        found.append(TensorBoardSource(d, name, sniff, column_map, info=info))
    for f in files:
        head = sniff(f)
        fmt = next((fmt for fmt in REGISTERED if fmt.sniff(f, head)), None)
        if fmt is not None:
            found.extend(fmt.sources(f, f.stem if d == root else f"{name}/{f.stem}", column_map))
            continue
        header = csv_header(head)
        if header is not None:
            info = _run_info(d) if info is None else info
            label = (name if f.name == "metrics.csv" else
                     f.stem if d == root else f"{name}/{f.stem}")
            found.append(CsvSource(f, label, header, info, column_map))
        elif mlflow.is_mlflow_db(f, head):
            found.extend(mlflow.db_sources(f, column_map))
    return True
