"""The key bar: one line of the screen's keys, each clickable.

Textual's Footer is a widget per key, restyled whenever the focus moves: ~90 ms at start-up, most
of the dashboard's own start time. This is one Static built from the screen's BINDINGS, the same
look, as many keys as fit (`?` help always does), and `^p palette` at the right.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

PALETTE = "^p palette"


class KeyBar(Static):
    ALLOW_SELECT = False
    auto_links = False  # keys keep their own colours (a link style would paint over them)
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground;
             text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, bindings: list[Binding], *, palette: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.bindings = [b for b in bindings if b.show]
        self.items: list[tuple[str, str, str]] = []
        self.palette = palette

    def on_mount(self) -> None:
        self.items = [(self.app.get_key_display(b), b.description, b.action) for b in self.bindings]
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _item(self, key: str, desc: str, action: str) -> Content:
        act = action if "." in action else f"screen.{action}"
        return Content.from_markup(
            f"[@click={act}][b $footer-key-foreground on $footer-key-background] $key "
            "[/][$footer-description-foreground on $footer-description-background]$desc [/][/]",
            key=key, desc=desc)

    def _draw(self) -> None:
        width = self.size.width or 80
        right = f"▏{PALETTE}" if self.palette else ""
        room = width - len(right)
        parts = [self._item(*it) for it in self.items]
        last = parts[-1] if parts else None
        chosen: list[Content] = []
        used = last.cell_length if last is not None else 0
        for part in parts[:-1]:
            if used + part.cell_length > room:
                break
            chosen.append(part)
            used += part.cell_length
        if last is not None and used <= room:
            chosen.append(last)
        line = Content("").join(chosen)
        if right:
            pad = max(0, width - line.cell_length - len(right))
            line = line + Content(" " * pad) + Content.from_markup(
                "[@click=app.command_palette][$footer-description-foreground]▏[/]"
                "[b $footer-key-foreground]^p[/] [$footer-description-foreground]palette[/][/]")
        self.update(line)
