"""The start screen, shown only where there is no experiments.toml, no runs/ and no live
runner: nothing starts until the user says so."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from ..widgets.footer.key_bar import KeyBar

TEXT = """[b]grokwatch[/b] — watch grokking, overfitting and double descent live

There is no [b]experiments.toml[/b] here and no runs yet. Nothing has started.

  [b]Enter[/b]  start the built-in demo queue: small grokking, overfitting and
         double-descent experiments sized for two CPU cores (about five minutes)
  [b]i[/b]      write [b]experiments.toml[/b] (the demo queue, commented) to edit first
  [b]q[/b]      quit
"""

WRITTEN = """[b]grokwatch[/b]

Wrote [b]{path}[/b] — the demo queue, commented. Nothing has started yet.

  [b]Enter[/b]  start its queue now
  [b]e[/b]      edit it first (in $EDITOR), then Enter
  [b]q[/b]      quit (start it later with `grokwatch`)
"""


class StartScreen(Screen):
    DEFAULT_CSS = """
    StartScreen { align: center middle; }
    StartScreen Vertical { width: 84; max-width: 100%; height: auto; border: round $accent;
                           padding: 1 2; }
    """
    BINDINGS = [Binding("enter", "start", "start"), Binding("i", "init", "write experiments.toml"),
                Binding("e", "edit", "edit", show=False), Binding("q", "app.quit", "quit")]

    @dataclass
    class Chosen(Message):
        """The user chose: `demo` (Enter) or `file` (Enter after i)."""

        what: str

    def __init__(self) -> None:
        super().__init__()
        self.written = False

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical():
                yield Static(TEXT, id="start-text")
        yield KeyBar(self.BINDINGS)

    def action_start(self) -> None:
        self.app.post_message(self.Chosen("file" if self.written else "demo"))

    def action_init(self) -> None:
        if self.written:
            return
        path = self.app.write_experiments_file()  # type: ignore[attr-defined]
        self.written = True
        self.query_one("#start-text", Static).update(WRITTEN.format(path=path.name))

    def action_edit(self) -> None:
        if self.written:
            self.app.edit_config()  # type: ignore[attr-defined]
