"""The error banner: a background task of the dashboard raised — what failed, where, and that the
dashboard goes on. Hidden again a while after the last failure."""

from __future__ import annotations

import traceback

from textual.widgets import Static

SHOWN_S = 30.0  # after the last failure


def describe(error: BaseException | None) -> str:
    """`ValueError: bad row (poller.py:212 in tick)`: the exception and its innermost frame."""
    if error is None:
        return "an unknown error"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    tb = traceback.extract_tb(error.__traceback__)
    if tb:
        f = tb[-1]
        text += f" ({f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name})"
    return text


class ErrorBanner(Static):
    DEFAULT_CSS = """
    ErrorBanner { display: none; height: auto; max-height: 4; background: $error; color: $text;
                  padding: 0 1; }
    ErrorBanner.-shown { display: block; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text = ""
        self.failures = 0
        self._timer = None

    def show_error(self, what: str, error: BaseException | None, after: str = "") -> None:
        self.failures += 1
        times = f" ({self.failures} failures so far)" if self.failures > 1 else ""
        self.text = f"{what} failed: {describe(error)}{after}{times}"
        self.update(self.text)
        self.set_class(True, "-shown")
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(SHOWN_S, self.hide)

    def hide(self) -> None:
        self.text = ""
        self.update("")
        self.set_class(False, "-shown")
