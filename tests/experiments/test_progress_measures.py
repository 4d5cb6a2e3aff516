"""The grokking kind's progress measures (grokwatch/experiments/progress.py): their columns,
their definitions on hand-set weights and logits, and the switch that turns them off."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from grokwatch.experiments import get_spec, progress  # noqa: E402
from grokwatch.experiments.grokking import Trainer  # noqa: E402

TINY = {"modulus": 31, "train_fraction": 0.5, "width": 64, "steps": 40, "eval_every": 20,
        "eval_log_points": 0}


def trainer(**over):
    return Trainer(get_spec("grokking").resolve({**TINY, **over}), seed=0)


def test_columns_follow_the_operation_and_the_switch():
    assert progress.columns(get_spec("grokking").resolve(TINY)) == list(progress.COLUMNS)
    assert progress.columns(get_spec("grokking").resolve({**TINY, "operation": "x*y"})) == [
        "softmax_collapse", "logit_scale"]
    assert progress.columns(get_spec("grokking").resolve({**TINY, "progress_measures": False})) == []
    t = trainer(progress_measures=False)
    assert set(progress.evaluator(t)()) == {"train_loss", "train_acc", "test_loss", "test_acc",
                                           "weight_norm", "lr"}


def test_measures_reuse_the_evaluation_logits_and_match_a_fresh_pass():
    t = trainer()
    for _ in range(5):
        t.train_step()
    row = progress.evaluator(t)()
    fresh = progress.measures(t)
    for k in progress.COLUMNS:
        assert row[k] == pytest.approx(fresh[k], rel=1e-5, abs=1e-7), k
    assert t.last_logits is None  # not kept between evaluations


def test_a_pure_fourier_embedding_is_sparse_and_a_pure_circuit_restricts_losslessly():
    t = trainer()
    p = 31
    a = torch.arange(p).float()
    with torch.no_grad():  # embed only frequency 3 (cos and sin) in both operand tables
        w = torch.zeros(p, 64)
        w[:, 0] = torch.cos(2 * math.pi * 3 * a / p)
        w[:, 1] = torch.sin(2 * math.pi * 3 * a / p)
        t.model.w_x.copy_(w)
        t.model.w_y.copy_(w)
    m = progress.measures(t)
    assert m["fourier_sparsity"] == pytest.approx(1.0, abs=1e-4)
    # logits that are exactly a key-frequency function of x + y: restricting changes nothing,
    # excluding leaves only the per-class mean
    tr_xy, te_xy = t.train_x, t.test_x
    s_tr = (tr_xy[:, 0] + tr_xy[:, 1]) % p
    s_te = (te_xy[:, 0] + te_xy[:, 1]) % p
    c = torch.arange(p).float()

    def circuit(s):
        return 8 * torch.cos(2 * math.pi * 3 * (s.float().unsqueeze(1) - c) / p)

    logits = (circuit(s_tr), circuit(s_te))
    m = progress.measures(t, logits)
    exact = torch.nn.functional.cross_entropy(logits[1], t.test_y)
    assert m["restricted_loss"] == pytest.approx(float(exact), rel=1e-4)
    assert m["excluded_loss"] == pytest.approx(math.log(p), rel=1e-3)


def test_softmax_collapse_and_logit_scale():
    t = trainer()
    n = len(t.train_y)
    big = torch.full((n, 31), -200.0)
    big[torch.arange(n), t.train_y] = 200.0
    m = progress.measures(t, (big, torch.zeros(len(t.test_y), 31)))
    assert m["softmax_collapse"] == 1.0
    assert m["logit_scale"] > 50
    m = progress.measures(t, (torch.zeros(n, 31), torch.zeros(len(t.test_y), 31)))
    assert m["softmax_collapse"] == 0.0 and m["logit_scale"] == 0.0
