"""MIDI clock in: tempo and beat from tick trains at injected instants (no sleeps), and the
port handling of MidiClockInput against fake ports."""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

mido = pytest.importorskip("mido", reason="install the [midi] extra (make test does)")

from node.errors import UserError  # noqa: E402
from node.tempo.midiclock import (  # noqa: E402
    LOST_S,
    PPQN,
    WINDOW,
    MidiClock,
    MidiClockInput,
)
from node.tempo.timeline import Timeline, valid_bpm  # noqa: E402

T0 = 10_000.0  # a monotonic clock that has run a while
CLOCK = mido.Message("clock")
START = mido.Message("start")
STOP = mido.Message("stop")
CONTINUE = mido.Message("continue")


def tick_times(
    bpm: float, beats: float, *, start: float = T0, jitter: float = 0.0, seed: int = 0
) -> list[float]:
    rng = random.Random(seed)
    period = 60.0 / (bpm * PPQN)
    return [start + k * period + rng.uniform(-jitter, jitter) for k in range(round(beats * PPQN))]


def ticks(clock: MidiClock, times: list[float]) -> None:
    for t in times:
        clock.feed(CLOCK, t)


def beat(clock: MidiClock, now: float) -> float:
    timeline = clock.timeline(now)
    assert timeline is not None
    return timeline.beat_at(now)


# -- tempo -----------------------------------------------------------------------------------


def test_no_tempo_until_ticks_give_one() -> None:
    clock = MidiClock()
    assert clock.bpm is None and clock.timeline(T0) is None and not clock.running
    times = tick_times(120.0, 1)
    ticks(clock, times[:-1])  # 23 ticks: too few for a fit
    assert clock.bpm is None and clock.timeline(T0) is None
    clock.feed(CLOCK, times[-1])  # a beat's worth
    assert clock.bpm == pytest.approx(120.0)


@pytest.mark.parametrize("seed", range(5))
def test_jittery_clock_reads_within_half_a_bpm(seed: int) -> None:
    """+-2 ms jitter on every tick (a tick is 20.8 ms at 120 BPM): once the 2-beat window is
    full, every reading is within 0.5 BPM."""
    clock = MidiClock()
    errors = []
    for k, t in enumerate(tick_times(120.0, 16, jitter=0.002, seed=seed)):
        clock.feed(CLOCK, t)
        if k >= WINDOW:
            assert clock.bpm is not None
            errors.append(abs(clock.bpm - 120.0))
    assert max(errors) < 0.5, max(errors)


def test_the_beat_phase_follows_the_fit_not_the_last_jittery_tick() -> None:
    """The anchor is the fitted line's position: the beat at a tick's nominal instant is right
    within a fraction of the jitter, though that tick itself came up to 2 ms off."""
    clock = MidiClock()
    times = tick_times(120.0, 8, jitter=0.002, seed=3)
    clock.feed(START, T0 - 0.001)
    ticks(clock, times)
    nominal = T0 + (len(times) - 1) * 60.0 / (120.0 * PPQN)
    assert beat(clock, nominal) == pytest.approx((len(times) - 1) / PPQN, abs=0.002)  # 1 ms


def test_a_tempo_change_is_followed_within_two_beats() -> None:
    clock = MidiClock()
    old = tick_times(120.0, 4, jitter=0.002, seed=1)
    ticks(clock, old)
    assert clock.bpm == pytest.approx(120.0, abs=0.5)
    new = tick_times(140.0, 2, start=old[-1] + 60.0 / (140.0 * PPQN), jitter=0.002, seed=2)
    readings = []
    for t in new:
        clock.feed(CLOCK, t)
        assert clock.bpm is not None and 119.0 < clock.bpm < 141.0  # never overshoots
        readings.append(clock.bpm)
    assert readings[-1] == pytest.approx(140.0, abs=0.5)


def test_a_clock_that_resumes_after_a_pause_anchors_on_the_new_ticks() -> None:
    """A master that sends ticks only while playing: after 3 s of silence, the fit starts
    afresh, the last tempo holding until it has enough ticks."""
    clock = MidiClock()
    ticks(clock, tick_times(120.0, 4))
    resume = T0 + 10.0
    clock.feed(START, resume - 0.001)
    clock.feed(CLOCK, resume)
    assert clock.bpm == pytest.approx(120.0)
    assert beat(clock, resume) == pytest.approx(0.0, abs=1e-6)
    ticks(clock, tick_times(130.0, 2, start=resume)[1:])
    assert clock.bpm == pytest.approx(130.0, abs=0.01)
    assert beat(clock, resume + 60.0 / 130.0) == pytest.approx(1.0, abs=1e-6)


