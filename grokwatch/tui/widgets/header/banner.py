"""The config-error banner: a broken edit of experiments.toml, shown until it is fixed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ConfigBanner(Static):
    DEFAULT_CSS = """
    ConfigBanner { display: none; height: auto; max-height: 6; background: $error; color: $text;
                   padding: 0 1; text-style: bold; }
    ConfigBanner.-shown { display: block; }
    """

    def show_error(self, message: str | None, heading: str | None = None) -> None:
        if not message:
            self.set_class(False, "-shown")
            self.update("")
            return
        t = Text()
        t.append(heading or "experiments.toml has an error — runs already going keep going; fix it and save "
                 "(e edits it):\n", style="bold")
        t.append(message, style="not bold")
        self.update(t)
        self.set_class(True, "-shown")
