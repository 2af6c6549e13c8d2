"""MIDI learn and mappings through a real node: a controller (fake ports from the test module,
real `mido.Message`s) learned over OSC, its moves through the same router as OSC, its lights
following every change but never echoing the control that moved, triggers, pickup, 14-bit,
profiles that a preset recall never clears, and the bad input of the issue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
pytest.importorskip("mido", reason="install the [midi] extra (make test does)")

import mido
from osc_helpers import Rig, round_trip, running_rigs, send
from test_midi_clock import FakeMido
from test_midi_ports import FakeOutputs

APC = "APC40 mkII 20:0"


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeMido, FakeOutputs]]:
    ins, outs = FakeMido([APC]), FakeOutputs([APC])
    monkeypatch.setattr(mido, "get_input_names", ins.get_input_names)
    monkeypatch.setattr(mido, "open_input", ins.open_input)
    monkeypatch.setattr(mido, "get_output_names", outs.get_output_names)
    monkeypatch.setattr(mido, "open_output", outs.open_output)
    yield ins, outs


@pytest.fixture
def rig(tmp_path: Path, controller: tuple[FakeMido, FakeOutputs]) -> Iterator[Rig]:
    with running_rigs(tmp_path) as make:
        rig = make()
        ports = rig.commands.tempo.midi  # (what --midi-in APC opens at start)
        ports.match, ports.match_out = "apc", "apc"
        ports.open()
        ports.open_outputs()
        rig.commands.midi.folder = tmp_path / "midi"
        yield rig


def play(controller: tuple[FakeMido, FakeOutputs], message: Any) -> None:
    controller[0].port(APC).send(message)


def cc(number: int, value: int, channel: int = 0) -> Any:
    return mido.Message("control_change", control=number, value=value, channel=channel)


def note(number: int, velocity: int = 100) -> Any:
    return mido.Message("note_on", note=number, velocity=velocity)


def lights(controller: tuple[FakeMido, FakeOutputs]) -> list[Any]:
    return controller[1].live(APC).sent


def learn(rig: Rig, controller: tuple[FakeMido, FakeOutputs], address: str, move: Any) -> None:
    send(rig, "/midi/learn", address)
    wait_for(lambda: rig.commands.midi.learner.armed == address, timeout=5)
    play(controller, move)
    rig.inbox.wait("/midi/learned", lambda a: a[0] == address, timeout=5)


def test_learn_a_fader_and_it_moves_the_parameter_at_once(
    rig: Rig, controller: tuple[FakeMido, FakeOutputs]
) -> None:
    learn(rig, controller, "/process/canny_t1", cc(7, 10))
    assert rig.params.get("process.canny_t1") == 1  # the learning move moves nothing
    play(controller, cc(7, 127))
    # stored before the callback returns: the next frame's snapshot has it
    assert rig.params.get("process.canny_t1") == 500
    rig.inbox.wait("/process/canny_t1", lambda a: a == [500])  # every OSC client hears it
    send(rig, "/midi/mappings")
    assert rig.inbox.wait("/midi/mappings") == [1, "cc 7 (channel 0) -> /process/canny_t1 absolute"]


def test_lights_follow_every_change_but_never_echo_the_control_that_moved(
    rig: Rig, controller: tuple[FakeMido, FakeOutputs]
) -> None:
    learn(rig, controller, "/process/canny_t2", cc(7, 0))
    learn(rig, controller, "/process/canny_t2", cc(8, 0))  # a second control, same address
    lights(controller).clear()
    send(rig, "/process/canny_t2", 250)  # from OSC: both controls show it, on the next frame
    wait_for(lambda: {m.control for m in lights(controller)} >= {7, 8}, timeout=5)
    assert {m.value for m in lights(controller) if m.control in (7, 8)} == {64}  # 250 of 500
    lights(controller).clear()
    play(controller, cc(7, 127))  # the fader moved: the other control follows, it does not
    wait_for(lambda: any(m.control == 8 for m in lights(controller)), timeout=5)
    time.sleep(0.2)  # (several frames: no echo comes late either)
    assert [m.control for m in lights(controller)] == [8]
    per_frame = len(lights(controller))
    for value in range(60):  # a flood of moves: at most one light a frame
        play(controller, cc(7, value))
    time.sleep(0.3)
    assert len(lights(controller)) - per_frame <= 0.3 * 35


def test_a_pad_triggers_a_command_and_a_toggle_shows_its_state(
    rig: Rig, controller: tuple[FakeMido, FakeOutputs]
) -> None:
    learn(rig, controller, "/node/preset/next", note(36))
    names = rig.commands.preset_names()
    play(controller, note(36))
    play(controller, mido.Message("note_off", note=36))
    wait_for(lambda: rig.commands._presets.last_recalled == names[0], timeout=5)
    play(controller, note(36))
    wait_for(lambda: rig.commands._presets.last_recalled == names[1], timeout=5)
    learn(rig, controller, "/process/invert", note(40))
    play(controller, note(40))
    assert rig.params.get("process.invert") is True
    lights(controller).clear()
    send(rig, "/process/invert", 0)  # from elsewhere: the pad's light goes off
    wait_for(lambda: any(m.type == "note_on" and m.note == 40 for m in lights(controller)))
    assert [m.velocity for m in lights(controller) if m.note == 40] == [0]


def test_pickup_and_a_14_bit_fader(rig: Rig, controller: tuple[FakeMido, FakeOutputs]) -> None:
    learn(rig, controller, "/process/canny_t1", cc(9, 0))
    send(rig, "/midi/mode", "/process/canny_t1", "pickup")
    send(rig, "/process/canny_t1", 250)
    round_trip(rig)
    play(controller, cc(9, 10))  # far below: not picked up, the value stays
    assert rig.params.get("process.canny_t1") == 250
    play(controller, cc(9, 70))  # passed over 250 (= 63.5): picked up, follows
    assert rig.params.get("process.canny_t1") == round(70 / 127 * 500)
    learn(rig, controller, "/predict/post_time_lerp", cc(1, 0))
    send(rig, "/midi/fine", "/predict/post_time_lerp", 1)
    round_trip(rig)
    play(controller, cc(1, 64))
    play(controller, cc(33, 64))  # the LSB: 14 bits
    assert rig.params.get("predict.post_time_lerp") == pytest.approx((64 * 128 + 64) / 16383)


def test_profiles_survive_preset_recalls_and_load_back(
    rig: Rig, controller: tuple[FakeMido, FakeOutputs]
) -> None:
    learn(rig, controller, "/process/canny_t1", cc(7, 0))
    send(rig, "/midi/save", "apc40")
    send(rig, "/node/preset/recall", "dreamy")
    round_trip(rig)
    assert len(rig.commands.midi.mappings()) == 1  # a recall never clears them
    send(rig, "/midi/forget")
    round_trip(rig)
    assert rig.commands.midi.mappings() == []
    send(rig, "/midi/load", "apc40")
    round_trip(rig)
    assert rig.commands.midi.mappings() == ["cc 7 (channel 0) -> /process/canny_t1 absolute"]
    send(rig, "/midi/profiles")
    assert rig.inbox.wait("/midi/profiles") == [1, "apc40"]


@pytest.mark.parametrize(
    ("address", "args", "why"),
    [
        ("/midi/learn", ["/process/nope"], "no parameter"),
        ("/midi/learn", ["/mod1/target"], "a text"),
        ("/midi/load", ["../../etc/passwd"], "not a plain name"),
        ("/midi/load", ["missing"], "missing"),
        ("/midi/mode", ["/process/canny_t1", "sideways"], "no control is mapped"),
        ("/midi/range", ["/process/canny_t1", "a", 2], "min and max are numbers"),
    ],
)
def test_bad_midi_requests_are_one_error(rig: Rig, address: str, args: list[Any], why: str) -> None:
    send(rig, address, *args)
    rig.inbox.wait("/node/error", lambda a: why in str(a[1]), timeout=5)


def test_a_sysex_flood_and_junk_change_nothing(
    rig: Rig, controller: tuple[FakeMido, FakeOutputs]
) -> None:
    learn(rig, controller, "/process/canny_t1", cc(7, 0))
    before = dict(rig.params.bases())
    start = time.perf_counter()
    for _ in range(2000):
        play(controller, mido.Message("sysex", data=[1] * 200))
        play(controller, mido.Message("aftertouch", value=3))
    assert time.perf_counter() - start < 2.0
    assert dict(rig.params.bases()) == before
    assert rig.node.pipeline is not None and not rig.node.pipeline.stopped.is_set()
