"""experiments.toml validation: every bad file gets one clear paragraph, exit 2, nothing started."""

from __future__ import annotations

import pytest

from grokwatch.config import ConfigError, expand_runs, load_config

from conftest import grokwatch

GOOD = """
[grokwatch]
devices = "cpu"

[[experiment]]
name = "grok"
kind = "grokking"
seeds = [0, 1]
[experiment.params]
modulus = 23
[experiment.sweep]
train_fraction = [0.3, 0.5]
"""

# (file text or bytes, words the message must contain)
BAD = {
    "syntax": ('[grokwatch\ndevices = "cpu"\n', ["syntax", "line 1"]),
    "unknown_top_table": ('[grokwach]\ndevices = "cpu"\n', ["grokwach", "did you mean 'grokwatch'"]),
    "unknown_setting": ('[grokwatch]\ndevice = "cpu"\n', ["device", "did you mean 'devices'", "line 2"]),
    "wrong_setting_type": ('[grokwatch]\ncheckpoint_every_s = "often"\n', ["checkpoint_every_s", "number"]),
    "negative_checkpoint": ("[grokwatch]\ncheckpoint_every_s = -1\n", ["checkpoint_every_s", "> 0"]),
    "bad_device": ('[grokwatch]\ndevices = "tpu:0"\n', ["devices", "tpu:0"]),
    "bad_parallel": ('[grokwatch]\nmax_parallel = 0\n', ["max_parallel"]),
    "bad_executor": ('[grokwatch]\nexecutor = "slurmm"\n', ["executor", "did you mean 'slurm'"]),
    "unknown_kind": ('[[experiment]]\nname = "a"\nkind = "grokk"\n', ["grokk", "did you mean 'grokking'"]),
    "missing_kind": ('[[experiment]]\nname = "a"\n', ["'a'", "kind"]),
    "missing_name": ('[[experiment]]\nkind = "grokking"\n', ["no name"]),
    "bad_name": ('[[experiment]]\nname = "a b/c"\nkind = "grokking"\n', ["a b/c", "letters"]),
    "duplicate_name": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[[experiment]]\nname = "a"\n'
                       'kind = "grokking"\n', ["unique", "'a'"]),
    "unknown_param": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.params]\nmodulos = 97\n',
                      ["modulos", "did you mean 'modulus'", "'a'", "line 5"]),
    "param_type": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.params]\nmodulus = "97"\n',
                   ["modulus", "integer"]),
    "param_range": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.params]\n'
                    'train_fraction = 1.5\n', ["train_fraction", "<= 0.95"]),
    "param_choice": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.params]\n'
                     'operation = "x+z"\n', ["operation", "x+y"]),
    "not_prime": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.params]\nmodulus = 96\n',
                  ["modulus", "prime"]),
    "sweep_unknown_param": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.sweep]\n'
                            'widht = [64, 128]\n', ["widht", "did you mean 'width'", "cannot sweep"]),
    "sweep_not_list": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.sweep]\nwidth = 64\n',
                       ["width", "list"]),
    "sweep_bad_value": ('[[experiment]]\nname = "a"\nkind = "grokking"\n[experiment.sweep]\n'
                        'width = [64, -1]\n', ["width", "sweep point"]),
    "seeds_type": ('[[experiment]]\nname = "a"\nkind = "grokking"\nseeds = ["zero"]\n', ["seeds", "integers"]),
    "unknown_experiment_key": ('[[experiment]]\nname = "a"\nkind = "grokking"\nseedz = [1]\n',
                               ["seedz", "did you mean 'seed"]),
    "unknown_preset": ('[[experiment]]\nname = "a"\nkind = "grokking"\npreset = "fastest"\n', ["preset", "fastest"]),
    "alerts_type": ('[alerts]\nbell = "yes"\n', ["bell", "boolean"]),
    "slurm_time": ('[slurm]\ntime = "soon"\n', ["time", "soon"]),
    "experiment_not_array": ('[experiment]\nname = "a"\n', ["experiment", "[[experiment]]"]),
    "non_utf8": (b'[grokwatch]\nruns_dir = "r\xff\xfe"\n', ["UTF-8", "line 2"]),
    # names are directory names and command-line words: matched in full, not too long
    "name_newline": ('[[experiment]]\nname = "dd\\n"\nkind = "grokking"\n', ["'dd\\n'", "letters"]),
    "name_with_a_slash": ('[[experiment]]\nname = "a/../b"\nkind = "grokking"\n', ["'a/../b'", "letters"]),
    "name_too_long": (f'[[experiment]]\nname = "{"n" * 250}"\nkind = "grokking"\n',
                      ["at most 200 characters", "250"]),
    "runs_dir_root": ('[grokwatch]\nruns_dir = "/"\n', ["runs_dir", "root of the file system"]),
    "runs_dir_up_to_root": ('[grokwatch]\nruns_dir = "../../../../../../../../../../.."\n',
                            ["runs_dir", "root of the file system"]),
    "runs_dir_a_file": ('[grokwatch]\nruns_dir = "bad.toml"\n', ["runs_dir", "not a directory"]),
    # several runs of a command experiment writing one metrics_file would clobber each other's log
    "shared_metrics_file": ('[[experiment]]\nname = "mine"\nkind = "command"\nseeds = [0, 1]\n'
                            'command = ["python", "train.py"]\nmetrics_file = "log.csv"\n',
                            ["'mine'", "metrics_file", "'log.csv'", "{run_dir}", "overwrite"]),
    "shared_metrics_file_sweep": ('[[experiment]]\nname = "mine"\nkind = "command"\nseeds = [0]\n'
                                  'command = ["python", "train.py", "--lr", "{lr}"]\n'
                                  'metrics_file = "/tmp/logs/{seed}.csv"\n[experiment.sweep]\n'
                                  'lr = [0.1, 0.2]\n', ["'mine'", "same file", "{run_dir}"]),
}


