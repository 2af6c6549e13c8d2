"""Tap tempo: a person taps the beat, the node hears a tempo and where the bar starts.

Pure and clock-injected: `tap(t)` takes the instant of the tap (time.monotonic seconds) and
never sleeps, so a test can play any tap sequence exactly.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque

from node.tempo.timeline import MAX_BPM, Timeline, valid_bpm

RESET_S = 2.0  # a longer pause between taps starts a new sequence (and a new bar)
WINDOW = 8  # taps in the fit: enough to average out jitter, few enough to follow a change
TOLERANCE = 0.4  # an interval off the fitted one by more than this fraction is not a beat
MIN_INTERVAL_S = 60.0 / MAX_BPM  # closer taps are a bounce: no tempo is that fast
CHANGE_TAPS = 3  # intervals in a row that agree with each other but not with the fit
CHANGE_AGREE = 0.2  # how closely those intervals must agree (fraction of their median)


class TapTempo:
    """Tempo and downbeat from taps.

    Taps less than `RESET_S` apart form a sequence; its first tap is beat 0 of a bar (a
    downbeat) and every later tap is a whole beat counted from it. The tempo is the slope of a
    least-squares line through (beat index, tap time) over the last `WINDOW` taps, so one
    jittery tap moves it by a fraction of its error, not all of it.

    Taps that do not fit are dropped from the fit, judged by the interval since the last tap
    counted as a beat against the fitted interval p:

    - within p +- 40%: a beat, fitted.
    - shorter (a double tap): not a beat at all; the next tap is measured from the last beat.
    - longer (a missed beat): a beat, `round(interval / p)` beats on, so the count stays right,
      but left out of the fit, whose tempo it would drag.
    - closer than 60/999 s to the previous tap of any kind (a bounce, a flood): ignored, in
      O(1), so thousands of taps a second cost little and never reach the fit.

    A person who changes tempo without pausing is heard too: `CHANGE_TAPS` intervals in a row
    that are all off the fit but agree with each other start a new sequence at the first tap of
    them (a new downbeat there).
    """

    def __init__(self) -> None:
        self._fit: deque[tuple[int, float]] = deque(maxlen=WINDOW)  # (beat index, tap time)
        # the latest taps that were not bounces: the evidence for a tempo change
        self._recent: deque[float] = deque(maxlen=CHANGE_TAPS + 1)
        self._last_tap: float | None = None  # the latest tap of any kind
        self._beat_index = 0  # the latest tap counted as a beat: its index and time
        self._beat_t = 0.0
        self._interval: float | None = None  # fitted seconds a beat, this sequence
        self._timeline: Timeline | None = None

    @property
    def timeline(self) -> Timeline | None:
        """The last good timeline (it outlives a new sequence until that has a tempo)."""
        return self._timeline

    def tap(self, t: float) -> Timeline | None:
        """A tap at `t`: the new timeline (the tap on a whole beat), or None when this tap gives
        no tempo: the first of a sequence, a bounce, a double tap, a tempo out of range."""
        if not math.isfinite(t) or (self._last_tap is not None and t < self._last_tap):
            return None  # a clock that runs backwards is not a tap
        if self._last_tap is None or t - self._last_tap > RESET_S:
            self._start(t)
            return None
        bounce = t - self._last_tap < MIN_INTERVAL_S
        self._last_tap = t
        if bounce:
            return None
        self._recent.append(t)
        interval = self._interval
        if interval is None:  # the second tap: the first interval is the tempo so far
            return self._fitted(self._beat_index + 1, t)
        since = t - self._beat_t
        if abs(since - interval) <= TOLERANCE * interval:
            return self._fitted(self._beat_index + 1, t)
        if self._tempo_changed(interval):
            return self._restart()
        if since < interval:
            return None  # a double tap: not a beat
        # a missed beat (or several): counted, not fitted
        self._beat_index += round(since / interval)
        self._beat_t = t
        return self._publish(interval)

    def _start(self, t: float) -> None:
        self._fit.clear()
        self._fit.append((0, t))
        self._recent.clear()
        self._recent.append(t)
        self._last_tap = t
        self._beat_index, self._beat_t = 0, t
        self._interval = None

    def _fitted(self, index: int, t: float) -> Timeline | None:
        """Add (index, t) to the fit; refused (and not kept) if the tempo would be invalid."""
        self._fit.append((index, t))
        interval = _slope(self._fit)
        if interval is None or not valid_bpm(60.0 / interval):
            self._fit.pop()
            return None
        self._interval = interval
        self._beat_index, self._beat_t = index, t
        return self._publish(interval)

    def _tempo_changed(self, interval: float) -> bool:
        taps = list(self._recent)
        if len(taps) < CHANGE_TAPS + 1:
            return False
        gaps = [b - a for a, b in itertools.pairwise(taps)]
        middle = statistics.median(gaps)
        return all(abs(g - interval) > TOLERANCE * interval for g in gaps) and all(
            abs(g - middle) <= CHANGE_AGREE * middle for g in gaps
        )

    def _restart(self) -> Timeline | None:
        taps = list(self._recent)
        fit = deque(enumerate(taps), maxlen=WINDOW)
        interval = _slope(fit)
        if interval is None or not valid_bpm(60.0 / interval):
            return None
        self._fit = fit
        self._interval = interval
        self._beat_index, self._beat_t = len(taps) - 1, taps[-1]
        return self._publish(interval)

    def _publish(self, interval: float) -> Timeline:
        self._timeline = Timeline(60.0 / interval, float(self._beat_index), self._beat_t)
        return self._timeline


def _slope(points: deque[tuple[int, float]]) -> float | None:
    """Least-squares seconds per beat through (index, time); None if it cannot be fitted."""
    if len(points) < 2:
        return None
    i0, t0 = points[-1]  # centred on the latest tap: no precision lost to large clock values
    xs = [i - i0 for i, _ in points]
    ys = [t - t0 for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope if slope > 0 and math.isfinite(slope) else None
