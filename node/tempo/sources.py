"""The outside tempo sources as `BeatSource`s: MIDI clock in (mido + python-rtmidi, the
`[midi]` extra) and Ableton Link (aalink, the `[link]` extra). Each is made only when chosen,
so a node without the extras runs with the internal and tap clocks and says what to install.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from node.midi.ports import MidiPorts
from node.tempo.beatclock import SourceFactory
from node.tempo.timeline import Timeline

log = logging.getLogger(__name__)


class MidiSource:
    """MIDI clock in: 24 ticks a beat from a DAW or a drum machine. It rules the tempo (a BPM
    set by hand is refused)."""

    name = "midi"
    peers = 0

    def __init__(self, ports: MidiPorts) -> None:
        self.ports = ports
        self.input = ports.open()
        self._lost_said = False

    def timeline(self, now: float) -> Timeline | None:
        return self.input.timeline(now)

    def set_bpm(self, bpm: float, now: float) -> str | None:
        return "the tempo follows the MIDI clock (set it on the sender, or pick another source)"

    def poll(self, now: float) -> str | None:
        self.ports.poll(now)
        lost = self.input.lost(now)
        if lost and not self._lost_said:
            self._lost_said = True
            bpm = self.input.bpm
            return f"MIDI clock: no tick for a second; keeping {bpm or 0:.1f} BPM"
        if not lost and self._lost_said and self.input.running:
            self._lost_said = False
            return f"MIDI clock: ticking again at {self.input.bpm or 0:.1f} BPM"
        return None

    def close(self) -> None:
        self.ports.release()


class LinkSource:
    """Ableton Link: the session's tempo and bar phase, shared with every peer on the network
    (Live, Traktor, Rekordbox, Resolume, phones); a BPM set here sets the session's."""

    name = "link"

    def __init__(self, start: Timeline) -> None:
        from node.tempo.link import LinkClock  # (aalink only when Link is chosen)

        self.link = LinkClock(start.bpm)

    @property
    def peers(self) -> int:
        return self.link.peers

    def timeline(self, now: float) -> Timeline | None:
        return self.link.timeline(now)

    def set_bpm(self, bpm: float, now: float) -> str | None:
        try:
            self.link.set_bpm(bpm)
        except (ValueError, RuntimeError) as exc:
            return str(exc)
        return None

    def poll(self, now: float) -> str | None:
        return self.link.poll(now)

    def close(self) -> None:
        self.link.close()


def factories(ports: MidiPorts) -> dict[str, SourceFactory]:
    """The outside sources a node can switch to, by name."""

    def midi(start: Timeline, clock: Callable[[], float] = time.monotonic) -> MidiSource:
        return MidiSource(ports)

    def link(start: Timeline, clock: Callable[[], float] = time.monotonic) -> LinkSource:
        return LinkSource(start)

    return {"midi": midi, "link": link}
