"""Rolling frame statistics: per-stage times, fps, capture -> publish latency.

Writers are the frame threads (a few appends per frame, under one lock); readers are the periodic
log line, the OSC `status` command and heartbeat, and the benchmark.

Figures cover the last `WINDOW_S` seconds, not the last N frames: over N frames a frozen
pipeline kept its old frame rate, and a 5 s-per-frame model showed the fast model before it.
Over a time window a stall shows as a falling fps (0 once no frame came for the whole window).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

STAGES = ("capture", "preprocess", "inference", "postprocess", "publish")
WINDOW_S = 5.0  # as long as the log line's interval: each line covers the time since the last
MAX_SAMPLES = 20_000  # per series, whatever the frame rate (4,000 fps over the window)


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float


@dataclass(frozen=True)
class StatsSnapshot:
    """Figures over the recent window (`WINDOW_S`); times in milliseconds."""

    fps: float
    frames: int
    latency_ms: Percentiles
    stages_ms: dict[str, Percentiles] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        stages = " ".join(f"{k} {v.p50:.1f}" for k, v in self.stages_ms.items())
        dropped = " ".join(f"{k} {v}" for k, v in self.dropped.items() if v)
        return (
            f"{self.fps:.1f} fps | latency p50 {self.latency_ms.p50:.0f} ms "
            f"p95 {self.latency_ms.p95:.0f} ms | stage p50 ms: {stages}"
            + (f" | dropped: {dropped}" if dropped else "")
        )


def percentiles_ms(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles(0.0, 0.0)
    p50, p95 = np.percentile(np.asarray(values) * 1000.0, [50, 95])
    return Percentiles(float(p50), float(p95))


def window_start(now: float, since: float, window: float | None) -> float:
    """Where the window ending at `now` begins: `window` seconds back, but not before `since`
    (when the figures started), so the first seconds of a run are not counted as idle."""
    return since if window is None else max(since, now - window)


def rate(times: Sequence[float], start: float, now: float) -> float:
    """Events per second in (start, now] from sorted event times; 0 for an empty span."""
    if now <= start:
        return 0.0
    return (len(times) - bisect_right(times, start)) / (now - start)


def recent(stamped: Sequence[tuple[float, float]], start: float) -> list[float]:
    """The values stamped after `start`; with none, the newest one, so a stage slower than the
    window shows the time it took rather than nothing."""
    if not stamped:
        return []
    return [value for t, value in stamped if t > start] or [stamped[-1][1]]


class FrameStats:
    """Keeps the samples of each stage and the publish times of the last `window` seconds, on
    `clock`; `window=None` keeps every sample (a benchmark run, which plots each frame and takes
    percentiles over all)."""

    def __init__(
        self, window: float | None = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._window = window
        self._since = clock()
        maxlen = None if window is None else MAX_SAMPLES
        self._stages: dict[str, deque[tuple[float, float]]] = {
            s: deque(maxlen=maxlen) for s in STAGES
        }
        self._published: deque[tuple[float, float]] = deque(maxlen=maxlen)  # (when, latency)
        self.frames = 0
        self.dropped_sources: list[tuple[str, Callable[[], int]]] = []
        # seconds from the instant a frame reads its parameters to its outputs (an average):
        # how early a change on the beat is made so that it shows on the beat
        self.shown_s = 0.0

    def stage(self, name: str, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            samples = self._stages[name]
            samples.append((now, seconds))
            self._forget(samples, now)

    def published(self, t_capture: float) -> None:
        now = self._clock()
        with self._lock:
            self.frames += 1
            self._published.append((now, now - t_capture))
            self._forget(self._published, now)

    def shown(self, seconds: float) -> None:
        """A frame is out of a sink `seconds` after its parameters were read (an average)."""
        with self._lock:
            last = self.shown_s
            self.shown_s = seconds if last == 0.0 else last + 0.1 * (seconds - last)

    def _forget(self, samples: deque[tuple[float, float]], now: float) -> None:
        """Drop samples older than the window, keeping the newest (see `recent`)."""
        if self._window is None:
            return
        while len(samples) > 1 and samples[0][0] <= now - self._window:
            samples.popleft()

    def timeline(self) -> tuple[list[float], list[float]]:
        """Publish times and their capture -> publish latencies (seconds), oldest first."""
        with self._lock:
            return [t for t, _ in self._published], [latency for _, latency in self._published]

    def stage_samples(self) -> dict[str, list[float]]:
        with self._lock:
            return {k: [seconds for _, seconds in v] for k, v in self._stages.items()}

    def snapshot(self) -> StatsSnapshot:
        now = self._clock()
        with self._lock:
            published = list(self._published)
            stages = {k: list(v) for k, v in self._stages.items()}
            frames = self.frames
        start = window_start(now, self._since, self._window)
        return StatsSnapshot(
            fps=rate([t for t, _ in published], start, now),
            frames=frames,
            latency_ms=percentiles_ms(recent(published, start)),
            stages_ms={k: percentiles_ms(recent(v, start)) for k, v in stages.items()},
            dropped={name: count() for name, count in self.dropped_sources},
        )
