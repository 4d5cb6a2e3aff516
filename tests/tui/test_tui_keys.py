"""Keys are declared once (grokwatch/tui/keys.py): the bindings, the key bar, the help screen and the
command palette are built from them and cannot disagree."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "fixtures" / "tui"))
import tuifix  # noqa: E402

from grokwatch.tui import keys  # noqa: E402
from grokwatch.tui.app import GrokwatchApp, view_context  # noqa: E402
from grokwatch.tui.screens.dashboard import DashboardScreen  # noqa: E402
from grokwatch.tui.screens.help import HelpScreen  # noqa: E402


def test_every_declared_key_has_an_action_and_one_binding():
    actions = [k.action for k in keys.DASHBOARD_KEYS]
    assert len(set(actions)) == len(actions)
    for k in keys.DASHBOARD_KEYS:
        if not k.action.startswith("app."):
            assert callable(getattr(DashboardScreen, f"action_{k.action}")), k
    assert [b.action for b in DashboardScreen.BINDINGS] == actions


async def test_help_and_palette_come_from_the_live_bindings(tmp_path):
    tuifix.make_project(tmp_path)
    ctx = view_context([tmp_path / "runs"])
    ctx.use_pool = False
    app = GrokwatchApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        d = app.screen
        assert isinstance(d, DashboardScreen)
        # rebind a key as a keymap would: the help and the palette follow
        d._bindings.key_to_bindings["z"] = [b.with_key("z") for b in d._bindings.key_to_bindings.pop("l")]
        commands = list(app.get_system_commands(d))
        palette = {c.title: c.help for c in commands}
        assert "(z)" in palette["Toggle log-x"] and palette["Sweep view"].endswith("(w)")
        assert [c.title for c in commands].count("Quit") == 1  # Textual's own, not a second one
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = dict(app.screen.rows)
        assert rows["z"].startswith("log-x") and "l" not in rows
        assert rows["/"].startswith("filter") and rows["?"] == "this help" and "ctrl+p" in rows
        assert len(rows) == len(keys.DASHBOARD_KEYS) + len(keys.mode_keys()) + 1  # view modes with a key
