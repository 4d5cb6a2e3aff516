"""W&B offline runs: the run's transaction log (`run-<id>.wandb`), decoded with wandb's own
protobuf schema (`grokwatch[wandb]`).

wandb 0.31 ships no Python reader of its `.wandb` files (its datastore moved into the Go
`wandb-core`), so the framing is read here: a 7-byte header (":W&B", magic 0xBEE1,
version 0), then LevelDB-log records in 32 KiB blocks — CRC-32 of type and data, a 2-byte
length, a type (full, or first/middle/last pieces of a record spanning blocks). Each record
is a `wandb_internal_pb2.Record`; `history` records are the `wandb.log` calls (`_step` is
the step, `_timestamp` the wall time), `config` and `run` records hold the parameters.

Live: the file offset of the next record is kept, and a record not yet complete is read
again once it is; a record whose checksum fails is counted and skipped.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

from .base import Source, need

FORMAT = "a W&B run log (.wandb)"
MAGIC = b":W&B\xe1\xbe"
HEADER = 7
BLOCK = 32768
RECORD_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def is_wandb_log(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class WandbSource(Source):
    format = FORMAT
    extra = "wandb"

    def __init__(self, log: Path, name: str, column_map=None):
        super().__init__(log, name, column_map=column_map)
        self.log = Path(log)
        self._pos = HEADER
        self._pieces: list[bytes] = []
        self._typed = False
        self.params: dict = {}
        self.info["params"] = self.params

    def _load(self, final: bool = False) -> None:
        pb = need("wandb.proto.wandb_internal_pb2", "wandb", f"{self.log}: {FORMAT}")
        # wandb 0.31's HistoryItem has a typed `value` oneof beside value_json (which 0.31
        # still writes); read whichever is set
        self._typed = "value" in pb.HistoryItem.DESCRIPTOR.oneofs_by_name
        for data in self._records():
            rec = pb.Record()
            try:
                rec.ParseFromString(data)
            except Exception:  # noqa: BLE001 — protobuf's DecodeError; counted
                self.bad(data[:40])
                continue
            kind = rec.WhichOneof("record_type")
            if kind == "history":
                self._history(rec.history)
            elif kind == "config":
                self._config(rec.config)
            elif kind == "run":
                self._config(rec.run.config)
                if rec.run.display_name:
                    self.info["run_name"] = rec.run.display_name

    def _config(self, cfg) -> None:
        for item in cfg.update:
            key = item.key or "/".join(item.nested_key)
            if key.startswith("_"):
                continue
            try:
                v = json.loads(item.value_json)
            except ValueError:
                continue
            self.params[key] = v.get("value", v) if isinstance(v, dict) and set(v) <= {"value", "desc"} else v

    def _history(self, hist) -> None:
        values: dict[str, float] = {}
        step = wall = None
        for item in hist.item:
            key = item.key or "/".join(item.nested_key)
            typed = item.WhichOneof("value") if self._typed else None
            if typed in ("integer", "number"):  # newer writers: a typed value, no JSON
                v = getattr(item, typed)
            elif typed in ("none", "boolean", "text"):
                continue  # not a curve
            else:
                text = item.json if typed == "json" else item.value_json
                try:
                    v = json.loads(text)
                except ValueError:
                    self.bad(f"{key}={text}")
                    continue
            if key == "_step":
                step = _number(v)
            elif key == "_timestamp":
                wall = _number(v)
            elif not key.startswith("_"):
                num = _number(v)
                if num is not None:  # media, tables and strings are not curves
                    values[key] = num
        if step is None and hist.HasField("step"):
            step = float(hist.step.num)
        if step is None or not math.isfinite(step):
            self.bad(f"a history record without a step: {sorted(values)}")
            return
        for k, v in values.items():
            self._steps.add(step, k, v, wall)

    def _records(self) -> list[bytes]:
        """The complete records from `self._pos` on; the position moves past them."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return []
        out: list[bytes] = []
        i = 0  # index into data; file offset = self._pos + i
        while True:
            left = BLOCK - (self._pos + i) % BLOCK
            if left < RECORD_HEADER:  # the rest of the block is padding
                if len(data) - i < left:
                    break
                i += left
                continue
            if len(data) - i < RECORD_HEADER:
                break
            crc, length, kind = struct.unpack_from("<IHB", data, i)
            if kind == 0 and length == 0:  # zeros: not written yet
                break
            end = i + RECORD_HEADER + length
            if end > len(data):
                break
            body = data[i + RECORD_HEADER:end]
            i = end
            if zlib.crc32(bytes([kind]) + body) & 0xFFFFFFFF != crc or length > left - RECORD_HEADER:
                self.bad(body[:40])
                self._pieces = []
                continue
            if kind == FULL:
                out.append(body)
                self._pieces = []
            elif kind == FIRST:
                self._pieces = [body]
            elif kind == MIDDLE and self._pieces:
                self._pieces.append(body)
            elif kind == LAST and self._pieces:
                out.append(b"".join(self._pieces + [body]))
                self._pieces = []
            else:
                self.bad(body[:40])
                self._pieces = []
        self._pos += i
        return out
