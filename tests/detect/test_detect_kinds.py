"""The one table of alert kinds, and the rule protocol: every consumer reads the table, and a
new rule registered from a module of its own runs end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from grokwatch.detect import KINDS, AlertKind, DetectorSet, detect_rows, main_detect, register, rule_classes
from grokwatch.detect.jump import JumpRule
from grokwatch.detect.kinds import is_alert_kind, kind_of
from grokwatch.detect.protocol import NO_EVENTS, Reading, RunContext
from grokwatch.headless import format_event

REPO = Path(__file__).resolve().parents[2]


def test_every_kind_has_a_rule_that_follows_the_protocol():
    classes = rule_classes()
    assert len(classes) == len({k.rule for k in KINDS.values()})
    for cls in classes:
        assert callable(getattr(cls, "update", None)) and isinstance(cls.needs_curves, bool)
    for k in KINDS.values():
        assert k.severity in ("alarm", "hint", "milestone")
        assert k.badge and k.mark and k.doc
        assert k.alert == (k.severity != "milestone")


def test_no_module_outside_the_table_copies_it():
    """Others import the table, never copy it: no module outside the rules spells several kinds
    (a list, a badge map, a mark map). Naming the one kind whose events it looks for is fine."""
    own = {"kinds.py", "jump.py", "hint.py", "overfit.py", "divergence.py", "summary.py",
           "milestone.py", "stall.py", "phase.py"}
    names = [n for n in KINDS if n not in ("divergence", "overfitting")]  # also plain words
    for path in (REPO / "grokwatch").rglob("*.py"):
        if path.parent.name == "detect" and path.name in own:
            continue
        text = path.read_text()
        spelled = [n for n in names if f'"{n}"' in text or f"'{n}'" in text]
        assert len(spelled) < 2, f"{path} spells {spelled}: import grokwatch.detect.kinds"


def test_headless_marks_and_labels_come_from_the_table():
    for k in KINDS.values():
        line = format_event({"time": 0, "kind": k.name, "message": "m", "alert": k.alert})
        assert f" {k.mark:>2} [" in line
        assert (f"[ALERT {k.name}]" in line) == k.alert
    assert " +" in format_event({"time": 0, "kind": "done", "message": "m"})


class EveryTenth:
    """A dummy rule: an event on every step that is a multiple of 10, after the jump rule
    (whose public view it reads)."""

    needs_curves = True

    def __init__(self, ctx: RunContext) -> None:
        self.jump = ctx.peer(JumpRule)
        self.unit = ctx.unit

    def update(self, r: Reading):
        if r.step % 10:
            return NO_EVENTS
        return ({"kind": "every_tenth", "step": r.step, "message": f"{self.unit} {r.step:g}",
                 "memorized": self.jump.memorized_at},)


@pytest.fixture
def dummy_kind():
    register(AlertKind("every_tenth", "milestone", False, "10!", "10", f"{__name__}:EveryTenth",
                       "every tenth step"))
    try:
        yield KINDS["every_tenth"]
    finally:
        del KINDS["every_tenth"]


def test_a_rule_registered_from_its_own_module_runs_everywhere(dummy_kind, tmp_path, capsys):
    rows = [{"step": float(s), "test_acc": 0.01, "train_acc": min(1.0, s / 20)} for s in range(1, 41)]
    ev = [e for e in detect_rows(rows) if e["kind"] == "every_tenth"]
    assert [e["step"] for e in ev] == [10, 20, 30, 40]
    assert ev[0]["memorized"] is None and ev[-1]["memorized"] == 20
    assert kind_of("every_tenth") is dummy_kind and not is_alert_kind("every_tenth")
    assert "[every_tenth]" in format_event({"time": 0, **ev[0], "alert": False})
    csv = tmp_path / "m.csv"
    csv.write_text("step,test_acc,train_acc\n" + "".join(f"{r['step']:g},{r['test_acc']},{r['train_acc']}\n"
                                                           for r in rows))
    assert main_detect([str(csv), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    tenth = [x for x in lines if x["kind"] == "every_tenth"]
    assert len(tenth) == 4 and all(x["alert"] is False for x in tenth)


def test_a_duplicate_kind_is_refused():
    with pytest.raises(ValueError):
        register(KINDS["generalization_jump"])


def test_a_rule_that_needs_a_later_rule_says_so():
    class Early:
        needs_curves = False

        def __init__(self, ctx):
            ctx.peer(JumpRule)

    ctx = RunContext(kind=None, n_test=None, weight_decay=None, unit="step")
    with pytest.raises(LookupError, match="JumpRule"):
        Early(ctx)


def test_rules_are_built_in_table_order_once_the_curves_are_known():
    ds = DetectorSet(None)
    assert [type(r).__name__ for r in ds.rules] == ["DivergenceAlert"]
    ds.feed({"step": 1.0, "train_loss": 1.0})
    assert len(ds.rules) == 1
    ds.feed({"step": 2.0, "train_loss": 1.0, "test_acc": 0.1})
    assert tuple(type(r) for r in ds.rules) == rule_classes()
    assert ds.rule(JumpRule) is ds.rules[1]


def test_headless_alert_lines_name_the_run_once():
    line = format_event({"time": 0, "run_id": "grok-s1", "kind": "generalization_jump",
                         "message": "Test accuracy jumped", "alert": True})
    assert line.endswith("[ALERT generalization_jump] grok-s1: Test accuracy jumped")
    line = format_event({"time": 0, "run_id": "grok-s1", "kind": "done",
                         "message": "grok-s1 finished at step 9"})
    assert line.endswith("[done] grok-s1 finished at step 9")
    assert format_event({"time": 0, "kind": "overfitting", "message": "m"}).endswith("] m")


def test_run_table_badges_come_from_the_table_and_show_a_later_milestone(tmp_path):
    from grokwatch.tui.data.store import RunData
    from grokwatch.tui.widgets.runs.table import badge

    run = RunData(key="r", csv=tmp_path / "m.csv")
    assert badge(run) == ""
    jump = {"kind": "generalization_jump", "step": 960, "alert": True}
    gen = {"kind": "generalized", "step": 1380, "alert": False}
    run.alerts, run.events = [jump], [jump]
    assert badge(run) == KINDS["generalization_jump"].badge
    run.events = [jump, gen]
    assert badge(run) == KINDS["generalized"].badge + "+1"
    run.alerts, run.events = [], [gen]
    assert badge(run) == KINDS["generalized"].badge
