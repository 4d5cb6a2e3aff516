"""The dashboard's clock: one place to freeze time in snapshot tests."""

from __future__ import annotations

import time

_frozen: float | None = None


def now() -> float:
    return time.time() if _frozen is None else _frozen


def freeze(t: float | None) -> None:
    """Freeze the clock at `t` (None: let it run again)."""
    global _frozen
    _frozen = t
