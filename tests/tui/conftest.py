"""Fixtures shared by the dashboard's tests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402


@pytest.fixture
def frozen(monkeypatch):
    """A frozen clock in UTC with colour on: what the snapshots are pinned under."""
    from grokwatch.tui import clock

    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("NO_COLOR", raising=False)
    time.tzset()
    clock.freeze(tuifix.T0)
    yield
    clock.freeze(None)
    monkeypatch.undo()
    time.tzset()