def test_good_file_expands_seeds_times_sweep(tmp_path):
    path = tmp_path / "experiments.toml"
    path.write_text(GOOD)
    config = load_config(path, tmp_path)
    runs = expand_runs(config)
    assert len(runs) == 4
    assert len({r.run_id for r in runs}) == 4
    assert all("/" not in r.run_id for r in runs)
    assert {r.sweep["train_fraction"] for r in runs} == {0.3, 0.5}
    assert all(r.params["modulus"] == 23 and "width" in r.params for r in runs)  # defaults filled in
    # stable across loads, new when the config changes
    again = expand_runs(load_config(path, tmp_path))
    assert [r.run_id for r in again] == [r.run_id for r in runs]
    path.write_text(GOOD.replace("modulus = 23", "modulus = 29"))
    changed = expand_runs(load_config(path, tmp_path))
    assert not {r.run_id for r in changed} & {r.run_id for r in runs}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_gives_one_clear_paragraph(tmp_path, name):
    text, words = BAD[name]
    path = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, tmp_path)
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg.strip()
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in: {msg}"


@pytest.mark.parametrize("name", ["syntax", "unknown_param", "sweep_unknown_param", "non_utf8", "bad_device",
                                  "duplicate_name", "unknown_kind", "name_newline", "name_too_long",
                                  "runs_dir_root", "shared_metrics_file"])
def test_headless_exits_2_and_starts_nothing(tmp_path, name):
    text, _ = BAD[name]
    path = tmp_path / "experiments.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = grokwatch("--headless", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "experiments.toml" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_demo_config_is_valid(tmp_path):
    from grokwatch.config import demo_config_path

    config = load_config(demo_config_path(), tmp_path)
    assert expand_runs(config)
    assert config.runs_dir == tmp_path / "runs"


def test_init_writes_the_commented_demo_queue_and_the_repo_file_matches(tmp_path):
    from conftest import REPO
    from grokwatch.template import experiments_toml

    proc = grokwatch("init", cwd=tmp_path, check=True)
    assert "wrote" in proc.stdout
    text = (tmp_path / "experiments.toml").read_text()
    assert text == experiments_toml()
    config = load_config(tmp_path / "experiments.toml", tmp_path)
    assert expand_runs(config)
    for key in ("runs_dir", "devices", "max_parallel", "threads_per_run", "checkpoint_every_s", "executor",
                "bell", "command", "partition", "signal_before_s", "modulus", "weight_decay"):
        assert f"{key} =" in text, key
    assert grokwatch("init", cwd=tmp_path).returncode == 2  # never overwrites by surprise
    assert (REPO / "experiments.toml").read_text() == text, "regenerate: grokwatch init --force at the repo root"


@pytest.mark.parametrize("where", [
    'metrics_file = "{run_dir}/log.csv"',
    'metrics_file = "log-{seed}-{lr}.csv"',
    'cwd = "{run_dir}"\nmetrics_file = "log.csv"',
    'metrics_file = "logs/{run_id}.csv"',
])
def test_a_metrics_file_of_each_runs_own_is_accepted(tmp_path, where):
    path = tmp_path / "experiments.toml"
    path.write_text('[[experiment]]\nname = "mine"\nkind = "command"\nseeds = [0, 1]\n'
                    'command = ["python", "train.py", "--lr", "{lr}"]\n' + where +
                    '\n[experiment.sweep]\nlr = [0.1, 0.2]\n')
    assert len(expand_runs(load_config(path, tmp_path))) == 4


def test_a_single_run_may_name_any_metrics_file(tmp_path):
    path = tmp_path / "experiments.toml"
    path.write_text('[[experiment]]\nname = "mine"\nkind = "command"\n'
                    'command = ["python", "train.py"]\nmetrics_file = "log.csv"\n')
    assert len(expand_runs(load_config(path, tmp_path))) == 1
