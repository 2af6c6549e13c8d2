"""A beat timeline: which beat it is at any instant, and when a beat falls.

Every tempo source (internal, tap, MIDI clock, Link) reduces to one `Timeline`: a tempo and one
anchor (this beat at this instant, on the node's monotonic clock). It is a value: a source that
hears a new tempo makes a new one, anchored where the old one was at that instant, so the beat
count never jumps when the tempo changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_BPM = 20.0
MAX_BPM = 999.0  # Link's own range is 20..999
QUANTUM = 4.0  # beats in a bar (Link's quantum)


def valid_bpm(bpm: float) -> bool:
    """A tempo the node takes: finite and within MIN_BPM..MAX_BPM."""
    return isinstance(bpm, int | float) and math.isfinite(bpm) and MIN_BPM <= bpm <= MAX_BPM


@dataclass(frozen=True)
class Timeline:
    """`beat0` falls at `t0` (seconds, time.monotonic); `bpm` beats a minute from there."""

    bpm: float
    beat0: float = 0.0
    t0: float = 0.0

    def beat_at(self, t: float) -> float:
        return self.beat0 + (t - self.t0) * self.bpm / 60.0

    def time_at(self, beat: float) -> float:
        return self.t0 + (beat - self.beat0) * 60.0 / self.bpm

    def phase_at(self, t: float, quantum: float = QUANTUM) -> float:
        """Where in the bar `t` falls: 0 <= phase < quantum (Link's phase)."""
        return self.beat_at(t) % quantum

    def with_bpm(self, bpm: float, t: float) -> Timeline:
        """The same beat at `t`, from there at `bpm`: a tempo change never jumps the beat."""
        return Timeline(bpm, self.beat_at(t), t)

    def next_boundary(self, t: float, every: float) -> float:
        """The first beat at or after `t` that is a whole multiple of `every` beats."""
        beat = self.beat_at(t)
        return math.ceil(beat / every - 1e-9) * every
