"""Import hygiene, checked in a fresh interpreter (the static import graph cannot tell a
module-level import from a deferred one; sys.modules can)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, cli_env


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_import_grokwatch_is_standard_library_only():
    mods = modules_after("import grokwatch")
    assert not {m.split(".")[0] for m in mods} & {"torch", "numpy", "textual", "plotext", "sklearn"}


@pytest.mark.parametrize("module", ["grokwatch.cli", "grokwatch.config", "grokwatch.runner",
                                    "grokwatch.runner.core", "grokwatch.headless", "grokwatch.detect",
                                    "grokwatch.export", "grokwatch.client"])
def test_engine_modules_never_import_torch_or_textual(module):
    mods = modules_after(f"import {module}\nfrom grokwatch.config import load_config, demo_config_path\n"
                         f"load_config(demo_config_path())")
    assert "torch" not in mods
    assert "textual" not in mods


HEAVY = {"torch", "numpy", "textual", "plotext", "sklearn", "matplotlib", "tensorboard", "wandb",
         "lightning", "pytorch_lightning", "transformers", "keras", "mlflow"}
ALL_OF_DETECT = ("import importlib, pkgutil, grokwatch.detect\n"
                 "for m in pkgutil.iter_modules(grokwatch.detect.__path__):\n"
                 "    if m.name != '__main__':\n"
                 "        importlib.import_module('grokwatch.detect.' + m.name)")


@pytest.mark.parametrize("code", ["import grokwatch.client", "import grokwatch.merge", "import grokwatch.local_run",
                                  "import grokwatch.tail", "import grokwatch.summaries", "import grokwatch.readers",
                                  ALL_OF_DETECT], ids=["client", "merge", "local_run", "tail", "summaries",
                                                       "readers", "detect.*"])
def test_standard_library_modules_import_nothing_heavy(code):
    """What a training script, the runner's per-row path and the readers' sniffing import: the
    standard library only (a reader imports tensorboard or wandb inside `read()`, when such a log
    is read). The static half is the second import-linter contract."""
    mods = modules_after(code)
    assert not {m.split(".")[0] for m in mods} & HEAVY


@pytest.mark.slow
def test_the_runner_process_never_imports_torch(tmp_path):
    """Run a full (tiny) queue in the foreground runner and look at its sys.modules after."""
    (tmp_path / "e.toml").write_text('[grokwatch]\ndevices="cpu"\n[[experiment]]\nname="g"\nkind="grokking"\n'
                                     '[experiment.params]\nmodulus=23\nsteps=40\nwidth=16\neval_every=20\n')
    code = (f"import os; os.chdir({str(tmp_path)!r})\n"
            "from pathlib import Path\nfrom grokwatch.headless import run_headless\n"
            "import io\nrc = run_headless(Path('e.toml'), Path('.'), out=io.StringIO())\nassert rc == 0, rc\n")
    mods = modules_after(code)
    assert "torch" not in mods and "textual" not in mods


def test_import_linter_contract_is_kept():
    """The static half of the rule: import-linter's forbidden contract in pyproject.toml."""
    out = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
                          "sys.exit(lint_imports_command())"], capture_output=True, text=True, cwd=REPO,
                         env=cli_env(), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout and "0 broken" in out.stdout


def test_no_import_cycles():
    """No cycle in the package's import graph, deferred imports included (grimp, which
    import-linter installs, reads every import statement). A module naming its own parent package
    (`from . import X` in a submodule) is left out: Python has always imported the parent first."""
    import grimp

    g = grimp.build_graph("grokwatch")
    edges = {m: {t for t in g.find_modules_directly_imported_by(m)
                 if t.startswith("grokwatch") and not m.startswith(t + ".")} for m in g.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    assert not cycles, cycles
