"""The README's figures, made with `grokwatch plot` from real runs:

    grokwatch --headless --config examples/phase-diagram.toml        # in a directory A
    (a double-descent sweep: see docs/figures.md)                      # in a directory B
    python docs/make_figures.py A/runs B/runs                          # writes docs/figures/*.svg
"""

from __future__ import annotations

import sys
from pathlib import Path

from grokwatch.plot import curve_figure, load_runs, phase_figure, seed_groups, sweep_figure
from grokwatch.runs import list_run_dirs

OUT = Path(__file__).parent / "figures"


def main() -> None:
    grok_runs, dd_runs = (Path(a) for a in sys.argv[1:3])
    OUT.mkdir(exist_ok=True)
    grok = load_runs([p.dir for p in list_run_dirs(grok_runs)])
    one = [r for r in grok if r.sweep.get("weight_decay") == 1.0 and r.sweep.get("train_fraction") == 0.4]
    curve_figure(seed_groups(one)).savefig(OUT / "curve.svg")
    phase_figure(grok).savefig(OUT / "phase.svg")
    sweep_figure(load_runs([p.dir for p in list_run_dirs(dd_runs)])).savefig(OUT / "sweep.svg")
    for f in ("curve", "phase", "sweep"):
        print(f"wrote {OUT / f}.svg ({(OUT / f'{f}.svg').stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
