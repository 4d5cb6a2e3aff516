"""`grokwatch plot`: publication figures from run directories, with matplotlib (the optional extra
`grokwatch[plot]`; never imported by the dashboard). Headless: the Agg backend, no display needed.

    curve   train and test error against step on a log step axis, seeds as a mean with a min–max
            band, vertical markers at memorisation, each alert kind's first firing and
            generalisation, the grokking delay in the title
    sweep   final test and train error against the swept key, mean over seeds with a min–max
            band; a double-descent sweep marks the interpolation threshold and uses a log y axis
    phase   a heatmap of a run summary over two swept keys, seeds averaged; never-generalised cells
            hatched, not coloured as slow

Everything is read from the run directories (metrics.csv, config.json, status.json); the summaries
are grokwatch/summaries.py's, the same the dashboard and `export --summary` show.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("curve", "sweep", "phase")
MISSING = 'grokwatch plot needs matplotlib: pip install "grokwatch[plot]"'
PHASE_VALUES = ("generalization_step", "grokking_delay", "memorization_step", "final_test_error",
                "best_test_error")
LABEL = {"generalization_step": "generalisation step", "grokking_delay": "grokking delay (steps)",
         "memorization_step": "memorisation step", "final_test_error": "final test error",
         "best_test_error": "best test error"}


@dataclass
class Run:
    run_id: str
    info: dict[str, Any]
    rows: list[dict[str, float]]
    summary: Any
    state: str

    @property
    def experiment(self) -> str:
        return str(self.info.get("experiment") or self.run_id)

    @property
    def sweep(self) -> dict[str, Any]:
        s = self.info.get("sweep")
        return s if isinstance(s, dict) else {}

    @property
    def seed(self) -> Any:
        return self.info.get("seed")


@dataclass
class Group:
    """Runs that differ only in seed."""

    runs: list[Run] = field(default_factory=list)

    @property
    def label(self) -> str:
        r = self.runs[0]
        sw = ", ".join(f"{k}={v}" for k, v in r.sweep.items())
        return f"{r.experiment}" + (f" ({sw})" if sw else "") + (f", {len(self.runs)} seeds" if len(self.runs) > 1 else "")


def load_runs(run_dirs: list[Path]) -> list[Run]:
    from .runs import RunPaths, read_all_metrics, read_json
    from .summaries import summarize_rows

    out = []
    for d in run_dirs:
        paths = RunPaths(Path(d))
        info = read_json(paths.config, {}) or {}
        rows = read_all_metrics(paths.metrics) if paths.metrics.exists() else []
        state = (read_json(paths.status, {}) or {}).get("state") or "queued"
        out.append(Run(paths.run_id, info, rows, summarize_rows(rows, info), str(state)))
    return out


def seed_groups(runs: list[Run]) -> list[Group]:
    from .sweeps import seed_group_key

    groups: dict[str, Group] = {}
    for r in runs:
        groups.setdefault(seed_group_key(r.info, fallback=r.run_id), Group()).runs.append(r)
    return list(groups.values())


def _value(row: dict[str, float], split: str, metric: str) -> float | None:
    v = row.get(f"{split}_{metric}")
    if v is None and metric == "error" and f"{split}_acc" in row:
        v = 1.0 - row[f"{split}_acc"]
    return v if v is not None and math.isfinite(v) else None


def _series(run: Run, split: str, metric: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in run.rows:
        s, v = row.get("step"), _value(row, split, metric)
        if s is not None and v is not None:
            xs.append(s)
            ys.append(v)
    return xs, ys


def _band(group: Group, split: str, metric: str):
    """Mean and min–max over seeds, at the steps every seed logged (steps are shared by seeds)."""
    import numpy as np

    per = [dict(zip(*_series(r, split, metric))) for r in group.runs]
    steps = sorted(set.intersection(*(set(p) for p in per))) if per else []
    if not steps:
        return None
    vals = np.array([[p[s] for s in steps] for p in per])
    return np.array(steps), vals.mean(axis=0), vals.min(axis=0), vals.max(axis=0)


# ----------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in an SVG (searchable, editable)
    import matplotlib.pyplot as plt

    return plt


TRAIN, TEST = "#1f77b4", "#ff7f0e"
MARK = {"memorization_step": ("memorised", "#1f77b4", ":"), "generalization_step": ("generalised", "#2ca02c", "--")}


def curve_figure(groups: list[Group], metric: str = "error"):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=150)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    single = len(groups) == 1
    for k, g in enumerate(groups):
        for split, base in (("train", TRAIN), ("test", TEST)):
            c = base if single else palette[k % len(palette)]
            b = _band(g, split, metric)
            if b is None:
                continue
            steps, mean, lo, hi = b
            name = f"{split} {metric}" if single else f"{g.label}: {split}"
            ax.plot(steps, mean, color=c, lw=1.6 if split == "test" else 1.0,
                    ls="-" if split == "test" else "--", label=name + (" (mean)" if len(g.runs) > 1 else ""))
            if len(g.runs) > 1:
                ax.fill_between(steps, lo, hi, color=c, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    title = groups[0].label if single else f"{len(groups)} runs"
    if single:
        _markers(ax, groups[0])
        s = groups[0].runs[0].summary
        if s.grokking_delay is not None:
            title += f" — grokking delay {s.grokking_delay:,.0f} steps"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig


def _markers(ax, g: Group) -> None:
    """Vertical lines (first seed's summary) at memorisation, generalisation and first alerts."""
    from .detect.kinds import is_alert_kind
    from .summaries import alert_kinds

    s = g.runs[0].summary.values()
    y = ax.get_ylim()[1]
    for key, (label, color, ls) in MARK.items():
        v = s.get(key)
        if v:
            ax.axvline(v, color=color, ls=ls, lw=1)
            ax.text(v, y, f" {label} {v:,.0f}", color=color, fontsize=7, va="top", rotation=90)
    for kind in alert_kinds():
        v = s.get(f"first_{kind}_step")
        if v and is_alert_kind(kind):  # milestones (generalized) are marked above
            ax.axvline(v, color="#d62728", ls="-.", lw=0.8)
            ax.text(v, y, f" {kind}", color="#d62728", fontsize=7, va="top", rotation=90)


def _numeric(vals: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


def sweep_figure(runs: list[Run], key: str | None = None, metric: str = "error"):
    import numpy as np

    plt = _plt()
    experiment = runs[0].experiment
    keys = _swept(runs)
    if not keys:
        raise PlotError(f"{experiment} has no swept parameter: nothing to draw a sweep of (try --kind curve)")
    key = key if key in keys else keys[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    by: dict[Any, list[Run]] = {}
    for r in runs:
        if key in r.sweep:
            by.setdefault(r.sweep[key], []).append(r)
    xs = sorted(by, key=lambda v: (float(v) if _numeric([v]) else 0, str(v)))
    pos = xs if _numeric(xs) else list(range(len(xs)))
    dd = all(r.info.get("kind") == "double_descent" for r in runs)
    every = [v for r in runs for v in r.summary.final.values()]
    from .sweeps import log_floor

    floor = log_floor(every) if dd else None
    for split, c in (("train", TRAIN), ("test", TEST)):
        vals = [[r.summary.final.get(f"{split}_{metric}") for r in by[x]] for x in xs]
        if floor is not None:  # zero to machine precision: drawn on the axis floor
            vals = [[max(v, floor) for v in vs if v is not None] for vs in vals]
        vals = [[v for v in vs if v is not None] for vs in vals]
        keep = [i for i, vs in enumerate(vals) if vs]
        if not keep:
            continue
        px = np.array([pos[i] for i in keep], dtype=float)
        mean = np.array([np.mean(vals[i]) for i in keep])
        lo = np.array([min(vals[i]) for i in keep])
        hi = np.array([max(vals[i]) for i in keep])
        ax.plot(px, mean, "o-", color=c, ms=3, lw=1.4, label=f"final {split} {metric}")
        if any(len(vals[i]) > 1 for i in keep):
            ax.fill_between(px, lo, hi, color=c, alpha=0.2, lw=0)
    if _numeric(xs) and min(xs) > 0 and max(xs) / min(xs) >= 20:
        ax.set_xscale("log")
    if not _numeric(xs):
        ax.set_xticks(pos, [str(x) for x in xs])
    if dd:
        ax.set_yscale("log")
        if floor is not None:
            ax.set_ylim(bottom=floor)
        thr = _threshold(runs, key)
        if thr is not None:
            ax.axvline(thr[0], color="#d62728", ls="--", lw=1)
            ax.text(thr[0], ax.get_ylim()[1], f" {thr[1]}", color="#d62728", fontsize=8, va="top")
    ax.set_xlabel(key)
    ax.set_ylabel(f"final {metric}")
    n = max(len(v) for v in by.values())
    ax.set_title(f"{experiment}: final {metric} vs {key}" + (f"\n(mean of ≤{n} runs per value, band: min–max)"
                                                            if n > 1 else ""), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig


def _threshold(runs: list[Run], key: str) -> tuple[float, str] | None:
    from .sweeps import interpolation_threshold

    return interpolation_threshold([r.info for r in runs], key)


def _swept(runs: list[Run]) -> list[str]:
    counts: dict[str, set] = {}
    for r in runs:
        for k, v in r.sweep.items():
            counts.setdefault(k, set()).add(repr(v))
    return sorted((k for k in counts if len(counts[k]) > 1), key=lambda k: (-len(counts[k]), k))


def phase_figure(runs: list[Run], value: str = "generalization_step"):
    import numpy as np

    plt = _plt()
    experiment = runs[0].experiment
    keys = _swept(runs)
    if len(keys) < 2:
        raise PlotError(f"{experiment} sweeps {len(keys)} key(s): a phase diagram needs two (try --kind sweep)")
    xk, yk = keys[0], keys[1]
    others = keys[2:]
    fixed = {k: min((r.sweep.get(k) for r in runs), key=lambda v: (str(type(v)), v)) for k in others}
    runs = [r for r in runs if all(r.sweep.get(k) == v for k, v in fixed.items())]
    xs = sorted({r.sweep[xk] for r in runs if xk in r.sweep}, key=lambda v: (str(type(v)), v))
    ys = sorted({r.sweep[yk] for r in runs if yk in r.sweep}, key=lambda v: (str(type(v)), v))
    stepish = value.endswith("_step") or value == "grokking_delay"
    grid = np.full((len(ys), len(xs)), np.nan)
    never = np.zeros((len(ys), len(xs)), dtype=bool)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            cell = [r for r in runs if r.sweep.get(xk) == x and r.sweep.get(yk) == y and r.state == "done"]
            vals = [r.summary.values().get(value) for r in cell]
            nums = [v for v in vals if isinstance(v, (int, float))]
            if nums:
                grid[i, j] = (math.exp(sum(math.log(v) for v in nums) / len(nums))  # steps: geometric mean
                              if stepish and all(v > 0 for v in nums) else sum(nums) / len(nums))
            elif cell:
                never[i, j] = True
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 2.6, 0.9 * len(ys) + 1.8), dpi=150)
    from matplotlib.colors import LogNorm

    finite = grid[np.isfinite(grid)]
    norm = LogNorm(finite.min(), finite.max()) if stepish and len(finite) and finite.min() > 0 else None
    im = ax.imshow(grid, origin="lower", cmap="viridis", norm=norm, aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if never[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", color="#a0283c", lw=0))
                ax.text(j, i, "never", ha="center", va="center", fontsize=7, color="#a0283c",
                        bbox=dict(facecolor="white", edgecolor="none", pad=1))
            elif np.isfinite(grid[i, j]):
                v = grid[i, j]
                ax.text(j, i, f"{v:,.0f}" if stepish else f"{v:.2f}",
                        ha="center", va="center", fontsize=7, color="white" if im.norm(v) < 0.5 else "black")
    ax.set_xticks(range(len(xs)), [f"{x:g}" if isinstance(x, float) else str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" if isinstance(y, float) else str(y) for y in ys])
    ax.set_xlabel(xk)
    ax.set_ylabel(yk)
    fix = ", ".join(f"{k}={v}" for k, v in fixed.items())
    ax.set_title(f"{experiment}: {LABEL.get(value, value)}" + (f" ({fix})" if fix else ""), fontsize=10)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(LABEL.get(value, value))
    fig.tight_layout()
    return fig


class PlotError(Exception):
    """A request that cannot be drawn: one line for the user."""


# ----------------------------------------------------------------------------- command line


def main_plot(argv: list[str], runs_dir: Path) -> int:
    p = argparse.ArgumentParser(prog="grokwatch plot", description="Publication figures (matplotlib).")
    p.add_argument("targets", nargs="*", metavar="RUN|EXPERIMENT",
                   help="run ids or experiment names (default: the only experiment, or, where there "
                        "are several, the latest one started; the others are named)")
    p.add_argument("-o", "--output", help="FILE.png, .svg or .pdf (default grokwatch-KIND.png)")
    p.add_argument("--kind", choices=KINDS, help="curve, sweep or phase (default: from the runs)")
    p.add_argument("--metric", default="error", choices=("error", "loss"))
    p.add_argument("--value", default="generalization_step", choices=PHASE_VALUES, help="phase: what the cells show")
    p.add_argument("--key", help="sweep: the swept key on the x axis")
    args = p.parse_args(argv)
    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() not in (".png", ".svg", ".pdf"):
        print(f"grokwatch: {out}: the figure is written as .png, .svg or .pdf", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"grokwatch: {MISSING}", file=sys.stderr)
        return 2
    from .runs import list_run_dirs

    dirs = [p.dir for p in list_run_dirs(runs_dir)]
    if not dirs:
        print(f"grokwatch: no runs in {runs_dir}", file=sys.stderr)
        return 2
    if args.targets:
        chosen = []
        for t in args.targets:
            hit = [d for d in dirs if d.name == t] or [d for d in dirs if _experiment_of(d) == t]
            if not hit:
                print(f"grokwatch: no run or experiment named {t} in {runs_dir}", file=sys.stderr)
                return 2
            chosen += [d for d in hit if d not in chosen]
        dirs = chosen
    else:
        dirs, note = _default_targets(dirs)
        if note:
            print(f"grokwatch: {note}")
    runs = load_runs(dirs)
    kind = args.kind or _default_kind(runs)
    out = out or Path(f"grokwatch-{kind}.png")
    try:
        if kind == "curve":
            fig = curve_figure(seed_groups(runs), args.metric)
        else:
            exps = sorted({r.experiment for r in runs})
            if len(exps) > 1:
                raise PlotError(f"a {kind} figure is of one experiment; these runs are of {', '.join(exps)}")
            fig = sweep_figure(runs, args.key, args.metric) if kind == "sweep" else phase_figure(runs, args.value)
        fig.savefig(out)
    except PlotError as e:
        print(f"grokwatch: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"grokwatch: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"grokwatch: wrote {out} ({kind}, {_n_runs(len(runs))})")
    return 0


SHOWN_OTHERS = 8  # experiments named in the note; the rest counted


def _default_targets(dirs: list[Path]) -> tuple[list[Path], str | None]:
    """No targets: one experiment's runs — every run where there is one experiment; else the
    latest started (a figure of every run of a project is a crowd nobody asked for), and a
    line naming the others and how to pick."""
    by: dict[str, list[Path]] = {}
    for d in dirs:
        by.setdefault(_experiment_of(d) or d.name, []).append(d)
    if len(by) <= 1:
        return dirs, None
    latest = max(by, key=lambda e: (max(_started(d) for d in by[e]), e))
    others = sorted((e for e in by if e != latest), key=lambda e: (-max(_started(d) for d in by[e]), e))
    shown = ", ".join(f"{e} ({_n_runs(len(by[e]))})" for e in others[:SHOWN_OTHERS])
    if len(others) > SHOWN_OTHERS:
        shown += f" and {len(others) - SHOWN_OTHERS} more (grokwatch status lists them)"
    return by[latest], (f"{len(by)} experiments here; drawing the latest started, {latest} "
                        f"({_n_runs(len(by[latest]))}). The others: {shown}. Pick one with "
                        f"`grokwatch plot EXPERIMENT`, or runs with `grokwatch plot RUN…`")


def _n_runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def _started(d: Path) -> float:
    """When a run started (status.json), else was queued, else its config.json was written."""
    from .runs import read_json

    status = read_json(d / "status.json", {}) or {}
    for key in ("started", "queued"):
        v = status.get(key) if isinstance(status, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    try:
        return (d / "config.json").stat().st_mtime
    except OSError:
        return 0.0


def _experiment_of(d: Path) -> str:
    from .runs import read_json

    return str((read_json(d / "config.json", {}) or {}).get("experiment") or "")


def _default_kind(runs: list[Run]) -> str:
    if len({r.experiment for r in runs}) == 1:
        n = len(_swept(runs))
        if n >= 2:
            return "phase"
        if n == 1:
            return "sweep"
    return "curve"
