"""What a chart build hands back, and what it remembers: plain dataclasses, no numpy (the
widget uses them on the event loop; charts.py, which needs numpy, is imported in its thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .view import View

if TYPE_CHECKING:
    from .data.store import RunData


@dataclass
class ChartOut:
    ansi: str
    legend: list[tuple[str, tuple[int, int, int] | None]] = field(default_factory=list)
    title: str = ""
    note: str = ""
    logx: bool = False
    logy: bool = False
    again: bool = False  # the picture is not complete yet (more to compute): build again soon


@dataclass
class ChartCache:
    """The last figure built for one chart panel: its signature and its ANSI text."""

    sig: bytes = b""
    ansi: str = ""
    hits: int = 0
    summaries: dict = field(default_factory=dict)  # phase view: run key -> (signature, RunSummary)


@dataclass
class ChartJob:
    """What one chart build is asked to draw (the screen fills in the runs, the panel the size)."""

    view: View
    runs: list["RunData"]
    all_runs: list["RunData"]
    width: int
    height: int
    color: bool
    cache: ChartCache | None = None
