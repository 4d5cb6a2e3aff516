"""CSV logs: grokwatch's own `metrics.csv`, a script's own CSV, Keras' `CSVLogger` (an
`epoch` column, `accuracy`/`val_accuracy`), Lightning's `CSVLogger` (`version_N/metrics.csv`
beside `hparams.yaml`: sparse rows, `*_step`/`*_epoch` names). Standard library.

The rows come from `runs.MetricsTail` (the one tolerant CSV tail: offsets, half-written
last line, a rewritten file read again, names through `grokwatch.columns`), so every
reader of CSVs agrees; rows of one step (Lightning writes the train and the validation
values of a step on separate lines) are merged. `csv` is set, so a caller that tails CSVs
natively (the dashboard) reads the file itself.
"""

from __future__ import annotations

from pathlib import Path

from ..columns import canonical_columns, has_usable_metrics, split_header
from ..runs import MetricsTail
from .base import Source

FORMAT = "a CSV log"
LIGHTNING = "a Lightning CSVLogger log"
KERAS = "a Keras CSVLogger log"
GROKWATCH = "a grokwatch run"


def csv_header(head: bytes) -> list[str] | None:
    """The header of a CSV whose columns grokwatch can use (a step or epoch column and a
    train/test curve), else None. Text only: a NUL or undecodable byte is not a CSV."""
    if b"\x00" in head or b"\n" not in head:
        return None
    try:
        line = head.split(b"\n", 1)[0].decode("utf-8").strip("\r\ufeff")
    except UnicodeDecodeError:
        return None
    fields = split_header(line)  # (the one header parser: BOM, R's quoted names)
    if len(fields) < 2 or not has_usable_metrics(canonical_columns(fields)):
        return None
    return fields


def read_hparams(path: Path) -> dict[str, object]:
    """Lightning's hparams.yaml, its flat `key: value` lines (numbers as numbers)."""
    out: dict[str, object] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if ":" not in line or line.startswith((" ", "-", "#")):
            continue
        k, _, v = line.partition(":")
        v = v.strip().strip("'\"")
        if not v:
            continue
        try:
            out[k.strip()] = int(v)
        except ValueError:
            try:
                out[k.strip()] = float(v)
            except ValueError:
                out[k.strip()] = v
    return out


class CsvSource(Source):
    def __init__(self, path: Path, name: str, header: list[str], info=None, column_map=None):
        super().__init__(path, name, info, column_map=column_map)
        self.csv = Path(path)
        self.format = self._format(header)
        self._tail = MetricsTail(self.csv, column_map or None)
        from .base import StepRows

        self._steps = StepRows(canonical=True)

    def _format(self, header: list[str]) -> str:
        if (self.path.parent / "hparams.yaml").is_file() or any(
                h.endswith(("_step", "_epoch")) for h in header):
            return LIGHTNING
        if (self.path.parent / "config.json").is_file() and self.path.name == "metrics.csv":
            return GROKWATCH
        if header and header[0].strip().lower() == "epoch":
            return KERAS
        return FORMAT

    def _load(self, final: bool = False) -> None:
        rows = self._tail.read(final=final)
        if self._tail.replaced:  # rewritten from the top: start over
            self._tail.replaced = False
            self._steps.pending.clear()
        for row in rows:
            step = row.get("step")
            if step is None:
                self.bad(f"a row without a step: {sorted(row)}")
                continue
            for k, v in row.items():
                if k != "step":
                    self._steps.add(step, k, v)
            if not row.keys() - {"step"}:
                self._steps.pending.setdefault(step, {})
        self.bad_rows = max(self.bad_rows, self._tail.bad_lines)
        self.first_bad = self.first_bad or self._tail.first_bad
