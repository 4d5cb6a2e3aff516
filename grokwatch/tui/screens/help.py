"""`?`: every key, in one modal list."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("q", "quit — the runs keep going"),
    ("/", "filter runs (words match name, experiment, kind, state, sweep values)"),
    ("space", "select/unselect a run (for compare, stop, retry)"),
    ("enter", "detail pane: resolved config, events, worker log"),
    ("l", "log-x on/off (on by default for grokking)"),
    ("y", "log-y on/off"),
    ("m", "metric: error → loss → accuracy"),
    ("s", "smoothing: debiased EMA, raw curve faint underneath"),
    ("c", "compare: overlay the selected runs"),
    ("w", "sweep view: final error vs the swept parameter (again: next parameter)"),
    ("b", "sweep view: best instead of final values"),
    ("a", "alert list (enter jumps to the run)"),
    ("e", "edit experiments.toml in $EDITOR; the runner reloads it"),
    ("k", "stop the run(s) (asks first; they can be resumed)"),
    ("r", "retry / resume the run(s)"),
    ("escape", "back: clear the filter, leave compare/sweep, close panes"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help"),
]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; max-width: 95%; height: auto; max-height: 90%;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "close", show=False)]

    def compose(self) -> ComposeResult:
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold cyan", no_wrap=True)
        t.add_column()
        for k, what in KEYS:
            t.add_row(k, what)
        with VerticalScroll():
            yield Static("[b]grokwatch keys[/b]  (mouse works too, never needed)\n")
            yield Static(t)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
