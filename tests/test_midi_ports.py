"""The node's MIDI outputs and shared inputs without hardware: fake ports from this module,
real `mido.Message`s. Outputs open by a part of their name, follow a port unplugged and plugged
back (each said once), and a send that fails loses that port only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("mido", reason="install the [midi] extra (make test does)")

import mido
from test_midi_clock import FakeMido

from node.errors import UserError
from node.midi.ports import MidiOutputs, MidiPorts
from node.tempo.midiclock import RELIST_S


class FakeOut:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Any] = []
        self.closed = False
        self.broken = False

    def send(self, message: Any) -> None:
        if self.broken:
            raise OSError("device removed")
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


class FakeOutputs:
    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.opened: list[FakeOut] = []

    def get_output_names(self) -> list[str]:
        return list(self.names)

    def open_output(self, name: str) -> FakeOut:
        if name not in self.names:
            raise OSError(f"no port {name}")
        port = FakeOut(name)
        self.opened.append(port)
        return port

    def live(self, name: str) -> FakeOut:
        return [p for p in self.opened if p.name == name and not p.closed][-1]


class Now:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def outs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOutputs]:
    fake = FakeOutputs(["APC40 mkII 20:0", "Launchpad X 24:0", "Midi Through 14:0"])
    monkeypatch.setattr(mido, "get_output_names", fake.get_output_names)
    monkeypatch.setattr(mido, "open_output", fake.open_output)
    yield fake


def test_outputs_open_by_name_and_send_to_each(outs: FakeOutputs) -> None:
    out = MidiOutputs("apc40")
    assert out.ports == ["APC40 mkII 20:0"]
    out.send([mido.Message("control_change", control=7, value=99)])
    assert [m.value for m in outs.live("APC40 mkII 20:0").sent] == [99]
    every = MidiOutputs("*")
    assert len(every.ports) == 3


def test_an_unplugged_output_is_said_once_and_reopened_when_back(
    outs: FakeOutputs, caplog: pytest.LogCaptureFixture
) -> None:
    now = Now()
    out = MidiOutputs("launchpad", clock=now)
    outs.names.remove("Launchpad X 24:0")
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            now.t += RELIST_S
            out.poll(now.t)
            out.send([mido.Message("note_on", note=1, velocity=127)])  # (goes nowhere)
        assert out.ports == []
        outs.names.append("Launchpad X 24:0")
        now.t += RELIST_S
        out.poll(now.t)
    assert out.ports == ["Launchpad X 24:0"]
    out.send([mido.Message("note_on", note=1, velocity=127)])
    assert len(outs.live("Launchpad X 24:0").sent) == 1
    lines = [r.getMessage() for r in caplog.records if "Launchpad" in r.getMessage()]
    assert (
        len([x for x in lines if "gone" in x]) == 1 and len([x for x in lines if "back" in x]) == 1
    )


def test_a_send_that_fails_loses_that_port_only(
    outs: FakeOutputs, caplog: pytest.LogCaptureFixture
) -> None:
    out = MidiOutputs("*")
    outs.live("APC40 mkII 20:0").broken = True
    with caplog.at_level(logging.WARNING):
        for _ in range(100):
            out.send([mido.Message("control_change", control=1, value=3)])
    assert "APC40 mkII 20:0" not in out.ports and len(out.ports) == 2
    assert len(outs.live("Midi Through 14:0").sent) == 100
    assert len([r for r in caplog.records if "APC40" in r.getMessage()]) == 1


def test_shared_inputs_hand_every_message_to_each_listener(
    monkeypatch: pytest.MonkeyPatch, outs: FakeOutputs
) -> None:
    fake = FakeMido(["APC40 mkII 20:0"])
    monkeypatch.setattr(mido, "get_input_names", fake.get_input_names)
    monkeypatch.setattr(mido, "open_input", fake.open_input)
    ports = MidiPorts("apc", clock=Now())
    heard: list[tuple[str, str]] = []
    ports.listeners.append(lambda m, t: heard.append(("a", m.type)))
    ports.listeners.append(lambda m, t: heard.append(("b", m.type)))
    ports.open()
    assert ports.open_outputs() is not None  # (named like the inputs)
    fake.port("APC40 mkII 20:0").send(mido.Message("control_change", control=48, value=5))
    fake.port("APC40 mkII 20:0").send(mido.Message("clock"))  # (the clock's, not theirs)
    assert heard == [("a", "control_change"), ("b", "control_change")]
    assert ports.names() == (["APC40 mkII 20:0"], ["APC40 mkII 20:0"])
    ports.release()  # (--midi-in named them: they stay)
    assert ports.input is not None
    ports.close()
    assert ports.names() == ([], [])


def test_no_backend_is_one_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[str]:
        raise RuntimeError("MidiOutAlsa::initialize: error creating ALSA sequencer client object.")

    monkeypatch.setattr(mido, "get_output_names", broken)
    with pytest.raises(UserError, match="MIDI output is not available"):
        MidiOutputs("*")
