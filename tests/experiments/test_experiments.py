"""The built-in experiment kinds: each phenomenon shows on a reduced config, runs are
deterministic, a SIGTERM-ed run resumes to the same numbers, and importing a kind never imports
torch (numpy kinds never import it at all)."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_env, wait_for

from grokwatch.experiments import get_spec
from grokwatch.experiments.base import RunContext, StopRun

KINDS = ("grokking", "overfitting", "double_descent")

# x+y mod 31, half the pairs, a fast learning rate: memorises by ~step 40 with test accuracy at
# chance, reaches 95% test accuracy by ~step 450 (weight decay 1); never without weight decay.
TINY_GROK = {"modulus": 31, "train_fraction": 0.5, "width": 128, "lr": 1e-2, "steps": 600,
             "eval_every": 20, "eval_log_points": 8}


# ----------------------------------------------------------------------------- helpers


def write_run(run_dir: Path, kind: str, params: dict | None = None, preset: str | None = None,
              seed: int = 0, threads: int = 1, checkpoint_every_s: float = 60.0) -> dict:
    spec = get_spec(kind)
    resolved = spec.resolve(params or {}, preset)
    config = {"run_id": run_dir.name, "experiment": run_dir.name, "kind": kind, "seed": seed,
              "params": resolved, "sweep": {}, "device": "cpu", "threads": threads,
              "checkpoint_every_s": checkpoint_every_s, **spec.describe(resolved)}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    return config


def worker_env(threads: int = 1) -> dict[str, str]:
    env = cli_env()
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    return env


def run_worker(run_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grokwatch.worker", str(run_dir)],
                          env=worker_env(), capture_output=True, text=True, timeout=timeout)


def rows(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def without_time(rs: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rs]


def assert_same_rows(a, b, rel: float = 1e-6):
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(without_time(a), without_time(b)):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert math.isclose(ra[k], rb[k], rel_tol=rel, abs_tol=1e-9), (ra["step"], k, ra[k], rb[k])


def run_in_process(run_dir: Path, kind: str, params: dict | None = None, preset: str | None = None,
                   stop_at_step: int | None = None, seed: int = 0) -> list[dict[str, float]]:
    """Run a kind in this process (numpy kinds: no torch import to pay); optionally raise a
    stop signal once a row at or past `stop_at_step` is logged, as SIGTERM would."""
    from grokwatch.experiments import load_runner

    config = write_run(run_dir, kind, params, preset, seed=seed)
    ctx = RunContext(run_dir, config)
    if stop_at_step is not None:
        log = ctx.log

        def log_then_signal(step, **metrics):
            written = log(step, **metrics)
            if step >= stop_at_step:
                ctx.stop_signal = "stop"
            return written

        ctx.log = log_then_signal
    try:
        load_runner(kind)(ctx)
    finally:
        ctx.close()
    return rows(run_dir)


# ----------------------------------------------------------------------------- specs and imports


@pytest.mark.parametrize("kind", KINDS)
def test_every_param_documented_and_every_preset_valid(kind):
    spec = get_spec(kind)
    assert spec.default_preset in spec.presets
    for name, param in spec.params.items():
        assert param.doc, f"{kind}.{name} has no doc"
        assert param.validate(name, param.default) == param.default or param.default is None
    for preset in spec.presets:
        resolved = spec.resolve({}, preset)
        info = spec.describe(resolved)
        assert info["n_train"] >= 1 and info["n_test"] >= 1 and info["total_steps"] >= 1


def test_importing_kinds_and_resolving_presets_does_not_import_torch():
    code = ("import sys\n"
            "from grokwatch.experiments import get_spec\n"
            "for kind in ('grokking', 'overfitting', 'double_descent'):\n"
            "    spec = get_spec(kind)\n"
            "    for preset in spec.presets:\n"
            "        spec.describe(spec.resolve({}, preset))\n"
            "import grokwatch.experiments.grokking, grokwatch.experiments.overfitting\n"
            "import grokwatch.experiments.double_descent\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], env=cli_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_numpy_kinds_never_import_torch_even_when_running(tmp_path):
    code = (f"import sys, json\nsys.path[:0] = [{str(REPO / 'tests' / 'experiments')!r}, {str(REPO / 'tests')!r}]\n"
            "from pathlib import Path\nfrom test_experiments import run_in_process\n"
            f"base = Path({str(tmp_path)!r})\n"
            "run_in_process(base / 'p', 'overfitting', {'degree': 3, 'repeats': 2})\n"
            "run_in_process(base / 'm', 'overfitting', {'steps': 20, 'n_train': 100}, 'cpu-mlp')\n"
            "run_in_process(base / 'r', 'double_descent', {'n_features': 30, 'n_train': 40})\n"
            "run_in_process(base / 'd', 'double_descent', {'n_features': 80, 'n_train': 60}, 'digits')\n"
            "run_in_process(base / 'e', 'double_descent', {'steps': 100, 'repeats': 2}, 'epochwise')\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], env=worker_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"


# ----------------------------------------------------------------------------- grokking


def _first(rs, pred):
    return next((r for r in rs if pred(r)), None)


@pytest.mark.slow  # ~2 s: trains with torch
def test_grokking_memorises_first_and_generalises_later(tmp_path):
    rs = run_in_process(tmp_path / "g", "grokking", TINY_GROK)
    mem = _first(rs, lambda r: r["train_acc"] >= 0.99)
    assert mem is not None, "never memorised"
    assert mem["test_acc"] < 0.5, f"test accuracy {mem['test_acc']} already high at memorisation"
    grok = _first(rs, lambda r: r["test_acc"] >= 0.95)
    assert grok is not None, f"never generalised (final test acc {rs[-1]['test_acc']:.3f})"
    assert grok["step"] >= 2 * mem["step"]
    for r in rs:  # the CSV's error columns follow the accuracies
        assert math.isclose(r["test_error"], 1 - r["test_acc"], abs_tol=1e-12)
    assert {"weight_norm", "lr"} <= rs[0].keys()


def test_grokking_control_without_weight_decay_does_not_generalise(tmp_path):
    rs = run_in_process(tmp_path / "g0", "grokking", {**TINY_GROK, "weight_decay": 0.0})
    assert _first(rs, lambda r: r["train_acc"] >= 0.99) is not None
    assert max(r["test_acc"] for r in rs) < 0.3
    # Without weight decay the weight norm keeps growing once memorised (Omnigrok's regime sign).
    assert rs[-1]["weight_norm"] > rs[len(rs) // 2]["weight_norm"]


def test_transformer_last_position_shortcut_equals_the_textbook_model():
    """Our transformer (fused q/k/v, SDPA, last block at the last position only) computes the
    same function as a textbook nn.MultiheadAttention implementation with the same weights."""
    import importlib.util

    import torch

    from grokwatch.experiments.grokking import Trainer

    spec = importlib.util.spec_from_file_location("tb", REPO / "bench" / "transformer_baseline.py")
    tb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tb)
    p = get_spec("grokking").resolve({"modulus": 13, "d_model": 32, "n_heads": 4, "batch_size": 32,
                                      "steps": 10, "warmup_steps": 3}, "paper")
    ours = Trainer(p, seed=0)
    base = tb.BaselineTrainer(ours)
    with torch.no_grad():
        a, b = ours.model(ours.test_x), base.model(ours.test_x)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    la = torch.stack([ours.train_step() for _ in range(10)]).tolist()
    lb = [base.train_step() for _ in range(10)]
    for x, y in zip(la, lb):
        assert math.isclose(x, y, rel_tol=1e-4)


def test_grokfast_filter_runs_and_is_checkpointed(tmp_path):
    import torch

    from grokwatch.experiments.grokking import Trainer

    p = get_spec("grokking").resolve({**TINY_GROK, "grokfast": True, "steps": 5})
    t = Trainer(p, seed=0)
    for _ in range(3):
        t.train_step()
    t.save(tmp_path / "c.pt")
    u = Trainer(p, seed=0)
    u.load(tmp_path / "c.pt")
    assert u.ema is not None and all(torch.equal(x, y) for x, y in zip(t.ema, u.ema))
    assert torch.equal(t.train_step(), u.train_step())


# ----------------------------------------------------------------------------- determinism, resume


@pytest.mark.slow
def test_worker_runs_are_deterministic_and_resume_after_sigterm_to_the_same_metrics(tmp_path):
    """A real worker process, SIGTERM-ed midway (checkpoint, state `stopped`), then resumed by a
    new worker, logs the same rows as an uninterrupted run in this process: bit for bit before
    the stop (same seed, one thread, another process), within float tolerance after it."""
    params = {**TINY_GROK, "steps": 200, "batch_size": 64, "eval_every": 10}  # minibatches: RNG state matters
    straight = run_in_process(tmp_path / "a", "grokking", params)
    assert without_time(run_in_process(tmp_path / "b", "grokking", params)) == without_time(straight)

    run = tmp_path / "c"
    write_run(run, "grokking", params)
    proc = subprocess.Popen([sys.executable, "-m", "grokwatch.worker", str(run)], env=worker_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (run / "metrics.csv").exists() and rows(run) and rows(run)[-1]["step"] >= 60,
                 timeout=90, interval=0.01, what="the first rows")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, err  # EXIT_STOPPED
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped"
    stopped_at = json.loads((run / "checkpoint.json").read_text())["step"]
    assert 60 <= stopped_at < 200, stopped_at
    before = rows(run)
    assert before[-1]["step"] <= stopped_at
    assert without_time(before) == without_time(straight[:len(before)])  # another process, same numbers
    proc2 = run_worker(run)
    assert proc2.returncode == 0, proc2.stderr
    assert_same_rows(rows(run), straight)


def test_numpy_mlp_resume_gives_the_same_metrics(tmp_path):
    params = {"steps": 300, "n_train": 200, "width": 64, "eval_every": 25, "eval_log_points": 5}
    straight = run_in_process(tmp_path / "a", "overfitting", params, "cpu-mlp")
    with pytest.raises(StopRun):
        run_in_process(tmp_path / "b", "overfitting", params, "cpu-mlp", stop_at_step=100)
    assert (tmp_path / "b" / "checkpoint.npz").exists()
    again = run_in_process(tmp_path / "b", "overfitting", params, "cpu-mlp")
    assert_same_rows(again, straight, rel=1e-12)
    twice = run_in_process(tmp_path / "c", "overfitting", params, "cpu-mlp")
    assert without_time(twice) == without_time(straight)


# ----------------------------------------------------------------------------- overfitting


def test_polynomial_degree_sweep_is_a_u(tmp_path):
    err = {}
    for degree in (0, 1, 3, 5, 8, 12, 16):
        r = run_in_process(tmp_path / f"d{degree}", "overfitting", {"degree": degree, "repeats": 15})
        assert len(r) == 1 and r[0]["step"] == 1 and r[0]["degree"] == degree
        assert r[0]["test_loss"] == r[0]["test_error"]
        err[degree] = r[0]["test_error"]
    best = min(err, key=err.get)
    assert 3 <= best <= 8, err
    assert err[0] > 1.5 * err[best] and err[16] > 10 * err[best]
    train = [run_in_process(tmp_path / f"t{d}", "overfitting", {"degree": d, "repeats": 15})[0]["train_error"]
             for d in (1, 5, 12)]
    assert train[0] > train[1] > train[2]


def test_mlp_on_noisy_digits_overfits_in_time(tmp_path):
    rs = run_in_process(tmp_path / "m", "overfitting",
                        {"steps": 1500, "n_train": 300, "width": 128, "eval_every": 50}, "cpu-mlp")
    best = min(rs, key=lambda r: r["test_error"])
    last = rs[-1]
    assert last["test_error"] >= best["test_error"] + 0.04, (best, last)
    assert last["train_error"] < best["train_error"]  # train error kept falling meanwhile
    assert best["step"] < last["step"] / 2
    # Control: clean labels - no comparable climb.
    clean = run_in_process(tmp_path / "c", "overfitting",
                           {"steps": 1500, "n_train": 300, "width": 128, "eval_every": 50, "noise": 0.0},
                           "cpu-mlp")
    assert clean[-1]["test_error"] <= min(r["test_error"] for r in clean) + 0.02


# ----------------------------------------------------------------------------- double descent


def test_random_features_sweep_peaks_at_n_train_and_ridge_flattens_it(tmp_path):
    def sweep(extra):
        out = {}
        for n in (10, 25, 40, 50, 60, 100, 400):
            r = run_in_process(tmp_path / f"n{n}-{len(extra)}", "double_descent",
                               {"n_train": 50, "n_features": n, **extra})
            assert r[0]["n_features"] == n
            out[n] = r[0]["test_error"]
        return out

    plain = sweep({})
    assert max(plain, key=plain.get) == 50, plain
    assert plain[50] >= 5 * plain[400]
    ridge = sweep({"ridge": 1e-2})
    assert ridge[50] < 2 * min(ridge.values()), ridge


def test_random_features_on_digits_peak_at_n_train(tmp_path):
    err = {}
    for n in (30, 100, 150, 200, 1000):
        r = run_in_process(tmp_path / f"n{n}", "double_descent", {"n_train": 150, "n_features": n}, "digits")
        assert 0 <= r[0]["test_error"] <= 1 and math.isclose(r[0]["test_error"], 1 - r[0]["test_acc"])
        err[n] = r[0]["test_error"]
    assert max(err, key=err.get) == 150, err


def test_epochwise_test_error_goes_down_up_down_while_train_falls(tmp_path):
    rs = run_in_process(tmp_path / "e", "double_descent", {}, "epochwise")
    steps = [r["step"] for r in rs]
    assert steps[0] == 0 and steps[-1] == 100_000 and len(steps) > 30
    test = [r["test_error"] for r in rs]
    train = [r["train_error"] for r in rs]
    assert all(b <= a + 1e-12 for a, b in zip(train, train[1:])), "train error must fall monotonically"
    i_min1 = min(range(len(test) // 2), key=test.__getitem__)  # first valley (early)
    i_peak = max(range(i_min1, len(test)), key=test.__getitem__)
    assert test[i_min1] < 0.7 * test[0]
    assert test[i_peak] > 1.4 * test[i_min1]
    assert test[-1] < 0.5 * test[i_peak]
    one = run_in_process(tmp_path / "k1", "double_descent", {}, "epochwise-one-scale")
    t1 = [r["test_error"] for r in one]
    assert max(t1[i + 1] - t1[i] for i in range(len(t1) - 1)) < 0.02  # (nearly) monotone


# ----------------------------------------------------------------------------- cuda


def test_cuda_path(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the CUDA path is exercised only where a GPU is present")
    from grokwatch.experiments.grokking import Trainer

    for model in ("mlp", "transformer"):
        p = get_spec("grokking").resolve({**TINY_GROK, "model": model, "d_model": 32, "steps": 30,
                                          "batch_size": 64, "grokfast": True})
        t = Trainer(p, seed=0, device="cuda")
        assert t.train_x.is_cuda and next(t.model.parameters()).is_cuda
        for _ in range(30):
            t.train_step()
        m = t.evaluate()
        assert all(math.isfinite(v) for v in m.values())
        t.save(tmp_path / f"{model}.pt")
        u = Trainer(p, seed=0, device="cuda")
        u.load(tmp_path / f"{model}.pt")
        assert u.step == 30 and u.perm.is_cuda
        assert math.isclose(t.train_step().item(), u.train_step().item(), rel_tol=1e-5)
