"""`?`: every key, in one modal list, built from the live bindings of the screen beneath (so the
help and the bindings cannot disagree)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 84; max-width: 95%; height: auto; max-height: 90%;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "close", show=False)]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows  # (key as written, what it does)

    def compose(self) -> ComposeResult:
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold cyan", no_wrap=True)
        t.add_column()
        for k, what in self.rows:
            t.add_row(k, what)
        with VerticalScroll():
            yield Static("[b]grokwatch keys[/b]  (mouse works too, never needed)\n")
            yield Static(t)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
