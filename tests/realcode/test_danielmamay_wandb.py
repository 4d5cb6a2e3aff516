"""danielmamay/grokking (Power et al. 2022 reimplemented, `wandb.log` of `training/*` and
`validation/*` at steps 0, 1, 10 and every 100th) run under grokwatch with no change: a
`command` experiment with WANDB_MODE=offline, WANDB_DIR={run_dir} and `metrics_file` at the
W&B directory; the worker tails the growing `run-*.wandb` log.

Their model.py imports `einops` (`rearrange`, `repeat`), which is not installed here; the
test puts a module of ours named einops on PYTHONPATH: torch's own
`functorch.einops.rearrange`, and `repeat` for the one form they use (new leading axes).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from conftest import events_of, grokwatch, run_dirs, state_of
from realcode_helpers import numbers, offline_env, read_csv, snapshot

REPO = "danielmamay/grokking"
PRIME = 23
STEPS = 1500

EINOPS = '''
from functorch.einops import rearrange  # torch's own einops-style rearrange


def repeat(tensor, pattern, **sizes):
    """Only new leading axes ("p -> b p"), the one form danielmamay/grokking uses."""
    left, right = (side.split() for side in pattern.split("->"))
    new = right[: len(right) - len(left)]
    if right[len(new):] != left:
        raise NotImplementedError(f"einops is not installed here; this stand-in cannot {pattern!r}")
    return tensor.expand(*(sizes[a] for a in new), *tensor.shape)
'''


@pytest.mark.slow
def test_danielmamay_grokking_wandb_offline_under_grokwatch(tmp_path):
    pytest.importorskip("wandb", reason="wandb not installed (grokwatch[wandb])")
    pytest.importorskip("functorch.einops")
    src, _commit = snapshot(tmp_path, REPO)
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "einops.py").write_text(EINOPS)
    env = dict(offline_env(), PYTHONPATH=str(shims), WANDB_DIR="{run_dir}")
    env_toml = ", ".join(f'{k} = "{v}"' for k, v in env.items())
    (tmp_path / "exp.toml").write_text(textwrap.dedent(f"""
        [grokwatch]
        devices = "cpu"

        [[experiment]]
        name = "danielmamay-grokking"
        kind = "command"
        cwd = "{src / 'grokking'}"
        command = ["python", "cli.py", "--operation", "x+y", "--prime", "{PRIME}",
                   "--num_layers", "1", "--dim_model", "32", "--num_heads", "2",
                   "--num_steps", "{STEPS}", "--device", "cpu"]
        env = {{ {env_toml} }}
        metrics_file = "{{run_dir}}/wandb"
        total_steps = {STEPS}
        """))
    p = grokwatch("--headless", "--config", "exp.toml", "--progress-every", "60", cwd=tmp_path,
                  timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    (run,) = run_dirs(tmp_path)
    assert state_of(run) == "done", (run / "worker.log").read_text()[-2000:]
    assert "W&B run log" in (run / "worker.log").read_text()
    ours = read_csv(run / "metrics.csv")

    # the steps their loop logs, every one once
    want = [s for s in range(STEPS) if s in (1, 10) or s % 100 == 0]
    assert [int(float(r["step"])) for r in ours] == want
    # every curve at every step; accuracies are counts over their split (x+y mod 23, half
    # for training: 264 train and 265 validation pairs), so the values are theirs, unscaled
    n_train = int(0.5 * PRIME * PRIME)
    n_val = PRIME * PRIME - n_train
    for col, n in (("train_acc", n_train), ("test_acc", n_val)):
        vals = numbers(ours, col)
        assert len(vals) == len(want)
        assert all(abs(v * n - round(v * n)) < 1e-3 for v in vals), col
    for col in ("train_loss", "test_loss"):
        assert len(numbers(ours, col)) == len(want)
    assert min(numbers(ours, "test_error")) >= 0

    # the one-shot reader (export) of their W&B directory gives the same rows as the live tail
    out = tmp_path / "export.csv"
    e = grokwatch("export", str(run / "wandb"), "-o", str(out), cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    exported = {int(float(r["step"])): r for r in read_csv(out)}
    assert sorted(exported) == want
    for r in ours:
        x = exported[int(float(r["step"]))]
        for col in ("train_loss", "test_loss", "train_acc", "test_acc"):
            assert float(x[col]) == pytest.approx(float(r[col]), rel=1e-12)

    d = grokwatch("detect", "--json", str(run / "wandb"), cwd=tmp_path)
    assert d.returncode == 0, d.stderr
    assert "percent" not in d.stderr  # fractions, as wandb got them
    live = {e["kind"] for e in events_of(run)}
    offline = {json.loads(l)["kind"] for l in d.stdout.splitlines() if l.strip()}
    assert "unreadable_rows" not in live
    assert offline <= live, (offline, live)
