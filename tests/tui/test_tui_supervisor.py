"""The runner-replacement policy, without a runner: what the dashboard says and does when the runner
it watched goes away (the real thing, with real runners, is tests/tui/test_tui_runner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grokwatch.tui.data import supervisor as sup
from grokwatch.tui.data.poller import Poller, RunnerGone
from grokwatch.tui.data.store import RunStore
from grokwatch.tui.data.supervisor import RunnerSupervisor


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def runners(tmp_path: Path, monkeypatch):
    cfg = tmp_path / "experiments.toml"
    cfg.write_text('[[experiment]]\nname = "g"\nkind = "grokking"\n')
    started = []

    def ensure_runner(path, project):
        started.append(Path(path))
        return {"pid": 100 + len(started), "host": "here", "config": str(path)}

    import grokwatch.runner.launch as launch

    monkeypatch.setattr(launch, "ensure_runner", ensure_runner)
    store = RunStore()
    clock = Clock()
    r = RunnerSupervisor(tmp_path, cfg, store, Poller(store, tmp_path), clock=clock)
    r.started, r.fake_clock = started, clock  # type: ignore[attr-defined]
    return r


def died(pid: int, config: str = "?") -> RunnerGone:
    return RunnerGone({"pid": pid, "host": "here", "config": config}, clean=False)


def test_a_clean_exit_is_a_calm_note_and_a_successor_is_news(runners):
    note, replace = runners.on_gone(RunnerGone({"pid": 7}, clean=True))
    assert not replace and not note.banner and "exited cleanly" in note.text
    note, replace = runners.on_gone(RunnerGone({"pid": 7}, clean=False, successor={"pid": 8}))
    assert not replace and "pid 8 (started by another grokwatch)" in note.text


def test_a_death_is_replaced_once_and_a_quick_second_death_is_not(runners):
    note, replace = runners.on_gone(died(7))
    assert replace and note.banner and not note.error and "killed, or it crashed" in note.text
    done = runners.replace(died(7))
    assert runners.started == [runners.config_path] and "runner pid 101 replaced it" in done.text
    assert done.hide_after_s == sup.REPLACED_BANNER_S and runners.replacements == 1
    runners.fake_clock.t += 5
    note, replace = runners.on_gone(died(101))
    assert not replace and note.error and note.until_runner
    assert "died too, 5 s after it replaced pid 7" in note.text and str(runners.runner_log) in note.text


def test_no_more_than_max_replacements_in_a_session(runners):
    for k in range(sup.MAX_REPLACEMENTS):
        assert runners.on_gone(died(k))[1]
        runners.replace(died(k))
        runners.fake_clock.t += sup.REPLACE_GUARD_S + 1
    note, replace = runners.on_gone(died(99))
    assert not replace and f"replaced the runner {sup.MAX_REPLACEMENTS} times already" in note.text


def test_replacement_uses_the_file_the_dead_runner_served_and_refuses_a_broken_one(runners, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[[experiment]]\nname = "h"\nkind = "grokking"\n')
    runners.replace(died(7, config=str(other)))
    assert runners.started == [other]
    runners.config_path.write_text('[[experiment]]\nname = "g"\nkind = "grokking"\n[experiment.params]\nmodulos = 3\n')
    note = runners.replace(died(8))
    assert runners.started == [other] and note.error and "has an error, so no new runner starts" in note.text
    assert runners.poller.local_config_error and "modulos" in runners.poller.local_config_error


def test_attach_starts_a_runner_only_for_a_valid_config_and_no_holder(runners):
    got = runners.attach()
    assert got.start and runners.store.runs_dirs == [runners.project_dir / "runs"]
    runners.config_path.write_text("[[experiment]\n")
    got = runners.attach()
    assert not got.start and runners.poller.local_config_error