# -- transport -------------------------------------------------------------------------------


def test_start_makes_the_next_tick_beat_zero() -> None:
    clock = MidiClock()
    times = tick_times(120.0, 6)
    ticks(clock, times[:48])  # free running: ticks heard before any start
    assert clock.running
    start = times[47] + 0.005
    clock.feed(START, start)
    assert clock.running
    assert beat(clock, start) < 0.0  # before the first tick: not there yet
    ticks(clock, times[48:])
    assert beat(clock, times[48]) == pytest.approx(0.0, abs=1e-6)
    assert beat(clock, times[48 + 24]) == pytest.approx(1.0, abs=1e-6)
    assert beat(clock, times[-1]) == pytest.approx((len(times) - 1 - 48) / PPQN, abs=1e-6)
    timeline = clock.timeline(times[-1])
    assert timeline is not None and timeline.bpm == pytest.approx(120.0)


def test_stop_holds_the_beat_and_continue_plays_on_from_it() -> None:
    clock = MidiClock()
    times = tick_times(120.0, 8)
    clock.feed(START, T0 - 0.001)
    ticks(clock, times[:61])  # positions 0..60: beat 2.5 at the last
    clock.feed(STOP, times[60] + 0.001)
    assert not clock.running
    ticks(clock, times[61:150])  # a master that keeps its clock running while stopped
    for now in (times[61], times[149], times[149] + 5.0):
        assert beat(clock, now) == pytest.approx(60 / PPQN)  # where it stopped, any time later
    assert clock.bpm == pytest.approx(120.0)  # the tempo is still known
    assert not clock.lost(times[149] + 5.0)  # stopped: no beat to lose
    clock.feed(CONTINUE, times[149] + 0.001)
    assert clock.running
    ticks(clock, times[150:])
    assert beat(clock, times[150]) == pytest.approx(61 / PPQN, abs=1e-6)  # the next position
    assert beat(clock, times[-1]) == pytest.approx((61 + len(times) - 1 - 150) / PPQN, abs=1e-6)


def test_song_position_sets_where_continue_plays_from() -> None:
    clock = MidiClock()
    times = tick_times(120.0, 8)
    clock.feed(START, T0 - 0.001)
    ticks(clock, times[:30])
    clock.feed(STOP, times[29] + 0.001)
    clock.feed(mido.Message("songpos", pos=34), times[29] + 0.002)  # 34 16ths = beat 8.5
    assert beat(clock, times[40]) == pytest.approx(8.5 - 1 / PPQN)  # just before the cue
    clock.feed(CONTINUE, times[40] + 0.001)
    ticks(clock, times[41:])
    assert beat(clock, times[41]) == pytest.approx(8.5, abs=1e-6)
    assert beat(clock, times[41 + 12]) == pytest.approx(9.0, abs=1e-6)
    timeline = clock.timeline(times[41 + 12])
    assert timeline is not None and timeline.phase_at(times[41 + 12]) == pytest.approx(1.0)


def test_start_after_a_song_position_still_starts_at_zero() -> None:
    clock = MidiClock()
    times = tick_times(120.0, 3)
    clock.feed(mido.Message("songpos", pos=100), T0 - 0.002)
    clock.feed(START, T0 - 0.001)
    ticks(clock, times)
    assert beat(clock, times[24]) == pytest.approx(1.0, abs=1e-6)


# -- storms, silence, noise ------------------------------------------------------------------


