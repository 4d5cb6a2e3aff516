"""The alert list: every alert of every run, newest first; missed ones (raised while no
dashboard was attached) are marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ... import fmt


class AlertList(OptionList):
    DEFAULT_CSS = """
    AlertList { height: 9; border-top: tall $warning; display: none; }
    AlertList.-shown { display: block; }
    """

    @dataclass
    class Chosen(Message):
        """Enter on an alert: show its run."""

        run_id: str

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.alerts: list[tuple[dict[str, Any], bool]] = []  # (event, missed)
        self._seen: set[tuple] = set()

    def add(self, events: list[dict[str, Any]], missed: bool = False) -> int:
        n = 0
        for e in events:
            key = (e.get("run_id"), e.get("kind"), e.get("step"), e.get("time"))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.alerts.append((e, missed))
            n += 1
        if n:
            self.alerts.sort(key=lambda a: a[0].get("time") or 0, reverse=True)
            self._render_options()
        return n

    def _render_options(self) -> None:
        self.clear_options()
        for k, (e, missed) in enumerate(self.alerts):
            t = Text()
            t.append(f"{fmt.clock_time(e.get('time'))} ", style="dim")
            if missed:
                t.append("missed ", style="bold magenta")
            t.append(f"{e.get('kind')} ", style="bold yellow")
            t.append(f"{e.get('run_id')} ", style="bold")
            t.append(f"step {fmt.step(e.get('step'))}: {e.get('message', '')}")
            self.add_option(Option(t, id=str(k)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        idx = int(event.option.id or 0)
        if 0 <= idx < len(self.alerts):
            rid = self.alerts[idx][0].get("run_id")
            if rid:
                self.post_message(self.Chosen(str(rid)))
