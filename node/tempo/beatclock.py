"""The node's beat clock: one tempo source at a time (internal, tap, MIDI clock, Ableton Link)
and the timeline it gives, kept when the source goes quiet.

Each source is a small adapter with one shape (`BeatSource`). Switching sources carries the
beat over: the new source starts from where the old one was, and a source that has nothing to
say yet (no MIDI clock running, no taps) leaves the last timeline running. Losing a source (the
MIDI port gone, the last Link peer left) keeps the last tempo and is said once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from node.errors import UserError
from node.state.params import TEMPO_SOURCES
from node.tempo.tap import TapTempo
from node.tempo.timeline import Timeline, valid_bpm

log = logging.getLogger(__name__)


class BeatSource(Protocol):
    """Where beats come from. `timeline` None: nothing to say yet (the clock keeps its own)."""

    name: str

    def timeline(self, now: float) -> Timeline | None: ...

    def set_bpm(self, bpm: float, now: float) -> str | None:
        """Take a tempo set by hand; or say (one line) why this source cannot."""
        ...

    def poll(self, now: float) -> str | None:
        """A few times a second: a one-line news (lost, back) to log once, or None."""
        ...

    @property
    def peers(self) -> int: ...

    def close(self) -> None: ...


class InternalSource:
    """The node's own clock: the tempo set by hand (and where taps leave it)."""

    name = "internal"
    peers = 0

    def __init__(self, start: Timeline) -> None:
        self._timeline = start

    def timeline(self, now: float) -> Timeline | None:
        return self._timeline

    def set_bpm(self, bpm: float, now: float) -> str | None:
        self._timeline = self._timeline.with_bpm(bpm, now)
        return None

    def poll(self, now: float) -> str | None:
        return None

    def close(self) -> None:
        pass


class TapSource(InternalSource):
    """Tap tempo (`/tempo/tap`): the taps set the tempo and put the beat on them (the first
    tap of a run is the bar's one); between runs it runs on, as the internal clock."""

    name = "tap"

    def __init__(self, start: Timeline) -> None:
        super().__init__(start)
        self.taps = TapTempo()

    def tap(self, now: float) -> Timeline | None:
        found = self.taps.tap(now)
        if found is not None:
            self._timeline = found
        return found


SourceFactory = Callable[[Timeline, Callable[[], float]], BeatSource]


class BeatClock:
    """The current source and timeline. Thread-safe: the frame loop reads it each frame, the
    control surfaces switch sources, set tempos and tap."""

    def __init__(
        self,
        bpm: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        factories: dict[str, SourceFactory] | None = None,
    ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._last = Timeline(bpm, 0.0, clock())
        self._source: BeatSource = InternalSource(self._last)
        self._factories = factories or {}

    @property
    def source(self) -> str:
        return self._source.name

    @property
    def peers(self) -> int:
        return self._source.peers

    def timeline(self, now: float) -> Timeline:
        """The timeline now: the source's, or the last one it gave."""
        found = self._source.timeline(now)
        if found is not None and found is not self._last:
            with self._lock:
                self._last = found
        return self._last

    def use(self, name: str, now: float) -> None:
        """Switch to source `name` (one of TEMPO_SOURCES), carrying the beat over. A source
        that cannot start here (its extra not installed, no port) is a UserError and the old
        source stays."""
        if name not in TEMPO_SOURCES:
            raise UserError(f"tempo source is one of {', '.join(TEMPO_SOURCES)}, got {name!r:.40}")
        if name == self.source:
            return
        start = self.timeline(now)
        if name == "internal":
            new: BeatSource = InternalSource(start)
        elif name == "tap":
            new = TapSource(start)
        else:
            factory = self._factories.get(name)
            if factory is None:
                raise UserError(f"tempo source {name} is not available in this node")
            new = factory(start, self.clock)
        with self._lock:
            old, self._source = self._source, new
        old.close()
        log.info("tempo: from %s now (%.1f BPM)", name, start.bpm)

    def set_bpm(self, bpm: float, now: float) -> str | None:
        """Set the tempo by hand; a line saying why not (MIDI clock rules it), or None."""
        if not valid_bpm(bpm):
            return f"a tempo is 20..999 BPM, got {bpm!r:.40}"
        why = self._source.set_bpm(bpm, now)
        if why is None:
            self.timeline(now)
        return why

    def tap(self, now: float) -> Timeline | None:
        """A tap: switches an internal clock to tap tempo; refused (None) from MIDI or Link."""
        if self.source == "internal":
            self.use("tap", now)
        source = self._source
        if not isinstance(source, TapSource):
            return None
        found = source.tap(now)
        if found is not None:
            with self._lock:
                self._last = found
        return found

    def poll(self, now: float) -> str | None:
        return self._source.poll(now)

    def close(self) -> None:
        self._source.close()