def test_a_clock_storm_keeps_the_last_good_tempo() -> None:
    """5,000 ticks a second for a second (a MIDI loop): the tempo stays the last good one
    throughout, every reading valid, and the window never grows."""
    clock = MidiClock()
    good = tick_times(120.0, 4, jitter=0.002, seed=4)
    ticks(clock, good)
    before = clock.bpm
    assert before == pytest.approx(120.0, abs=0.5)
    storm_start = good[-1] + 0.01
    clock.feed(CLOCK, storm_start)  # its first tick may be a late tick of the clock: fitted
    assert clock.bpm == pytest.approx(before, abs=0.05)
    held = clock.bpm
    for k in range(1, 5000):
        clock.feed(CLOCK, storm_start + k * 0.0002)
        assert clock.bpm == held  # the rest is too fast to be a tick of any tempo: not fitted
        assert len(clock._window) <= WINDOW
    timeline = clock.timeline(storm_start + 1.0)
    assert timeline is not None and timeline.bpm == held
    # while it lasts, the timeline goes on along the fitted line, as if the storm were not there
    assert timeline.beat_at(storm_start + 1.0) == pytest.approx(
        (storm_start + 1.0 - T0) * 2.0, abs=0.02
    )
    # the storm ends, the master's clock goes on: read again within the target
    after = tick_times(120.0, 4, start=storm_start + 1.0 + 0.02, jitter=0.002, seed=5)
    for t in after:
        clock.feed(CLOCK, t)
        assert clock.bpm is not None and valid_bpm(clock.bpm)
    assert clock.bpm == pytest.approx(120.0, abs=0.5)


def test_a_ragged_storm_too_fast_for_any_tempo_never_reads_invalid() -> None:
    """Ticks at 1,200 BPM, every other one 1 ms late: half the intervals (3.1 ms) look like
    a tick of a valid tempo and reach the fit, whose tempo (1,200) is out of range: it is
    thrown away and the last good tempo stays, never an invalid one."""
    clock = MidiClock()
    good = tick_times(120.0, 4)
    ticks(clock, good)
    period = 60.0 / (1200.0 * PPQN)
    storm = [good[-1] + 0.02 + k * period + 0.001 * (k % 2) for k in range(40 * PPQN)]
    fitted = 0
    for t in storm:
        clock.feed(CLOCK, t)
        fitted += clock._window[-1][1] == t
        assert clock.bpm is not None and valid_bpm(clock.bpm)
        assert clock.bpm == pytest.approx(120.0, abs=0.05)
    assert fitted > len(storm) / 3  # the storm did reach the fit
    ticks(clock, tick_times(120.0, 3, start=storm[-1] + 0.05))
    assert clock.bpm == pytest.approx(120.0, abs=1e-6)


@pytest.mark.parametrize(
    ("rate", "count"), [(461.0, 2261), (515.0, 937), (751.0, 1293), (578.0, 82), (720.0, 65)]
)
def test_the_end_of_a_storm_does_not_read_as_a_tempo_in_between(rate: float, count: int) -> None:
    """A storm over 999 BPM whose every fourth tick is 3 ms late: those reach the fit. When it
    ends, the window holds storm and clock ticks; neither the storm's tempo nor one between
    the two is read: the tempo stays 120 throughout."""
    clock = MidiClock()
    good = tick_times(120.0, 4)
    ticks(clock, good)
    storm = [good[-1] + 0.01 + k / rate + 0.003 * (k % 4 == 0) for k in range(count)]
    after = tick_times(120.0, 4, start=max(storm) + 0.01)
    for t in [*sorted(storm), *after]:
        clock.feed(CLOCK, t)
        assert clock.bpm == pytest.approx(120.0, abs=0.05)


def test_after_a_short_storm_the_beat_follows_the_ticks_again() -> None:
    """100 ms of storm (500 ticks): the beat counts every tick, and the fit starts afresh on the
    clock's ticks after it, so the next tick is on its counted position at once."""
    clock = MidiClock()
    clock.feed(START, T0 - 0.001)
    good = tick_times(120.0, 4)
    ticks(clock, good)
    storm_start = good[-1] + 0.005
    ticks(clock, [storm_start + k * 0.0002 for k in range(500)])
    after = tick_times(120.0, 2, start=storm_start + 0.1 + 0.01)
    for k, t in enumerate(after):
        clock.feed(CLOCK, t)
        position = len(good) + 500 + k
        assert beat(clock, t) == pytest.approx(position / PPQN, abs=1e-6)
    assert clock.bpm == pytest.approx(120.0, abs=1e-6)


def test_lost_after_a_second_without_ticks() -> None:
    clock = MidiClock()
    times = tick_times(120.0, 2)
    clock.feed(START, T0 - 0.001)
    ticks(clock, times)
    assert not clock.lost(times[-1] + 0.9)
    assert clock.lost(times[-1] + LOST_S + 0.1)
    # lost keeps the last tempo: the beat goes on from the last tick at 120 BPM
    assert beat(clock, times[-1] + 2.0) == pytest.approx((len(times) - 1) / PPQN + 4.0, abs=1e-6)
    clock.feed(CLOCK, times[-1] + 1.5)
    assert not clock.lost(times[-1] + 1.6)


