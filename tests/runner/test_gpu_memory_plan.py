"""GPU slots planned from the memory the queued runs need (runner/gpumem.py): a per-kind, per-size
estimate, recorded in executor.json and runner.json's slot_plan; the peak a CUDA worker reports
in status.json filed in .grokwatch/gpu_peaks.json, and preferred by the next plan. On the CPU,
with a fake nvidia-smi (tests/runner/test_devices.py) and the fake executor."""

from __future__ import annotations

import math

from fake_executor import FakeExecutor, start_runner
from test_devices import fake_nvidia_smi

from grokwatch.experiments import get_spec
from grokwatch.runner import devices, gpumem
from grokwatch.runs import atomic_write_json, read_json

GIB8 = 8 * 1024
FREE = GIB8 - devices.GPU_HEADROOM_MB  # what an idle 8 GiB GPU offers the plan


def grokking(**over):
    return {"kind": "grokking", "params": get_spec("grokking").resolve(over)}


def test_a_process_is_one_context_plus_its_runs_and_a_kind_without_an_estimate_gets_the_default():
    one = grokking()
    share = get_spec("grokking").gpu_memory_mb(one["params"])
    single = gpumem.process_estimate([one])
    assert single.mb == gpumem.CUDA_CONTEXT_MB + share and single.basis == "estimate"
    pack = gpumem.process_estimate([one] * 16)  # a pack shares one context
    assert pack.mb == gpumem.CUDA_CONTEXT_MB + 16 * share and pack.runs == 16
    big = grokking(width=2048)
    assert gpumem.process_estimate([big]).mb > single.mb
    command = {"kind": "command", "params": {"command": ["true"]}}
    assert gpumem.process_estimate([command]) == gpumem.Estimate(gpumem.DEFAULT_PROCESS_MB, "default")
    assert gpumem.largest([[one], [big], [command]]).mb == max(
        gpumem.process_estimate([x]).mb for x in (one, big, command))
    assert gpumem.largest([[one], [one] * 4]) == pack.__class__(pack.mb - 12 * share, "estimate", 4)
    assert gpumem.largest([]) is None


def test_the_peak_book_keeps_the_largest_peak_per_kind_and_shape(tmp_path):
    path = tmp_path / "gpu_peaks.json"
    book = gpumem.PeakBook(path, lambda p, obj: atomic_write_json(p, obj))
    info = {**grokking(), "run_id": "r1"}
    assert not book.note(info, {"state": "done"})  # no peak: a CPU run, nothing filed
    assert not book.note({"kind": "command", "params": {}}, {"gpu_peak_reserved_mb": 50.0})  # no shape
    assert book.note(info, {"gpu_peak_reserved_mb": 120.0, "gpu_peak_allocated_mb": 90.0})
    assert not book.note(info, {"gpu_peak_reserved_mb": 80.0})  # smaller: the largest stays
    other_seed_lr = {**grokking(lr=3e-3, weight_decay=0.1), "run_id": "r2"}  # same shape
    assert gpumem.shape_key("grokking", other_seed_lr["params"], False) == \
        gpumem.shape_key("grokking", info["params"], False)
    assert gpumem.run_share("grokking", other_seed_lr["params"], False, book) == (120.0, "recorded peak")
    wider = grokking(width=300)  # another shape: still the estimate
    assert gpumem.run_share("grokking", wider["params"], False, book)[1] == "estimate"
    # a pack of 4 reports the process's peak: each member's share is a quarter, filed apart
    assert book.note(info, {"gpu_peak_reserved_mb": 200.0, "pack": "pack-x", "pack_size": 4})
    assert gpumem.run_share("grokking", info["params"], True, book) == (50.0, "recorded peak")
    assert gpumem.run_share("grokking", info["params"], False, book) == (120.0, "recorded peak")
    again = gpumem.PeakBook(path)  # what the next runner reads
    assert again.peaks == book.peaks and again.largest(gpumem.shape_key("grokking", info["params"], False)) == 120.0
    path.write_text("{not json")
    assert gpumem.PeakBook(path).peaks == {}  # an unreadable book: estimates again


def test_processes_per_gpu_come_from_the_largest_queued_estimate(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 0, False)], total_mb=GIB8)
    cheap = gpumem.CUDA_CONTEXT_MB + 100
    assert len([s for s in devices.plan("auto", "auto", "auto", ncpu=64, per_process_mb=cheap).slots
                if s.device == "cuda"]) == FREE // cheap
    dear = devices.plan("auto", "auto", "auto", ncpu=64, per_process_mb=3000.4, memory_basis="estimate: x")
    cuda = [s for s in dear.slots if s.device == "cuda"]
    assert len(cuda) == FREE // 3001 == 2 and {s.memory_mb for s in cuda} == {3001}
    assert any("at 3001 MB each (estimate: x)" in n for n in dear.notes)
    assert sum(1 for s in dear.slots if s.device == "cpu") == 64 - 2  # the CPU side unchanged


def write_project(tmp_path, seeds, params: str) -> None:
    (tmp_path / "experiments.toml").write_text(
        '[grokwatch]\ndevices = "auto"\n'
        f'[[experiment]]\nname = "g"\nkind = "grokking"\nseeds = {seeds}\n[experiment.params]\n{params}')


