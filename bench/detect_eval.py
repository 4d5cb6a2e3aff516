"""Evaluate the alert detectors on labelled synthetic curves and on real runs.

    python bench/detect_eval.py                  # everything (synthetic set + real runs)
    python bench/detect_eval.py --synthetic-only / --real-only
    python bench/detect_eval.py --seed 1 --scale 2 -v

Synthetic curves: `bench/detect_synth.py` (grokking of many shapes and timings; >= 1000
noise-only curves at realistic test-set sizes; slow drifts; spikes; ordinary learning;
overfitting and plateau curves). Real runs: the cached fixtures under
tests/fixtures/detect/real/ (made by `bench/detect_runs.py`), each labelled grok or control;
every real run is also judged from its losses alone (accuracy and error columns dropped).

Printed: precision and recall of generalization_jump, latency (steps from the midpoint of
the jump to the alert), test accuracy at the alert, false events on controls, the hint's lead
time and error rate, overfitting recall/false alarms, and microseconds per row.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from grokwatch.detect import KINDS, DetectorSet  # noqa: E402
from grokwatch.runs import read_all_metrics  # noqa: E402
from grokwatch.columns import complete_row  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "detect" / "real"


def run_rows(rows, info):
    ds = DetectorSet(info)
    feed = ds.feed
    t0 = time.process_time()  # CPU time: the shared machine's load does not inflate it
    events = []
    for r in rows:
        events.extend(feed(r))
    return events, time.process_time() - t0


def q(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]


def fmt_q(xs, f="{:.0f}"):
    if not xs:
        return "-"
    return f"median {f.format(q(xs, .5))}, p90 {f.format(q(xs, .9))}, max {f.format(max(xs))}"


def synthetic(seed: int, scale: float, verbose: bool) -> dict:
    from detect_synth import make_set

    n = lambda k: max(1, int(k * scale))  # noqa: E731
    curves = make_set(seed, n_grok=n(300), n_noise=n(1000), n_drift=n(400), n_spike=n(200),
                      n_ordinary=n(200), n_overfit=n(100), n_borderline=n(100),
                      n_slowrise=n(100))
    by = {}
    total_rows, total_time = 0, 0.0
    lat, lat_dec, acc_at, late = [], [], [], []
    hint_lead, hint_wrong, hint_fired_grok, n_ctrl = [], 0, 0, 0
    dup = 0
    phase_ok = phase_n = 0
    slow_rise, slow_rel = [], []
    for c in curves:
        ev, dt = run_rows(c["rows"], c.get("info"))
        total_rows += len(c["rows"])
        total_time += dt
        lab = c["label"]
        st = by.setdefault(lab, {"n": 0, "jump": 0, **{k: 0 for k in KINDS if k != "generalization_jump"}})
        st["n"] += 1
        kinds = [e["kind"] for e in ev]
        for k in set(kinds) - {"generalization_jump"}:
            st[k] += 1
        jumps = [e for e in ev if e["kind"] == "generalization_jump"]
        if jumps:
            st["jump"] += 1
        if lab == "grok":
            if len(jumps) > 1:
                dup += 1
            if jumps:
                j = jumps[0]
                lat.append(j["step"] - c["jump_mid"])
                lat_dec.append(math.log10((j["step"] + 1) / (c["jump_mid"] + 1)))
                acc_at.append(j.get("test_acc", float("nan")))
                if c["t90"] is not None and j["step"] > c["t90"]:
                    late.append(c)
                truth = liu_phase(c["rows"])
                if truth in ("grokking", "comprehension"):  # else test never reached 90%
                    phase_n += 1
                    phase_ok += j.get("phase") == truth
                hints = [e for e in ev if e["kind"] == "grokking_likely"]
                if hints:
                    hint_fired_grok += 1
                    hint_lead.append(j["step"] - hints[0]["step"])
            elif verbose:
                print("  missed:", c["desc"])
        elif lab == "slowrise":
            of = [e for e in ev if e["kind"] == "overfitting"]
            if of:  # how far the true test error had risen above its minimum at the alert
                frac = (of[0]["step"] - c["t_min"]) / (c["total"] - c["t_min"])
                slow_rise.append(max(0.0, frac) * c["rise"])
                slow_rel.append(max(0.0, frac) * c["rise"] / c["best_err"])
        else:
            if jumps and verbose and lab != "borderline":
                print(f"  false jump on {lab}: {c['desc']} at step {jumps[0]['step']:g}: "
                      f"{jumps[0]['message']}")
            if lab != "borderline":
                n_ctrl += 1
                if any(k == "grokking_likely" for k in kinds):
                    hint_wrong += 1
    return {"by": by, "rows": total_rows, "time": total_time, "lat": lat, "lat_dec": lat_dec,
            "acc_at": acc_at, "late": late, "dup": dup, "hint_lead": hint_lead,
            "hint_wrong": hint_wrong, "hint_fired_grok": hint_fired_grok, "phase": (phase_ok, phase_n),
            "slow_rise": slow_rise, "slow_rel": slow_rel}


def midpoint(rows):
    accs = [(r["step"], r["test_acc"]) for r in rows if "test_acc" in r]
    if not accs:
        return None
    lo = min(a for _, a in accs[: max(3, len(accs) // 10)])
    hi = max(a for _, a in accs)
    mid = (lo + hi) / 2
    for s, a in accs:
        if a >= mid:
            return s
    return None


def liu_phase(rows):
    """Liu et al. 2022's phase measured on the whole log (grokwatch/detect/phase.py): the
    steps to 90% train and test accuracy, grokking when more than 10^3 steps apart."""
    from grokwatch.detect.phase import phase_of

    return phase_of(first_step(rows, 0.9, "train_acc"), first_step(rows, 0.9))


def first_step(rows, acc, key="test_acc"):
    for r in rows:
        if r.get(key, 0) >= acc:
            return r["step"]
    return None


def real(verbose: bool) -> list[dict]:
    out = []
    if not REAL.exists():
        return out
    for d in sorted(REAL.iterdir()):
        if not (d / "metrics.csv").exists():
            continue
        lab = json.loads((d / "label.json").read_text()) if (d / "label.json").exists() else {}
        label = lab.get("label", "?")
        info = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else None
        rows = [complete_row(r) for r in read_all_metrics(d / "metrics.csv")]
        ev, _ = run_rows(rows, info)
        loss_rows = [{k: v for k, v in r.items() if not k.endswith(("_acc", "_error"))} for r in rows]
        ev_loss, _ = run_rows(loss_rows, info)
        out.append({"name": d.name, "label": label, "events": ev, "events_loss": ev_loss,
                    "phase": liu_phase(rows) if label == "grok" else None,
                    "mid": midpoint(rows), "t50": first_step(rows, 0.5), "t90": first_step(rows, 0.9),
                    "mem": next((r["step"] for r in rows if r.get("train_acc", 0) >= 0.99), None),
                    "final_acc": rows[-1].get("test_acc") if rows else None, "kind": (info or {}).get("kind"),
                    "expect_overfitting": lab.get("overfitting"), "rows": len(rows)})
    return out


SETS = ROOT / "tests" / "fixtures" / "detect" / "sets"


# Each hint signal alone: the others switched off through the rule's own thresholds.
SIGNAL_OFF = {"test_error_leaving_baseline": {"LEAVE_U_MAX": -1.0},
              "test_loss_turnaround": {"LOSS_TURN_DECADES": float("inf")},
              "weight_norm_falling": {"WNORM_FALL": float("inf")}}


def each_signal(grok: list, never: list, set_name: str) -> None:
    """Reach, lead share and error rate of each grokking_likely signal on its own."""
    from grokwatch.detect.hint import HintRule

    for keep in SIGNAL_OFF:
        saved = {}
        for other, attrs in SIGNAL_OFF.items():
            if other != keep:
                for k, v in attrs.items():
                    saved[k] = getattr(HintRule, k)
                    setattr(HintRule, k, v)
        try:
            fr, hit, wrong = [], 0, 0
            for x in grok + never:
                ev, _ = run_rows(x["rows"], x["info"])
                h = next((e for e in ev if e["kind"] == "grokking_likely"), None)
                if x in never:
                    wrong += h is not None
                elif h is not None and h["step"] < x["t50"]:
                    hit += 1
                    fr.append((x["t50"] - h["step"]) / max(1.0, x["t50"] - x["mem"]))
        finally:
            for k, v in saved.items():
                setattr(HintRule, k, v)
        print(f"    {keep} alone: on {hit}/{len(grok)} runs that grok, lead share "
              f"{fmt_q(fr, '{:.2f}')}; wrong on {wrong}/{len(never)}")


def early_warning(set_name: str, verbose: bool, each: bool = True) -> bool:
    """The early-warning figures on one run set (bench/detect_sets.py): grokking_likely's
    reach, lead and error rate, its time-to-jump estimate, and the stalled alarm's reach and
    error rate. The jump is the first evaluation at >= 50% test accuracy; memorisation the
    first at >= 99% train accuracy (the labels' own definitions, label.json)."""
    d_set = SETS / set_name
    if not d_set.exists():
        print(f"== {set_name}: no runs cached (python bench/detect_sets.py --set {set_name})")
        return False
    grok, never, other = [], [], []
    for d in sorted(d_set.iterdir()):
        if not (d / "label.json").exists():
            continue
        lab = json.loads((d / "label.json").read_text())
        info = json.loads((d / "config.json").read_text())
        rows = [complete_row(r) for r in read_all_metrics(d / "metrics.csv")]
        ev, _ = run_rows(rows, info)
        loss_rows = [{k: v for k, v in r.items() if not k.endswith(("_acc", "_error"))} for r in rows]
        ev_loss, _ = run_rows(loss_rows, info)
        x = {"name": d.name, "lab": lab, "events": ev, "events_loss": ev_loss, "mem": lab["memorised"],
             "rows": rows, "info": info,
             "t50": first_step(rows, 0.5), "last": rows[-1]["step"],
             "wd0": info["params"].get("weight_decay") == 0}
        {"grok": grok, "never": never}.get(lab["label"], other).append(x)

    def first(x, kind, key="events"):
        return next((e for e in x[key] if e["kind"] == kind), None)

    leads, fracs, eta_err, signals, missed = [], [], [], {}, []
    by_signal: dict[str, list[float]] = {}
    for x in grok:
        h = first(x, "grokking_likely")
        if h is None or h["step"] >= x["t50"]:
            missed.append(x["name"] + ("" if h is None else f" (hint at {h['step']:g}, after the jump)"))
            continue
        lead, delay = x["t50"] - h["step"], x["t50"] - x["mem"]
        leads.append(lead)
        fracs.append(lead / delay if delay > 0 else 1.0)
        signals[h["signal"]] = signals.get(h["signal"], 0) + 1
        by_signal.setdefault(h["signal"], []).append(fracs[-1])
        if h.get("expected_jump_step") is not None:
            eta_err.append(abs(h["expected_jump_step"] - x["t50"]) / max(lead, 1.0))
    wrong = [x for x in never if first(x, "grokking_likely")]
    mem_never = [x for x in never if x["mem"] is not None]
    st = [(x, first(x, "stalled")) for x in mem_never]
    st_fired = [(x, e) for x, e in st if e is not None]
    st_grok = [x for x in grok if first(x, "stalled")]
    n_g, n_n = len(grok), len(never)
    hit = len(leads)
    print(f"== {set_name}: {n_g} runs that grok ({sum(x['wd0'] for x in grok)} without weight decay, "
          f"{sum(1 for x in grok if x['lab'].get('phase') == 'grokking')} grokking and "
          f"{sum(1 for x in grok if x['lab'].get('phase') == 'comprehension')} comprehension by Liu et al.'s "
          f"criterion), {n_n} that never do ({len(mem_never)} of them memorised), {len(other)} other")
    print(f"  grokking_likely on {hit}/{n_g} runs that grok ({pct_s(hit, n_g)}; target >= 90%), "
          f"before the jump")
    print(f"    lead before the jump (steps): {fmt_q(leads)}")
    print(f"    lead as a share of the memorisation-to-jump delay: {fmt_q(fracs, '{:.2f}')} "
          f"(target: median >= 0.30)")
    print("    which signal spoke: " + ", ".join(f"{k} {v}" for k, v in sorted(signals.items())))
    wrong_by = {}
    for x in never:
        h = first(x, "grokking_likely")
        if h:
            wrong_by[h["signal"]] = wrong_by.get(h["signal"], 0) + 1
    for k in sorted(set(by_signal) | set(wrong_by)):
        print(f"      {k}: on {len(by_signal.get(k, []))} runs that grok, lead share "
              f"{fmt_q(by_signal.get(k, []), '{:.2f}')}; wrong on {wrong_by.get(k, 0)}/{n_n}")
    lh = sum(1 for x in grok if (e := first(x, "grokking_likely", "events_loss")) and e["step"] < x["t50"])
    lw = sum(1 for x in never if first(x, "grokking_likely", "events_loss"))
    print(f"    from losses alone (accuracy columns dropped): on {lh}/{n_g} runs that grok, "
          f"wrong on {lw}/{n_n}")
    if eta_err:
        print(f"    time-to-jump estimate given on {len(eta_err)}/{hit}; its error as a share of the "
              f"true lead: {fmt_q(eta_err, '{:.2f}')}")
    print(f"  grokking_likely wrong on {len(wrong)}/{n_n} runs that never grok ({pct_s(len(wrong), n_n)};"
          f" target <= 5%)" + (": " + ", ".join(x["name"] for x in wrong) if wrong else ""))
    after = [e["step"] - x["mem"] for x, e in st_fired]
    ratio = [e["step"] / x["mem"] for x, e in st_fired]
    print(f"  stalled on {len(st_fired)}/{len(mem_never)} memorised runs that never grok "
          f"({pct_s(len(st_fired), len(mem_never))}; target >= 80%), steps after memorisation "
          f"{fmt_q(after)}, x memorisation step {fmt_q(ratio, '{:.1f}')}")
    print(f"  stalled on {len(st_grok)}/{n_g} runs that grok (target 0; "
          f"{sum(1 for x in st_grok if x['wd0'])} of {sum(x['wd0'] for x in grok)} without weight decay)"
          + (": " + ", ".join(x["name"] for x in st_grok) if st_grok else ""))
    if verbose:
        for x in grok + never + other:
            h, s = first(x, "grokking_likely"), first(x, "stalled")
            print(f"    {x['name']:34s} {x['lab']['label']:5s} mem {x['mem']} t50 {x['t50']} | hint "
                  + (f"@{h['step']:g} {h['signal']} eta {h.get('expected_jump_step')}" if h else "-")
                  + " | stall " + (f"@{s['step']:g} {s.get('signal', '')}" if s else "-"))
        if missed:
            print("    missed: " + ", ".join(missed))
    if each:
        each_signal(grok, never, set_name)
    fr = q(fracs, .5) if fracs else 0.0
    return (n_g >= 20 and n_n >= 20 and hit >= 0.9 * n_g and fr >= 0.30 and len(wrong) <= 0.05 * n_n
            and len(st_fired) >= 0.8 * len(mem_never) and not st_grok)


def pct_s(k: int, n: int) -> str:
    return f"{100.0 * k / n:.0f}%" if n else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the synthetic set sizes")
    ap.add_argument("--synthetic-only", action="store_true")
    ap.add_argument("--real-only", action="store_true")
    ap.add_argument("--sets", default="tune,heldout",
                    help="early-warning run sets to judge (comma-separated; '' for none)")
    ap.add_argument("--sets-only", action="store_true", help="only the early-warning run sets")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    ok = True
    if args.sets_only:
        args.real_only = args.synthetic_only = True
    if not args.real_only:
        r = synthetic(args.seed, args.scale, args.verbose)
        print(f"== synthetic curves (seed {args.seed})")
        print(f"{'label':10s} {'curves':>6s} {'jump':>6s} {'overfit':>8s} {'hint':>6s} {'diverg':>6s} "
              f"{'stall':>6s} {'gen95':>6s}")
        for lab, st in r["by"].items():
            print(f"{lab:10s} {st['n']:6d} {st['jump']:6d} {st['overfitting']:8d} "
                  f"{st['grokking_likely']:6d} {st['divergence']:6d} {st['stalled']:6d} {st['generalized']:6d}")
        by = r["by"]
        g = by.get("grok", {"n": 0, "jump": 0})
        controls = [k for k in by if k not in ("grok", "borderline", "slowrise")]
        fp = sum(by[k]["jump"] for k in controls)
        ctrl_n = sum(by[k]["n"] for k in controls)
        tp = g["jump"] - len(r["late"])
        print(f"generalization_jump: recall {g['jump']}/{g['n']} = {g['jump'] / max(1, g['n']):.3f} "
              f"(before the true curve's 90%: {tp}/{g['n']}), false on controls {fp}/{ctrl_n}, "
              f"precision {g['jump'] / max(1, g['jump'] + fp):.4f}, duplicate jumps {r['dup']}")
        print(f"  latency from jump midpoint: steps {fmt_q(r['lat'])}; decades {fmt_q(r['lat_dec'], '{:+.2f}')}")
        print(f"  test acc at alert: {fmt_q(r['acc_at'], '{:.2f}')}")
        if "borderline" in by:
            bl = by["borderline"]
            print(f"  borderline linear ramps (5-50x their onset; neither control nor target): "
                  f"{bl['jump']}/{bl['n']} got a jump")
        of = by.get("overfit", {"n": 0, "overfitting": 0})
        targets = ("overfit", "slowrise")
        of_false = sum(by[k]["overfitting"] for k in by if k not in targets)
        print(f"overfitting: recall {of['overfitting']}/{of['n']}, fired on others "
              f"{of_false}/{sum(by[k]['n'] for k in by if k not in targets)} "
              f"(" + ", ".join(f"{k} {by[k]['overfitting']}" for k in by if k not in targets) + ")")
        sr = by.get("slowrise", {"n": 0, "overfitting": 0})
        print(f"  slow rises: flagged {sr['overfitting']}/{sr['n']}; true rise above the minimum at the "
              f"alert: {fmt_q(r['slow_rise'], '{:.3f}')} (error); relative to the minimum "
              f"{fmt_q(r['slow_rel'], '{:.2f}')}")
        print(f"grokking_likely: on {r['hint_fired_grok']}/{g['jump']} caught grok curves, lead over "
              f"the jump alert {fmt_q(r['hint_lead'])} steps; on controls {r['hint_wrong']}/{ctrl_n}")
        print(f"  phase of the jump alert = Liu et al.'s phase measured on the whole curve: "
              f"{r['phase'][0]}/{r['phase'][1]} caught grok curves that reach 90% test accuracy")
        us = 1e6 * r["time"] / max(1, r["rows"])
        print(f"cost: {us:.2f} us/row (process CPU time) over {r['rows']} rows (all rules, DetectorSet.feed)")
        ok &= fp == 0 and us <= 20 and by.get("grok", {}).get("stalled", 0) == 0
    if not args.synthetic_only:
        res = real(args.verbose)
        print(f"== real runs ({len(res)}, tests/fixtures/detect/real)")
        caught = late = false = 0
        n_grok = n_ctrl = 0
        for x in res:
            jumps = [e for e in x["events"] if e["kind"] == "generalization_jump"]
            jl = [e for e in x["events_loss"] if e["kind"] == "generalization_jump"]
            others = ", ".join(f"{e['kind']}@{e['step']:g}" for e in x["events"]
                               if e["kind"] != "generalization_jump") or "-"
            if x["label"] == "grok":
                n_grok += 1
                if jumps:
                    caught += 1
                    if x["t90"] is not None and jumps[0]["step"] >= x["t90"]:
                        late += 1
            elif jumps:
                false += 1
            if x["label"] == "control":
                n_ctrl += 1
            j = jumps[0] if jumps else None
            jtxt = (f"jump@{j['step']:g} acc {j.get('test_acc', float('nan')):.2f} "
                    f"lat {j['step'] - x['mid']:+.0f}" if j and x["mid"] is not None else
                    (f"jump@{j['step']:g}" if j else "no jump"))
            if j is not None:
                jtxt += f" {j.get('phase', '?')}"
            print(f"  {x['name']:26s} {x['label']:8s} mem {x['mem']} mid {x['mid']} t50 {x['t50']} "
                  f"t90 {x['t90']} final {x['final_acc'] if x['final_acc'] is None else round(x['final_acc'], 3)}"
                  f" | {jtxt} (x{len(jumps)}) | loss-only: "
                  f"{'jump@%g' % jl[0]['step'] if jl else 'no jump'} | {others}")
        print(f"real: grokking runs caught {caught}/{n_grok} ({late} at/after test acc 90%), "
              f"false jumps on controls {false}/{n_ctrl}")
        lat = [next(e["step"] for e in x["events"] if e["kind"] == "generalization_jump") - x["mid"]
               for x in res if x["label"] == "grok" and x["mid"] is not None
               and any(e["kind"] == "generalization_jump" for e in x["events"])]
        acc = [next(e.get("test_acc", float("nan")) for e in x["events"] if e["kind"] == "generalization_jump")
               for x in res if x["label"] == "grok" and any(e["kind"] == "generalization_jump" for e in x["events"])]
        print(f"  latency from the jump midpoint (steps): {fmt_q(lat)}; test acc at alert: {fmt_q(acc, '{:.2f}')}")
        loss_caught = sum(1 for x in res if x["label"] == "grok" and any(
            e["kind"] == "generalization_jump" for e in x["events_loss"]))
        loss_false = sum(1 for x in res if x["label"] == "control" and any(
            e["kind"] == "generalization_jump" for e in x["events_loss"]))
        print(f"  from losses alone: caught {loss_caught}/{n_grok}, false on controls {loss_false}/{n_ctrl}")
        leads, hint_grok, hint_ctrl = [], 0, 0
        for x in res:
            hints = [e for e in x["events"] if e["kind"] == "grokking_likely"]
            jumps = [e for e in x["events"] if e["kind"] == "generalization_jump"]
            if x["label"] == "grok" and hints:
                hint_grok += 1
                if jumps:
                    leads.append(jumps[0]["step"] - hints[0]["step"])
            elif x["label"] == "control" and hints:
                hint_ctrl += 1
        print(f"  grokking_likely: on {hint_grok}/{n_grok} grokking runs, {fmt_q(leads)} steps before "
              f"the jump alert; on {hint_ctrl}/{n_ctrl} controls (wrong)")
        of_ok = of_n = 0
        for x in res:
            if x["expect_overfitting"] is None:
                continue
            of_n += 1
            got = any(e["kind"] == "overfitting" for e in x["events"])
            of_ok += got == x["expect_overfitting"]
            if got != x["expect_overfitting"]:
                print(f"  overfitting on {x['name']}: expected {x['expect_overfitting']}, got {got}")
        print(f"  overfitting as expected on {of_ok}/{of_n} labelled runs")
        never = [x for x in res if x["label"] == "control" and x["kind"] == "grokking" and x["mem"] is not None]
        st_never = [x for x in never if any(e["kind"] == "stalled" for e in x["events"])]
        st_grok = [x for x in res if x["label"] == "grok" and any(e["kind"] == "stalled" for e in x["events"])]
        after = [next(e["step"] for e in x["events"] if e["kind"] == "stalled") / x["mem"] for x in st_never]
        print(f"  stalled: on {len(st_never)}/{len(never)} memorised never-grok controls "
              f"(at {fmt_q(after, '{:.1f}')} x the memorisation step), on {len(st_grok)}/{n_grok} "
              f"grokking runs (must be 0)")
        ok &= not st_grok
        ph_ok = ph_n = gen_ok = 0
        for x in res:
            jumps = [e for e in x["events"] if e["kind"] == "generalization_jump"]
            gens = [e for e in x["events"] if e["kind"] == "generalized"]
            if x["phase"] is None or not jumps:
                continue
            ph_n += 1
            ph_ok += jumps[0].get("phase") == x["phase"]
            gen_ok += bool(gens) and gens[0].get("phase") == x["phase"]
        print(f"  phase (Liu et al. 2022, measured on the whole log) given by the jump alert on "
              f"{ph_ok}/{ph_n} caught runs, by the generalized milestone on {gen_ok}/{ph_n}; "
              + ", ".join(f"{p} {sum(1 for x in res if x['phase'] == p)}" for p in ("grokking", "comprehension")))
        ok &= caught == n_grok and late == 0 and false == 0
    for name in filter(None, args.sets.split(",")):
        ok &= early_warning(name.strip(), args.verbose)
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
