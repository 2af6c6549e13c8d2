"""Timing rules as pure functions of an injected clock, so tests can check them exactly."""

from __future__ import annotations


def backoff_delay(attempt: int, first: float = 0.5, longest: float = 5.0) -> float:
    """Seconds to wait before reopening after `attempt` failures in a row: 0.5, 1, 2, 4, 5, 5..."""
    return min(longest, first * 2.0 ** max(0, attempt))


class FramePacer:
    """Deadlines for a paced source at `fps`; after a stall it restarts instead of bursting.

    `next_deadline(now)` returns when the next frame is due. If the caller fell more than one
    frame behind, it gets `now` (deliver at once) and the schedule restarts from there.
    """

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._due: float | None = None

    def next_deadline(self, now: float) -> float:
        if self._due is None or now - self._due > self.interval:
            self._due = now
        else:
            self._due += self.interval
        return self._due


def process_start_delay(inference_s: float, preprocess_s: float, margin_s: float = 0.002) -> float:
    """How long after inference takes a frame the next frame should start preprocessing.

    Preprocessing frame n+1 while inference runs on frame n hides the preprocessing time; starting
    it just before inference frees up (not at once) keeps the frame the model sees fresh, so the
    overlap costs no latency.
    """
    return max(0.0, inference_s - preprocess_s - margin_s)
