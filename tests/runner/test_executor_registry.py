"""One registry of executors, read by config validation, the CLI and the runner; backends
import the base, never the reverse; the base's optional capabilities have working defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grokwatch.config import ConfigError, load_config
from grokwatch.runner.executors import REGISTRY, Executor, JobState, executor_class, make_executor

PKG = Path(__file__).resolve().parents[2] / "grokwatch" / "runner" / "executors"


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions) by a source file."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_backends_import_the_base_and_nothing_imports_a_backend():
    backends = {e.target.split(":")[0].rsplit(".", 1)[1] for e in REGISTRY.values()}
    assert backends == {"local", "slurm"}
    for name in backends:
        imports = _imports(PKG / f"{name}.py")
        assert ".base" in imports, name
        assert not {f".{b}" for b in backends} & imports, name
    assert not {f".{b}" for b in backends} & (_imports(PKG / "base.py") | _imports(PKG / "__init__.py"))


def test_every_registered_executor_resolves_and_has_its_name():
    for name, entry in REGISTRY.items():
        cls = executor_class(name)
        assert issubclass(cls, Executor) and cls.name == name and cls.job_kind == entry.job_kind


def test_config_validation_reads_the_registry(tmp_path, monkeypatch):
    cfg = tmp_path / "e.toml"
    cfg.write_text('[grokwatch]\nexecutor = "slurmm"\n[[experiment]]\nname = "a"\nkind = "grokking"\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg, tmp_path)
    assert "did you mean 'slurm'" in str(err.value) and "'local'" in str(err.value)
    from grokwatch.runner import executors

    monkeypatch.setitem(executors.REGISTRY, "slurmm", REGISTRY["local"])
    assert load_config(cfg, tmp_path).settings.executor == "slurmm"


def test_unknown_name_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown executor 'nope'; known: local, slurm"):
        make_executor("nope")


class Minimal(Executor):
    """Only the required methods: the runner must work with it as it is."""

    name = "minimal"

    def __init__(self):
        self.jobs = {}

    def submit(self, run_dir, env):
        if Path(run_dir).name == "bad":
            raise OSError("bad")
        self.jobs[str(run_dir)] = "running"
        return self.record(dir=str(run_dir))

    def poll(self, records):
        return {k: JobState(self.jobs.get(r["dir"], "gone")) for k, r in records.items()}

    def cancel(self, record, requeue=False):
        self.jobs[record["dir"]] = "gone"


def test_optional_capabilities_have_defaults(tmp_path):
    ex = Minimal.from_config(None)
    out = ex.submit_many([(tmp_path / "a", {}), (tmp_path / "bad", {}), (tmp_path / "c", {})])
    assert out[0]["dir"] == str(tmp_path / "a") and isinstance(out[1], OSError) and out[2]["job_kind"] == "process"
    assert ex.adopt(out[0]) is True
    ex.cancel(out[0])
    assert ex.adopt(out[0]) is False
    assert ex.slots() is None and ex.capacity() is None and ex.describe() is None
    assert ex.wakeup_fd() is None
    ex.kill(out[2])
    ex.close()


def test_a_new_executor_is_one_module_and_one_registry_line(tmp_path, monkeypatch):
    """tests/runner/fake_executor.py is a whole backend; one ExecutorEntry makes `executor = "fake"`
    valid in experiments.toml, and the runner builds it from the config and runs the queue on it."""
    from fake_executor import TOML

    from grokwatch.runner import executors
    from grokwatch.runner.core import Runner
    from grokwatch.runs import read_json

    monkeypatch.setitem(executors.REGISTRY, "fake",
                        executors.ExecutorEntry("fake", "fake_executor:FakeExecutor", "process", "tests"))
    (tmp_path / "experiments.toml").write_text(
        TOML.format(slots=2, seeds=[0, 1], name="g", extra='executor = "fake"'))
    runner = Runner(tmp_path / "experiments.toml", tmp_path, foreground=True)
    runner.start()
    try:
        assert type(runner.executor).__name__ == "FakeExecutor"
        runner.tick()
        assert sorted(runner.executor.submitted) == sorted(runner.active)
        for rid in list(runner.active):
            runner.executor.end(rid)
        runner.tick()
        assert not runner.active
    finally:
        runner.close()
    for d in (tmp_path / "runs").iterdir():
        assert read_json(d / "status.json")["state"] == "done"
        assert read_json(d / "executor.json")["executor"] == "fake"
