"""The main chart: built off the event loop in a thread worker, redrawn at most once a second
for new data (at once for a key) and only when its picture changed."""

from __future__ import annotations

import importlib
import os
import time
from typing import Callable

from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from ...chartout import ChartCache, ChartJob, ChartOut

MIN_INTERVAL_S = 1.0  # new data redraws at most once a second; keys redraw at once


__all__ = ["ChartJob", "ChartPanel", "build"]


def build(job: ChartJob) -> ChartOut:
    """Runs in the chart's thread worker (numpy and plotext are imported there, not at start):
    the view mode's builder, from the table in view.py."""
    if not job.runs:
        return ChartOut("", [], "", note="no run selected")
    module, _, name = job.view.spec.builder.rpartition(":")
    return getattr(importlib.import_module(module or "grokwatch.tui.charts"), name)(job)


class ChartPanel(Vertical):
    class Drawn(Message):
        """A chart was built and shown."""

    class Failed(Message):
        """The chart's thread worker raised outside the build (the screen shows it)."""

        def __init__(self, worker: Worker) -> None:
            super().__init__()
            self.worker = worker

    DEFAULT_CSS = """
    ChartPanel { height: 1fr; min-height: 8; }
    ChartPanel > #chart-title { height: 1; text-style: bold; padding: 0 1; }
    ChartPanel > #chart-legend { height: 1; padding: 0 1; }
    ChartPanel > #chart-canvas { height: 1fr; }
    """

    def __init__(self, source: Callable[[], ChartJob | None], **kw) -> None:
        super().__init__(**kw)
        self.source = source  # the screen says what to draw
        self.dirty = True
        self.building = False
        self.builds = 0  # charts shown
        self.unchanged = 0  # builds that would have shown the same picture: not shown again
        self.cache: ChartCache | None = None
        self.last_out: ChartOut | None = None
        self._last_build = 0.0
        self.color = not os.environ.get("NO_COLOR")

    def compose(self):
        yield Static("", id="chart-title")
        yield Static("", id="chart-legend")
        yield Static("", id="chart-canvas")

    def on_mount(self) -> None:
        self.set_interval(MIN_INTERVAL_S, self._maybe_build)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # not a build error (those are drawn): say so, draw again
            self.building = False
            self.dirty = True
            self.post_message(self.Failed(event.worker))

    def on_resize(self) -> None:
        self.mark_dirty(now=True)

    def mark_dirty(self, now: bool = False) -> None:
        self.dirty = True
        if now:
            self._maybe_build(force=True)

    def _maybe_build(self, force: bool = False) -> None:
        if not self.dirty or self.building:
            return
        if not force and time.monotonic() - self._last_build < MIN_INTERVAL_S * 0.9:
            return
        canvas = self.query_one("#chart-canvas", Static)
        w, h = canvas.size.width, canvas.size.height
        if w < 10 or h < 4:
            return
        job = self.source()
        if job is None:
            return
        if self.cache is None:
            self.cache = ChartCache()
        job.width, job.height, job.color, job.cache = w, h, self.color, self.cache
        self.dirty = False
        self.building = True
        self._last_build = time.monotonic()
        self._build(job)

    @work(thread=True, exclusive=True, group="chart", exit_on_error=False, description="Building the chart")
    def _build(self, job: ChartJob) -> None:
        try:
            out = build(job)
        except Exception as e:  # noqa: BLE001 — a chart must never take the app down
            out = ChartOut("", [], "chart", note=f"could not draw: {e!r}")
        if out == self.last_out:  # the same picture: nothing to redraw
            self.app.call_from_thread(self._same, out)
            return
        text = Text.from_ansi(out.ansi) if out.ansi else Text(out.note or "", style="dim italic")
        self.app.call_from_thread(self._show, out, text)

    def _same(self, out: ChartOut) -> None:
        self.building = False
        if out.again:
            self.dirty = True
        self.unchanged += 1
        self.last_out = out
        self.post_message(self.Drawn())

    def _show(self, out: ChartOut, text: Text) -> None:
        self.building = False
        if out.again:
            self.dirty = True  # built again on the next tick
        self.builds += 1
        self.last_out = out
        self.query_one("#chart-title", Static).update(Text(out.title or "", style="bold"))
        leg = Text()
        for label, color in out.legend:
            if color is not None:
                leg.append("━━ ", style=f"rgb({color[0]},{color[1]},{color[2]})")
            leg.append(label + "   ")
        flags = []
        if out.logx:
            flags.append("log-x")
        if out.logy:
            flags.append("log-y")
        if out.note and out.ansi:
            flags.append(out.note)
        if flags:
            leg.append(" · ".join(flags), style="dim")
        self.query_one("#chart-legend", Static).update(leg)
        self.query_one("#chart-canvas", Static).update(text)
        self.post_message(self.Drawn())
