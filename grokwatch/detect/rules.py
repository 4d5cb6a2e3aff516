"""The streaming alert rules: generalization_jump, grokking_likely, overfitting (divergence is
`divergence.DivergenceRule`, shared with the worker).

Pure Python on purpose: the runner feeds one row at a time, and for single rows plain floats
beat numpy by an order of magnitude. Every rule keeps O(1) state per row (a few numbers, rings
of at most 8 rows, a ladder that grows by one entry per 2.5% of fall); nothing re-scans the
history. About 5 us per row for all rules together.

How the rules read a log
------------------------
*Signals.* With accuracy columns (a classification run) the test and train curves are the
errors, 1 - acc, in linear units; the fall `u` of the test error is the fraction of its
baseline that is gone. Noise: binomial from the test-set size when the run's config gives
`n_test`, and estimated from the data (mean |row-to-row change| while the curve is near its
baseline), whichever is larger. Without accuracy columns, the curves are `test_error` (MSE for
regression kinds) or `test_loss`, judged in log10 space: `u` is decades fallen.

*Baseline.* The median of the first rows at the baseline, then an EMA whose steps are clipped
at 3 sigma: a dip of a few rows can hardly move it, a slow level shift carries it along.

*Time.* Evaluations may be log-spaced (dense early, sparse late), so speed is judged in steps,
scale-free. For each level of fall (2.5% steps) the detector remembers the first step the
curve reached it (median of three rows, dated back to the earliest raw row past the level)
since it was last at its baseline. A fall to `u` is fast when the time from `u/4` to `u`
spans at most KAPPA * log10(4) decades of steps (KAPPA 0.65: 0.39 decades). A linear ramp in
steps takes >= 0.6 decades for that (log10 4); a rise that is linear in log-steps takes
longer still; the slowest real grokking seen (1% -> 96% between steps 50 and 310) ~0.3.

generalization_jump
    1. memorisation: train error <= 0.01 (no accuracy: train loss down 1 decade) for 3
       evaluations (`memorized_at` is the first of them);
    2. at that moment the test error has made at most half of its way down from where it
       started (loss: at most 0.3 decade): train got there first, however short the delay;
    3. the test error left its baseline only after the train error had halved (test lags
       train; ordinary learning has them move together);
    4. the fall is >= 40% of the baseline error, >= 0.3 absolute and >= 6 sigma (log mode:
       >= 0.3 decade and 6 sigma), and fast (above);
    5. this row and the previous one are both well down (the previous at least half-way to
       the threshold); where rows are dense (< 3% apart in steps) one more row: an outlier of
       one row (two, where rows are dense) never fires.
    Fires once per jump: it re-arms only after the test error went back to its baseline for
    5 rows and half the step it returned at (a loss spike or a brief collapse does not).
grokking_likely (a hint)
    after memorisation, while the test error is still within 15% of its baseline: the test
    loss turned around (its robust level - 5-row median, slew-limited to 3 sigma per row - is
    >= 0.05 decade and 4 sigma below its peak for 3 rows, and had stayed near the peak for at
    least 15% of the peak's step: a turnaround, not a spike), or the weight norm is falling
    (>= 5% off its post-memorisation peak for 3 rows) where weight decay is on or unknown.
    Once per run, never after the jump.
overfitting
    test error (5-row median) fell to a minimum, then rose above it by max(0.03, min(half the
    minimum, 0.1), 4 sigma) (log mode: 0.1 decade, 4 sigma), for 2 rows, still at 1.5x the
    minimum's step, near its highest since, while the train curve kept going down (by 10%,
    0.005 absolute; log mode 0.05 decade). Once per run. The bump of an epoch-wise
    double-descent curve *is* test error rising while train error falls, and it fires: nothing
    at that point can know that a second descent will come (for double_descent runs the
    message says so). Runs of one row (a random-features fit per run) give no alerts.
"""

from __future__ import annotations

import math
from collections import deque

_LOG10 = math.log10
_INF = float("inf")


def _fmt_step(s: float) -> str:
    return str(int(s)) if s == int(s) else f"{s:g}"


def _at(unit: str, s: float) -> str:
    """'step 960' (or 'epoch 12' where the log's step column was an epoch column)."""
    return f"{unit} {_fmt_step(s)}"


def _count(unit: str, n: float) -> str:
    """'1 step', '640 steps', '3 epochs'."""
    return f"{_fmt_step(n)} {unit}{'' if n == 1 else 's'}"


