"""`pack = "auto" | "off" | N` in [grokwatch] and per experiment, and the torch-free planning
rules of grokwatch.packing (which runs may share a pack; what `auto` picks)."""

from __future__ import annotations

import pytest

from grokwatch.config import ConfigError, load_config
from grokwatch.experiments import get_spec
from grokwatch.packing import auto_pack_size, pack_key, pack_size, step_macs

EXP = '[[experiment]]\nname = "g"\nkind = "grokking"\n{extra}\n[experiment.params]\nmodulus = 23\n'


def load(tmp_path, text):
    path = tmp_path / "experiments.toml"
    path.write_text(text)
    return load_config(path, tmp_path)


def test_pack_setting_defaults_to_auto_and_the_experiment_may_override_it(tmp_path):
    c = load(tmp_path, EXP.format(extra=""))
    assert c.settings.pack == "auto" and c.experiments[0].pack is None
    c = load(tmp_path, '[grokwatch]\npack = "off"\n' + EXP.format(extra="pack = 12"))
    assert c.settings.pack == "off" and c.experiments[0].pack == 12


@pytest.mark.parametrize("text, where", [
    ('[grokwatch]\npack = 0\n' + EXP.format(extra=""), "[grokwatch]"),
    ('[grokwatch]\npack = "yes"\n' + EXP.format(extra=""), "[grokwatch]"),
    (EXP.format(extra='pack = true'), "experiment 'g'"),
])
def test_a_bad_pack_setting_is_one_clear_paragraph(tmp_path, text, where):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    msg = str(err.value)
    assert "'pack'" in msg and where in msg and "\n" not in msg


def params(**change):
    return get_spec("grokking").resolve({"modulus": 23, "width": 32, **change})


def test_runs_share_a_pack_only_when_their_shapes_agree():
    key = pack_key("grokking", params())
    for same in ({"lr": 3e-3}, {"weight_decay": 0.1}, {"betas": [0.8, 0.9]}, {"init_scale": 1.0},
                 {"train_fraction": 0.5}, {"grokfast": True}, {"optimizer": "adam"}):
        assert pack_key("grokking", params(**same)) == key, same
    for other in ({"width": 64}, {"modulus": 29}, {"operation": "x-y"}, {"steps": 100},
                  {"model": "transformer"}, {"eval_every": 5}):
        assert pack_key("grokking", params(**other)) != key, other
    assert pack_key("double_descent", {}) is None
    # a batch size that is a full batch for one member and not another: no common pack
    assert pack_key("grokking", params(batch_size=150)) != pack_key(
        "grokking", params(batch_size=150, train_fraction=0.2))


def test_auto_packs_small_runs_on_the_cpu_and_every_run_on_a_gpu():
    tiny, default = params(), get_spec("grokking").resolve({})
    assert step_macs(tiny) < step_macs(default)
    assert auto_pack_size("cpu", tiny) > 1 and auto_pack_size("cpu", default) == 1
    assert auto_pack_size("cuda", default) > 1
    assert pack_size("off", "cuda", "grokking", tiny) == 1
    assert pack_size(8, "cpu", "grokking", default) == 8
    assert pack_size("auto", "cuda", "double_descent", {}) == 1


def test_the_queue_groups_into_packs_of_one_experiment_device_and_shape_in_order():
    from grokwatch.packing import group_for_packs

    def info(name, exp="g", device="cpu", **change):
        return (name, {"kind": "grokking", "experiment": exp, "device": device, "threads": 1,
                       "params": params(**change)})

    items = [info("a"), info("b", weight_decay=0.1), info("c", width=64), info("d", lr=3e-3),
             info("e", exp="h"), info("f", device="cuda"),
             ("n", {"kind": "double_descent", "experiment": "dd", "params": {}}), info("g")]
    groups = group_for_packs(items, lambda i: 3)
    assert groups == [["a", "b", "d"], ["c"], ["e"], ["f"], ["n"], ["g"]]  # a full pack: g opens one
    assert group_for_packs(items[:2], lambda i: "off") == [["a"], ["b"]]
