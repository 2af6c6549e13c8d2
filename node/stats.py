"""Rolling frame statistics: per-stage times, fps, capture -> publish latency.

Writers are the frame threads (a few appends per frame, under one lock); readers are the periodic
log line and later the OSC `status` command and the benchmark.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

STAGES = ("capture", "preprocess", "inference", "postprocess", "publish")


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float


@dataclass(frozen=True)
class StatsSnapshot:
    """Figures over the recent window; times in milliseconds."""

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


def percentiles_ms(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(0.0, 0.0)
    p50, p95 = np.percentile(np.asarray(values) * 1000.0, [50, 95])
    return Percentiles(float(p50), float(p95))


class FrameStats:
    """Keeps the last `window` samples of each stage and of publish times; `window=None` keeps
    every sample (a benchmark run, which plots each frame and takes percentiles over all)."""

    def __init__(
        self, window: int | None = 300, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._stages: dict[str, deque[float]] = {s: deque(maxlen=window) for s in STAGES}
        self._latency: deque[float] = deque(maxlen=window)
        self._published: deque[float] = deque(maxlen=window)
        self.frames = 0
        self.dropped_sources: list[tuple[str, Callable[[], int]]] = []

    def stage(self, name: str, seconds: float) -> None:
        with self._lock:
            self._stages[name].append(seconds)

    def published(self, t_capture: float) -> None:
        now = self._clock()
        with self._lock:
            self.frames += 1
            self._published.append(now)
            self._latency.append(now - t_capture)

    def timeline(self) -> tuple[list[float], list[float]]:
        """Publish times and their capture -> publish latencies (seconds), oldest first."""
        with self._lock:
            return list(self._published), list(self._latency)

    def stage_samples(self) -> dict[str, list[float]]:
        with self._lock:
            return {k: list(v) for k, v in self._stages.items()}

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            published = list(self._published)
            stages = {k: list(v) for k, v in self._stages.items()}
            latency = list(self._latency)
            frames = self.frames
        fps = 0.0
        if len(published) > 1 and published[-1] > published[0]:
            fps = (len(published) - 1) / (published[-1] - published[0])
        return StatsSnapshot(
            fps=fps,
            frames=frames,
            latency_ms=percentiles_ms(latency),
            stages_ms={k: percentiles_ms(v) for k, v in stages.items()},
            dropped={name: count() for name, count in self.dropped_sources},
        )
