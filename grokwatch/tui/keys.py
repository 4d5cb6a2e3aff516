"""The dashboard's keys, declared once. The screen's BINDINGS, the key bar, the help screen and the
command palette are all built from this table (the last two from the screen's live bindings, so a
key remapped through a keymap is shown as it is bound).

Each key: what it is bound to, a short label (the key bar), a title (the command palette) and one
line of help (the help screen and the palette). A new key is one row here and one `action_` method;
a view mode with a `key` (tui/view.py MODES) needs neither: `bind_mode_keys` binds it to the screen's
`view_mode` action.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from .view import MODES

ID_PREFIX = "grokwatch."


@dataclass(frozen=True)
class Key:
    key: str
    action: str
    label: str
    title: str
    help: str
    show: bool = True  # in the key bar
    display: str | None = None  # how the key is written ("/" for slash)
    palette: bool = True  # in the command palette
    id: str | None = None  # the binding's id after ID_PREFIX (what a keymap names); default: the action


DASHBOARD_KEYS: tuple[Key, ...] = (
    Key("q", "app.quit", "quit", "Quit", "quit — the runs keep going", palette=False),
    Key("slash", "filter", "filter", "Filter runs",
        "filter runs (words match name, experiment, kind, state, sweep values)", display="/"),
    Key("space", "select", "mark", "Select run", "select/unselect a run (for compare, stop, retry)"),
    Key("enter", "detail", "detail", "Detail pane", "detail pane: resolved config, events, worker log",
        show=False),
    Key("l", "logx", "logx", "Toggle log-x", "log-x on/off (on by default for grokking)"),
    Key("y", "logy", "logy", "Toggle log-y", "log-y on/off"),
    Key("m", "metric", "metric", "Cycle metric", "metric: error → loss → accuracy"),
    Key("s", "smooth", "smooth", "Toggle smoothing", "smoothing: debiased EMA, raw curve faint underneath"),
    Key("c", "compare", "comp", "Compare selected runs", "compare: overlay the selected runs"),
    Key("w", "sweep", "sweep", "Sweep view",
        "sweep view: final error vs the swept parameter (again: next parameter)"),
    Key("b", "best", "best/final", "Sweep: best or final", "sweep view: best instead of final values",
        show=False),
    Key("p", "phase", "phase", "Phase diagram",
        "phase diagram: a summary over two swept keys, seeds averaged (again: leave)"),
    Key("v", "phase_value", "value", "Phase: next summary",
        "phase diagram: next summary (generalisation step, delay, phase, test error, memorisation)",
        show=False),
    Key("f", "phase_fix", "fix", "Phase: other fixed values",
        "phase diagram: next value of the other swept keys (more than two swept)", show=False),
    Key("g", "seeds", "seeds", "Seeds as one",
        "seeds as one: a row per seed group, drawn as its mean with a min–max band (again: apart)",
        show=False),
    Key("a", "alerts", "alerts", "Alert list", "alert list (enter jumps to the run)"),
    Key("e", "edit", "edit", "Edit experiments.toml", "edit experiments.toml in $EDITOR; the runner reloads it"),
    Key("k", "stop", "stop", "Stop runs", "stop the run(s) (asks first; they can be resumed)"),
    Key("r", "retry", "retry", "Retry runs", "retry / resume the run(s)"),
    Key("escape", "back", "back", "Back", "back: clear the filter, leave compare/sweep/phase, close panes",
        show=False, palette=False),
    Key("question_mark", "help", "help", "Help: every key", "this help", display="?"),
)

# what the key bar keeps when not every key fits (the rest: `?` help and ctrl+p)
KEY_PRIORITY = ("q", "question_mark", "slash", "space", "l", "m", "s", "c", "w", "e", "k", "r", "a", "y")

_BY_ID = {ID_PREFIX + k.action: k for k in DASHBOARD_KEYS}


def bindings(keys: tuple[Key, ...] = DASHBOARD_KEYS) -> list[Binding]:
    """The screen's BINDINGS. The help line rides along as the binding's tooltip, the key's
    identity as its id (which is also what a keymap names)."""
    return [Binding(k.key, k.action, k.label, show=k.show, key_display=k.display, tooltip=k.help,
                    id=ID_PREFIX + (k.id or k.action)) for k in keys]


def mode_keys() -> tuple[Key, ...]:
    """A key for each view mode that declares one (registered modes included)."""
    return tuple(Key(m.key, f"view_mode({m.name!r})", m.name, m.title or f"{m.name} view",
                     m.help or f"{m.name} view (again: back)", show=m.bar, id=f"view.{m.name}")
                 for m in MODES.values() if m.key)


def bind_mode_keys(node) -> None:
    """Bind the view modes' keys on one screen instance (per instance, so a mode registered after
    the screen's class was made still gets its key; a keymap applied later still remaps it)."""
    table = node._bindings.key_to_bindings  # a shallow copy of the class's: never append in place
    for b in bindings(mode_keys()):
        table[b.key] = [*table.get(b.key, ()), b]


def spec(binding: Binding) -> Key | None:
    """The declaration a live binding came from (None for Textual's own bindings)."""
    found = _BY_ID.get(binding.id or "")
    if found is None:
        found = next((k for k in mode_keys() if ID_PREFIX + (k.id or "") == binding.id), None)
    return found


def display(binding: Binding) -> str:
    """A key as the help screen writes it: `/`, `?`, `space`, `enter`, `escape`, `ctrl+p`."""
    return binding.key_display or binding.key


def live_bindings(node) -> list[Binding]:
    """A node's own bindings as bound now (after any keymap), one per action, in the order they
    were declared. (Textual's `active_bindings` would hide the screen's `enter` behind the focused
    table's, so this reads the node's own map.)"""
    seen: dict[str, Binding] = {}
    for group in node._bindings.key_to_bindings.values():
        for b in group:
            seen.setdefault(b.action, b)
    return list(seen.values())
