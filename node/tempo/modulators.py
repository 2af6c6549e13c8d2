"""Modulators: LFOs and envelopes that move parameters on their own, in time with the beat.

Each slot `modN` is a group of rows in the parameter table (node/state/params.py), so it has
addresses, OSCQuery, presets, morphs and the page like any parameter. Once per frame `tick`
reads the slots from the frame's values and returns an offset per target parameter; the store
adds it to the value set by hand (the centre it swings around) and clamps the sum to the
target's range (several modulators on one target add up). Pure functions of time and beat, so
tests ask for any instant without waiting.

The swing is `wave * depth + offset`, in parts of the target's range: a sine of depth 0.25 on
`/process/canny_t1` (0..500) moves it 125 either way around its fader. LFO waves are bipolar
(-1..1), an envelope is 0..1. Sample-and-hold and smooth random draw one number per cycle from
a hash of (slot, cycle), so they repeat exactly for the same beat and need no state.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from node.state.params import MOD_SLOTS, SHAPES, TRIGGERS, ParamSnapshot, ParamSpec
from node.tempo.timeline import QUANTUM, Timeline

MASK64 = (1 << 64) - 1


def noise(slot: int, cycle: int) -> float:
    """A repeatable random number in -1..1 for one cycle of one slot (splitmix64)."""
    z = (slot * 0x9E3779B97F4A7C15 + cycle * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return (z / MASK64) * 2.0 - 1.0


def wave(shape: str, position: float, slot: int = 1) -> float:
    """The value (-1..1) of an LFO `shape` `position` cycles in (its whole part counts the
    cycles: the random shapes draw a new number each). Sine, triangle and saw start at 0
    rising, so a phase of 0 starts from the centre."""
    cycle = math.floor(position)
    phase = position - cycle
    if shape == "sine":
        return math.sin(2.0 * math.pi * phase)
    if shape == "triangle":
        return 1.0 - 4.0 * abs(((phase + 0.25) % 1.0) - 0.5)
    if shape == "saw":
        return 2.0 * ((phase + 0.5) % 1.0) - 1.0
    if shape == "square":
        return 1.0 if phase < 0.5 else -1.0
    if shape == "sample_hold":
        return noise(slot, cycle)
    if shape == "smooth_random":
        a, b = noise(slot, cycle), noise(slot, cycle + 1)
        return a + (b - a) * (1.0 - math.cos(math.pi * phase)) / 2.0
    return 0.0


@dataclass(frozen=True)
class Adsr:
    attack: float
    decay: float
    sustain: float
    release: float

    def level(self, since_on: float, start: float = 0.0) -> float:
        """The level `since_on` seconds after the gate opened, rising from `start` (a retrigger
        rises from where the last one was)."""
        if since_on < self.attack:
            return start + (1.0 - start) * since_on / self.attack
        since = since_on - self.attack
        if since < self.decay:
            return 1.0 - (1.0 - self.sustain) * since / self.decay
        return self.sustain

    def released(self, level: float, since_off: float) -> float:
        """The level `since_off` seconds after the gate closed at `level`."""
        if since_off >= self.release:
            return 0.0
        return level * (1.0 - since_off / self.release)


@dataclass
class _Gate:
    """One envelope's gate: when it opened and from what level, when it closed (None: open),
    and whether it closes by itself after attack + decay (a hit: a beat, a bang)."""

    on: float
    start: float
    off: float | None = None
    hit: bool = False


class Modulators:
    """The slots' envelope gates (the only state) and the per-frame step."""

    def __init__(self, slots: int = MOD_SLOTS) -> None:
        self.slots = slots
        self._lock = threading.Lock()
        self._gates: dict[int, _Gate] = {}
        self._last_beat: float | None = None
        self._levels: dict[int, float] = {}  # each envelope's level at the last tick

    # -- gates: OSC, MIDI notes, beats -------------------------------------------------------

    def fire(self, slot: int, now: float, gate: bool | None = None) -> None:
        """Open (True) or close (False) slot's gate; None: a hit, which closes by itself."""
        with self._lock:
            current = self._gates.get(slot)
            if gate is False:
                if current is not None and current.off is None:
                    current.off = now
                return
            self._gates[slot] = _Gate(now, self._levels.get(slot, 0.0), hit=gate is None)

    def note(self, note: int, on: bool, now: float, values: ParamSnapshot) -> None:
        """A MIDI note: the envelopes whose trigger is `note` and whose note it is."""
        for slot in range(1, self.slots + 1):
            keys = SLOT_KEYS[slot]
            if (
                values.as_int(keys.shape) == ENVELOPE
                and TRIGGERS[values.as_int(keys.trigger)] == "note"
                and values.as_int(keys.note) == note
            ):
                self.fire(slot, now, on)

    # -- the frame step ----------------------------------------------------------------------

    def tick(
        self,
        now: float,
        timeline: Timeline,
        values: ParamSnapshot,
        spec_of: Callable[[str], ParamSpec | None],
    ) -> dict[str, float]:
        """The offset each target gets at `now` (target key -> offset in its own units), from
        the slots in `values`; `spec_of` gives the targets' ranges (a model's control: only
        while its model runs). Every frame: the rows are read straight from the snapshot."""
        beat = timeline.beat_at(now)
        last, self._last_beat = self._last_beat, beat
        raw: Any = values.as_dict()  # (checked rows: types as the table says)
        offsets: dict[str, float] = {}
        for slot in range(1, self.slots + 1):
            keys = SLOT_KEYS[slot]
            shape = raw[keys.shape]
            target = raw[keys.target]
            if not shape or not target:  # (0: off)
                continue
            key = target[1:].replace("/", ".")  # (stored as /group/name)
            spec = spec_of(key)
            if spec is None or not spec.numeric:  # (a control its model does not have)
                continue
            if shape == ENVELOPE:
                amount = self._envelope(slot, keys, now, timeline, last, raw)
            else:
                rate = raw[keys.rate]
                cycles = beat / rate if raw[keys.sync] else now * rate
                amount = wave(SHAPES[shape], cycles + raw[keys.phase], slot)
            swing = amount * raw[keys.depth] + raw[keys.offset]
            span = (spec.max - spec.min) if spec.min is not None and spec.max is not None else 1.0
            offsets[key] = offsets.get(key, 0.0) + swing * span
        return offsets

    def _envelope(
        self,
        slot: int,
        keys: SlotKeys,
        now: float,
        timeline: Timeline,
        last: float | None,
        raw: Any,
    ) -> float:
        beat = timeline.beat_at(now)
        trigger = TRIGGERS[raw[keys.trigger]]
        every = {"beat": 1.0, "bar": QUANTUM}.get(trigger)
        if every is not None and last is not None and beat >= last:
            crossed = math.floor(beat / every) > math.floor(last / every)
            if crossed:  # fired at the boundary itself, not at this frame
                self.fire(slot, min(now, timeline.time_at(math.floor(beat / every) * every)))
        adsr = Adsr(raw[keys.attack], raw[keys.decay], raw[keys.sustain], raw[keys.release])
        with self._lock:
            gate = self._gates.get(slot)
            if gate is None:
                level = 0.0
            else:
                off = gate.off
                if off is None and gate.hit:
                    off = gate.on + adsr.attack + adsr.decay
                if off is None or now < off:
                    level = adsr.level(now - gate.on, gate.start)
                else:
                    level = adsr.released(adsr.level(off - gate.on, gate.start), now - off)
                    if level == 0.0:
                        del self._gates[slot]
            self._levels[slot] = level
        return level


class SlotKeys(NamedTuple):
    """The row keys of one slot (`mod3.rate`, ...), made once: a frame reads them all."""

    shape: str
    target: str
    sync: str
    rate: str
    depth: str
    offset: str
    phase: str
    attack: str
    decay: str
    sustain: str
    release: str
    trigger: str
    note: str


SLOT_KEYS = {
    slot: SlotKeys(*(f"mod{slot}.{name}" for name in SlotKeys._fields))
    for slot in range(1, MOD_SLOTS + 1)
}
ENVELOPE = SHAPES.index("envelope")
