"""The top line: where we are, what the runner is doing, what its GPUs are doing (runner.json's
`gpus`, only while a runner holds the project and it has GPUs), how much is still loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Static

from ....runner.gpustats import format_gpus


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, *, mode: str, project: Path | None, config: Path | None, holder: dict | None,
             runner_status: dict[str, Any], counts: dict[str, int], loading: int,
             starting: bool = False, other_config: str | None = None) -> None:
        t = Text()
        t.append("grokwatch", style="bold")
        if mode == "view":
            t.append("  view (launches nothing)", style="italic")
        elif holder:
            t.append(f"  runner pid {holder.get('pid')} on {holder.get('host')}")
            if other_config:
                t.append(f" · viewer of {other_config}", style="bold")
            elif config is not None:
                t.append(f" · {config.name}")
        elif starting:
            t.append("  starting the runner…", style="italic")
        else:
            t.append("  no runner", style="dim")
            if config is not None:
                t.append(f" · {config.name}")
        parts = [f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9))]
        if parts:
            t.append("   " + " · ".join(parts))
        gpus = format_gpus(runner_status.get("gpus")) if holder else ""
        if gpus:
            t.append("   " + gpus, style="bold")
        if loading:
            t.append(f"   loading {loading}…", style="italic")
        self.update(t)


_ORDER = {"running": 0, "live": 0, "queued": 1, "done": 2, "failed": 3, "diverged": 4, "stopped": 5,
          "lost": 6}
