"""MIDI clock and notes through the whole command layer: the node follows a DAW's clock, a BPM
set by hand is refused while it rules, a note fires an envelope, and a port that goes keeps the
last tempo, said once (fake ports from the test module, real `mido.Message`s)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import pytest

pytest.importorskip("mido", reason="install the [midi] extra (make test does)")

import mido
from test_midi_clock import FakeMido

from node.control.commands import CommandError, NodeCommands
from node.midi.ports import MidiPorts
from node.state.params import ParamStore


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMido]:
    fake = FakeMido(["IAC Driver Bus 1", "nanoKONTROL2"])
    monkeypatch.setattr(mido, "get_input_names", fake.get_input_names)
    monkeypatch.setattr(mido, "open_input", fake.open_input)
    yield fake


def test_the_node_follows_a_midi_clock_and_notes_fire_envelopes(
    ports: FakeMido, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    params = ParamStore({"tempo.source": "midi", "process.tone_mix": 0.0})
    midi = MidiPorts("iac", clock=clock)
    midi.open()
    commands = NodeCommands(params, clock=clock, midi=midi)
    try:
        port = ports.port("IAC Driver Bus 1")
        assert [p.name for p in ports.opened] == ["IAC Driver Bus 1"]  # opened once
        rng = random.Random(3)
        port.send(mido.Message("start"))
        for n in range(24 * 8):  # 8 beats at 126 BPM, +-2 ms jitter, the frames in between
            clock.t = 500.0 + n * 60.0 / (126 * 24) + rng.uniform(-0.002, 0.002)
            port.send(mido.Message("clock"))
            if n % 3 == 0:
                commands.tick(clock.t)
        assert commands.get("tempo.bpm") == pytest.approx(126.0, abs=0.5)
        assert commands.tempo.beat_now() == pytest.approx(8.0, abs=0.05)
        with pytest.raises(CommandError, match="follows the MIDI clock"):
            commands.set_values({"tempo.bpm": 90})
        commands.set_values({"mod1.shape": "envelope", "mod1.target": "/process/tone_mix",
                             "mod1.trigger": "note", "mod1.note": 36, "mod1.depth": 1.0,
                             "mod1.attack": 0.0})  # fmt: skip
        port.send(mido.Message("note_on", note=36, velocity=100))
        commands.tick(clock.t + 0.01)
        assert commands.get("process.tone_mix") == pytest.approx(1.0, abs=0.1)
        port.send(mido.Message("note_on", note=36, velocity=0))  # (a note off, as many send)
        with caplog.at_level(logging.WARNING):  # the clock stops: its tempo stays, said once
            commands.tick(clock.t + 5.0)
            assert commands.get("process.tone_mix") == 0.0
            for n in range(60):
                commands.tick(clock.t + 5.0 + n * 0.1)
        said = [r.getMessage() for r in caplog.records if "no tick" in r.getMessage()]
        assert len(said) == 1 and "keeping 12" in said[0] and "BPM" in said[0]
        assert commands.get("tempo.bpm") == pytest.approx(126.0, abs=0.5)
        commands.set_values({"tempo.source": "internal"})  # notes still come (--midi-in)
        assert not port.closed
        commands.set_values({"tempo.bpm": 90})
        assert commands.tempo.beats.timeline(clock.t).bpm == 90
    finally:
        commands.tempo.close()
    assert port.closed


def test_without_midi_in_the_ports_open_with_the_midi_source_and_close_after(
    ports: FakeMido,
) -> None:
    commands = NodeCommands(ParamStore(), clock=Clock())
    assert ports.opened == []
    commands.set_values({"tempo.source": "midi"})
    assert {p.name for p in ports.opened} == {"IAC Driver Bus 1", "nanoKONTROL2"}  # all: '*'
    commands.set_values({"tempo.source": "tap"})
    assert all(p.closed for p in ports.opened)
    commands.tempo.close()


def test_no_midi_backend_is_one_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[str]:
        raise RuntimeError("MidiInAlsa::initialize: error creating ALSA sequencer client object.")

    monkeypatch.setattr(mido, "get_input_names", broken)
    commands = NodeCommands(ParamStore(), clock=Clock())
    with pytest.raises(CommandError, match="MIDI input is not available"):
        commands.set_values({"tempo.source": "midi"})
    assert commands.tempo.beats.source == "internal" and commands.get("tempo.source") == 0


def test_a_node_started_on_midi_without_a_backend_runs_on_its_own_clock(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[str]:
        raise RuntimeError("no ALSA sequencer")

    monkeypatch.setattr(mido, "get_input_names", broken)
    with caplog.at_level(logging.ERROR):
        commands = NodeCommands(ParamStore({"tempo.source": "midi"}), clock=Clock())
    assert commands.tempo.beats.source == "internal" and commands.get("tempo.source") == 0
    assert any("the internal clock runs" in r.getMessage() for r in caplog.records)
