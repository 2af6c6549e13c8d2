"""The tempo room of the command layer: the beat clock and its source, changes held for the
beat, and the modulators' step - all run once per frame from `tick`, before the frame reads its
parameters.

The tempo rows (`/tempo/bpm`, `/tempo/source`, ...) are parameters like any other; a change to
the tempo or the source is taken by the clock first and refused with the reason when it cannot
be (MIDI clock rules the tempo; Link not installed). A tempo that comes from outside (taps, a
MIDI clock, a Link peer) is written back to `/tempo/bpm`, so every controller shows it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from node.control.commanderror import CommandError
from node.errors import UserError
from node.midi.ports import MidiPorts
from node.state.params import (
    MOD_SLOTS,
    TEMPO_SOURCES,
    ParamStore,
    number,
)
from node.tempo import sources
from node.tempo.beatclock import BeatClock, SourceFactory
from node.tempo.modulators import Modulators
from node.tempo.quantize import QuantizeError, Quantizer, quant_beats
from node.tempo.timeline import Timeline

log = logging.getLogger(__name__)

TEMPO = "tempo"  # the origin of the tempo rows the clock writes back
BPM_STEP = 0.05  # a tempo from outside is written back when it moved this much (a fitted
# MIDI clock moves by hundredths at every tick: feedback would flood for nothing)
TempoListener = Callable[[str, list[object]], None]  # (address, args): the beat, its phase, peers


class TempoCommands:
    """Beat clock, quantiser and modulators of one node."""

    def __init__(
        self,
        params: ParamStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        shown_latency: Callable[[], float] = lambda: 0.0,
        factories: dict[str, SourceFactory] | None = None,
        midi: MidiPorts | None = None,
    ) -> None:
        """`midi`: the node's MIDI ports (clock for the midi source, notes for the envelopes);
        `factories` replace the outside sources (a test's)."""
        self.params = params
        self.clock = clock
        self.shown_latency = shown_latency  # seconds from a frame's parameters to its outputs
        self.midi = midi or MidiPorts(clock=clock)
        self.midi.listeners.append(self._midi_message)
        if factories is None:
            factories = sources.factories(self.midi)
        self.beats = BeatClock(params.number("tempo.bpm"), clock, factories)
        self.quantizer = Quantizer()
        self.modulators = Modulators()
        self.listeners: list[TempoListener] = []  # the feedback hub: to every client
        self._beat: int | None = None
        self._peers = 0
        self._last_tick: float | None = None
        self._frame = 1.0 / 30.0  # the frame interval, measured from the ticks
        self._modulating = False
        source = TEMPO_SOURCES[int(params.number("tempo.source"))]
        if source != "internal":
            try:
                self.beats.use(source, clock())
            except UserError as exc:  # (the config asked for it: said at start, node runs)
                log.error("tempo: %s; the internal clock runs", exc)
                params.update({"tempo.source": 0}, TEMPO)

    # -- the tempo rows, set from any surface ----------------------------------------------

    def take(self, values: Mapping[str, object]) -> None:
        """Let the clock take the tempo rows among `values` before they are stored; a
        CommandError (nothing stored) when it cannot."""
        now = self.clock()
        if "tempo.source" in values:
            spec = self.params.spec("tempo.source")
            try:
                index = spec.coerce(values["tempo.source"])[0]
                self.beats.use(TEMPO_SOURCES[int(number("tempo.source", index))], now)
            except (UserError, ValueError) as exc:
                raise CommandError(str(exc)) from None
        if "tempo.bpm" in values:
            spec = self.params.spec("tempo.bpm")
            try:
                bpm = float(number("tempo.bpm", spec.coerce(values["tempo.bpm"])[0]))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            why = self.beats.set_bpm(bpm, now)
            if why is not None:
                raise CommandError(why)

    def tap(self) -> Timeline:
        now = self.clock()
        found = self.beats.tap(now)
        if found is None and self.beats.source not in ("internal", "tap"):
            raise CommandError(f"the tempo follows {self.beats.source}; tap needs source tap")
        timeline = self.beats.timeline(now)
        self._write_source()
        self._write_bpm(timeline.bpm, force=found is not None)
        return timeline

    # -- changes on the beat -----------------------------------------------------------------

    def every(self, quant: object | None, row: str = "tempo.quant") -> float:
        """Beats between the boundaries of `quant`, or of the node's default in `row`."""
        try:
            return quant_beats(self.params.get(row) if quant is None else quant)
        except QuantizeError as exc:
            raise CommandError(str(exc)) from None

    def at_beat(self, every: float, what: str, action: Callable[[], None]) -> float | None:
        """Run `action` on the next boundary of `every` beats (now when 0); the beat or None."""
        if every <= 0:
            action()
            return None
        now = self.clock()
        try:
            return self.quantizer.schedule(
                every, what, now, self.beats.timeline(now), self.lookahead(), action=action
            )
        except QuantizeError as exc:
            raise CommandError(str(exc)) from None

    def values_at_beat(
        self,
        every: float,
        values: Mapping[str, object],
        sender: str,
        setter: Callable[[dict[str, object]], None],
    ) -> float:
        """Set `values` on the next boundary; a sender's values for one beat wait as one."""
        now = self.clock()
        try:
            return self.quantizer.schedule(
                every, f"parameters from {sender}", now, self.beats.timeline(now),
                self.lookahead(), values=values, setter=setter,
            )  # fmt: skip
        except QuantizeError as exc:
            raise CommandError(str(exc)) from None

    def lookahead(self) -> float:
        """Seconds a change is made before its beat: the row's, or the measured latency."""
        ms = self.params.number("tempo.lookahead")
        return self.shown_latency() if ms < 0 else ms / 1000.0

    def seconds_of(self, beats: float) -> float:
        return beats * 60.0 / self.beats.timeline(self.clock()).bpm

    # -- modulators ----------------------------------------------------------------------------

    def fire(self, slot: int, gate: bool | None) -> None:
        if not 1 <= slot <= MOD_SLOTS:
            raise CommandError(f"modulators are mod1..mod{MOD_SLOTS}, got mod{slot}")
        self.modulators.fire(slot, self.clock(), gate)

    def _midi_message(self, message: Any, t: float) -> None:
        kind = getattr(message, "type", "")
        if kind in ("note_on", "note_off"):
            velocity = getattr(message, "velocity", 0)
            self.note(int(getattr(message, "note", 0)), kind == "note_on" and velocity > 0, t)

    def note(self, note: int, on: bool, t: float | None = None) -> None:
        """A MIDI note (any thread): the envelopes it triggers."""
        now = self.clock() if t is None else t
        self.modulators.note(note, on, now, self.params.bases())

    # -- the frame step ------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Once per frame: the clock's news, the beat, the changes due, the modulators."""
        now = self.clock() if now is None else now
        if self._last_tick is not None and 0 < now - self._last_tick < 1.0:
            self._frame += 0.1 * (now - self._last_tick - self._frame)
        self._last_tick = now
        if self.beats.source != "midi":
            self.midi.poll(now)  # (ports that come and go: notes, mappings, the lights)
        news = self.beats.poll(now)
        if news:  # (a source says each loss and each return once)
            log.warning("tempo: %s", news)
        timeline = self.beats.timeline(now)
        self._write_bpm(timeline.bpm)
        self.quantizer.tick(now, timeline, self.lookahead(), self._frame / 2.0)
        self._modulate(now, timeline)
        beat = math.floor(timeline.beat_at(now))
        if beat != self._beat:
            self._beat = beat
            self._tell("/tempo/beat", [beat])
            self._tell("/tempo/phase", [float(math.floor(timeline.phase_at(now)))])
        peers = self.beats.peers
        if peers != self._peers:
            self._peers = peers
            self._tell("/tempo/peers", [peers])

    def _tell(self, address: str, args: list[object]) -> None:
        for listener in list(self.listeners):
            listener(address, args)

    def _modulate(self, now: float, timeline: Timeline) -> None:
        offsets = self.modulators.tick(now, timeline, self.params.bases(), self.params.find)
        if offsets or self._modulating:
            self.params.modulate(offsets)
        self._modulating = bool(offsets)

    def _write_source(self) -> None:
        """The source row follows the clock (a tap switches the internal clock to tap)."""
        index = TEMPO_SOURCES.index(self.beats.source)
        if int(self.params.number("tempo.source")) != index:
            self.params.update({"tempo.source": index}, TEMPO)

    def _write_bpm(self, bpm: float, force: bool = False) -> None:
        shown = self.params.number("tempo.bpm")
        if force or abs(bpm - shown) >= BPM_STEP:
            self.params.update({"tempo.bpm": round(bpm, 2)}, TEMPO)

    # -- what controllers read -------------------------------------------------------------

    def beat_now(self) -> float:
        now = self.clock()
        return self.beats.timeline(now).beat_at(now)

    def phase_now(self) -> float:
        now = self.clock()
        return self.beats.timeline(now).phase_at(now)

    def peers(self) -> int:
        return self.beats.peers

    def close(self) -> None:
        self.beats.close()
        self.midi.close()
