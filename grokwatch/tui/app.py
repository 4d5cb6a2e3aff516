"""The dashboard's entry points: `grokwatch` (attach, or the start screen) and `grokwatch view`.

Thin on purpose: it decides which screen to open and owns what outlives a screen (the editor,
the detach time); screens/ and widgets/ own the behaviour. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from . import keys
from .data.store import RunStore
from .screens.dashboard import Context, DashboardScreen
from .screens.start import StartScreen


class GrokwatchApp(App):
    TITLE = "grokwatch"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, ctx: Context | None = None, *, start: bool = False,
                 project_dir: Path | None = None, config_path: Path | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.start = start
        self.project_dir = project_dir or (ctx.project_dir if ctx else None)
        self.config_path = config_path or (ctx.config_path if ctx else None)

    def on_mount(self) -> None:
        if self.start:
            self.push_screen(StartScreen())
        else:
            assert self.ctx is not None
            self.push_screen(DashboardScreen(self.ctx))

    def on_unmount(self) -> None:
        if self.ctx is not None and self.ctx.mode == "attach" and self.ctx.project_dir is not None:
            _detach(self.ctx.project_dir)

    # ---------------------------------------------------------------- the start screen's choices

    def on_start_screen_chosen(self, msg: StartScreen.Chosen) -> None:
        from ..config import demo_config_path

        assert self.project_dir is not None
        path = demo_config_path() if msg.what == "demo" else self.project_dir / "experiments.toml"
        self.config_path = path
        self.ctx = attach_context(path, self.project_dir, explicit=msg.what == "demo")
        self.switch_screen(DashboardScreen(self.ctx))

    def write_experiments_file(self) -> Path:
        """`i` on the start screen: what `grokwatch init` writes."""
        from ..config import demo_config_path

        assert self.project_dir is not None
        target = self.project_dir / "experiments.toml"
        if not target.exists():
            target.write_text(demo_config_path().read_text(encoding="utf-8"), encoding="utf-8")
        self.config_path = target
        self.notify(f"wrote {target.name}", timeout=4)
        return target

    # ---------------------------------------------------------------- the editor

    def edit_config(self) -> None:
        """`e`: suspend, run $EDITOR on the experiments file, then tell the screen."""
        from ..config import demo_config_path

        path = self.config_path
        if path is None:
            return
        if Path(path).resolve() == demo_config_path().resolve():
            self.notify("this is the built-in demo queue; `grokwatch init` writes an editable "
                        "experiments.toml", timeout=6)
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            with self.suspend():
                subprocess.call([*shlex.split(editor), str(path)])
        except Exception as e:  # noqa: BLE001 — SuspendNotSupported (tests, some terminals), no editor
            self.notify(f"could not open the editor ({editor}): {e}", severity="error", timeout=6)
            return
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            screen.after_edit()

    # ---------------------------------------------------------------- the command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        dashboard = isinstance(screen, DashboardScreen)
        for cmd in super().get_system_commands(screen):
            if not (dashboard and cmd.title == "Keys"):  # the dashboard's own help (?) lists the keys
                yield cmd
        if dashboard:  # every action of the screen's live bindings
            for b in keys.live_bindings(screen):
                k = keys.spec(b)
                if k is not None and k.palette:
                    yield SystemCommand(k.title, f"{b.tooltip} ({keys.display(b)})",
                                        getattr(screen, f"action_{b.action}", None)
                                        or partial(screen.run_action, b.action))  # view_mode('x')


# ----------------------------------------------------------------------------- entry points


def _read_last_detach(project_dir: Path) -> float | None:
    from ..runner.control import last_detach_path

    try:
        return float(last_detach_path(project_dir).read_text().strip())
    except (OSError, ValueError):
        return None


def attach_context(config_path: Path, project_dir: Path, explicit: bool) -> Context:
    return Context(mode="attach", store=RunStore(), project_dir=project_dir, config_path=config_path,
                   explicit=explicit, last_detach=_read_last_detach(project_dir))


def should_start_screen(config_path: Path, project_dir: Path, explicit: bool) -> bool:
    from ..runner.lock import runner_holder

    if explicit:
        return False
    return (not Path(config_path).exists() and not (project_dir / "runs").exists()
            and not runner_holder(project_dir))


def _detach(project_dir: Path) -> None:
    """Leaving: record the time (alerts after it are 'missed' next time) and drop our heartbeat."""
    from ..runner.control import heartbeat_dir, last_detach_path

    try:
        p = last_detach_path(project_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{time.time():.3f}\n")
    except OSError:
        pass
    try:
        (heartbeat_dir(project_dir) / str(os.getpid())).unlink()
    except OSError:
        pass


def run_app(config_path: Path, project_dir: Path, explicit: bool) -> int:
    """`grokwatch [--config FILE | --demo]`: the start screen, or attach to (or start) the runner."""
    project_dir = Path(project_dir).resolve()
    start = should_start_screen(config_path, project_dir, explicit)
    ctx = None if start else attach_context(Path(config_path), project_dir, explicit)
    app = GrokwatchApp(ctx, start=start, project_dir=project_dir, config_path=Path(config_path))
    try:
        app.run()
    finally:
        if app.ctx is not None and app.ctx.mode == "attach":
            _detach(project_dir)
    return app.return_code or 0


def view_context(paths: list[Path], column_map: dict | None = None,
                 percent: bool | None = None) -> Context:
    """Run directories, directories of runs, or CSV files (a user's own: columns mapped;
    `column_map` and `percent` as `--map` and `--percent` give them)."""
    runs_dirs, run_dirs, files = [], [], []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif (p / "config.json").exists() or (p / "metrics.csv").exists():
            run_dirs.append(p)
        else:
            runs_dirs.append(p)
    store = RunStore(runs_dirs=runs_dirs, run_dirs=run_dirs, files=files, detect_files=True,
                     column_map=column_map, percent=percent)
    return Context(mode="view", store=store)


def run_view(argv: list[str]) -> int:
    """`grokwatch view PATH…`: the dashboard over existing files, launching nothing."""
    p = argparse.ArgumentParser(prog="grokwatch view",
                                description="The dashboard over run directories or CSV files.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="run directory, runs directory, CSV file, or another tool's logs "
                        "(TensorBoard, W&B, HF Trainer, MLflow, Lightning)")
    from ..columns import add_map_options, map_options
    from ..tail import csv_problem

    add_map_options(p)
    args = p.parse_args(argv)
    options = map_options(args, "grokwatch view")
    if options is None:
        return 2
    column_map, percent = options
    paths = [Path(x).resolve() for x in args.paths]
    missing = [str(x) for x in paths if not x.exists()]
    if missing:
        print(f"grokwatch: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    from ..readers import ReaderError
    from ..readers.mirror import open_for_view

    try:  # other tools' logs (TensorBoard, W&B, ...) become CSVs the dashboard tails
        paths, mirror = open_for_view(paths, column_map)
    except ReaderError as exc:
        print(f"grokwatch view: {exc}", file=sys.stderr)
        return 2
    try:
        for x in paths:
            problem = csv_problem(x) if x.is_file() else None
            if problem:
                print(f"grokwatch view: {x}: {problem}", file=sys.stderr)
                return 2
        app = GrokwatchApp(view_context(paths, column_map, percent))
        mirror.start()
        app.run()
    finally:
        mirror.close()
    return app.return_code or 0
