"""A packed run's curve is the unpacked run's curve (in this process, on the CPU): the batched
computation of `experiments.packed` against `grokking.Trainer`, run by run, for the MLP and the
transformer; members that leave, members that diverge, and checkpoints both ways."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from grokwatch.experiments import get_spec  # noqa: E402
from grokwatch.experiments.base import eval_schedule  # noqa: E402
from grokwatch.experiments.grokking import Trainer  # noqa: E402
from grokwatch.experiments.packed import PackTrainer  # noqa: E402

# x+y mod 31, 60% train, a fast learning rate: memorises at ~60 steps, test accuracy >= 95% at
# ~320-360 (seeds 0, 1): memorisation and grokking both happen within the 400 steps compared.
MLP = {"modulus": 31, "width": 64, "train_fraction": 0.6, "lr": 1e-2, "steps": 400,
       "eval_every": 20, "eval_log_points": 8}
TRANSFORMER = {"model": "transformer", "modulus": 23, "d_model": 32, "n_heads": 2, "n_layers": 1,
               "batch_size": 128, "lr": 3e-3, "steps": 400, "eval_every": 25, "eval_log_points": 4,
               "warmup_steps": 10, "train_fraction": 0.5}
# What members of one pack may differ in: seed, lr, weight decay, betas, init scale, train
# fraction, Adam vs AdamW, Grokfast.
VARIANTS = [
    ({}, 0),
    ({"weight_decay": 0.3, "lr": 5e-3, "train_fraction": 0.5, "betas": [0.8, 0.99]}, 1),
    ({"optimizer": "adam", "weight_decay": 0.005, "grokfast": True, "grokfast_lamb": 1.0,
      "init_scale": 2.0}, 2),
]


def resolve(base: dict, change: dict) -> dict:
    return get_spec("grokking").resolve({**base, **change})


def first(curve, key, at_least):
    return next((s for s, m in curve if m[key] >= at_least), None)


def compare_curves(base: dict, variants=VARIANTS, threads: int = 1):
    torch.set_num_threads(threads)
    params = [resolve(base, v) for v, _ in variants]
    seeds = [s for _, s in variants]
    pack = PackTrainer(params, seeds)
    singles = [Trainer(p, s) for p, s in zip(params, seeds)]
    total = params[0]["steps"]
    evals = set(eval_schedule(total, params[0]["eval_every"], params[0]["eval_log_points"]))
    packed_curves = [[] for _ in singles]
    single_curves = [[] for _ in singles]
    worst_loss = 0.0
    for step in range(total + 1):
        if step in evals:
            for r, (a, b) in enumerate(zip(pack.evaluate(), (t.evaluate() for t in singles))):
                packed_curves[r].append((step, a))
                single_curves[r].append((step, b))
        if step == total:
            break
        losses = pack.train_step()
        for r, t in enumerate(singles):
            want = float(t.train_step())
            worst_loss = max(worst_loss, abs(float(losses[r]) - want) / abs(want))
    return packed_curves, single_curves, worst_loss, sorted(evals)


def assert_same_curves(packed_curves, single_curves, worst_loss, evals, must_memorise=True,
                       must_grok=False):
    assert worst_loss < 1e-3, worst_loss
    memorised = grokked = 0
    for pc, sc in zip(packed_curves, single_curves):
        for (step, a), (_, b) in zip(pc, sc):
            assert abs(a["test_acc"] - b["test_acc"]) <= 0.005, (step, a["test_acc"], b["test_acc"])
            assert math.isclose(a["train_loss"], b["train_loss"], rel_tol=1e-3), step
            assert math.isclose(a["weight_norm"], b["weight_norm"], rel_tol=1e-4), step
            assert a["lr"] == pytest.approx(b["lr"], rel=1e-12)
        for key, level in (("train_acc", 0.99), ("test_acc", 0.95)):
            sa, sb = first(pc, key, level), first(sc, key, level)
            assert (sa is None) == (sb is None), (key, sa, sb)
            if sa is not None:  # the same evaluation, or the next one
                assert abs(evals.index(sa) - evals.index(sb)) <= 1, (key, sa, sb)
        memorised += first(sc, "train_acc", 0.99) is not None
        grokked += first(sc, "test_acc", 0.95) is not None
    if must_memorise:  # the comparison covers real memorisation (and generalisation)
        assert memorised >= 2
    if must_grok:
        assert grokked >= 1


@pytest.mark.slow
def test_packed_mlp_follows_each_unpacked_run():
    """The fast one (~1 s once torch is warm)."""
    assert_same_curves(*compare_curves(MLP), must_grok=True)


@pytest.mark.slow
def test_packed_transformer_follows_each_unpacked_run():
    assert_same_curves(*compare_curves(TRANSFORMER), must_memorise=False)


def test_a_member_leaving_or_diverging_does_not_change_the_others():
    torch.set_num_threads(1)
    params = [resolve(MLP, v) for v, _ in VARIANTS]
    bad = resolve(MLP, {"lr": 10.0, "init_scale": 1.0, "weight_decay": 0.0, "betas": [0.99, 0.0]})
    pack = PackTrainer([params[0], bad, params[1], params[2]], [0, 5, 1, 2])
    singles = [Trainer(p, s) for p, s in zip(params, [0, 1, 2])]
    order = [0, None, 1, 2]  # pack position -> its single run (None: the diverging member)
    bad_losses = []
    for step in range(60):
        if step == 30:  # the diverging member and one good member leave; two go on
            pack.keep([0, 3])
            order = [order[0], order[3]]
        losses = pack.train_step()
        for pos, single in enumerate(order):
            if single is None:
                bad_losses.append(float(losses[pos]))
            else:
                assert float(losses[pos]) == pytest.approx(float(singles[single].train_step()), rel=1e-4)
    assert not all(math.isfinite(v) and v < 1e4 for v in bad_losses)  # it did blow up
    assert pack.size == 2 and all(math.isfinite(m["train_loss"]) for m in pack.evaluate())


def test_checkpoints_are_the_single_workers_format_both_ways(tmp_path):
    torch.set_num_threads(1)
    base = {**MLP, "batch_size": 100}  # minibatches: permutation and generator state matter
    params = [resolve(base, v) for v, _ in VARIANTS]
    pack = PackTrainer(params, [0, 1, 2])
    for _ in range(23):
        pack.train_step()
    pack.save_member(2, tmp_path / "member.pt")  # Grokfast + Adam member, mid-epoch
    single = Trainer(params[2], 2)
    single.load(tmp_path / "member.pt")  # the single worker's own loader
    assert single.step == 23
    for _ in range(10):
        assert float(single.train_step()) == pytest.approx(float(pack.train_step()[2]), rel=1e-4)
    single.save(tmp_path / "single.pt")  # and back: a single run's checkpoint into a new pack
    again = PackTrainer([params[0], params[2]], [0, 2])
    again.load_member(1, tmp_path / "single.pt")
    assert int(again.steps[1]) == 33 and int(again.steps[0]) == 0
    for _ in range(10):
        assert float(again.train_step()[1]) == pytest.approx(float(single.train_step()), rel=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_packed_runs_follow_the_unpacked_runs_on_cuda(tmp_path):
    """The same comparison on the GPU (bench/gpu.py runs it), and a member's checkpoint round
    trip there: CUDA kernels differ from the CPU's, the tolerances do not."""
    def on_cuda(base, variants=VARIANTS):
        params = [resolve(base, v) for v, _ in variants]
        seeds = [s for _, s in variants]
        pack = PackTrainer(params, seeds, device="cuda")
        singles = [Trainer(p, s, device="cuda") for p, s in zip(params, seeds)]
        worst = 0.0
        for step in range(1, params[0]["steps"] + 1):
            losses = pack.train_step().cpu().tolist()
            for r, t in enumerate(singles):
                want = float(t.train_step())
                worst = max(worst, abs(losses[r] - want) / abs(want))
            if step % 50 == 0:
                for a, b in zip(pack.evaluate(), (t.evaluate() for t in singles)):
                    assert abs(a["test_acc"] - b["test_acc"]) <= 0.005, step
        assert worst < 1e-3, worst
        pack.save_member(0, tmp_path / "m.pt")
        single = Trainer(params[0], seeds[0], device="cuda")
        single.load(tmp_path / "m.pt")
        assert float(single.train_step()) == pytest.approx(float(pack.train_step()[0]), rel=1e-4)

    on_cuda(MLP)
    on_cuda({**TRANSFORMER, "steps": 200})