def test_the_runner_plans_with_the_estimate_records_it_and_prefers_a_recorded_peak(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 0, False)], total_mb=GIB8)
    monkeypatch.setattr(devices, "cpu_count", lambda: 64)
    params = 'model = "transformer"\nn_layers = 4\nbatch_size = 0\nsteps = 100\n'
    write_project(tmp_path, [0, 1, 2], params)
    resolved = get_spec("grokking").resolve({"model": "transformer", "n_layers": 4, "batch_size": 0, "steps": 100})
    planned = math.ceil(gpumem.CUDA_CONTEXT_MB + get_spec("grokking").gpu_memory_mb(resolved))
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        n = FREE // planned
        assert n < FREE // devices.GPU_PROCESS_MB  # this transformer needs more than the old flat 1 GiB
        plan_line = next(x for x in runner.slot_notes if x.startswith("cuda:0"))
        assert plan_line.startswith(f"cuda:0: {n} process(es) ({n} fit in its free memory at {planned} MB each "
                                    f"(estimate: the largest of 3 queued GPU launch(es), 1 run in it)")
        assert sum(1 for s in runner.slots if s.device == "cuda") == n
        runner.tick()
        assert read_json(tmp_path / ".grokwatch" / "runner.json")["slot_plan"] == runner.slot_notes
        first = runner.active[ex.submitted[0]]
        record = read_json(first.paths.executor)
        assert record["slot"] == "cuda:0"
        assert (record["gpu_memory_mb"], record["gpu_memory_basis"]) == (planned, "estimate")
        for i, run_id in enumerate(list(ex.submitted)):  # the CUDA workers report their peaks
            status = read_json(runner.active[run_id].paths.status)
            status.update(gpu_peak_reserved_mb=2500.0 + i, gpu_peak_allocated_mb=2000.0)
            atomic_write_json(runner.active[run_id].paths.status, status)
            ex.end(run_id)
        runner.tick()
        book = read_json(tmp_path / ".grokwatch" / "gpu_peaks.json")["peaks"]
        assert [v["reserved_mb"] for v in book.values()] == [2502.0]  # the largest of the three
    finally:
        runner.close()
    write_project(tmp_path, [0, 1, 2, 3, 4], params)  # two more runs of the same shape
    ex2 = FakeExecutor()
    runner = start_runner(tmp_path, ex2)
    try:
        measured = math.ceil(gpumem.CUDA_CONTEXT_MB + 2502.0)
        assert f"at {measured} MB each (recorded peak: the largest of 2 queued GPU launch(es)" \
            in "; ".join(runner.slot_notes)
        assert sum(1 for s in runner.slots if s.device == "cuda") == FREE // measured == 2
        runner.tick()
        assert len(ex2.submitted) == 2
        record = read_json(runner.active[ex2.submitted[0]].paths.executor)
        assert (record["gpu_memory_mb"], record["gpu_memory_basis"]) == (measured, "recorded peak")
    finally:
        runner.close()


def test_a_cpu_only_box_plans_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(devices, "cpu_count", lambda: 4)
    write_project(tmp_path, [0, 1], 'steps = 100\n')
    ex = FakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        assert runner.slot_notes == ["cpu: 4 process(es) x 1 thread(s) on 4 core(s)"]
        runner.tick()
        record = read_json(runner.active[ex.submitted[0]].paths.executor)
        assert "gpu_memory_mb" not in record and record["slot"] == "cpu"
        assert not (tmp_path / ".grokwatch" / "gpu_peaks.json").exists()
    finally:
        runner.close()


class PackingFakeExecutor(FakeExecutor):
    """The fake executor, able to start packs (as the local one does): one job for the group."""

    can_pack = True

    def submit_pack(self, run_dirs, env):
        records = [self.submit(d, env) for d in run_dirs]
        for r, d in zip(records, run_dirs):
            r.update(pack="pack-t", pack_size=len(run_dirs), run_dir=str(d))
        return records


def test_a_pack_is_planned_and_recorded_as_one_process_one_context(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, [(0, 0, False)], total_mb=GIB8)
    monkeypatch.setattr(devices, "cpu_count", lambda: 64)
    (tmp_path / "experiments.toml").write_text(
        '[grokwatch]\ndevices = "auto"\npack = 4\n'
        '[[experiment]]\nname = "g"\nkind = "grokking"\nseeds = [0, 1, 2, 3, 4]\n[experiment.params]\nsteps = 100\n')
    share = get_spec("grokking").gpu_memory_mb(get_spec("grokking").resolve({"steps": 100}))
    pack_mb = math.ceil(gpumem.CUDA_CONTEXT_MB + 4 * share)
    ex = PackingFakeExecutor()
    runner = start_runner(tmp_path, ex)
    try:
        assert f"at {pack_mb} MB each (estimate: the largest of 2 queued GPU launch(es), 4 runs in it)" \
            in runner.slot_notes[0]
        runner.tick()
        assert len(ex.submitted) == 5  # a pack of 4 and a run alone
        records = {r: read_json(runner.active[r].paths.executor) for r in ex.submitted}
        packed = [x for x in records.values() if x.get("pack")]
        alone = [x for x in records.values() if not x.get("pack")]
        assert len(packed) == 4 and {x["gpu_memory_mb"] for x in packed} == {pack_mb}  # the whole pack's
        assert alone[0]["gpu_memory_mb"] == math.ceil(gpumem.CUDA_CONTEXT_MB + share)
    finally:
        runner.close()