STEP_UNITS = ("step", "epoch")


def _unit(unit: str | None) -> str:
    return unit if unit in STEP_UNITS else "step"


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


LADDER = 0.025  # resolution of the fall levels whose last crossing is remembered
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


class _Noise:
    """Cheap streaming noise scale: EMA of |row-to-row change|, outliers clipped; sigma of one
    value = 0.886 * mean|diff| for Gaussian noise."""

    __slots__ = ("mad", "n")

    def __init__(self) -> None:
        self.mad = 0.0
        self.n = 0

    def add(self, d: float) -> None:
        d = d if d >= 0 else -d
        n = self.n
        if n < 8:
            self.n = n + 1
            self.mad += (d - self.mad) / (n + 1)
        else:
            lim = 5.0 * self.mad
            self.mad += 0.1 * ((d if d < lim else lim) - self.mad)

    def sigma(self) -> float:
        return 0.886 * self.mad if self.n >= 5 else 0.0


class Signals:
    """Turns a row into the curves the rules judge (kept apart so all rules share it)."""

    __slots__ = ("bounded", "decided")

    def __init__(self) -> None:
        self.bounded: bool | None = None
        self.decided = False

    def decide(self, row: dict) -> None:
        if "test_acc" in row or ("test_error" in row and "train_acc" in row):
            self.bounded = True
            self.decided = True
        elif "test_error" in row or "test_loss" in row:
            self.bounded = False
            self.decided = True


def _test_value(row: dict, bounded: bool) -> float | None:
    if bounded:
        v = row.get("test_error")
        if v is None:
            a = row.get("test_acc")
            if a is None:
                return None
            v = 1.0 - a
        return v if v == v and -1e-9 <= v <= 1.0 + 1e-9 else None
    v = row.get("test_error")
    if v is None:
        v = row.get("test_loss")
    if v is None or not v == v or v == _INF or v < 0:
        return None
    return _LOG10(v if v > 1e-12 else 1e-12)


def _train_value(row: dict, bounded: bool) -> tuple[float | None, bool]:
    """(value, is_bounded): train error when known, else log10 train loss."""
    if bounded:
        v = row.get("train_error")
        if v is None:
            a = row.get("train_acc")
            if a is not None:
                v = 1.0 - a
        if v is not None and v == v and -1e-9 <= v <= 1.0 + 1e-9:
            return v, True
    v = row.get("train_error") if not bounded else None
    if v is None:
        v = row.get("train_loss")
    if v is None or not v == v or v == _INF or v < 0:
        return None, bounded
    return _LOG10(v if v > 1e-12 else 1e-12), False


def _med3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


