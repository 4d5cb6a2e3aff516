"""generalization_jump: test error fell suddenly after the training set was memorised.

All of these must hold:
    1. memorisation: train error <= 0.01 (no accuracy: train loss down 1 decade) for 3
       evaluations (`memorized_at` is the first of them);
    2. at that moment the test error has made at most half of its way down from where it
       started (loss: at most 0.3 decade): train got there first, however short the delay;
    3. the test error left its baseline only after the train error had halved (test lags
       train; ordinary learning has them move together);
    4. the fall is >= 40% of the baseline error, >= 0.3 absolute and >= 6 sigma (log mode:
       >= 0.3 decade and 6 sigma), and fast (below);
    5. this row and the previous one are both well down (the previous at least half-way to
       the threshold); where rows are dense (< 3% apart in steps) one more row: an outlier of
       one row (two, where rows are dense) never fires.
Fires once per jump: it re-arms only after the test error went back to its baseline for 5
rows and half the step it returned at (a loss spike or a brief collapse does not).

*Noise.* Binomial from the test-set size when the run's config gives `n_test`, and estimated
from the data (mean |row-to-row change| while the curve is near its baseline), whichever is
larger.

*Baseline.* The median of the first rows at the baseline, then an EMA whose steps are clipped
at 3 sigma: a dip of a few rows can hardly move it, a slow level shift carries it along.

*Time.* Evaluations may be log-spaced (dense early, sparse late), so speed is judged in steps,
scale-free. For each level of fall (2.5% steps) the rule remembers the first step the curve
reached it (median of three rows, dated back to the earliest raw row past the level) since it
was last at its baseline. A fall to `u` is fast when the time from `u/4` to `u` spans at most
KAPPA * log10(4) decades of steps (KAPPA 0.65: 0.39 decades). A linear ramp in steps takes
>= 0.6 decades for that (log10 4); a rise that is linear in log-steps takes longer still; the
slowest real grokking seen (1% -> 96% between steps 50 and 310) ~0.3.

State is O(1) per row: a few numbers, rings of at most 5 rows, a ladder that grows by one
entry per 2.5% of fall; nothing re-scans the history.
"""

from __future__ import annotations

import math
from typing import Sequence

from .phase import DELAY, PhaseClock, phase_of
from .protocol import NO_EVENTS, Reading, RunContext
from .signals import INF, LOG10, Noise, at, count, fall_below, fmt_step, med3, pct, ring_median, unit_of

LADDER = 0.025  # resolution of the fall levels whose first crossing is remembered
N_LADDER = 160  # bounded: levels up to 4.0 (u <= 1 there); log: up to 4 decades


class _Mode:
    """Thresholds for one way of reading the test curve (u: bounded = fraction of the
    baseline error gone; log = decades fallen)."""

    __slots__ = ("name", "u_fire", "f_abs", "u_mem_max", "a_min", "kappa")

    def __init__(self, name, u_fire, f_abs, u_mem_max, a_min, kappa):
        self.name = name
        self.u_fire = u_fire  # fall needed to call it a jump
        self.f_abs = f_abs  # bounded: absolute fall (error units) needed too
        self.u_mem_max = u_mem_max  # fall allowed already when train memorised ("near baseline")
        self.a_min = a_min  # smallest level that counts as "left the baseline"
        self.kappa = kappa  # speed: from u/4 to u within kappa * log10(4) decades of steps


BOUNDED = _Mode("bounded", u_fire=0.4, f_abs=0.3, u_mem_max=0.5, a_min=0.05, kappa=0.65)
LOGSPACE = _Mode("log", u_fire=0.3, f_abs=0.0, u_mem_max=0.3, a_min=0.05, kappa=0.75)

TRAIN_FLOOR_ERROR = 0.01  # memorised: train error at most this ...
TRAIN_FLOOR_DECADES = 1.0  # ... or (no accuracy) train loss down this many decades
TRAIN_HALF_DECADES = 0.15  # no accuracy: "train error halved" = train loss down this much
MEM_ROWS = 3
SIGMA_FLOOR_BOUNDED = 0.002
SIGMA_FLOOR_LOG = 0.01
BASE_ALPHA = 0.05  # the baseline's EMA weight once it has 20 rows


