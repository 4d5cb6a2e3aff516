"""The dashboard: run table, main chart, detail pane, alert list; every key lives here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input

from ...runs import RETRYABLE_STATES
from ..view import METRIC_CYCLE, View, auto_logx, sweep_keys
from ..data.order import group, initial_focus
from ..data.poller import Poller, RunnerGone
from ..data.store import RunData, RunStore
from ..widgets.alerts.alert_list import AlertList
from ..widgets.chart.chart import ChartJob, ChartPanel
from ..widgets.detail.detail import DetailPane
from ..widgets.footer.key_bar import KeyBar
from ..widgets.header.banner import ConfigBanner
from ..widgets.header.runner_banner import RunnerBanner
from ..widgets.header.status_line import StatusLine
from ..widgets.runs.table import RunTable
from .confirm import ConfirmScreen
from .help import HelpScreen

# what the key bar keeps when not every key fits (the rest: `?` help and ctrl+p)
KEY_PRIORITY = ("q", "question_mark", "slash", "space", "l", "m", "s", "c", "w", "e", "k", "r", "a", "y")
STOPPABLE = ("queued", "starting", "running", "requeued")
REPLACE_GUARD_S = 30.0  # a replacement runner that dies this soon is not replaced again
MAX_REPLACEMENTS = 3  # nor is any runner after this many replacements in one session
REPLACED_BANNER_S = 30.0  # how long "a new runner took over" stays up


@dataclass
class Context:
    """What the dashboard watches, and whether it may act (attach) or only look (view)."""

    mode: str  # attach | view
    store: RunStore
    project_dir: Path | None = None
    config_path: Path | None = None
    explicit: bool = False
    last_detach: float | None = None
    bell: bool = True
    use_pool: bool = True


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("q", "app.quit", "quit"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("space", "select", "mark"),
        Binding("enter", "detail", "detail", show=False),
        Binding("l", "logx", "logx"),
        Binding("y", "logy", "logy"),
        Binding("m", "metric", "metric"),
        Binding("s", "smooth", "smooth"),
        Binding("c", "compare", "comp"),
        Binding("w", "sweep", "sweep"),
        Binding("b", "best", "best/final", show=False),
        Binding("a", "alerts", "alerts"),
        Binding("e", "edit", "edit"),
        Binding("k", "stop", "stop"),
        Binding("r", "retry", "retry"),
        Binding("escape", "back", "back", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
    ]

    DEFAULT_CSS = """
    DashboardScreen #main { height: 1fr; }
    DashboardScreen #left { width: 1fr; }
    DashboardScreen #filter { dock: bottom; display: none; height: 3; }
    DashboardScreen #filter.-shown { display: block; }
    """

    class DataChanged(Message):
        """The poller has news (coalesces: a burst of ticks is one redraw)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DashboardScreen.DataChanged)

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.store = ctx.store
        self.poller = Poller(ctx.store, ctx.project_dir if ctx.mode == "attach" else None,
                             last_detach=ctx.last_detach, use_pool=ctx.use_pool)
        self.view = View()
        self.compare_keys: list[str] = []
        self.starting_runner = False
        self.other_config: str | None = None
        self.first_paint_done = False
        self.replaced_at: float | None = None  # monotonic time the last replacement took over
        self.replaced_pid: Any = None  # the pid it replaced
        self.replacements = 0
        self.auto_focus = True  # follow the first running run until the user moves the cursor
        self.auto_key: str | None = None

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield ConfigBanner(id="banner")
        yield RunnerBanner(id="runner-banner")
        yield RunTable(id="runs")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ChartPanel(self._chart_job, id="chart")
                yield AlertList(id="alerts")
            yield DetailPane(id="detail")
        yield Input(placeholder="filter runs: words to match (enter: keep, escape: clear)", id="filter")
        yield KeyBar(self.BINDINGS, priority=KEY_PRIORITY)

    def on_mount(self) -> None:
        self.query_one(RunTable).focus()
        self._refresh_status()
        self.run_worker(self._poll, thread=True, group="poller", exit_on_error=False,
                        description="Watching the run files")

    def on_unmount(self) -> None:
        self.poller.stop()

    # ---------------------------------------------------------------- the poller thread

    def _poll(self) -> None:
        if self.ctx.mode == "attach":
            self._attach_runner()
        self.poller.run(lambda: self.post_message(self.DataChanged()), busy=self._busy)

    def _busy(self) -> bool:
        return self._message_queue.qsize() > 8

    def _attach_runner(self) -> None:
        """Resolve the config and runs dir; start a runner if none holds this directory."""
        from ...config import ConfigError, load_config
        from ...runner.lock import runner_holder

        ctx = self.ctx
        assert ctx.project_dir is not None and ctx.config_path is not None
        holder = runner_holder(ctx.project_dir)
        config = None
        try:
            config = load_config(ctx.config_path, ctx.project_dir)
            self.ctx.bell = bool(config.alerts.bell)
            if not holder:
                self.store.set_runs_dir(config.runs_dir)
        except ConfigError as e:
            self.poller.local_config_error = str(e)
            if not holder:
                self.store.set_runs_dir(ctx.project_dir / "runs")
        except Exception as e:  # noqa: BLE001 — e.g. a missing file: shown, never fatal
            self.poller.local_config_error = f"{ctx.config_path}: {e}"
            self.store.set_runs_dir(ctx.project_dir / "runs")
        if holder:
            cfg = str(holder.get("config") or "")
            if cfg and Path(cfg) != Path(ctx.config_path):
                self.other_config = cfg
                if ctx.explicit:
                    self.app.call_from_thread(
                        self.notify, f"a runner here already serves {cfg}; showing its runs",
                        title="viewer", timeout=8)
        elif config is not None:
            self.start_runner()

    @work(thread=True, group="runner", exit_on_error=False, description="Starting the runner")
    def start_runner(self) -> None:
        from ...runner.launch import ensure_runner

        ctx = self.ctx
        if ctx.mode != "attach" or ctx.config_path is None or ctx.project_dir is None:
            return
        self.starting_runner = True
        self.app.call_from_thread(self._refresh_status)
        try:
            holder = ensure_runner(ctx.config_path, ctx.project_dir)
        finally:
            self.starting_runner = False
        if not holder:
            self.app.call_from_thread(self.notify, f"the runner did not start; see {self._runner_log()}",
                                      severity="error", timeout=10)
        self.poller.note_holder(holder)

    # ---------------------------------------------------------------- a runner that went away

    def _runner_log(self) -> Path:
        from ...runner.lock import state_dir

        assert self.ctx.project_dir is not None
        return state_dir(self.ctx.project_dir) / "runner.log"

    def _runner_gone(self, gone: RunnerGone) -> None:
        """The runner we watched let go of the directory: a clean exit is news, a death is
        handled — the workers outlive it, so a new runner re-adopts them (once, never in a loop)."""
        pid = gone.pid
        if gone.successor:
            self.notify(f"runner pid {pid} is gone; pid {gone.successor.get('pid')} (started by another "
                        "grokwatch) now holds this directory and re-adopted its runs", title="runner",
                        timeout=10)
            return
        if gone.clean:
            self.notify(f"The runner (pid {pid}) exited cleanly: `grokwatch stop` was run, or nothing was "
                        "left to do. Runs stay as they are; r retries or resumes a run, and saving "
                        "experiments.toml with new runs starts a runner again.", title="runner exited",
                        timeout=20)
            return
        host = gone.holder.get("host")
        where = f" on {host}" if host and host != "?" else ""
        keep = ("Its workers are separate processes: they keep running, and every row they logged is "
                "kept.")
        banner = self.query_one(RunnerBanner)
        now = time.monotonic()
        if self.replaced_at is not None and now - self.replaced_at < REPLACE_GUARD_S:
            banner.show_text(
                f"The runner (pid {pid}{where}) died too, {now - self.replaced_at:.0f} s after it replaced "
                f"pid {self.replaced_pid}: grokwatch stops trying rather than restart it in a loop — see "
                f"{self._runner_log()}. {keep} r, or saving experiments.toml, starts a runner again.",
                error=True, until_runner=True)
            return
        if self.replacements >= MAX_REPLACEMENTS:
            banner.show_text(
                f"The runner (pid {pid}{where}) stopped without a clean exit, and grokwatch has replaced "
                f"the runner {self.replacements} times already: it stops trying — see {self._runner_log()}. "
                f"{keep} r, or saving experiments.toml, starts a runner again.", error=True, until_runner=True)
            return
        banner.show_text(
            f"The runner (pid {pid}{where}) stopped without a clean exit: it was killed, or it crashed (its "
            f"log: {self._runner_log()}). {keep} grokwatch is starting a new runner, which re-adopts the "
            "live workers and marks any that vanished as lost.")
        self.replace_runner(gone)

    @work(thread=True, group="runner", exit_on_error=False, description="Replacing a dead runner")
    def replace_runner(self, gone: RunnerGone) -> None:
        from ...config import ConfigError, load_config
        from ...runner.launch import ensure_runner

        ctx = self.ctx
        assert ctx.project_dir is not None and ctx.config_path is not None
        pid = gone.pid
        served = gone.holder.get("config") or gone.status.get("config")
        config_path = Path(served) if served and served != "?" and Path(served).exists() else ctx.config_path
        keep = "Its workers keep running and every row they logged is kept"
        try:
            load_config(config_path, ctx.project_dir)
        except Exception as e:  # noqa: BLE001 — ConfigError, or the file went away
            err = str(e) if isinstance(e, ConfigError) else f"{config_path}: {e}"
            if Path(config_path) == Path(ctx.config_path):
                self.poller.local_config_error = err
            self.app.call_from_thread(
                self._banner,
                f"The runner (pid {pid}) stopped without a clean exit. {keep}, but {config_path.name} has "
                "an error, so no new runner starts: fix it (e) and one starts and re-adopts the live workers.",
                error=True, until_runner=True)
            self.poller.poke()
            return
        self.starting_runner = True
        self.app.call_from_thread(self._refresh_status)
        try:
            holder = ensure_runner(config_path, ctx.project_dir)
        finally:
            self.starting_runner = False
        if not holder:
            self.app.call_from_thread(
                self._banner,
                f"The runner (pid {pid}) stopped without a clean exit, and a new runner did not start — see "
                f"{self._runner_log()}. {keep}; r, or saving experiments.toml, tries again.",
                error=True, until_runner=True)
            self.poller.poke()
            return
        self.replaced_at = time.monotonic()
        self.replaced_pid = pid
        self.replacements += 1
        self.poller.note_holder(holder)
        text = (f"The runner (pid {pid}) stopped without a clean exit (killed, or it crashed); runner pid "
                f"{holder.get('pid')} replaced it. {keep}; the new runner re-adopted the live workers and "
                "marks any that vanished as lost (r resumes them from their checkpoint).")
        self.app.call_from_thread(self._show_replaced, text)

    def _banner(self, text: str, **kw) -> None:
        self.query_one(RunnerBanner).show_text(text, **kw)
        self._refresh_status()

    def _show_replaced(self, text: str) -> None:
        banner = self.query_one(RunnerBanner)
        banner.show_text(text)
        self._refresh_status()

        def hide() -> None:
            if banner.text == text:
                banner.hide()

        self.set_timer(REPLACED_BANNER_S, hide)

    # ---------------------------------------------------------------- news from the poller

    @on(DataChanged)
    def _on_data(self, _msg: DataChanged) -> None:
        out = self.poller.drain()
        table = self.query_one(RunTable)
        with self.app.batch_update():
            table.sync(self.store.runs, self.store.order, out.dirty, width=self.size.width)
            if out.first or not self.first_paint_done:
                if self.poller.focus:
                    table.select_key(self.poller.focus)
                self.first_paint_done = True
                self.auto_key = table.current_key
            elif self.auto_focus:
                self._follow_live(table)
            self._alerts(out)
            for gone in out.gone:
                self._runner_gone(gone)
            self._refresh_status()
            cur = table.current_key
            if cur and cur != self.poller.focus:
                self.poller.focus = cur
            if self._chart_affected(out.dirty) or out.first:
                self.query_one(ChartPanel).mark_dirty(now=out.first)
            detail = self.query_one(DetailPane)
            if detail.has_class("-shown") and cur in out.dirty:
                detail.show_run(self.store.runs.get(cur))

    def _follow_live(self, table: RunTable) -> None:
        """Until the user moves the cursor, the selection goes to a run that starts running (a
        dashboard attached to a queue that has not started yet shows the first live run)."""
        cur = table.current_key
        if cur is None:
            return
        if self.auto_key is not None and cur != self.auto_key:
            self.auto_focus = False  # the user chose a run
            return
        run = self.store.runs.get(cur)
        if run is not None and group(run) == 0:
            self.auto_focus = False  # already live
            return
        key = initial_focus(self.store.runs, table.visible_keys)
        if key is not None and key != cur:
            table.select_key(key)  # runs still loading may hold a better first choice
        if key is not None and group(self.store.runs[key]) == 0:
            self.auto_focus = False
        self.auto_key = table.current_key

    def _chart_affected(self, dirty: set[str]) -> bool:
        if not dirty:
            return False
        if self.view.mode == "sweep":
            return True
        return bool(dirty & set(self._chart_keys()))

    def _alerts(self, out) -> None:
        lst = self.query_one(AlertList)
        table = self.query_one(RunTable)
        lst.add(out.history)
        if out.missed:
            n = lst.add(out.missed, missed=True)
            if n:
                table.unseen.update(str(a.get("run_id")) for a in out.missed)
                self.notify(f"{n} alert(s) while you were away — a: alert list", title="missed alerts",
                            severity="warning", timeout=12)
                lst.set_class(True, "-shown")
                table.sync(self.store.runs, self.store.order, {str(a.get("run_id")) for a in out.missed})
        if out.alerts:
            n = lst.add(out.alerts)
            if n:
                for a in out.alerts[-3:]:
                    self.notify(f"{a.get('run_id')}: {a.get('message', '')}",
                                title=f"{a.get('kind')} at step {a.get('step')}", severity="warning",
                                timeout=15)
                if self.ctx.bell:
                    self.app.bell()
                ids = {str(a.get("run_id")) for a in out.alerts}
                table.unseen.update(ids)
                table.sync(self.store.runs, self.store.order, ids)

    def _refresh_status(self) -> None:
        counts: dict[str, int] = {}
        for r in list(self.store.runs.values()):
            counts[r.state] = counts.get(r.state, 0) + 1
        info = self.poller.runner
        self.query_one(StatusLine).show(
            mode=self.ctx.mode, project=self.ctx.project_dir, config=self.ctx.config_path,
            holder=info.holder, runner_status=info.status, counts=counts,
            loading=self.poller.loading_count() if self.first_paint_done else 0,
            starting=self.starting_runner, other_config=self.other_config)
        err = info.config_error if self.ctx.mode == "attach" else None
        if self.ctx.mode == "attach" and not info.holder and self.poller.local_config_error:
            err = self.poller.local_config_error
        self.query_one(ConfigBanner).show_error(err)
        banner = self.query_one(RunnerBanner)
        if info.holder and banner.until_runner:
            banner.hide()

    # ---------------------------------------------------------------- chart

    def _current(self) -> RunData | None:
        key = self.query_one(RunTable).current_key
        return self.store.runs.get(key) if key else None

    def _chart_keys(self) -> list[str]:
        if self.view.mode == "compare":
            return [k for k in self.compare_keys if k in self.store.runs]
        key = self.query_one(RunTable).current_key
        return [key] if key else []

    def _chart_job(self) -> ChartJob | None:
        runs = [self.store.runs[k] for k in self._chart_keys()]
        return ChartJob(self.view, runs, list(self.store.runs.values()), 0, 0, True)

    def _set_view(self, **kw) -> None:
        self.view = self.view.with_(**kw)
        self.query_one(ChartPanel).mark_dirty(now=True)

    @on(ChartPanel.Drawn)
    def _on_drawn(self, _msg: ChartPanel.Drawn) -> None:
        if self.first_paint_done and self.poller.bulk_after:
            self.poller.release_bulk()

    @on(RunTable.Highlighted)
    def _on_highlight(self, msg: RunTable.Highlighted) -> None:
        if msg.key and msg.key != self.poller.focus:
            self.poller.focus = msg.key
            self.poller.poke()
        if self.view.mode != "compare":
            self.query_one(ChartPanel).mark_dirty(now=True)
        detail = self.query_one(DetailPane)
        if detail.has_class("-shown"):
            detail.show_run(self._current())

    def on_resize(self) -> None:
        table = self.query_one(RunTable)
        table.sync(self.store.runs, self.store.order, set(), width=self.size.width)

    # ---------------------------------------------------------------- keys: looking

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.set_class(True, "-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, msg: Input.Changed) -> None:
        table = self.query_one(RunTable)
        table.filter = msg.value
        table.sync(self.store.runs, self.store.order, set(), width=self.size.width)
        self.query_one(ChartPanel).mark_dirty(now=True)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _msg: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.set_class(False, "-shown")
        self.query_one(RunTable).focus()

    def action_select(self) -> None:
        table = self.query_one(RunTable)
        key = table.current_key
        if not key:
            return
        table.selected ^= {key}
        if self.view.mode == "compare":
            self.compare_keys = self._compare_targets()
            self.query_one(ChartPanel).mark_dirty(now=True)
        table.sync(self.store.runs, self.store.order, {key})

    def on_data_table_row_selected(self, event) -> None:  # enter on the table
        event.stop()
        self.action_detail()

    def action_detail(self) -> None:
        detail = self.query_one(DetailPane)
        show = not detail.has_class("-shown")
        detail.set_class(show, "-shown")
        cur = self._current()
        if show:
            detail.show_run(cur)
            if cur is not None:
                table = self.query_one(RunTable)
                table.unseen.discard(cur.key)
                table.sync(self.store.runs, self.store.order, {cur.key})
        self.query_one(ChartPanel).mark_dirty(now=True)

    def _effective_logx(self) -> bool:
        out = self.query_one(ChartPanel).last_out
        if self.view.logx is not None:
            return self.view.logx
        if out is not None:
            return out.logx
        return auto_logx(self._current())

    def action_logx(self) -> None:
        self._set_view(logx=not self._effective_logx())

    def action_logy(self) -> None:
        self._set_view(logy=not self.view.logy)

    def action_metric(self) -> None:
        i = METRIC_CYCLE.index(self.view.metric)
        metric = METRIC_CYCLE[(i + 1) % len(METRIC_CYCLE)]
        self._set_view(metric=metric)
        table = self.query_one(RunTable)
        table.metric = metric
        table.sync(self.store.runs, self.store.order, set(self.store.order))
        self.notify(f"metric: {dict(error='error', loss='loss', acc='accuracy')[metric]}", timeout=2)

    def action_smooth(self) -> None:
        self._set_view(smooth=not self.view.smooth)

    def _compare_targets(self) -> list[str]:
        table = self.query_one(RunTable)
        keys = [k for k in self.store.order if k in table.selected]
        cur = table.current_key
        if len(keys) < 2 and cur and cur not in keys:
            keys.append(cur)
        return keys

    def action_compare(self) -> None:
        if self.view.mode == "compare":
            self._set_view(mode="run", logx=None)
            return
        self.compare_keys = self._compare_targets()
        if len(self.compare_keys) < 2:
            self.notify("select runs with space to overlay them", timeout=4)
        self._set_view(mode="compare", logx=None)

    def action_sweep(self) -> None:
        cur = self._current()
        if cur is None:
            return
        keys = sweep_keys(list(self.store.runs.values()), cur.experiment)
        if not keys:
            self.notify(f"{cur.experiment} has no swept parameter", timeout=4)
            if self.view.mode == "sweep":
                self._set_view(mode="run", logx=None)
            return
        if self.view.mode != "sweep":
            self._set_view(mode="sweep", sweep_key=keys[0], logx=None)
            return
        i = keys.index(self.view.sweep_key) if self.view.sweep_key in keys else -1
        if i + 1 < len(keys):
            self._set_view(sweep_key=keys[i + 1], logx=None)
        else:
            self._set_view(mode="run", sweep_key=None, logx=None)

    def action_best(self) -> None:
        self._set_view(best=not self.view.best)
        if self.view.mode == "sweep":
            self.notify("sweep: best values" if self.view.best else "sweep: final values", timeout=2)

    def action_alerts(self) -> None:
        lst = self.query_one(AlertList)
        show = not lst.has_class("-shown")
        lst.set_class(show, "-shown")
        if show:
            lst.focus()
        else:
            self.query_one(RunTable).focus()

    @on(AlertList.Chosen)
    def _alert_chosen(self, msg: AlertList.Chosen) -> None:
        table = self.query_one(RunTable)
        if msg.run_id not in table.visible_keys and table.filter:
            table.filter = ""
            self.query_one("#filter", Input).value = ""
        table.select_key(msg.run_id)
        table.unseen.discard(msg.run_id)
        table.sync(self.store.runs, self.store.order, {msg.run_id})
        table.focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.set_class(False, "-shown")
            self.query_one(RunTable).focus()
            return
        lst = self.query_one(AlertList)
        if lst.has_class("-shown"):
            lst.set_class(False, "-shown")
            self.query_one(RunTable).focus()
            return
        if self.view.mode != "run":
            self._set_view(mode="run", logx=None)
            return
        detail = self.query_one(DetailPane)
        if detail.has_class("-shown"):
            self.action_detail()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    # ---------------------------------------------------------------- keys: acting

    def _targets(self, states: tuple[str, ...]) -> list[RunData]:
        table = self.query_one(RunTable)
        keys = [k for k in self.store.order if k in table.selected] or (
            [table.current_key] if table.current_key else [])
        return [self.store.runs[k] for k in keys if k in self.store.runs and self.store.runs[k].state in states]

    def _can_act(self) -> bool:
        if self.ctx.mode != "attach":
            self.notify("grokwatch view only looks: it launches and stops nothing", timeout=4)
            return False
        return True

    def action_stop(self) -> None:
        if not self._can_act():
            return
        runs = self._targets(STOPPABLE)
        if not runs:
            self.notify("nothing to stop: the run(s) are not queued or running", timeout=4)
            return
        names = ", ".join(r.key for r in runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
        q = (f"Stop {len(runs)} run(s)?\n{names}\n\nThey save a checkpoint; r resumes them.")

        def done(yes: bool | None) -> None:
            if yes:
                from ...runner.control import send_request

                send_request(self.ctx.project_dir, "stop", [r.key for r in runs])  # type: ignore[arg-type]
                self.notify(f"asked the runner to stop {len(runs)} run(s)", timeout=4)
                self.poller.poke()

        self.app.push_screen(ConfirmScreen(q), done)

    def action_retry(self) -> None:
        if not self._can_act():
            return
        runs = self._targets(RETRYABLE_STATES)
        if not runs:
            self.notify("nothing to retry: only failed, diverged, stopped or lost runs can be", timeout=4)
            return
        from ...runner.control import send_request
        from ...runner.lock import runner_holder

        send_request(self.ctx.project_dir, "retry", [r.key for r in runs])  # type: ignore[arg-type]
        self.notify(f"queued {len(runs)} run(s) again", timeout=4)
        if not runner_holder(self.ctx.project_dir):  # type: ignore[arg-type]
            self.start_runner()
        self.poller.poke()

    def action_edit(self) -> None:
        if not self._can_act():
            return
        self.app.edit_config()  # type: ignore[attr-defined]

    def after_edit(self) -> None:
        """The editor closed: check the file now, and ask the runner to reload it."""
        from ...config import ConfigError, load_config
        from ...runner.control import send_request
        from ...runner.lock import runner_holder

        ctx = self.ctx
        assert ctx.project_dir is not None and ctx.config_path is not None
        try:
            load_config(ctx.config_path, ctx.project_dir)
            self.poller.local_config_error = None
            ok = True
        except ConfigError as e:
            self.poller.local_config_error = str(e)
            ok = False
        send_request(ctx.project_dir, "reload")
        holder = runner_holder(ctx.project_dir)
        if not holder and ok:
            self.start_runner()
        if not holder:
            self.poller.runner.config_error = self.poller.local_config_error
        self.notify("experiments.toml saved: the runner reloads it" if ok else
                    "experiments.toml has an error (see the banner); runs already going keep going",
                    severity="information" if ok else "error", timeout=6)
        self._refresh_status()
        self.poller.poke()
