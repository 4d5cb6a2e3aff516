"""The runner banner: the runner died under us — what happened, and what grokwatch does about it."""

from __future__ import annotations

from textual.widgets import Static


class RunnerBanner(Static):
    DEFAULT_CSS = """
    RunnerBanner { display: none; height: auto; max-height: 8; background: $warning-muted;
                   color: $text; padding: 0 1; }
    RunnerBanner.-shown { display: block; }
    RunnerBanner.-error { background: $error; text-style: bold; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text = ""
        self.until_runner = False  # hide once a runner holds the directory again

    def show_text(self, text: str, *, error: bool = False, until_runner: bool = False) -> None:
        self.text = text
        self.until_runner = until_runner
        self.update(text)
        self.set_class(error, "-error")
        self.set_class(True, "-shown")

    def hide(self) -> None:
        self.text = ""
        self.until_runner = False
        self.update("")
        self.set_class(False, "-shown")
