"""MIDI clock in: tempo and beat from a master's 24-a-beat clock ticks and its transport.

`MidiClock` is pure: `feed(message, t)` takes a message (anything with mido's `type` and, for
'songpos', `pos` attributes) and the instant it arrived, and never sleeps, so tests play exact
tick trains; it needs no mido. `MidiClockInput` is the part that opens real ports (mido with
python-rtmidi, the [midi] extra) and feeds a `MidiClock` from their threads.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from node.errors import UserError
from node.tempo.timeline import MAX_BPM, MIN_BPM, Timeline, valid_bpm

log = logging.getLogger(__name__)

PPQN = 24  # MIDI clock ticks a beat (a quarter note)
TICKS_PER_SONGPOS = 6  # a song position pointer counts 16th notes
WINDOW = 48  # ticks in the tempo fit: two beats
MIN_TICKS = 24  # ticks a fit needs before it gives a tempo (a beat)
LOST_S = 1.0  # running with no tick this long: the clock is lost
MIN_TICK_S = 60.0 / (MAX_BPM * PPQN)  # a tick closer to the last one is faster than any tempo
MAX_TICK_S = 60.0 / (MIN_BPM * PPQN)  # a tick further from the last one follows a break
STORM_RUN = 6  # too-close ticks in a row: a storm, not a USB packet holding two ticks
OUTLIER_FLOOR_S = 0.001  # residuals within this are never outliers (a clock with tiny jitter)
OUTLIER_MADS = 3.0  # a tick this many median absolute residuals off the line is an outlier
INLIERS = 0.75  # the share of the window a line must fit: a clear majority, not half of two

RELIST_S = 2.0  # MidiClockInput lists the ports at most this often
TRANSPORT = frozenset({"clock", "start", "stop", "continue", "songpos"})
NOT_FORWARDED = TRANSPORT | {"active_sensing"}  # a keep-alive three times a second: noise


class MidiMessage(Protocol):
    """What `MidiClock.feed` reads of a message: mido.Message has it."""

    @property
    def type(self) -> str: ...


# A tempo line: tick n falls at t_ref + slope * (n - n_ref).
_Line = tuple[int, float, float]


class MidiClock:
    """Tempo and song position from MIDI clock ticks (24 a beat) and transport messages.

    Tempo: a least-squares line of tick time against tick count over the last `WINDOW` ticks
    (two beats). Its start is robust (the median tick interval and the median offset); ticks
    off that line by more than `OUTLIER_MADS` median absolute residuals (or 1 ms when jitter is
    tiny; never half a tick or more) are left out, the line is fitted to the rest, and the
    outliers are judged once more against that fit. A fit is a few passes over 48 ticks,
    whatever arrives. A line must fit `INLIERS` (3/4) of the window, or the last one holds: a
    window half at one tempo and half at another (a tempo change, the end of a storm) reads
    as neither, not as a tempo between them. So a change of tempo is taken up once it fills
    most of the window: within two beats.

    Guards, so only a valid tempo is ever reported (`bpm` keeps the last good one):

    - a tick closer than 60/(999*24) s to the last is counted but not fitted (two ticks in one
      USB packet, or a storm); `STORM_RUN` of them in a row is a storm, and the fit starts
      afresh after it. A storm costs O(1) a tick. While it lasts the timeline goes on along
      the fitted line; the beat counts every tick, so once it ends the beat has moved on by the
      storm's ticks (the song position is lost, as on any slave; the next 'start' finds it).
    - a tick more than 60/(20*24) s after the last fitted one (the clock paused, or a master
      that sends ticks only while playing restarted) starts the fit afresh.
    - a fit whose tempo is out of range throws its window away.
    While a fresh fit has fewer than `MIN_TICKS` ticks, the last good tempo holds, anchored on
    the new ticks.

    Beat: follows ticks, 24 a beat. After 'start' the next tick is beat 0; 'songpos' sets the
    position of the next tick (in 16ths: beat = pos / 4); 'continue' plays on from there;
    'stop' holds the position (ticks then still refine the tempo but move no beat). Before any
    transport message the clock runs free: ticks count from the first one heard (a master that
    was already playing when the node started still drives the beat; its bar is unknown until
    the next 'start').
    """

    def __init__(self) -> None:
        self._window: deque[tuple[int, float]] = deque(maxlen=WINDOW)  # (tick count, time)
        self._count = -1  # ticks heard (any transport state): the fit's x axis
        self._last_tick: float | None = None  # the latest tick's time
        self._last_fitted: float | None = None  # the latest fitted tick's time
        self._short_run = 0  # ticks in a row too close to their previous one
        self._bpm: float | None = None
        self._line: _Line | None = None
        self._transport: str | None = None  # None (free), "running" or "stopped"
        self._next = 0  # the song position (ticks) the next played tick takes
        self._played: tuple[int, int] | None = None  # latest played tick: (count, position)
        self._cue: float | None = None  # when start/continue came, until its first tick
        self._lost_since: float | None = None  # the last tick, or start/continue after it

    @property
    def bpm(self) -> float | None:
        """The last good tempo, None until one is known."""
        return self._bpm

    @property
    def running(self) -> bool:
        """True while ticks move the beat: after start/continue until stop, or (before any
        transport message) once a tick has been heard."""
        if self._transport is None:
            return self._played is not None
        return self._transport == "running"

    def lost(self, now: float) -> bool:
        """Running, but no tick for `LOST_S`: the caller says so once and keeps the tempo
        (`timeline` goes on at the last tempo)."""
        return self.running and self._lost_since is not None and now - self._lost_since > LOST_S

    def feed(self, message: MidiMessage, t: float) -> None:
        """One message that arrived at `t`; anything but clock and transport is ignored."""
        kind = getattr(message, "type", None)
        if kind not in TRANSPORT or not math.isfinite(t):
            return
        if kind == "clock":
            self._tick(t)
        elif kind == "start":
            self._next = 0
            self._cue_at(t)
        elif kind == "continue":
            self._cue_at(t)
        elif kind == "stop":
            self._transport = "stopped"
            self._cue = None
        elif kind == "songpos":
            pos = getattr(message, "pos", None)
            if isinstance(pos, int) and 0 <= pos <= 0x3FFF:
                self._next = pos * TICKS_PER_SONGPOS

    def timeline(self, now: float) -> Timeline | None:
        """The beat timeline, anchored at `now`; None until a tempo is known.

        Running: the fitted line's position at the latest played tick (not the tick's own
        jittery arrival), carried on to `now` at the tempo; with no tick for a while it goes on
        at the last tempo. Right after start/continue, until the first tick: one tick before
        the cued position at the instant the message came, so the first tick lands on it.

        Stopped: the beat where it stopped (the position before the next tick; a song position
        set while stopped moves it) at `now`. A Timeline always moves on, so one taken while
        stopped is only right at `now`; callers check `running` and hold the beat.
        """
        if self._bpm is None:
            return None
        cued = (self._next - 1) / PPQN
        if not self.running:
            return Timeline(self._bpm, cued, now)
        if self._cue is not None:
            anchor = Timeline(self._bpm, cued, self._cue)
        elif self._played is not None and self._line is not None:
            count, position = self._played
            n_ref, t_ref, slope = self._line
            anchor = Timeline(self._bpm, position / PPQN, t_ref + slope * (count - n_ref))
        else:  # a tempo, running, and no tick played since: cannot happen; hold the cue
            return Timeline(self._bpm, cued, now)
        return Timeline(self._bpm, anchor.beat_at(now), now)

    def _cue_at(self, t: float) -> None:
        self._transport = "running"
        self._cue = t
        self._lost_since = t if self._last_tick is None else max(t, self._last_tick)

    def _tick(self, t: float) -> None:
        self._count += 1
        if self._transport != "stopped":
            self._played = (self._count, self._next)
            self._next += 1
            self._cue = None
        previous = self._last_tick
        self._last_tick = t if previous is None else max(previous, t)
        self._lost_since = self._last_tick
        if previous is not None and t - previous < MIN_TICK_S:
            self._short_run += 1  # counted above; its timing says nothing of the tempo
            return
        storm_over = self._short_run >= STORM_RUN
        self._short_run = 0
        if storm_over or self._last_fitted is None or t - self._last_fitted > MAX_TICK_S:
            self._window.clear()
        self._window.append((self._count, t))
        self._last_fitted = t
        self._refit()

    def _refit(self) -> None:
        points = list(self._window)
        if len(points) >= MIN_TICKS:
            line = _fit(points)
            if line is None:
                return  # no majority of the ticks agrees on a line: keep the one there is
            bpm = 60.0 / (PPQN * line[2]) if line[2] > 0 else math.inf
            if valid_bpm(bpm):
                self._bpm, self._line = bpm, line
                return
            # no tempo is this fast or slow: the window holds no clock; start it afresh
            self._window.clear()
            self._window.append(points[-1])
            points = points[-1:]
        if self._bpm is not None:  # hold the tempo, anchored on the ticks there are
            slope = 60.0 / (PPQN * self._bpm)
            n_ref = points[-1][0]
            t_ref = statistics.median(t - slope * (n - n_ref) for n, t in points)
            self._line = (n_ref, t_ref, slope)


def _fit(points: Sequence[tuple[int, float]]) -> _Line | None:
    """The tempo line through (tick count, time), outliers left out; None unless `INLIERS` of
    the ticks agree on one (half of them at one tempo and half at another agree on none)."""
    n_ref, t_ref = points[-1]  # centred on the latest tick: large clock values lose nothing
    xs = [float(n - n_ref) for n, _ in points]
    ys = [t - t_ref for _, t in points]
    slope = statistics.median((ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1))
    offset = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    for _ in range(2):  # judge against the robust start, then against the first fit
        keep = _inliers(xs, ys, slope, offset)
        if len(keep) < INLIERS * len(xs):
            return None
        fitted = _least_squares([xs[i] for i in keep], [ys[i] for i in keep])
        if fitted is None:
            return None
        slope, offset = fitted
    return (n_ref, t_ref + offset, slope)


def _inliers(xs: list[float], ys: list[float], slope: float, offset: float) -> list[int]:
    """The ticks near the line: within `OUTLIER_MADS` median absolute residuals (at least
    `OUTLIER_FLOOR_S`), and never half a tick or more off, which is nearer another tick's place
    (when nearly half the window is another clock, the median is no longer the jitter's)."""
    residuals = [abs(y - (offset + slope * x)) for x, y in zip(xs, ys, strict=True)]
    limit = max(OUTLIER_MADS * statistics.median(residuals), OUTLIER_FLOOR_S)
    limit = min(limit, 0.5 * abs(slope))
    return [i for i, r in enumerate(residuals) if r <= limit]


def _least_squares(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


class MidiClockInput:
    """Real MIDI input ports feeding a `MidiClock`, surviving ports that come and go.

    Opens every input whose name contains `match` (case-insensitive; "*" = all). Each port's
    callback (on rtmidi's thread) stamps the message with `clock()` and feeds the MidiClock
    under a lock; other messages (notes, controllers) go to `on_message(message, t)`, outside
    the lock. The owner calls `poll(now)` a few times a second: at most every `RELIST_S` it
    lists the ports, says once (WARNING) when one is gone while the last tempo is kept, and once
    (INFO) when it is back and reopened. Read the clock through this object's methods, which
    take the lock.
    """

    def __init__(
        self,
        match: str = "*",
        *,
        midi_clock: MidiClock | None = None,
        on_message: Callable[[Any, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import mido
        except ImportError as e:
            raise UserError("MIDI needs the [midi] extra: pip install 'pix2pix-node[midi]'") from e
        self._mido: Any = mido
        self.match = match
        self.midi_clock = midi_clock if midi_clock is not None else MidiClock()
        self.on_message = on_message
        self.clock = clock
        self._lock = threading.Lock()
        self._ports: dict[str, Any] = {}  # open ports by name
        self._gone: set[str] = set()  # names that vanished and are not back yet
        self._failed: set[str] = set()  # names whose open failed (said once)
        self._forward_failed = False
        self._closed = False
        try:
            names = self._matching()
        except Exception as e:  # rtmidi has no backend here (no ALSA sequencer, ...)
            raise UserError(f"MIDI input is not available: {e}") from e
        if not names:
            log.warning(
                "MIDI clock: no input port matches %r (there are: %s); waiting for one",
                match,
                ", ".join(self._safe_names()) or "none",
            )
        for name in names:
            self._open(name)
        self._listed = clock()

    # -- the clock, read under the lock ----------------------------------------------------

    def timeline(self, now: float) -> Timeline | None:
        with self._lock:
            return self.midi_clock.timeline(now)

    @property
    def bpm(self) -> float | None:
        with self._lock:
            return self.midi_clock.bpm

    @property
    def running(self) -> bool:
        with self._lock:
            return self.midi_clock.running

    def lost(self, now: float) -> bool:
        with self._lock:
            return self.midi_clock.lost(now)

    @property
    def ports(self) -> list[str]:
        """The names of the ports open now."""
        with self._lock:
            return sorted(self._ports)

    # -- ports --------------------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Notice ports that vanished or came back; lists them at most every `RELIST_S`."""
        if self._closed or now - self._listed < RELIST_S:
            return
        self._listed = now
        try:
            names = set(self._matching())
        except Exception as e:  # a listing that fails says nothing about the ports
            log.debug("MIDI clock: cannot list the input ports: %s", e)
            return
        for name in [n for n in self._ports if n not in names]:
            with self._lock:
                port = self._ports.pop(name)
                bpm = self.midi_clock.bpm
            _close(port)
            self._gone.add(name)
            if bpm is None:
                log.warning("MIDI clock: port %s is gone; no tempo yet", name)
            else:
                log.warning(
                    "MIDI clock: port %s is gone; keeping the last tempo %.1f BPM", name, bpm
                )
        for name in sorted(names - set(self._ports)):
            if self._open(name) and name in self._gone:
                self._gone.discard(name)
                log.info("MIDI clock: port %s is back", name)

    def close(self) -> None:
        """Close every port; the clock keeps what it heard."""
        self._closed = True
        with self._lock:
            ports = list(self._ports.values())
            self._ports.clear()
        for port in ports:
            _close(port)

    def __enter__(self) -> MidiClockInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _matching(self) -> list[str]:
        names = [str(n) for n in self._mido.get_input_names()]
        if self.match == "*":
            return names
        want = self.match.casefold()
        return [n for n in names if want in n.casefold()]

    def _safe_names(self) -> list[str]:
        try:
            return [str(n) for n in self._mido.get_input_names()]
        except Exception:
            return []

    def _open(self, name: str) -> bool:
        try:
            port = self._mido.open_input(name, callback=self._callback)
        except Exception as e:
            if name not in self._failed:  # said once; poll retries quietly
                self._failed.add(name)
                log.warning("MIDI clock: cannot open port %s: %s", name, e)
            return False
        self._failed.discard(name)
        with self._lock:
            self._ports[name] = port
        if name not in self._gone:
            log.info("MIDI clock: listening on port %s", name)
        return True

    def _callback(self, message: Any) -> None:
        t = self.clock()  # first: the lock may be held a moment
        kind = getattr(message, "type", None)
        if kind in TRANSPORT:
            with self._lock:
                self.midi_clock.feed(message, t)
        elif kind not in NOT_FORWARDED and self.on_message is not None:
            try:
                self.on_message(message, t)
            except Exception:  # on rtmidi's thread: an exception there would go nowhere
                if not self._forward_failed:
                    self._forward_failed = True
                    log.exception("MIDI clock: the message handler failed (said once)")


def _close(port: Any) -> None:
    try:
        port.close()
    except Exception as e:  # a port that vanished may not close cleanly
        log.debug("MIDI clock: closing a port: %s", e)
