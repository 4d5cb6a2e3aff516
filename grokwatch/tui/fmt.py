"""Number, time and progress formatting for the dashboard (pure functions)."""

from __future__ import annotations

import math
import time

from . import clock

BLOCKS = " ▏▎▍▌▋▊▉█"


def num(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2g}"
    return f"{v:.{digits}f}" if a < 10 else f"{v:.{max(digits - 2, 0)}f}"


def step(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    v = float(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            x = v / div
            s = f"{x:.1f}" if x < 100 else f"{x:.0f}"
            return s.rstrip("0").rstrip(".") + suffix if "." in s else s + suffix
    return f"{v:.0f}" if v == int(v) else f"{v:g}"


def duration(s: float | None) -> str:
    if s is None or math.isnan(s) or math.isinf(s):
        return "—"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def rate(r: float | None) -> str:
    if not r:
        return "—"
    if r >= 100:
        return f"{r:.0f}"
    if r >= 10:
        return f"{r:.1f}"
    return f"{r:.2f}"


def bar(frac: float | None, width: int = 8) -> str:
    """A smooth progress bar of `width` cells (eighth-block resolution)."""
    if frac is None:
        return " " * width
    frac = min(max(frac, 0.0), 1.0)
    eighths = int(round(frac * width * 8))
    full, part = divmod(eighths, 8)
    s = "█" * full + (BLOCKS[part] if part and full < width else "")
    return s.ljust(width, "·")


def clock_time(t: float | None) -> str:
    if not t:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(t))


def ago(t: float | None) -> str:
    if not t:
        return "—"
    return duration(max(0.0, clock.now() - t)) + " ago"


def ticks_linear(x0: float, x1: float, n: int = 5) -> list[float]:
    """Round tick positions over [x0, x1]."""
    span = x1 - x0
    if span <= 0:
        return [x0]
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            stepv = m * mag
            break
    start = math.ceil(x0 / stepv) * stepv
    out = []
    v = start
    while v <= x1 + 1e-9 * span:
        out.append(round(v, 12))
        v += stepv
    return out


def ticks_log(x0: float, x1: float) -> list[float]:
    """Tick positions (in log10 space) at 1, 10, 100… or 1, 2, 5, 10… for short ranges."""
    lo, hi = math.floor(x0), math.ceil(x1)
    decades = [float(k) for k in range(lo, hi + 1) if x0 - 1e-9 <= k <= x1 + 1e-9]
    if len(decades) >= 3:
        return decades
    out = []
    for k in range(lo, hi + 1):
        for m in (1, 2, 5):
            v = k + math.log10(m)
            if x0 - 1e-9 <= v <= x1 + 1e-9:
                out.append(v)
    return out or [x0]
