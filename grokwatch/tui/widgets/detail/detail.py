"""The detail pane: the selected run's resolved config, its pack and its GPU's memory (when it has
them), its events and its worker log."""

from __future__ import annotations

import json

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ....runner.gpustats import format_gpu, gpu_of
from ... import fmt
from ...data.store import RunData, is_alert


def render_detail(run: RunData | None, gpus: list[dict] | None = None) -> Text:
    """`gpus`: runner.json's samples (the runner's, while it holds the project), for the run's GPU."""
    t = Text()
    if run is None:
        t.append("no run selected", style="dim italic")
        return t
    t.append(run.key + "\n", style="bold")
    t.append(f"{run.state}", style="bold")
    t.append(f"  step {fmt.step(run.step)}" + (f"/{fmt.step(run.total)}" if run.total else "") + "\n")
    if run.is_file:
        t.append(f"file {run.csv}\n", style="dim")
    else:
        bits = [f"experiment {run.experiment}", f"kind {run.kind}"]
        if run.seed is not None:
            bits.append(f"seed {run.seed}")
        if run.info.get("device"):
            bits.append(f"device {run.info.get('device')}")
        if run.info.get("threads"):
            bits.append(f"threads {run.info.get('threads')}")
        t.append(" · ".join(bits) + "\n")
        ex = run.executor
        if ex.job_id:
            job = [f"{ex.executor or 'cluster'} job {ex.job_id}"]
            if ex.get("phase"):
                job.append(str(ex.get("phase")) + (f" ({ex.get('reason')})" if run.pending_reason else ""))
            if ex.get("node"):
                job.append(f"node {ex.get('node')}")
            t.append(" · ".join(job) + "\n", style="yellow" if run.pending_reason else "")
        for line in _pack_and_gpu(run, gpus):
            t.append(line + "\n")
        st = run.status
        if st.get("started"):
            t.append(f"started {fmt.ago(st.get('started'))}")
            if st.get("ended"):
                t.append(f" · ended {fmt.ago(st.get('ended'))}")
            t.append("\n")
        if st.get("error"):
            t.append(f"error: {st.get('error')}\n", style="bold red")
    for note in run.data_notes:  # unreadable rows, units (tui.data.store)
        t.append(note + "\n", style="yellow")
    latest = {k: v for k, v in run.latest.items() if k != "step"}
    if latest:
        t.append("\nlatest\n", style="bold underline")
        for k, v in latest.items():
            t.append(f"  {k:<12} {fmt.num(v, 4)}\n")
    if run.info:
        t.append("\nconfig\n", style="bold underline")
        sweep = run.sweep
        params = run.info.get("params") or {}
        for k in sorted(params):
            mark = "◆ " if k in sweep else "  "
            t.append(f"{mark}{k} = {json.dumps(params[k])}\n", style="bold cyan" if k in sweep else "")
        for k in ("n_train", "n_test", "total_steps", "preset"):
            if run.info.get(k) is not None:
                t.append(f"  {k} = {json.dumps(run.info[k])}\n", style="dim")
    if run.events:
        t.append("\nevents\n", style="bold underline")
        for e in run.events[-15:]:
            style = "bold yellow" if is_alert(e) else ""
            t.append(f"  {fmt.clock_time(e.get('time'))} {e.get('kind')}: ", style=style)
            t.append(f"{e.get('message', '')}\n")
    lines = run.log_lines or (run.status.get("log_tail") or [])
    if lines:
        t.append("\nworker.log\n", style="bold underline")
        for line in lines[-12:]:
            t.append("  " + line[:200] + "\n", style="dim")
    return t


def _pack_and_gpu(run: RunData, gpus: list[dict] | None) -> list[str]:
    """`pack pack-… · 12 runs` (executor.json, or status.json's `pack` / `pack_size` the pack
    writes) and `GPU0 37% 4.1/80G` for the GPU of the run's slot: a live run's only."""
    ex, st = run.executor, run.status
    out = []
    pack = ex.get("pack") or st.get("pack")
    if pack:
        size = ex.get("pack_size") or st.get("pack_size")
        line = f"pack {pack}" + (f" · {size} runs" if size else "")
        if ex.get("pid") or st.get("pid"):
            line += f" · pid {ex.get('pid') or st.get('pid')}"
        out.append(line)
    g = gpu_of(gpus, ex.get("slot")) if run.state == "running" else None
    if g is not None:
        out.append(f"on {format_gpu(g)} (the whole GPU: every process on it)")
    return out


class DetailPane(VerticalScroll):
    DEFAULT_CSS = """
    DetailPane { width: 46%; max-width: 72; border-left: tall $panel; padding: 0 1; display: none; }
    DetailPane.-shown { display: block; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gpus: list[dict] = []  # the dashboard's copy of runner.json's `gpus`

    def compose(self):
        yield Static("", id="detail-body")

    def show_run(self, run: RunData | None) -> None:
        self.query_one("#detail-body", Static).update(render_detail(run, self.gpus))
