"""Hugging Face Trainer's `trainer_state.json` (standard library: it is JSON).

`log_history` is a list of dicts, one per logging or evaluation call, each with its `step`:
`loss` is the training loss (renamed `train_loss`), `eval_*` are the evaluation metrics
(`eval_loss` becomes `test_loss`, `eval_accuracy` `test_acc`); the closing summary entry
(`train_runtime`, an average `train_loss`) is not a point of the curve and is skipped.

The Trainer writes the file into each `checkpoint-N/` (and the output directory on
`save_state()`); in an output directory the newest state — the most steps — is read. Live:
the state is re-read when a newer file appears or the file changes, and only the steps
after the last one read are taken.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .base import ReaderError, Source

FORMAT = "a Hugging Face Trainer state (trainer_state.json)"
STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "total_flos")


def is_trainer_state(head: bytes) -> bool:
    return head.lstrip()[:1] == b"{" and b'"log_history"' in head


def candidates(d: Path) -> list[Path]:
    """trainer_state.json in `d` and in its checkpoint-N/ directories."""
    out = [d / STATE] if (d / STATE).is_file() else []
    try:
        for e in os.scandir(d):
            if e.is_dir() and _CHECKPOINT.match(e.name) and os.path.isfile(os.path.join(e.path, STATE)):
                out.append(Path(e.path) / STATE)
    except OSError:
        pass
    return out


def _global_step(state: Path) -> tuple[float, int]:
    """(steps the state covers, preference) for picking the newest; unreadable ones last."""
    m = _CHECKPOINT.match(state.parent.name)
    try:
        with open(state, encoding="utf-8") as f:
            gs = json.load(f).get("global_step")
        if isinstance(gs, (int, float)):
            return float(gs), 0 if m else 1
    except (OSError, ValueError, AttributeError):
        pass
    return (float(m.group(1)) if m else -1.0), -1


class TrainerStateSource(Source):
    format = FORMAT

    def __init__(self, run_dir: Path, name: str, column_map=None, state: Path | None = None):
        super().__init__(run_dir, name, column_map=column_map)
        self.state = state  # given: this file only (named on the command line)
        self._seen: tuple[str, float, int] | None = None
        self._last_step = float("-inf")

    def newest(self) -> Path | None:
        if self.state is not None:
            return self.state
        c = candidates(self.path)
        return max(c, key=_global_step) if c else None

    def _load(self, final: bool = False) -> None:
        state = self.newest()
        if state is None:
            return
        try:
            st = os.stat(state)
        except OSError:
            return
        key = (str(state), st.st_mtime, st.st_size)
        if key == self._seen:
            return
        try:
            with open(state, encoding="utf-8") as f:
                doc = json.load(f)
        except ValueError as exc:
            if self._seen is None:
                raise ReaderError(f"{state}: {FORMAT} that is not valid JSON ({exc}); "
                                  "is the Trainer still writing it? try again") from None
            return  # being rewritten: read on the next call
        except OSError:
            return
        self._seen = key
        history = doc.get("log_history") if isinstance(doc, dict) else None
        if not isinstance(history, list):
            raise ReaderError(f"{state}: {FORMAT} without a log_history list")
        newest = self._last_step
        for entry in history:
            if not isinstance(entry, dict) or any(k in entry for k in _SUMMARY_KEYS):
                continue
            step = entry.get("step")
            if isinstance(step, bool) or not isinstance(step, (int, float)):
                self.bad(json.dumps(entry)[:80])
                continue
            if step <= self._last_step:
                continue
            newest = max(newest, float(step))
            for k, v in entry.items():
                if k == "step" or isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                self._steps.add(float(step), "train_loss" if k == "loss" else k, float(v))
        self._last_step = newest
