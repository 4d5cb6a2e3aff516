"""One compact line for new alerts of runs other than the highlighted one: the latest and how many
more — instead of a stack of toasts over the chart. The full text is in the alert list (a)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


def _badge(kind: str) -> str:
    from ....detect import kind_of

    k = kind_of(kind)
    return k.badge if k is not None else "!"


class AlertLine(Static):
    DEFAULT_CSS = """
    AlertLine { display: none; height: 1; padding: 0 1; background: $warning-muted; color: $text; }
    AlertLine.-shown { display: block; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[dict[str, Any]] = []  # new alerts not yet looked at in the list

    def add(self, alerts: list[dict[str, Any]]) -> None:
        if not alerts:
            return
        self.pending += alerts
        a = self.pending[-1]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{_badge(str(a.get('kind')))} ", style="bold")
        t.append(f"{a.get('run_id')}", style="bold")
        t.append(f": {a.get('kind')} at step {a.get('step')} — {a.get('message', '')}")
        more = len(self.pending) - 1
        t.append(f"   (+{more} more · a: alert list)" if more else "   (a: alert list)", style="dim")
        self.text = t.plain
        self.update(t)
        self.set_class(True, "-shown")

    def clear(self) -> None:
        self.pending = []
        self.text = ""
        self.update("")
        self.set_class(False, "-shown")