class JumpRule:
    """generalization_jump (see the module docstring).

    Public view, for the rules that come after it in the table (read only; plain attributes
    because they are read on every row): `memorized_at` (first of the memorised rows, None
    before), `fall_now` (this row's fall below the test baseline: a fraction of it, or
    decades; None without a test value), `waiting` (memorised with test error still near its
    baseline then, and no jump since it was last armed), `baseline_error` (the test error's
    baseline, bounded curves only), `clock` (a `phase.PhaseClock`: the steps train and test
    first reached 90% accuracy, or fell a decade). Everything else is private.
    """

    needs_curves = True

    def __init__(self, ctx: RunContext) -> None:
        bounded = bool(ctx.bounded)
        self.what = ctx.what
        self.unit = unit_of(ctx.unit)
        self.mode = BOUNDED if bounded else LOGSPACE
        self.bounded = bounded
        n_test = ctx.n_test
        self.n_test = n_test if n_test and n_test > 0 else None
        # train side
        self.tr_first: list[float] = []
        self.tr_start: float | None = None
        self.half_at: float | None = None
        self.floor_run = 0
        self.floor_from: float | None = None
        self.memorized_at: float | None = None  # first of the MEM_ROWS rows at the floor (public)
        self.mem_u: float | None = None
        # test side
        self.y1: float | None = None
        self.y2: float | None = None
        self.ring5: list[float] = []
        self.ref = -INF  # where the test error started: running max of the 5-row median
        self.base: float | None = None  # the baseline: robust EMA of the rows at the baseline
        self.nbase = 0
        self.prev_at_base = False  # the previous row was "quiet" (not far below the baseline)
        self.early: list[float] = []
        self.noise = Noise()
        self.sigma = SIGMA_FLOOR_BOUNDED if bounded else SIGMA_FLOOR_LOG
        self.ladder: list[float] = []  # ladder[k]: first step the smoothed fall was >= (k+1)*LADDER
        self.prev_step: float | None = None
        self.prev_step_y: float | None = None
        self.state = "watch"  # watch | armed | ordinary | fired (set through _set_state)
        self.waiting = False  # public: state == "armed"
        self.prev_cand = False
        self.back_since: float | None = None
        self.back_rows = 0
        self.fall_now: float | None = None  # public: this row's fall below the baseline
        self.clock = PhaseClock()  # public: when train and test reached Liu et al.'s 90% level

    # -- the public view ------------------------------------------------------------------

    @property
    def baseline_error(self) -> float | None:
        return self.base if self.bounded else None

    # -- the rule, step by step ------------------------------------------------------------

    def update(self, r: Reading) -> Sequence[dict]:
        step, y = r.step, r.test
        if r.train is not None and self.memorized_at is None:
            self._watch_train(step, r.train, r.train_bounded)
        self.clock.update(step, y, self.bounded, r.train, r.train_bounded)
        if y is None:
            self.fall_now = None
            return NO_EVENTS
        y1, y2 = self.y1, self.y2
        self.y2, self.y1 = y1, y
        m3 = y if y2 is None else med3(y2, y1, y)
        state = self.state
        if state == "watch":
            self._watch_start(y, m3)
        b, sig, at_base = self._track_baseline(y, y1, state)
        bounded = self.bounded
        self.fall_now = u = fall_below(b, y, bounded)
        if state == "watch" or state == "armed":
            self._climb_ladder(step, fall_below(b, m3, bounded), b, y1, y2)
        self.prev_step_y = self.prev_step
        self.prev_step = step
        if state == "watch" and self.memorized_at is not None:
            state = self._arm(m3)
        if state == "armed":
            event = self._judge(step, y, y1, u, b, sig)
            return (event,) if event is not None else NO_EVENTS
        if state != "watch":
            self._wait_to_rearm(step, at_base)
        return NO_EVENTS

    def _set_state(self, state: str) -> None:
        self.state = state
        self.waiting = state == "armed"

    def _watch_train(self, step: float, tr: float, tr_bounded: bool) -> None:
        """Train side: when train error halved (`half_at`) and when it was memorised."""
        first = self.tr_first
        if self.tr_start is None:
            first.append(tr)
            if len(first) == 3:
                self.tr_start = med3(first[0], first[1], first[2])
        start = self.tr_start if self.tr_start is not None else first[0]
        if tr_bounded:
            if self.half_at is None and tr <= 0.5 * start:
                self.half_at = step
            floor = tr <= TRAIN_FLOOR_ERROR
        else:
            if self.half_at is None and tr <= start - TRAIN_HALF_DECADES:
                self.half_at = step
            floor = tr <= start - TRAIN_FLOOR_DECADES
        if floor:
            if self.floor_run == 0:
                self.floor_from = step
            self.floor_run += 1
            if self.floor_run >= MEM_ROWS:
                self.memorized_at = self.floor_from
                if self.half_at is None:
                    self.half_at = step
        else:
            self.floor_run = 0

    def _watch_start(self, y: float, m3: float) -> None:
        """Where the test error started: the running max of its 5-row median (3-row early)."""
        m5 = ring_median(self.ring5, y)
        if len(self.ring5) < 3:
            m5 = m3
        if m5 > self.ref:
            self.ref = m5

    def _track_baseline(self, y: float, y1: float | None, state: str) -> tuple[float, float, bool]:
        """The baseline: the median of its first rows, then an EMA with steps clipped at 3
        sigma (a dip of a few rows can hardly move it); noise from row-to-row changes while
        the curve is not far below its baseline (the rows of a jump are left out). Returns
        (baseline, sigma, whether this row is at the baseline)."""
        sig = self.sigma
        b = self.base
        if b is None:
            self.base = b = y
            self.nbase = 1
            self.early = [y]
            self.prev_at_base = True
            return b, sig, True
        bounded = self.bounded
        fall = fall_below(b, y, bounded)
        if bounded:
            u_at = 3.0 * sig / b if b > 0 else INF
        else:
            u_at = 3.0 * sig
        if u_at < 0.05:
            u_at = 0.05
        at_base = fall < u_at
        quiet = fall < 0.5 * self.mode.u_fire
        if state == "watch" or state == "armed":
            if quiet and self.prev_at_base:
                self.noise.add(y - y1)
                self.sigma = sig = self._sigma()
            if at_base:
                n = self.nbase + 1
                self.nbase = n
                if n <= 9:
                    e = self.early
                    e.append(y)
                    self.base = b = sorted(e)[len(e) // 2]
                else:
                    d = y - b
                    lim = 3.0 * sig
                    d = lim if d > lim else (-lim if d < -lim else d)
                    self.base = b = b + (d / n if n < 20 else BASE_ALPHA * d)
                self.sigma = sig = self._sigma()
        self.prev_at_base = quiet
        return b, sig, at_base

    def _sigma(self) -> float:
        s = self.noise.sigma()
        if self.bounded:
            if s < SIGMA_FLOOR_BOUNDED:
                s = SIGMA_FLOOR_BOUNDED
            b = self.base
            if self.n_test is not None and b is not None and 0 < b < 1:
                sb = math.sqrt(b * (1.0 - b) / self.n_test)
                if sb > s:
                    s = sb
        elif s < SIGMA_FLOOR_LOG:
            s = SIGMA_FLOOR_LOG
        return s

    def _climb_ladder(self, step: float, us: float, b: float, y1: float | None,
                      y2: float | None) -> None:
        """The ladder of fall levels: the first step the smoothed fall `us` reached each level
        since it was last back at (or above) the baseline. First crossings, not last ones:
        noise on a slow drift makes last crossings late (the fall then looks fast), first
        ones early."""
        lad = self.ladder
        if us <= 0.0:
            if lad:
                lad.clear()
            return
        k0 = int(us / LADDER)
        if k0 > N_LADDER:
            k0 = N_LADDER
        n_l = len(lad)
        if k0 <= n_l:
            return
        # the median of three reached these levels now; the raw curve got there at the
        # earliest of its rows in that window that are past the level
        s1, s2 = self.prev_step, self.prev_step_y
        bounded = self.bounded
        u1 = fall_below(b, y1, bounded) if y1 is not None else -1.0
        u2 = fall_below(b, y2, bounded) if y2 is not None else -1.0
        for k in range(n_l, k0):
            level = (k + 1) * LADDER
            if u2 >= level and s2 is not None:
                lad.append(s2)
            elif u1 >= level and s1 is not None:
                lad.append(s1)
            else:
                lad.append(step)

    def _arm(self, m3: float) -> str:
        """At memorisation: armed if test error had made little of its way down by then,
        else "ordinary" (test and train learned together)."""
        self.mem_u = fall_below(self.ref, m3, self.bounded)
        self._set_state("armed" if self.mem_u <= self.mode.u_mem_max else "ordinary")
        self.prev_cand = False
        return self.state

    def _judge(self, step: float, y: float, y1: float | None, u: float, b: float,
               sig: float) -> dict | None:
        """Armed: is this row (and the one before) a large, fast fall? The event, or None."""
        prev = self.prev_step_y
        u_fire = self.mode.u_fire
        if u >= u_fire and y1 is not None:
            u1 = fall_below(b, y1, self.bounded)
            cand = u1 >= 0.5 * u_fire and self._candidate(step, u, sig)
        else:
            cand = False
        event = None
        if cand:
            # this row low and the one before well on its way; where rows are dense in
            # steps (< 3% apart) one more row, so that a two-row outlier cannot fire
            if self.prev_cand or (prev is not None and step + 1.0 >= 1.03 * (prev + 1.0)):
                event = self._event(step, y, u, sig)
                self._set_state("fired")
                self.back_since = None
        self.prev_cand = cand
        return event

    def _wait_to_rearm(self, step: float, at_base: bool) -> None:
        """Fired / ordinary: re-arm only after a long stay back at the baseline."""
        if at_base:
            if self.back_since is None:
                self.back_since = step
                self.back_rows = 0
            self.back_rows += 1
            if self.back_rows >= 5 and step - self.back_since >= 0.5 * (self.back_since + 1):
                self._set_state("armed")
                self.prev_cand = False
                self.ladder = []
        else:
            self.back_since = None

    def _first_at(self, k: int) -> float | None:
        """First step the smoothed fall reached level (k+1)*LADDER (None: not yet)."""
        lad = self.ladder
        return lad[k] if k < len(lad) else None

    def _levels(self, u: float, sig: float) -> tuple[int, int, float]:
        """(index of the departure level, index of the u/4 level, that level's value)."""
        b = self.base or 1.0
        a_noise = 3.0 * sig / b if self.bounded else 3.0 * sig
        if a_noise < self.mode.a_min:
            a_noise = self.mode.a_min
        k_dep = int(a_noise / LADDER) - 1
        a = u / 4.0
        if a < a_noise:
            a = a_noise
        k = int(a / LADDER) - 1
        if k < 0:
            k = 0
        if k_dep < 0:
            k_dep = 0
        return k_dep, k, (k + 1) * LADDER

    def _candidate(self, step: float, u: float, sig: float) -> bool:
        """Large enough, timed after train error halved, and fast (the module docstring)."""
        mode = self.mode
        if self.bounded:
            fall = u * self.base
            if fall < mode.f_abs or fall < 6.0 * sig:
                return False
        elif u < 6.0 * sig:
            return False
        k_dep, k, a = self._levels(u, sig)
        if a > u / 2.5:
            return False  # too noisy to time the fall
        t_dep = self._first_at(k_dep)
        t_a = self._first_at(k)
        if t_dep is None or t_a is None:
            return False
        half = self.half_at
        if half is None or t_dep < half:
            return False  # test left its baseline before train error had halved: together
        span = LOG10((step + 1.0) / (t_a + 1.0))
        return span <= mode.kappa * LOG10(u / a)

    def _event(self, step: float, y: float, u: float, sig: float) -> dict:
        b = self.base
        k_dep, _k, _a = self._levels(u, sig)
        ta = self._first_at(k_dep)
        if ta is None:
            ta = step
        mem = self.memorized_at
        delay = ta - mem if mem is not None else None
        over = step - ta
        ev = {"kind": "generalization_jump", "step": step, "memorized_at": mem,
              "departed_at": ta, "over_steps": over, "delay": delay, "signal": self.mode.name}
        unit = self.unit
        when = f"train memorised at {at(unit, mem)}"
        if delay is not None and delay > 0:
            when += f", {count(unit, delay)} before"
        between = f"between {unit}s {fmt_step(ta)} and {fmt_step(step)}"
        verdict = self._phase(ev, step, ta, u, b)
        if self.bounded:
            ev.update(baseline_error=round(b, 6), error_now=round(y, 6), fall=round(b - y, 6),
                      fall_fraction=round(u, 4))
            ev["message"] = (
                f"Test accuracy jumped from {pct(1 - b)} to {pct(1 - y)} {between} ({when}): "
                f"sudden generalisation{verdict}")
        else:
            factor = 10.0 ** (b - y)
            ev.update(baseline_loss=round(10.0 ** b, 6), loss_now=round(10.0 ** y, 6),
                      fall_decades=round(b - y, 3), fall_factor=round(factor, 2))
            ev["message"] = (
                f"Test {self.what} fell {factor:.1f}x, from {10.0 ** b:.3g} to {10.0 ** y:.3g}, "
                f"{between} ({when}): sudden generalisation{verdict}")
        return ev

    def _phase(self, ev: dict, step: float, ta: float, u: float, b: float) -> str:
        """Liu et al.'s phase (`phase.py`) into the event; the message's verdict. The step the
        test reaches 90% (a decade, for losses) is measured where it already has, else
        estimated: the fall so far, continued at its average speed since it left the baseline."""
        clock = self.clock
        t_tr, t_te = clock.train_at, clock.test_at
        basis = "measured"
        if t_te is None:
            basis = "estimated"
            level = clock.test_level(self.bounded)
            if level is None:
                t_te = step
            else:
                need = fall_below(b, level, self.bounded)
                if need <= u or step <= ta:
                    t_te = step
                else:
                    t_te = float(round(step + (need - u) * (step - ta) / u))
        phase = phase_of(t_tr, t_te)
        gap = t_te - t_tr if t_tr is not None else None
        ev.update(phase=phase, phase_basis=basis, train_level_at=t_tr, test_level_at=t_te,
                  level_gap=gap)
        unit = self.unit
        level_words = "90%" if self.bounded else "a tenth of where it started"
        reach = "reached" if basis == "measured" else "is on course to reach"
        if gap is None:
            return ", comprehension (train had not reached 90% first)."
        words = (f"test {reach} {level_words} {count(unit, gap)} after train did; Liu et al. "
                 f"2022 call a gap over {count(unit, DELAY)}")
        if phase == "grokking":
            return f": grokking ({words} grokking)."
        return f", comprehension rather than grokking ({words} grokking)."
