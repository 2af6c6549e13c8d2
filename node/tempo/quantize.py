"""Changes on the beat: a preset recall, a morph, a model swap or a parameter held back until
the next beat, bar, 2 or 4 bars, and made `lookahead` seconds early so that it *shows* on the
boundary (the frames take that long from the parameters to the outputs).

A waiting change keeps the beat it lands on, not a time: when the tempo moves meanwhile (a tap,
a Link peer), it still lands on its beat. Changes are made by the frame loop's tick, at the
frame nearest their moment (from half a frame early), so the error is within half a frame
either way when the timing is steady. Parameters waiting for the same beat merge, newest value
winning, so a fader flood quantised to the bar waits as one change, not thousands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from node.state.params import QUANT_BEATS, QUANTS
from node.tempo.timeline import Timeline

log = logging.getLogger(__name__)

MAX_PENDING = 64  # changes waiting for their beat; a flood beyond is refused, not queued


class QuantizeError(ValueError):
    """A change that cannot wait: an unknown quantisation, or too many waiting already."""


def quant_beats(name: object) -> float:
    """Beats between the boundaries of a quantisation named `name` (0: now)."""
    if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < len(QUANTS):
        name = QUANTS[name]
    if not isinstance(name, str) or name not in QUANT_BEATS:
        raise QuantizeError(f"quantise to one of {', '.join(QUANTS)}, got {name!r:.40}")
    return QUANT_BEATS[name]


@dataclass(eq=False)
class Pending:
    """One change waiting for `beat`. `values`: parameters (merged); `action`: anything else."""

    beat: float
    what: str
    action: Callable[[], None] | None = None
    values: dict[str, object] = field(default_factory=dict)
    setter: Callable[[dict[str, object]], None] | None = None

    def run(self) -> None:
        if self.action is not None:
            self.action()
        if self.setter is not None and self.values:
            self.setter(self.values)


class Quantizer:
    """The changes waiting for their beat. `schedule` from any thread; `tick` per frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Pending] = []

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._pending)

    def landing_beat(self, every: float, now: float, timeline: Timeline, lookahead: float) -> float:
        """The boundary a change asked for at `now` lands on: the first one it can still be
        made in time for."""
        return timeline.next_boundary(now + lookahead, every)

    def schedule(
        self,
        every: float,
        what: str,
        now: float,
        timeline: Timeline,
        lookahead: float,
        action: Callable[[], None] | None = None,
        values: Mapping[str, object] | None = None,
        setter: Callable[[dict[str, object]], None] | None = None,
    ) -> float:
        """Hold `action` (or `values`, set with `setter`) for the next boundary of `every`
        beats; returns that beat. Values for the same beat from the same sender (`what`)
        join the ones waiting."""
        beat = self.landing_beat(every, now, timeline, lookahead)
        with self._lock:
            if values is not None and setter is not None:
                for item in self._pending:
                    if item.beat == beat and item.what == what and item.action is None:
                        item.values.update(values)  # newest wins, as with a fader
                        item.setter = setter
                        return beat
            if len(self._pending) >= MAX_PENDING:
                raise QuantizeError(
                    f"{MAX_PENDING} changes already wait for their beat; this one is refused"
                )
            self._pending.append(Pending(beat, what, action, dict(values or {}), setter))
        return beat

    def tick(self, now: float, timeline: Timeline, lookahead: float, half_frame: float) -> int:
        """Make the changes whose moment (their beat, less the lookahead) is within half a
        frame; returns how many ran."""
        with self._lock:
            moment = now + half_frame + lookahead
            due = [p for p in self._pending if timeline.time_at(p.beat) <= moment]
            if not due:
                return 0
            self._pending = [p for p in self._pending if timeline.time_at(p.beat) > moment]
        for item in sorted(due, key=lambda p: p.beat):
            try:
                item.run()
            except Exception as exc:
                log.error("a change on the beat (%s) failed: %s", item.what, exc)
        return len(due)

    def clear(self) -> int:
        """Drop every waiting change (the performer asked for it: `/quant/clear`)."""
        with self._lock:
            count, self._pending = len(self._pending), []
        return count
