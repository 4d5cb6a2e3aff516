"""What a chart build hands back, and what it remembers: plain dataclasses, no numpy (the
widget uses them on the event loop; charts.py, which needs numpy, is imported in its thread)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ChartOut:
    ansi: str
    legend: list[tuple[str, tuple[int, int, int] | None]] = field(default_factory=list)
    title: str = ""
    note: str = ""
    logx: bool = False


@dataclass
class ChartCache:
    """The last figure built for one chart panel: its signature and its ANSI text."""

    sig: bytes = b""
    ansi: str = ""
    hits: int = 0