def test_lost_after_a_start_that_no_tick_follows() -> None:
    clock = MidiClock()
    clock.feed(START, T0)
    assert clock.running and not clock.lost(T0 + 0.5) and clock.lost(T0 + 1.5)


def test_messages_other_than_clock_and_transport_are_ignored() -> None:
    noisy, quiet = MidiClock(), MidiClock()
    noise = [
        mido.Message("note_on", note=60, velocity=100),
        mido.Message("note_off", note=60),
        mido.Message("control_change", control=7, value=3),
        mido.Message("pitchwheel", pitch=2000),
        mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("active_sensing"),
        mido.Message("program_change", program=5),
    ]
    times = tick_times(120.0, 3, jitter=0.002, seed=7)
    for clock in (noisy, quiet):
        clock.feed(START, T0 - 0.001)
    for k, t in enumerate(times):
        noisy.feed(noise[k % len(noise)], t - 0.0001)
        noisy.feed(CLOCK, t)
        quiet.feed(CLOCK, t)
    assert noisy.bpm == quiet.bpm and noisy.bpm is not None
    assert noisy.timeline(times[-1]) == quiet.timeline(times[-1])
    assert beat(noisy, times[-1]) == pytest.approx(beat(quiet, times[-1]))


def test_bad_song_positions_and_times_are_ignored() -> None:
    clock = MidiClock()
    clock.feed(START, T0 - 0.001)
    ticks(clock, tick_times(120.0, 2))
    before = clock.timeline(T0 + 1.0)

    class Odd:
        type = "songpos"
        pos = "twelve"

    clock.feed(Odd(), T0 + 1.0)
    clock.feed(CLOCK, float("nan"))
    clock.feed(START, float("inf"))
    assert clock.timeline(T0 + 1.0) == before


# -- MidiClockInput against fake ports -------------------------------------------------------


class FakePort:
    """What mido.open_input returns, as far as MidiClockInput uses it."""

    def __init__(self, name: str, callback: Callable[[Any], None]) -> None:
        self.name = name
        self.callback = callback
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def send(self, message: Any) -> None:
        """The device sends: rtmidi calls the callback (on its thread, here on ours)."""
        assert not self.closed
        self.callback(message)