class JumpRule:
    """generalization_jump (see the module docstring). `update` returns an event or None.

    After `update`, `u` holds the current row's fall below the baseline (None without a test
    value) and `sigma` the current noise scale, for the other rules.
    """

    def __init__(self, bounded: bool, n_test: int | None = None, what: str = "loss",
                 unit: str = "step") -> None:
        self.what = what
        self.unit = _unit(unit)  # what the step column counts, for the messages  # log mode: "loss" or "error" (MSE), for the message
        self.mode = BOUNDED if bounded else LOGSPACE
        self.bounded = bounded
        self.n_test = n_test if n_test and n_test > 0 else None
        # train side
        self.tr_first: list[float] = []
        self.tr_start: float | None = None
        self.half_at: float | None = None
        self.floor_run = 0
        self.floor_from: float | None = None
        self.mem_at: float | None = None  # first of the MEM_ROWS rows at the floor
        self.mem_u: float | None = None
        # test side
        self.y1: float | None = None
        self.y2: float | None = None
        self.ring5: list[float] = []
        self.ref = -_INF  # where the test error started: running max of the 5-row median
        self.base: float | None = None  # the baseline: robust EMA of the rows at the baseline
        self.nbase = 0
        self.prev_at_base = False  # the previous row was "quiet" (not far below the baseline)
        self.early: list[float] = []
        self.noise = _Noise()
        self.sigma = SIGMA_FLOOR_BOUNDED if bounded else SIGMA_FLOOR_LOG
        self.ladder: list[float] = []  # ladder[k]: first step the smoothed fall was >= (k+1)*LADDER
        self.prev_step: float | None = None
        self.prev_step_y: float | None = None
        self.state = "watch"  # watch | armed | ordinary | fired
        self.prev_cand = False
        self.back_since: float | None = None
        self.back_rows = 0
        self.jumps = 0
        self.u: float | None = None

    # -- helpers ------------------------------------------------------------------------

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

    def fall(self, y: float) -> float:
        """Fall of `y` below the baseline, in units of u."""
        b = self.base
        if b is None:
            return 0.0
        if self.bounded:
            return (b - y) / b if b > 0 else 0.0
        return b - y

    def _first_at(self, k: int) -> float | None:
        """First step the smoothed fall reached level (k+1)*LADDER (None: not yet)."""
        lad = self.ladder
        return lad[k] if k < len(lad) else None

    # -- the rule -----------------------------------------------------------------------

    def update(self, step: float, y: float | None, tr: float | None, tr_bounded: bool) -> dict | None:
        if tr is not None and self.mem_at is None:
            self._train(step, tr, tr_bounded)
        if y is None:
            self.u = None
            return None
        y1, y2 = self.y1, self.y2
        self.y2, self.y1 = y1, y
        m3 = y if y2 is None else _med3(y2, y1, y)
        state = self.state
        bounded = self.bounded
        if state == "watch":
            r = self.ring5
            r.append(y)
            if len(r) > 5:
                del r[0]
            m5 = sorted(r)[len(r) // 2] if len(r) >= 3 else m3
            if m5 > self.ref:
                self.ref = m5
        # baseline: the median of its first rows, then an EMA with steps clipped at 3 sigma
        # (a dip of a few rows can hardly move it); noise from row-to-row changes while the
        # curve is not far below its baseline (the rows of a jump are left out)
        sig = self.sigma
        b = self.base
        if b is None:
            self.base = b = y
            self.nbase = 1
            self.early = [y]
            at_base = quiet = True
        else:
            if bounded:
                fall = (b - y) / b if b > 0 else 0.0
                u_at = 3.0 * sig / b if b > 0 else _INF
            else:
                fall = b - y
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
        if bounded:
            u = (b - y) / b if b > 0 else 0.0
            us = (b - m3) / b if b > 0 else 0.0
        else:
            u = b - y
            us = b - m3
        self.u = u
        # ladder of fall levels: the first step the smoothed fall reached each level since it
        # was last back at (or above) the baseline. First crossings, not last ones: noise on a
        # slow drift makes last crossings late (the fall then looks fast), first ones early.
        if state == "watch" or state == "armed":
            lad = self.ladder
            if us <= 0.0:
                if lad:
                    lad.clear()
            else:
                k0 = int(us / LADDER)
                if k0 > N_LADDER:
                    k0 = N_LADDER
                n_l = len(lad)
                if k0 > n_l:
                    # the median of three reached these levels now; the raw curve got there
                    # at the earliest of its rows in that window that are past the level
                    s1, s2 = self.prev_step, self.prev_step_y
                    if bounded:
                        u1 = (b - y1) / b if y1 is not None and b > 0 else -1.0
                        u2 = (b - y2) / b if y2 is not None and b > 0 else -1.0
                    else:
                        u1 = b - y1 if y1 is not None else -1.0
                        u2 = b - y2 if y2 is not None else -1.0
                    for k in range(n_l, k0):
                        level = (k + 1) * LADDER
                        if u2 >= level and s2 is not None:
                            lad.append(s2)
                        elif u1 >= level and s1 is not None:
                            lad.append(s1)
                        else:
                            lad.append(step)
        self.prev_step_y = self.prev_step
        self.prev_step = step
        event = None
        if state == "watch":
            if self.mem_at is not None:
                ref = self.ref
                if bounded:
                    self.mem_u = (ref - m3) / ref if ref > 0 else 0.0
                else:
                    self.mem_u = ref - m3
                state = self.state = "armed" if self.mem_u <= self.mode.u_mem_max else "ordinary"
                self.prev_cand = False
        if state == "armed":
            prev = self.prev_step_y
            u_fire = self.mode.u_fire
            if u >= u_fire and y1 is not None:
                u1 = (b - y1) / b if bounded else b - y1
                cand = u1 >= 0.5 * u_fire and self._candidate(step, y, u, sig)
            else:
                cand = False
            if cand:
                # this row low and the one before well on its way; where rows are dense in
                # steps (< 3% apart) one more row, so that a two-row outlier cannot fire
                if self.prev_cand or (prev is not None and step + 1.0 >= 1.03 * (prev + 1.0)):
                    event = self._event(step, y, u, sig)
                    self.state = "fired"
                    self.jumps += 1
                    self.back_since = None
            self.prev_cand = cand
        elif state != "watch":
            # fired / ordinary: re-arm only after a long stay back at the baseline
            if at_base:
                if self.back_since is None:
                    self.back_since = step
                    self.back_rows = 0
                self.back_rows += 1
                if self.back_rows >= 5 and step - self.back_since >= 0.5 * (self.back_since + 1):
                    self.state = "armed"
                    self.prev_cand = False
                    self.ladder = []
            else:
                self.back_since = None
        return event

    def _train(self, step: float, tr: float, tr_bounded: bool) -> None:
        first = self.tr_first
        if self.tr_start is None:
            first.append(tr)
            if len(first) == 3:
                self.tr_start = _med3(first[0], first[1], first[2])
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
                self.mem_at = self.floor_from
                if self.half_at is None:
                    self.half_at = step
        else:
            self.floor_run = 0

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

    def _candidate(self, step: float, y: float, u: float, sig: float) -> bool:
        mode = self.mode
        b = self.base
        if self.bounded:
            fall = u * b
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
        span = _LOG10((step + 1.0) / (t_a + 1.0))
        return span <= mode.kappa * _LOG10(u / a)

    def _event(self, step: float, y: float, u: float, sig: float) -> dict:
        b = self.base
        k_dep, _k, _a = self._levels(u, sig)
        ta = self._first_at(k_dep)
        if ta is None:
            ta = step
        mem = self.mem_at
        delay = ta - mem if mem is not None else None
        over = step - ta
        ev = {"kind": "generalization_jump", "step": step, "memorized_at": mem,
              "departed_at": ta, "over_steps": over, "delay": delay, "signal": self.mode.name}
        unit = self.unit
        when = f"train memorised at {_at(unit, mem)}"
        if delay is not None and delay > 0:
            when += f", {_count(unit, delay)} before"
        between = f"between {unit}s {_fmt_step(ta)} and {_fmt_step(step)}"
        if self.bounded:
            ev.update(baseline_error=round(b, 6), error_now=round(y, 6), fall=round(b - y, 6),
                      fall_fraction=round(u, 4))
            ev["message"] = (
                f"Test accuracy jumped from {_pct(1 - b)} to {_pct(1 - y)} {between} ({when}): "
                f"sudden generalisation, grokking.")
        else:
            factor = 10.0 ** (b - y)
            ev.update(baseline_loss=round(10.0 ** b, 6), loss_now=round(10.0 ** y, 6),
                      fall_decades=round(b - y, 3), fall_factor=round(factor, 2))
            ev["message"] = (
                f"Test {self.what} fell {factor:.1f}x, from {10.0 ** b:.3g} to {10.0 ** y:.3g}, "
                f"{between} ({when}): sudden generalisation, grokking.")
        return ev


class HintRule:
    """grokking_likely: an early hint after memorisation, while test error is still at its
    baseline (see the module docstring)."""

    LOSS_TURN_DECADES = 0.05
    WNORM_FALL = 0.05
    ROWS = 3
    U_MAX = 0.15  # test error still this near its baseline (fraction of the way down)

    def __init__(self, weight_decay: float | None, unit: str = "step") -> None:
        self.wd = weight_decay
        self.unit = _unit(unit)
        self.fired = False
        self.l1: float | None = None
        self.level: float | None = None
        self.ring: list[float] = []
        self.hist: deque = deque(maxlen=8)  # recent (step, level)
        self.near_from: float | None = None  # since when the level is near its peak
        self.below_at: float | None = None  # when it first fell a threshold below it
        self.noise = _Noise()
        self.loss_peak = -_INF
        self.loss_peak_at: float | None = None
        self.loss_run = 0
        self.wn_peak = -_INF
        self.wn_peak_at: float | None = None
        self.wn_run = 0

    def update(self, step: float, row: dict, jump: JumpRule) -> dict | None:
        tl = row.get("test_loss")
        wn = row.get("weight_norm")
        u = jump.u
        armed = jump.state == "armed" and u is not None and u < self.U_MAX
        event = None
        if tl is not None and 0 < tl < _INF:
            x = _LOG10(tl)
            l1 = self.l1
            self.l1 = x
            noise = self.noise
            if l1 is not None:
                noise.add(x - l1)
            # a robust level: the 5-row median, slew-limited to 3 sigma per row, so that a loss
            # spike (slingshot, bad batch) cannot make a peak while a real trend carries it along
            ring = self.ring
            ring.append(x)
            if len(ring) > 5:
                del ring[0]
            med = sorted(ring)[len(ring) // 2]
            lev = self.level
            if lev is None or len(ring) < 5:
                self.level = lev = med
            else:
                d = med - lev
                lim = 3.0 * noise.sigma()
                if lim > 0:
                    d = lim if d > lim else (-lim if d < -lim else d)
                self.level = lev = lev + d
            thr = 4.0 * noise.sigma()
            if thr < self.LOSS_TURN_DECADES:
                thr = self.LOSS_TURN_DECADES
            hist = self.hist
            if lev > self.loss_peak:
                # a new peak: since when has the level been within `thr` of it? (scan the
                # recent rows; if all of them are, the older start stands)
                enter = None
                for t_h, l_h in reversed(hist):
                    if l_h < lev - thr:
                        break
                    enter = t_h
                else:
                    if self.near_from is not None:
                        enter = self.near_from
                self.near_from = enter if enter is not None else step
                self.loss_peak, self.loss_peak_at = lev, step
                self.loss_run = 0
                self.below_at = None
            elif lev <= self.loss_peak - thr:
                if self.below_at is None:
                    self.below_at = step
                # a turnaround, not a bump: the level stayed near its peak for a while
                broad = self.below_at - self.near_from >= 0.15 * (self.loss_peak_at + 1.0)
                if armed and broad:
                    self.loss_run += 1
                    if self.loss_run >= self.ROWS:
                        event = self._loss_event(step, row, jump, lev)
                else:
                    self.loss_run = 0
            else:
                self.loss_run = 0
            hist.append((step, lev))
        if event is None and wn is not None and 0 < wn < _INF and (self.wd is None or self.wd > 0) \
                and jump.mem_at is not None:
            if wn > self.wn_peak:
                self.wn_peak, self.wn_peak_at = wn, step
                self.wn_run = 0
            elif armed and wn <= self.wn_peak * (1.0 - self.WNORM_FALL):
                self.wn_run += 1
                if self.wn_run >= self.ROWS:
                    event = self._wn_event(step, row, jump, wn)
            else:
                self.wn_run = 0
        if event is not None:
            self.fired = True
        return event

    def _loss_event(self, step: float, row: dict, jump: JumpRule, m: float) -> dict:
        drop = 1.0 - 10.0 ** (m - self.loss_peak)
        return {"kind": "grokking_likely", "step": step, "signal": "test_loss_turnaround",
                "memorized_at": jump.mem_at, "peak_step": self.loss_peak_at,
                "peak_test_loss": round(10.0 ** self.loss_peak, 6),
                "test_loss_now": round(10.0 ** m, 6),
                "message": (f"Test loss is falling, down {_pct(drop)} from its peak at "
                            f"{_at(self.unit, self.loss_peak_at)}, while {_test_words(row, jump)} "
                            f"and train memorised at {_at(self.unit, jump.mem_at)}: grokking may "
                            f"follow.")}

    def _wn_event(self, step: float, row: dict, jump: JumpRule, wn: float) -> dict:
        drop = 1.0 - wn / self.wn_peak
        return {"kind": "grokking_likely", "step": step, "signal": "weight_norm_falling",
                "memorized_at": jump.mem_at, "peak_step": self.wn_peak_at,
                "peak_weight_norm": round(self.wn_peak, 6), "weight_norm_now": round(wn, 6),
                "message": (f"Weight norm is shrinking, down {_pct(drop)} since "
                            f"{_at(self.unit, self.wn_peak_at)}, while {_test_words(row, jump)} "
                            f"and train memorised at {_at(self.unit, jump.mem_at)}: grokking may "
                            f"follow.")}


def _test_words(row: dict, jump: JumpRule) -> str:
    """'test accuracy is still only 3.1% (baseline 1.0%)' and the like."""
    b = jump.base
    a = row.get("test_acc")
    if a is not None:
        base = f" (baseline {_pct(1.0 - b)})" if jump.bounded and b is not None else ""
        return f"test accuracy is still only {_pct(a)}{base}"
    e = row.get("test_error")
    if e is not None:
        base = f" (baseline {b:.3g})" if jump.bounded and b is not None else ""
        return f"test error is still {e:.3g}{base}"
    return "test error is still near its baseline"


class OverfitRule:
    """overfitting: test error turned up and keeps rising while train error keeps falling.

    Judged on 5-row medians (a two-row outlier can neither make the minimum nor the rise);
    the rise must exceed max(0.03, min(half the minimum, 0.1), 4 sigma) (log mode: 0.1 decade,
    4 sigma), hold for 2 rows, and last until at least 1.5x the minimum's step, while the
    train curve is still going down."""

    ROWS = 2
    SPAN = 0.5  # the rise must still hold at (1 + SPAN) x the minimum's step

    def __init__(self, bounded: bool, n_test: int | None, kind: str | None,
                 what: str = "loss", unit: str = "step") -> None:
        self.what = what
        self.unit = _unit(unit)
        self.bounded = bounded
        self.n_test = n_test if n_test and n_test > 0 else None
        self.kind = kind
        self.fired = False
        self.noise = _Noise()
        self.y1: float | None = None
        self.ring: list[float] = []
        self.z1: float | None = None
        self.z2: float | None = None
        self.start: float | None = None
        self.m = _INF
        self.m_at: float | None = None
        self.z_m: float | None = None
        self.y_max = -_INF
        self.run = 0

    def update(self, step: float, y: float | None, z: float | None, z_bounded: bool) -> dict | None:
        if y is None:
            return None
        if self.y1 is not None:
            self.noise.add(y - self.y1)
        self.y1 = y
        zm3 = None
        if z is not None and z_bounded == self.bounded:
            if self.z1 is not None and self.z2 is not None:
                zm3 = _med3(self.z2, self.z1, z)
            self.z2, self.z1 = self.z1, z
        r = self.ring
        r.append(y)
        if len(r) < 5:
            return None
        if len(r) > 5:
            del r[0]
        m5 = sorted(r)[2]
        if self.start is None:
            self.start = m5
        if m5 < self.m:
            self.m, self.m_at, self.z_m = m5, step, zm3
            self.y_max = m5
            self.run = 0
            return None
        if m5 > self.y_max:
            self.y_max = m5
        m = self.m
        sig = self.noise.sigma()
        if self.bounded:
            if self.n_test is not None and 0 < m < 1:
                sb = math.sqrt(m * (1.0 - m) / self.n_test)
                if sb > sig:
                    sig = sb
            thr = max(0.03, min(0.5 * m, 0.1), 4.0 * sig)
        else:
            thr = max(0.1, 4.0 * sig)
        rise = m5 - m
        z_m = self.z_m
        ok = (rise >= thr and self.start - m >= thr and m5 >= self.y_max - 0.5 * (self.y_max - m)
              and zm3 is not None and z_m is not None)
        if ok:
            margin = max(0.005, 0.1 * z_m) if self.bounded else 0.05
            ok = zm3 <= z_m - margin
        if not ok:
            self.run = 0
            return None
        self.run += 1
        if self.run < self.ROWS or (step + 1.0) < (1.0 + self.SPAN) * (self.m_at + 1.0):
            return None
        self.fired = True
        return self._event(step, m, m5, rise, zm3)

    def _event(self, step: float, m: float, m3: float, rise: float, zm3: float) -> dict:
        z_m = self.z_m
        ev = {"kind": "overfitting", "step": step, "min_step": self.m_at,
              "signal": "bounded" if self.bounded else "log"}
        at_min, at_now = _at(self.unit, self.m_at), _at(self.unit, step)
        if self.bounded:
            ev.update(min_error=round(m, 6), error_now=round(m3, 6),
                      train_error_then=round(z_m, 6), train_error_now=round(zm3, 6))
            msg = (f"Test error rose from {_pct(m)} at {at_min} to {_pct(m3)} at {at_now} while "
                   f"train error kept falling ({_pct(z_m)} -> {_pct(zm3)}): overfitting.")
        else:
            ev.update(min_value=round(10.0 ** m, 6), value_now=round(10.0 ** m3, 6),
                      rise_factor=round(10.0 ** rise, 3))
            msg = (f"Test {self.what} rose {10.0 ** rise:.2f}x, from {10.0 ** m:.3g} at {at_min} "
                   f"to {10.0 ** m3:.3g} at {at_now}, while train {self.what} kept falling ({10.0 ** z_m:.3g} -> {10.0 ** zm3:.3g}): "
                   f"overfitting.")
        if self.kind == "double_descent":
            msg += " In a double-descent run this may be the bump before the second descent."
        ev["message"] = msg
        return ev
