"""The run table: one row per run — name, kind, state, progress, errors, speed, ETA, alerts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ....detect.kinds import kind_of
from ... import fmt
from ...data.order import state_order
from ...data.store import RunData

STATE_STYLE = {"running": "bold green", "live": "bold green", "queued": "cyan", "done": "",
               "failed": "bold red", "diverged": "bold magenta", "stopped": "yellow", "lost": "red",
               "requeued": "cyan", "file": "dim"}
ALERT_ROW = Style(bold=True, bgcolor="#5f4500")

WIDTHS = {"sel": 1, "kind": 14, "state": 8, "step": 11, "bar": 8, "train": 7, "test": 7, "rate": 7,
          "eta": 7, "device": 6, "alerts": 8}
WIDE = [("sel", ""), ("run", "run"), ("kind", "kind"), ("state", "state"), ("step", "step"),
        ("bar", "progress"), ("train", "train"), ("test", "test"), ("rate", "steps/s"),
        ("eta", "ETA"), ("device", "device"), ("alerts", "alerts")]
NARROW = [("sel", ""), ("run", "run"), ("state", "state"), ("step", "step"), ("bar", "progress"),
          ("train", "train"), ("test", "test"), ("eta", "ETA"), ("alerts", "alerts")]


def badge(run: RunData) -> str:
    """The latest alert's badge (or a later milestone's: `generalized`), +N for the others."""
    shown = list(run.alerts)
    if run.events:
        milestones = [e for e in run.events if (k := kind_of(e.get("kind"))) is not None and not k.alert]
        shown = sorted(shown + milestones, key=_step_of)
    if not shown:
        return ""
    last = shown[-1].get("kind", "")
    k = kind_of(last)
    b = k.badge if k is not None else "!" + str(last)[:5]
    return b + (f"+{len(shown) - 1}" if len(shown) > 1 else "")


def _step_of(e: dict) -> float:
    s = e.get("step")
    return float(s) if isinstance(s, (int, float)) else 0.0


def _sig(v: object) -> str:
    return f"{v}|{v.style}" if isinstance(v, Text) else str(v)


_SEED_TAIL = re.compile(r"-s(\d+|\*)(?:-[0-9a-f]{4,})?( ×\d+)?$")


def short_name(label: str, experiment: str, sweep: dict, width: int) -> str:
    """The run's name in `width` cells. Too long, a swept run is named by what tells it apart —
    experiment, swept values, seed (`dd 100 s0`; the id's hash left out) — and only then cut in
    the middle: cut as a whole, every run of a sweep read `dd-n_f…-c01000` on an 80-column screen."""
    if len(label) <= width:
        return label
    m = _SEED_TAIL.search(label)
    if sweep and m:
        vals = ",".join(str(v) for v in sweep.values())
        tail = f" s{m.group(1)}{m.group(2) or ''}"
        rest = f"{vals}{tail}"
        room = width - len(rest) - 2  # for a cut experiment name: `overfit… 10 s0`
        label = next((c for c in (f"{experiment} {rest}", f"{experiment[:room]}… {rest}" if room >= 3 else "")
                      if c and len(c) <= width), rest)
        if len(label) <= width:
            return label
    return label[:width // 2 - 1] + "…" + label[-(width - width // 2):]


class RunTable(DataTable):
    """Runs, filtered; `space` marks runs for compare/stop/retry."""

    DEFAULT_CSS = """
    RunTable { height: auto; max-height: 40%; min-height: 4; }
    """

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another run."""

        key: str | None

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.selected: set[str] = set()
        self.unseen: set[str] = set()  # runs with an alert not looked at yet
        self.chosen: str | None = None  # the last run selected by choice, not by following
        self.filter = ""
        self.metric = "error"
        self.sort = "state"  # state: running, queue, ended (newest first) | name: the store's order
        self._cols: list[tuple[str, str]] = []
        self._keys: list[str] = []
        self._run_w = 0
        self._w = dict(WIDTHS)  # state and device grow for a cluster job's reason and node
        self._shown: dict[tuple[str, str], str] = {}  # what each cell shows, to skip no-op updates

    # ---------------------------------------------------------------- layout

    def columns_for(self, width: int) -> list[tuple[str, str]]:
        return WIDE if width >= 130 else NARROW

    def run_width(self, width: int) -> int:
        cols = self.columns_for(width)
        others = sum(self._w[k] for k, _ in cols if k != "run") + 2 * len(cols) + 2
        return max(14, min(34, width - others))

    def ensure_columns(self, width: int, widths: dict[str, int] | None = None) -> bool:
        """Fixed column widths (cheap, and stable from the first frame); the name takes the rest."""
        cols = self.columns_for(width)
        old_w = self._w
        self._w = {**WIDTHS, **(widths or {})}
        rw = self.run_width(width)
        if cols == self._cols and rw == self._run_w and self._w == old_w:
            return False
        self.clear(columns=True)
        for key, label in cols:
            self.add_column(label, key=key, width=rw if key == "run" else self._w[key])
        self._cols = cols
        self._run_w = rw
        self._keys = []
        return True

    # ---------------------------------------------------------------- content

    def matches(self, run: RunData) -> bool:
        if not self.filter:
            return True
        hay = " ".join([run.key, run.experiment, run.kind, run.state, run.device,
                        " ".join(f"{k}={v}" for k, v in run.sweep.items())]).lower()
        return all(w in hay for w in self.filter.lower().split())

    def cells(self, run: RunData) -> dict[str, object]:
        alert = run.key in self.unseen
        st = ALERT_ROW if alert else Style()
        m = self.metric if self.metric != "acc" else "acc"
        step, total = run.step, run.total
        frac = (step / total) if step is not None and total else None
        state = run.state
        rw = self._run_w
        label = getattr(run, "label", None) or run.key  # a folded seed group: `dd-n=10-s* ×3`
        name = short_name(label, run.experiment, run.sweep, rw)
        c: dict[str, object] = {
            "sel": Text("●" if run.key in self.selected else " ", style=st + Style(color="cyan")),
            "run": Text(name, style=st),
            "kind": Text(run.kind, style=st),
            "state": Text(run.state_label, style=st + Style.parse(STATE_STYLE.get(state, "") or "none")),
            "step": Text(fmt.step(step) + ("/" + fmt.step(total) if total else ""), style=st,
                         justify="right"),
            "bar": Text(fmt.bar(frac, 8), style=st + Style(color="green" if state != "failed" else "red")),
            "train": Text(fmt.num(run.latest.get(f"train_{m}")), style=st, justify="right"),
            "test": Text(fmt.num(run.latest.get(f"test_{m}")), style=st, justify="right"),
            "rate": Text(fmt.rate(run.rate) if run.running else "—", style=st, justify="right"),
            "eta": Text(fmt.duration(run.eta_s) if run.running else "—", style=st, justify="right"),
            "device": Text(run.device, style=st),
            "alerts": Text(badge(run), style=st + Style(color="yellow", bold=True)),
        }
        return c

    def sync(self, runs: dict[str, RunData], order: list[str], dirty: set[str] | None = None,
             width: int | None = None) -> None:
        """Bring the rows in line with the store: add/remove rows, update changed cells."""
        widths = {}
        vals = list(runs.values())
        if any(r.executor for r in vals):  # a cluster job: its pending reason, its id and node
            widths["state"] = min(22, max([WIDTHS["state"]] + [len(r.state_label) for r in vals]))
            widths["device"] = min(20, max([WIDTHS["device"]] + [len(r.device) for r in vals]))
        rebuilt = self.ensure_columns(width or self.size.width or 80, widths)
        keys = [k for k in order if k in runs and self.matches(runs[k])]
        if self.sort == "state":
            keys = state_order(runs, keys)
        cur = self.current_key
        if rebuilt or keys != self._keys:
            # the highlighted run keeps its row on screen when rows move around it
            above = self.cursor_row - int(self.scroll_y) if cur in keys else None
            self.clear()
            self._shown.clear()
            for k in keys:
                c = self.cells(runs[k])
                self.add_row(*[c[col] for col, _ in self._cols], key=k)
                self._remember(k, c)
            self._keys = keys
            if cur in keys:
                row = keys.index(cur)
                if above is not None and 0 <= above:
                    self.move_cursor(row=row, animate=False, scroll=False)
                    self.scroll_to(y=max(0, row - above), animate=False, immediate=True)
                else:
                    self.move_cursor(row=row, animate=False)
            return
        for k in (dirty if dirty is not None else set(keys)):
            if k not in runs or k not in keys:
                continue
            c = self.cells(runs[k])
            for col, _ in self._cols:
                v = c[col]
                sig = _sig(v)
                if self._shown.get((k, col)) != sig:
                    self._shown[(k, col)] = sig
                    self.update_cell(k, col, v)

    def _remember(self, key: str, cells: dict[str, object]) -> None:
        for col, _ in self._cols:
            self._shown[(key, col)] = _sig(cells[col])

    @property
    def current_key(self) -> str | None:
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    @property
    def visible_keys(self) -> list[str]:
        return list(self._keys)

    def select_key(self, key: str) -> None:
        """Select a run by choice (the alert list, a test): the dashboard stops following."""
        self.chosen = key
        self.follow_key(key)

    def follow_key(self, key: str) -> None:
        """Select a run on the dashboard's own account (the first paint, following live runs)."""
        if key in self._keys:
            self.move_cursor(row=self._keys.index(key), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.current_key))