class FakeMido:
    """The ports on the machine: a list that the test changes, and the ports opened on them."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.listings = 0
        self.opened: list[FakePort] = []

    def get_input_names(self) -> list[str]:
        self.listings += 1
        return list(self.names)

    def open_input(self, name: str, callback: Callable[[Any], None]) -> FakePort:
        if name not in self.names:
            raise OSError(f"no port {name}")
        port = FakePort(name, callback)
        self.opened.append(port)
        return port

    def port(self, name: str) -> FakePort:
        return [p for p in self.opened if p.name == name and not p.closed][-1]


class Now:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMido]:
    fake = FakeMido(["IAC Driver Bus 1", "Keyboard 20:0"])
    monkeypatch.setattr(mido, "get_input_names", fake.get_input_names)
    monkeypatch.setattr(mido, "open_input", fake.open_input)
    yield fake


def play_ticks(port: FakePort, now: Now, bpm: float, beats: float) -> None:
    for t in tick_times(bpm, beats, start=now.t):
        now.t = t
        port.send(CLOCK)


def test_input_opens_matching_ports_and_feeds_the_clock(ports: FakeMido) -> None:
    now = Now()
    midi = MidiClockInput("iac", clock=now)
    assert midi.ports == ["IAC Driver Bus 1"]
    port = ports.port("IAC Driver Bus 1")
    port.send(START)
    play_ticks(port, now, 120.0, 3)
    assert midi.bpm == pytest.approx(120.0)
    assert midi.running and not midi.lost(now.t)
    timeline = midi.timeline(now.t)
    assert isinstance(timeline, Timeline)
    assert timeline.beat_at(now.t) == pytest.approx((3 * PPQN - 1) / PPQN, abs=1e-6)
    midi.close()
    assert port.closed and midi.ports == []


def test_input_star_opens_every_port(ports: FakeMido) -> None:
    midi = MidiClockInput("*", clock=Now())
    assert midi.ports == ["IAC Driver Bus 1", "Keyboard 20:0"]
    midi.close()


def test_input_forwards_other_messages_with_their_time(ports: FakeMido) -> None:
    now = Now()
    heard: list[tuple[str, float]] = []
    midi = MidiClockInput("keyboard", clock=now, on_message=lambda m, t: heard.append((m.type, t)))
    port = ports.port("Keyboard 20:0")
    now.t = T0 + 1.0
    port.send(mido.Message("note_on", note=60, velocity=90))
    now.t = T0 + 1.5
    port.send(mido.Message("note_off", note=60))
    port.send(mido.Message("active_sensing"))  # keep-alive: not forwarded
    port.send(CLOCK)  # the clock's: not forwarded
    assert heard == [("note_on", T0 + 1.0), ("note_off", T0 + 1.5)]
    assert midi.midi_clock._count == 0  # the tick went to the clock
    midi.close()


def test_a_failing_message_handler_is_said_once(
    ports: FakeMido, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: Any, t: float) -> None:
        raise ValueError("boom")

    midi = MidiClockInput("keyboard", clock=Now(), on_message=broken)
    port = ports.port("Keyboard 20:0")
    with caplog.at_level(logging.WARNING, logger="node.tempo.midiclock"):
        for _ in range(5):
            port.send(mido.Message("note_on", note=60))
    assert len([r for r in caplog.records if "handler failed" in r.getMessage()]) == 1
    midi.close()


def test_a_vanished_port_is_said_once_and_reopened_when_it_returns(
    ports: FakeMido, caplog: pytest.LogCaptureFixture
) -> None:
    now = Now()
    midi = MidiClockInput("iac", clock=now)
    first = ports.port("IAC Driver Bus 1")
    play_ticks(first, now, 120.0, 2)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="node.tempo.midiclock"):
        ports.names.remove("IAC Driver Bus 1")
        for k in range(10):  # the owner polls five times a second
            midi.poll(now.t + 2.0 + k * 0.2)
        gone = [r for r in caplog.records if "is gone" in r.getMessage()]
        assert len(gone) == 1 and gone[0].levelno == logging.WARNING
        assert gone[0].getMessage() == (
            "MIDI clock: port IAC Driver Bus 1 is gone; keeping the last tempo 120.0 BPM"
        )
        assert first.closed and midi.ports == []
        assert midi.bpm == pytest.approx(120.0)  # the tempo is kept
        ports.names.append("IAC Driver Bus 1")
        for k in range(20):
            midi.poll(now.t + 4.0 + k * 0.2)
        back = [r for r in caplog.records if "is back" in r.getMessage()]
        assert len(back) == 1 and back[0].levelno == logging.INFO
        assert len([r for r in caplog.records if "is gone" in r.getMessage()]) == 1
    second = ports.port("IAC Driver Bus 1")
    assert second is not first and midi.ports == ["IAC Driver Bus 1"]
    now.t += 10.0
    play_ticks(second, now, 140.0, 3)  # the reopened port drives the clock
    assert midi.bpm == pytest.approx(140.0)
    midi.close()


def test_poll_lists_the_ports_at_most_every_two_seconds(ports: FakeMido) -> None:
    midi = MidiClockInput("iac", clock=Now())
    listed = ports.listings
    for k in range(50):
        midi.poll(T0 + k * 0.1)  # 5 s of polling, 10 times a second
    assert ports.listings - listed == 2  # at 2 s and 4 s
    midi.close()


def test_no_matching_port_is_waited_for(ports: FakeMido, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="node.tempo.midiclock"):
        midi = MidiClockInput("launchpad", clock=Now())
    assert midi.ports == []
    assert any("no input port matches" in r.getMessage() for r in caplog.records)
    ports.names.append("Launchpad X")
    midi.poll(T0 + 2.5)
    assert midi.ports == ["Launchpad X"]
    midi.close()


def test_no_midi_backend_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[str]:
        raise RuntimeError("MidiInAlsa::initialize: error creating ALSA sequencer client")

    monkeypatch.setattr(mido, "get_input_names", broken)
    with pytest.raises(UserError, match="MIDI input is not available"):
        MidiClockInput("*", clock=Now())


def test_without_mido_the_input_says_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mido", None)  # `import mido` raises ImportError
    with pytest.raises(UserError, match=r"\[midi\] extra"):
        MidiClockInput("*")
