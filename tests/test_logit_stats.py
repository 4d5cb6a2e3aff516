"""`grokwatch.progress_stats` (grokwatch/logit_stats.py): the same values from a torch tensor as the
grokking kind logs, from a numpy array and from lists; no torch import of its own."""

from __future__ import annotations

import sys

import pytest

from test_imports import modules_after

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

import grokwatch  # noqa: E402
from grokwatch import logit_stats  # noqa: E402
from grokwatch.experiments import get_spec, progress  # noqa: E402
from grokwatch.experiments.grokking import Trainer  # noqa: E402

TINY = {"modulus": 31, "train_fraction": 0.5, "width": 64, "steps": 40, "eval_every": 20,
        "eval_log_points": 0}


@pytest.fixture(scope="module")
def trained():
    """A tiny grokking trainer after a few steps, and its training logits scaled so that some
    samples' softmax has collapsed and some has not (the interesting regime)."""
    t = Trainer(get_spec("grokking").resolve(TINY), seed=0)
    for _ in range(30):
        t.train_step()
    with torch.no_grad():
        z = progress._logits(t, t.train_x)
    z = z / z.std() * 6.0  # logits of rms 6: the top one a few sigma above the rest, spread
    z[torch.arange(len(z)), t.train_y] += torch.linspace(0, 30, len(z))
    return t, z


def old_formula(z, y):
    """progress.py's definitions before they moved to logit_stats (the grokking kind's values)."""
    loss = torch.nn.functional.cross_entropy(z, y, reduction="none")
    c = z - z.mean(-1, keepdim=True)
    return {"softmax_collapse": float((loss == 0).float().mean()), "logit_scale": float(c.square().mean().sqrt())}


def test_a_tensor_gives_what_the_grokking_kind_logs(trained):
    t, z = trained
    got = grokwatch.progress_stats(z, t.train_y)
    assert got == old_formula(z, t.train_y)
    assert 0.2 < got["softmax_collapse"] < 0.8  # both regimes present
    m = progress.measures(t, (z, torch.zeros(len(t.test_y), 31)))
    assert {k: m[k] for k in got} == got


def test_a_numpy_array_and_lists_agree_with_the_tensor(trained, monkeypatch):
    t, z = trained
    ref = grokwatch.progress_stats(z, t.train_y)
    n = len(z)
    tol = 5 / n  # libraries sum exp() in different orders: a few samples at the 2^-24 edge may differ
    for logits, labels in ((z.numpy(), t.train_y.numpy()), (z.tolist(), t.train_y.tolist())):
        got = grokwatch.progress_stats(logits, labels)
        assert abs(got["softmax_collapse"] - ref["softmax_collapse"]) <= tol
        assert got["logit_scale"] == pytest.approx(ref["logit_scale"], rel=1e-5)
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` fails: the pure-Python path
    got = grokwatch.progress_stats(z[:200].tolist(), t.train_y[:200].tolist())
    small = grokwatch.progress_stats(z[:200], t.train_y[:200])
    assert abs(got["softmax_collapse"] - small["softmax_collapse"]) <= 2 / 200
    assert got["logit_scale"] == pytest.approx(small["logit_scale"], rel=1e-5)


def test_without_labels_the_top_logit_stands_for_the_label():
    z = [[40.0, 0.0, 0.0], [0.0, 40.0, 0.0], [1.0, 0.0, 0.0], [5.0, 5.0, -40.0]]
    for logits in (z, np.array(z), torch.tensor(z)):
        s = grokwatch.progress_stats(logits)
        assert s["softmax_collapse"] == 0.5  # two collapsed; a near tie and an exact tie are not
        assert grokwatch.progress_stats(logits, [0, 0, 0, 0])["softmax_collapse"] == 0.25
    exact = logit_stats._pure(z, None)
    assert exact["softmax_collapse"] == 0.5


def test_bad_input_is_one_clear_error():
    for bad in ([1.0, 2.0], [[1.0]], [], [[1.0, 2.0], [3.0]], np.zeros((0, 5)), torch.zeros(3)):
        with pytest.raises(ValueError, match="logits must be a \\(batch, classes\\) array"):
            grokwatch.progress_stats(bad)
    with pytest.raises(ValueError, match="2 labels for 3 samples"):
        grokwatch.progress_stats(np.zeros((3, 4)), [0, 1])


def test_importing_and_calling_it_on_lists_imports_no_torch():
    mods = modules_after("import grokwatch\nprint(grokwatch.progress_stats([[30.0, 0.0], [0.0, 1.0]]))")
    assert "torch" not in mods
