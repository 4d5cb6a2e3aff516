"""The key bar: one line of the screen's keys, each clickable.

Textual's Footer is a widget per key, restyled whenever the focus moves: ~90 ms at start-up, most
of the dashboard's own start time. This is one Static built from the screen's BINDINGS, the same
look, as many keys as fit, and `^p palette` at the right. Where not all fit, the keys listed in
`priority` go first (the rest in their order) and are still shown in the screen's order.
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

    def __init__(self, bindings: list[Binding], *, palette: bool = True,
                 priority: tuple[str, ...] = (), **kw) -> None:
        super().__init__(**kw)
        self.bindings = [b for b in bindings if b.show]
        self.items: list[tuple[str, str, str]] = []
        self.palette = palette
        # keys (as bound) in the order they claim room; the rest after them, `?` help always first
        rank = {k: i for i, k in enumerate(priority)}
        n = len(self.bindings)
        self.rank = [rank.get(b.key, n + i) for i, b in enumerate(self.bindings)]
        if self.bindings and self.bindings[-1].key not in rank:
            self.rank[-1] = -1  # the last key (help) always fits

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
        keep: set[int] = set()
        used = 0
        for i in sorted(range(len(parts)), key=lambda i: self.rank[i]):
            if used + parts[i].cell_length > room:
                break
            keep.add(i)
            used += parts[i].cell_length
        line = Content("").join(p for i, p in enumerate(parts) if i in keep)
        if right:
            pad = max(0, width - line.cell_length - len(right))
            line = line + Content(" " * pad) + Content.from_markup(
                "[@click=app.command_palette][$footer-description-foreground]▏[/]"
                "[b $footer-key-foreground]^p[/] [$footer-description-foreground]palette[/][/]")
        self.update(line)
