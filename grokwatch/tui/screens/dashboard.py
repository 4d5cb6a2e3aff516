"""The dashboard: run table, main chart, detail pane, alert list; the keys' actions live here
(the keys themselves in keys.py, what to do about the runner in data/supervisor.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from ...runs import RETRYABLE_STATES
from .. import keys
from ..view import METRIC_CYCLE, PHASE_VALUES, View, auto_logx, sweep_keys
from ..data.groups import fold, members
from ..data.order import group, initial_focus
from ..data.poller import Poller, RunnerGone
from ..data.store import RunData, RunStore
from ..data.supervisor import Notice, RunnerSupervisor
from ..widgets.alerts.alert_line import AlertLine
from ..widgets.alerts.alert_list import AlertList
from ..widgets.chart.chart import ChartJob, ChartPanel
from ..widgets.detail.detail import DetailPane
from ..widgets.footer.key_bar import KeyBar
from ..widgets.header.banner import ConfigBanner
from ..widgets.header.error_banner import ErrorBanner
from ..widgets.header.runner_banner import RunnerBanner
from ..widgets.header.status_line import StatusLine
from ..widgets.runs.table import RunTable
from .confirm import ConfirmScreen
from .help import HelpScreen

STOPPABLE = ("queued", "starting", "running", "requeued")
POLL_RETRY_S = 1.0  # a poller that raised is started again after this long


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
    BINDINGS = keys.bindings()  # declared once, in keys.py

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
        keys.bind_mode_keys(self)  # the view modes' own keys (view.MODES)
        self.ctx = ctx
        self.store = ctx.store
        self.poller = Poller(ctx.store, ctx.project_dir if ctx.mode == "attach" else None,
                             last_detach=ctx.last_detach, use_pool=ctx.use_pool)
        self.runners = (RunnerSupervisor(ctx.project_dir, ctx.config_path, ctx.store, self.poller,
                                         explicit=ctx.explicit)
                        if ctx.mode == "attach" and ctx.project_dir is not None and ctx.config_path is not None
                        else None)
        self._attached = False
        self.worker_errors = 0
        self.view = View()
        self.compare_keys: list[str] = []
        self.first_paint_done = False
        self.auto_focus = True  # follow the first running run until the user moves the cursor
        self.auto_key: str | None = None

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield ConfigBanner(id="banner")
        yield RunnerBanner(id="runner-banner")
        yield ErrorBanner(id="error-banner")
        yield RunTable(id="runs")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield AlertLine(id="alert-line")
                yield ChartPanel(self._chart_job, id="chart")
                yield AlertList(id="alerts")
            yield DetailPane(id="detail")
        yield Input(placeholder="filter runs: words to match (enter: keep, escape: clear)", id="filter")
        yield KeyBar(keys.live_bindings(self), priority=keys.KEY_PRIORITY)

    def on_mount(self) -> None:
        self.query_one(RunTable).focus()
        self._refresh_status()
        self._start_poller()

    def on_unmount(self) -> None:
        self.poller.stop()
        if not any(w.group == "poller" and w.is_running for w in self.workers):
            self.poller.close()  # a poller that died leaves its pool to us

    # ---------------------------------------------------------------- the poller thread

    def _poll(self) -> None:
        if self.runners is not None and not self._attached:
            self._attached = True
            self._attach_runner()
        self.poller.run(lambda: self.post_message(self.DataChanged()), busy=self._busy)

    def _busy(self) -> bool:
        return self._message_queue.qsize() > 8

    def _attach_runner(self) -> None:
        """Resolve the config and runs dir; start a runner if none holds this directory."""
        assert self.runners is not None
        got = self.runners.attach()
        if self.runners.bell is not None:
            self.ctx.bell = self.runners.bell
        if got.notice is not None:
            self.app.call_from_thread(self._tell, got.notice)
        if got.start:
            self.start_runner()

    @work(thread=True, group="runner", exit_on_error=False, description="Starting the runner")
    def start_runner(self) -> None:
        if self.runners is None:
            return
        self.runners.starting = True
        self.app.call_from_thread(self._refresh_status)
        notice = self.runners.start()
        if notice is not None:
            self.app.call_from_thread(self._tell, notice)

    @property
    def starting_runner(self) -> bool:
        return bool(self.runners and self.runners.starting)

    # ---------------------------------------------------------------- a runner that went away

    def _runner_gone(self, gone: RunnerGone) -> None:
        assert self.runners is not None
        notice, replace = self.runners.on_gone(gone)
        self._tell(notice)
        if replace:
            self.replace_runner(gone)

    @work(thread=True, group="runner", exit_on_error=False, description="Replacing a dead runner")
    def replace_runner(self, gone: RunnerGone) -> None:
        assert self.runners is not None
        self.runners.starting = True
        self.app.call_from_thread(self._refresh_status)
        notice = self.runners.replace(gone)
        self.app.call_from_thread(self._tell, notice)

    def _tell(self, notice: Notice) -> None:
        """Show what the supervisor said: a toast, or the runner banner."""
        if not notice.banner:
            self.notify(notice.text, title=notice.title, timeout=notice.timeout,
                        severity="error" if notice.error else "information")
            return
        banner = self.query_one(RunnerBanner)
        banner.show_text(notice.text, error=notice.error, until_runner=notice.until_runner)
        self._refresh_status()
        if notice.hide_after_s is not None:
            text = notice.text

            def hide() -> None:
                if banner.text == text:
                    banner.hide()

            self.set_timer(notice.hide_after_s, hide)

    # ---------------------------------------------------------------- worker errors, in one place

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)

    @on(ChartPanel.Failed)
    def _on_chart_failed(self, msg: ChartPanel.Failed) -> None:
        self.worker_failed(msg.worker)

    def worker_failed(self, worker: Worker) -> None:
        """A thread worker raised: say what failed, and keep the dashboard going — the poller is
        started again (after a pause, so a tick that always fails cannot spin)."""
        self.worker_errors += 1
        what = worker.description or worker.name or "a background task"
        again = ""
        if worker.group == "poller" and not self.poller.stopped:
            again = f"; grokwatch keeps watching (tried again in {POLL_RETRY_S:.0f} s)"
            self.set_timer(POLL_RETRY_S, self._restart_poller)
        self.query_one(ErrorBanner).show_error(what, worker.error, again)

    def _restart_poller(self) -> None:
        if not self.poller.stopped and not any(w.group == "poller" and w.is_running for w in self.workers):
            self._start_poller()

    def _start_poller(self) -> None:
        self.run_worker(self._poll, thread=True, group="poller", exit_on_error=False,
                        description="Watching the run files")

    # ---------------------------------------------------------------- news from the poller

    @on(DataChanged)
    def _on_data(self, _msg: DataChanged) -> None:
        out = self.poller.drain()
        table = self.query_one(RunTable)
        with self.app.batch_update():
            self._sync(out.dirty, width=self.size.width)
            if out.first or not self.first_paint_done:
                if self.poller.focus:
                    table.follow_key(self.poller.focus)
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

    def _sync(self, dirty: set[str] | None = None, width: int | None = None) -> None:
        """The table from the store; with `g`, one row per seed group (its first run's key)."""
        table = self.query_one(RunTable)
        if not self.view.seeds:
            table.sync(self.store.runs, self.store.order, dirty, width=width)
            return
        rows, order, led = fold(self.store.runs, self.store.order)
        if dirty is not None:
            lead_of = {k: lead for lead, ks in led.items() for k in ks}
            dirty = {lead_of.get(k, k) for k in dirty}
        table.sync(rows, order, dirty, width=width)

    def _follow_live(self, table: RunTable) -> None:
        """Until the user moves the cursor, the selection goes to a run that starts running (a
        dashboard attached to a queue that has not started yet shows the first live run)."""
        cur = table.current_key
        if cur is None:
            return
        if table.chosen is not None:  # a run was chosen (alert list, a script) before we moved
            self.auto_focus = False
            return
        if self.auto_key is None:  # the first paint had no row highlighted: this one is the start
            self.auto_key = cur
            return
        if cur != self.auto_key:
            self.auto_focus = False  # the user chose a run
            return
        run = self.store.runs.get(cur)
        if run is not None and group(run) == 0:
            self.auto_focus = False  # already live
            return
        key = initial_focus(self.store.runs, table.visible_keys)
        if key is not None and key != cur:
            table.follow_key(key)  # runs still loading may hold a better first choice
        if key is not None and group(self.store.runs[key]) == 0:
            self.auto_focus = False
        self.auto_key = table.current_key

    def _chart_affected(self, dirty: set[str]) -> bool:
        if not dirty:
            return False
        if self.view.spec.draws == "experiment":
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
                self._sync({str(a.get("run_id")) for a in out.missed})
        if out.alerts:
            n = lst.add(out.alerts)
            if n:  # the highlighted run's alert as a toast; other runs' on one compact line
                cur = table.current_key
                mine = [a for a in out.alerts if str(a.get("run_id")) == cur]
                if mine:
                    a = mine[-1]
                    self.notify(f"{a.get('run_id')}: {a.get('message', '')}",
                                title=f"{a.get('kind')} at step {a.get('step')}", severity="warning",
                                timeout=15)
                self.query_one(AlertLine).add([a for a in out.alerts if str(a.get("run_id")) != cur])
                if self.ctx.bell:
                    self.app.bell()
                ids = {str(a.get("run_id")) for a in out.alerts}
                table.unseen.update(ids)
                self._sync(ids)

    def _refresh_status(self) -> None:
        counts: dict[str, int] = {}
        for r in list(self.store.runs.values()):
            counts[r.state] = counts.get(r.state, 0) + 1
        info = self.poller.runner
        self.query_one(StatusLine).show(
            mode=self.ctx.mode, project=self.ctx.project_dir, config=self.ctx.config_path,
            holder=info.holder, runner_status=info.status, counts=counts,
            loading=self.poller.loading_count() if self.first_paint_done else 0,
            starting=self.starting_runner, other_config=self.runners.other_config if self.runners else None)
        err = info.config_error if self.ctx.mode == "attach" else None
        if self.ctx.mode == "attach" and not info.holder and self.poller.local_config_error:
            err = self.poller.local_config_error
        disk = info.status.get("disk_full") if info.holder and not err else None  # the runner's one line
        self.query_one(ConfigBanner).show_error(err or disk, heading="The disk is full:\n" if disk else None)
        gpus = (info.status.get("gpus") or []) if info.holder else []
        detail = self.query_one(DetailPane)
        if gpus != detail.gpus:  # the GPU line of the run shown
            detail.gpus = gpus
            if detail.has_class("-shown"):
                detail.show_run(self._current())
        banner = self.query_one(RunnerBanner)
        if info.holder and banner.until_runner:
            banner.hide()

    # ---------------------------------------------------------------- chart

    def _current(self) -> RunData | None:
        key = self.query_one(RunTable).current_key
        return self.store.runs.get(key) if key else None

    def _chart_runs(self) -> list[str]:
        """The runs the chart is about: the marked ones (compare), else the highlighted one."""
        if self.view.spec.draws == "marked":
            return [k for k in self.compare_keys if k in self.store.runs]
        key = self.query_one(RunTable).current_key
        return [key] if key else []

    def _chart_keys(self) -> list[str]:
        """Every run whose news redraws the chart (with `g`, the seed groups of the chart's runs)."""
        keys = self._chart_runs()
        if self.view.seeds:
            keys = keys + [r.key for k in keys for r in members(self.store.runs, k)[1:]]
        return keys

    def _chart_job(self) -> ChartJob | None:
        runs = [self.store.runs[k] for k in self._chart_runs()]
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
        if self.view.spec.draws != "marked":
            self.query_one(ChartPanel).mark_dirty(now=True)
        detail = self.query_one(DetailPane)
        if detail.has_class("-shown"):
            detail.show_run(self._current())

    def on_resize(self) -> None:
        table = self.query_one(RunTable)
        self._sync(set(), width=self.size.width)

    # ---------------------------------------------------------------- keys: looking

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.set_class(True, "-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, msg: Input.Changed) -> None:
        table = self.query_one(RunTable)
        table.filter = msg.value
        self._sync(set(), width=self.size.width)
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
        if self.view.spec.draws == "marked":
            self.compare_keys = self._compare_targets()
            self.query_one(ChartPanel).mark_dirty(now=True)
        self._sync({key})

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
                self._sync({cur.key})
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
        out = self.query_one(ChartPanel).last_out
        shown = self.view.logy if self.view.logy is not None else bool(out and out.logy)
        self._set_view(logy=not shown)

    def action_metric(self) -> None:
        i = METRIC_CYCLE.index(self.view.metric)
        metric = METRIC_CYCLE[(i + 1) % len(METRIC_CYCLE)]
        self._set_view(metric=metric)
        table = self.query_one(RunTable)
        table.metric = metric
        self._sync(set(self.store.order))
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

    def action_phase(self) -> None:
        if self.view.mode == "phase":
            self._set_view(mode="run", logx=None)
            return
        cur = self._current()
        if cur is None:
            return
        n = len(sweep_keys(list(self.store.runs.values()), cur.experiment))
        if n < 2:
            self.notify(f"{cur.experiment} sweeps {n} key(s): a phase diagram needs two (w: sweep view)",
                        timeout=4)
            return
        self._set_view(mode="phase", phase_fix=0)

    def action_view_mode(self, name: str) -> None:
        """A view mode's own key (view.MODES): show it, or leave it when it is shown."""
        self._set_view(mode="run" if self.view.mode == name else name, logx=None)

    def action_phase_value(self) -> None:
        if self.view.mode != "phase":
            self.notify("v: in the phase diagram (p)", timeout=3)
            return
        i = PHASE_VALUES.index(self.view.phase_value) if self.view.phase_value in PHASE_VALUES else -1
        self._set_view(phase_value=PHASE_VALUES[(i + 1) % len(PHASE_VALUES)])

    def action_phase_fix(self) -> None:
        if self.view.mode != "phase":
            self.notify("f: in the phase diagram (p), where more than two keys are swept", timeout=3)
            return
        self._set_view(phase_fix=self.view.phase_fix + 1)

    def action_seeds(self) -> None:
        self._set_view(seeds=not self.view.seeds)
        self._sync(set(self.store.order), width=self.size.width)  # the rows say `×3`, the chart title too

    def action_best(self) -> None:
        self._set_view(best=not self.view.best)
        if self.view.mode == "sweep":
            self.notify("sweep: best values" if self.view.best else "sweep: final values", timeout=2)

    def action_alerts(self) -> None:
        lst = self.query_one(AlertList)
        show = not lst.has_class("-shown")
        lst.set_class(show, "-shown")
        if show:
            self.query_one(AlertLine).clear()
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
        self._sync({msg.run_id})
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
        rows = [(keys.display(b), b.tooltip) for b in keys.live_bindings(self) if b.tooltip]
        pal = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else ""
        if pal:
            rows.append((pal, "command palette: every action by name"))
        self.app.push_screen(HelpScreen(rows))

    # ---------------------------------------------------------------- keys: acting

    def _targets(self, states: tuple[str, ...]) -> list[RunData]:
        table = self.query_one(RunTable)
        keys = [k for k in self.store.order if k in table.selected] or (
            [table.current_key] if table.current_key else [])
        if self.view.seeds:  # a folded row stands for its whole seed group
            keys = list(dict.fromkeys(r.key for k in keys for r in members(self.store.runs, k)))
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
        from ...config import ConfigError, load_config, no_experiments_line
        from ...runner.control import send_request
        from ...runner.lock import runner_holder

        ctx = self.ctx
        assert ctx.project_dir is not None and ctx.config_path is not None
        empty = None
        try:
            empty = no_experiments_line(load_config(ctx.config_path, ctx.project_dir))
            self.poller.local_config_error = None
            ok = True
        except ConfigError as e:
            self.poller.local_config_error = e.while_running
            ok = False
        send_request(ctx.project_dir, "reload")
        holder = runner_holder(ctx.project_dir)
        if not holder and ok and not empty:
            self.start_runner()
        if not holder:
            self.poller.runner.config_error = self.poller.local_config_error
        if empty:
            self.notify(empty, title="no experiments", severity="warning", timeout=20)
        else:
            self.notify("experiments.toml saved: the runner reloads it" if ok else
                        "experiments.toml has an error (see the banner); runs already going keep going",
                        severity="information" if ok else "error", timeout=6)
        self._refresh_status()
        self.poller.poke()
