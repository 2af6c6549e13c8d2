"""MIDI mapping, learn and profiles (node/midi/mapping.py, node/midi/files.py), fed real
`mido.Message`s: every mode and encoding, 14-bit pairs, pickup, toggles and triggers, curves and
ranges, the messages that show a value back, learning from each kind of message, and profile
files that are broken, huge, FIFOs or name addresses this node lacks."""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("mido", reason="install the [midi] extra (make test does)")

import mido

from node.control.namespace import NODE_ADDRESSES
from node.midi.files import (
    MAX_MAPPINGS,
    ProfileError,
    list_profiles,
    load_profile,
    profile_json,
    profile_path,
    save_profile,
)
from node.midi.mapping import (
    Action,
    Command,
    Control,
    Learner,
    Mapping,
    MappingEngine,
    MappingError,
    Number,
    SetValue,
    ticks,
)
from node.state.params import SPECS, ParamSpec

T = TypeVar("T")
COMMANDS = frozenset(a.path for a in NODE_ADDRESSES if a.incoming)
CC7 = Control("cc", 0, 7)
NOTE36 = Control("note", 9, 36)
BEND = Control("pitchbend", 0)


def cc(number: int, value: int, channel: int = 0) -> Any:
    return mido.Message("control_change", channel=channel, control=number, value=value)


def note_on(note: int, velocity: int = 100, channel: int = 9) -> Any:
    return mido.Message("note_on", channel=channel, note=note, velocity=velocity)


def note_off(note: int, channel: int = 9) -> Any:
    return mido.Message("note_off", channel=channel, note=note)


def bend(pitch: int, channel: int = 0) -> Any:
    return mido.Message("pitchwheel", channel=channel, pitch=pitch)


class Node:
    """The values a node holds, as the integrator would keep them: `current` reads them and
    `play` applies each SetValue, so the next message sees what the last one did."""

    def __init__(self, engine: MappingEngine, **values: Number) -> None:
        self.engine = engine
        self.values: dict[str, Number] = {f"/{k.replace('__', '/')}": v for k, v in values.items()}

    def current(self, address: str) -> Number | None:
        return self.values.get(address)

    def play(self, *messages: Any) -> list[Action]:
        done: list[Action] = []
        for message in messages:
            for action in self.engine.feed(message, self.current):
                if isinstance(action, SetValue):
                    self.values[action.address] = action.value
                done.append(action)
        return done

    def value(self, address: str) -> Number | None:
        return self.values.get(address)


def node(*mappings: Mapping, **values: Number) -> Node:
    return Node(MappingEngine(mappings), **values)


def only_value(actions: list[Action]) -> Number:
    assert len(actions) == 1 and isinstance(actions[0], SetValue), actions
    return actions[0].value


# -- absolute, curves, ranges, targets ------------------------------------------------------


def test_absolute_cc_covers_the_range_and_each_target_type() -> None:
    n = node(
        Mapping(CC7, "/process/accum_w1"),  # float 0..1
        Mapping(Control("cc", 0, 8), "/process/canny_t1"),  # int 0..500
        Mapping(Control("cc", 0, 9), "/process/invert"),  # bool
        Mapping(Control("cc", 0, 10), "/tempo/quant"),  # a menu of 5
    )
    assert only_value(n.play(cc(7, 127))) == 1.0
    assert only_value(n.play(cc(7, 0))) == 0.0
    assert only_value(n.play(cc(7, 64))) == pytest.approx(64 / 127)
    assert only_value(n.play(cc(8, 64))) == round(64 / 127 * 500) == 252
    assert isinstance(n.value("/process/canny_t1"), int)
    assert n.play(cc(9, 63)) == [SetValue("/process/invert", False, Control("cc", 0, 9))]
    assert only_value(n.play(cc(9, 64))) is True
    # a menu picks by range: 5 equal zones of the fader
    picked: list[Any] = [(n.play(cc(10, v)), n.value("/tempo/quant"))[1] for v in range(128)]
    assert [picked.count(i) for i in range(5)] == [26, 25, 26, 25, 26]
    assert picked[0] == 0 and picked[127] == 4 and picked == sorted(picked)


def test_absolute_sends_nothing_when_the_value_would_not_change() -> None:
    n = node(Mapping(Control("cc", 0, 8), "/process/pre_blur"), process__pre_blur=0)  # 0..50
    assert n.play(cc(8, 0)) == []
    assert n.play(cc(8, 1)) == []  # 1/127 * 50 rounds to 0 again
    assert only_value(n.play(cc(8, 2))) == 1


def test_ranges_and_curves() -> None:
    n = node(
        Mapping(CC7, "/process/accum_w1", min=0.2, max=0.8),
        Mapping(Control("cc", 0, 8), "/process/accum_w2", min=1.0, max=0.0),  # upside down
        Mapping(Control("cc", 0, 9), "/predict/pre_time_lerp", curve="exp"),
        Mapping(Control("cc", 0, 10), "/predict/post_time_lerp", curve="log"),
        Mapping(Control("cc", 0, 11), "/process/canny_t2", min=-100, max=1000),  # past 0..500
    )
    assert only_value(n.play(cc(7, 0))) == pytest.approx(0.2)
    assert only_value(n.play(cc(7, 127))) == pytest.approx(0.8)
    assert only_value(n.play(cc(8, 0))) == 1.0
    assert only_value(n.play(cc(8, 127))) == 0.0
    assert only_value(n.play(cc(9, 64))) == pytest.approx((64 / 127) ** 2)
    assert only_value(n.play(cc(10, 32))) == pytest.approx((32 / 127) ** 0.5)
    assert only_value(n.play(cc(11, 0))) == 0  # clamped into the parameter's own range
    assert only_value(n.play(cc(11, 127))) == 500


# -- 14-bit ---------------------------------------------------------------------------------


def test_14_bit_pair_is_combined_msb_then_lsb() -> None:
    n = node(Mapping(Control("cc", 0, 1), "/process/accum_w1", fine=True))
    raw = 12345
    n.play(cc(1, raw >> 7))
    assert n.value("/process/accum_w1") == pytest.approx((raw >> 7 << 7) / 16383)  # MSB, LSB 0
    n.play(cc(33, raw & 127))
    assert n.value("/process/accum_w1") == pytest.approx(raw / 16383)
    n.play(cc(33, 0))  # a fine move alone refines the last MSB
    assert n.value("/process/accum_w1") == pytest.approx((raw >> 7 << 7) / 16383)
    n.play(cc(1, 127), cc(33, 127))
    assert n.value("/process/accum_w1") == 1.0


def test_14_bit_msb_only_works_at_7_bits_and_an_early_lsb_is_ignored() -> None:
    n = node(Mapping(Control("cc", 2, 5), "/process/canny_t1", fine=True))
    assert n.play(cc(37, 99, channel=2)) == []  # an LSB before any MSB: nothing to refine
    assert n.play(cc(5, 64, channel=1)) == []  # another channel
    n.play(cc(5, 64, channel=2))
    assert n.value("/process/canny_t1") == round(64 * 128 / 16383 * 500)
    n.play(cc(5, 127, channel=2))
    assert n.value("/process/canny_t1") == round(127 * 128 / 16383 * 500)


def test_pitch_bend_is_14_bit() -> None:
    n = node(Mapping(BEND, "/process/canny_t1"))
    assert only_value(n.play(bend(-8192))) == 0
    assert only_value(n.play(bend(8191))) == 500
    assert only_value(n.play(bend(0))) == round(8192 / 16383 * 500)
    assert only_value(n.play(bend(4000))) == round(12192 / 16383 * 500)


def test_a_fine_mapping_claims_its_lsb_and_replaces_what_was_there() -> None:
    engine = MappingEngine([Mapping(Control("cc", 0, 33), "/process/invert")])
    replaced = engine.add(Mapping(Control("cc", 0, 1), "/process/accum_w1", fine=True))
    assert [m.address for m in replaced] == ["/process/invert"]
    assert [m.address for m in engine.mappings] == ["/process/accum_w1"]
    engine.add(Mapping(Control("cc", 0, 1), "/process/accum_w2"))  # the same control again
    assert [m.address for m in engine.mappings] == ["/process/accum_w2"]


# -- relative -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "table"),
    [
        ("twos", {1: 1, 63: 63, 127: -1, 65: -63, 64: -64, 0: 0}),
        ("offset", {65: 1, 127: 63, 63: -1, 0: -64, 64: 0}),
        ("sign", {1: 1, 63: 63, 65: -1, 127: -63, 64: 0, 0: 0}),
    ],
)
def test_encoder_encodings(encoding: Any, table: dict[int, int]) -> None:
    assert {raw: ticks(encoding, raw) for raw in table} == table
    n = node(Mapping(CC7, "/process/accum_w1", "relative", encoding), process__accum_w1=0.5)
    up = next(raw for raw, t in table.items() if t == 1)
    down = next(raw for raw, t in table.items() if t == -1)
    n.play(cc(7, up), cc(7, up), cc(7, up))
    assert n.value("/process/accum_w1") == pytest.approx(0.5 + 3 / 128)
    n.play(cc(7, down))
    assert n.value("/process/accum_w1") == pytest.approx(0.5 + 2 / 128)


def test_relative_clamps_steps_and_follows_an_outside_change() -> None:
    m = Mapping(CC7, "/process/accum_w1", "relative", step=0.25)
    n = node(m, process__accum_w1=0.6)
    n.play(cc(7, 1))
    assert n.value("/process/accum_w1") == pytest.approx(0.85)
    n.play(cc(7, 10))
    assert n.value("/process/accum_w1") == 1.0  # clamped
    n.values["/process/accum_w1"] = 0.1  # a preset
    n.play(cc(7, 127))
    assert n.value("/process/accum_w1") == 0.0  # from 0.1, not from 1.0
    n.play(cc(7, 64))  # -64 ticks
    assert n.value("/process/accum_w1") == 0.0


def test_relative_on_an_int_keeps_the_fraction_of_each_tick() -> None:
    n = node(Mapping(CC7, "/process/pre_blur", "relative"), process__pre_blur=0)  # 0..50
    moved = [n.play(cc(7, 1)) and n.value("/process/pre_blur") for _ in range(128)]
    assert n.value("/process/pre_blur") == 50  # 128 ticks cross the range, 50/128 a tick
    assert moved.count([]) > 0  # ticks that do not reach the next whole number send nothing


def test_relative_on_a_bool_and_a_menu() -> None:
    n = node(
        Mapping(CC7, "/process/invert", "relative"),
        Mapping(Control("cc", 0, 8), "/tempo/quant", "relative", step=0.2),
        process__invert=False,
        tempo__quant=0,
    )
    n.play(cc(7, 1))
    assert n.value("/process/invert") is True
    n.play(cc(7, 127))
    assert n.value("/process/invert") is False
    n.play(cc(8, 1))
    assert n.value("/tempo/quant") == 1
    n.play(cc(8, 2))
    assert n.value("/tempo/quant") == 3


# -- pickup ---------------------------------------------------------------------------------


def test_pickup_waits_for_the_fader_to_cross_the_value_and_again_after_a_preset() -> None:
    n = node(Mapping(CC7, "/process/accum_w1", "pickup"), process__accum_w1=0.5)
    assert n.play(cc(7, 0), cc(7, 20), cc(7, 50)) == []  # below it, not there yet
    assert n.value("/process/accum_w1") == 0.5
    n.play(cc(7, 70))  # passed over 0.5 (63.5) between two messages: picked up
    assert n.value("/process/accum_w1") == pytest.approx(70 / 127)
    n.play(cc(7, 100))
    assert n.value("/process/accum_w1") == pytest.approx(100 / 127)
    n.values["/process/accum_w1"] = 0.2  # a preset moves it: the fader must cross it again
    assert n.play(cc(7, 110), cc(7, 90), cc(7, 40)) == []
    assert n.value("/process/accum_w1") == 0.2
    n.play(cc(7, 20))  # 40 -> 20 passes 0.2 (25.4)
    assert n.value("/process/accum_w1") == pytest.approx(20 / 127)


def test_pickup_takes_a_fader_within_one_step_or_on_the_value() -> None:
    n = node(Mapping(CC7, "/process/accum_w1", "pickup"), process__accum_w1=0.5)
    assert n.play(cc(7, 65)) == []  # 0.512: more than a step off
    assert only_value(n.play(cc(7, 64))) == pytest.approx(64 / 127)  # within 1/127
    m = node(Mapping(CC7, "/process/invert", "pickup"), process__invert=True)
    assert m.play(cc(7, 10)) == []  # off: not the value it holds
    m.play(cc(7, 100))  # on, as the value: taken (nothing to change yet)
    assert only_value(m.play(cc(7, 5))) is False
    fresh = node(Mapping(CC7, "/process/accum_w1", "pickup"))  # nothing known: follows
    assert only_value(fresh.play(cc(7, 3))) == pytest.approx(3 / 127)


def test_pickup_on_14_bit_crosses_in_fine_steps() -> None:
    n = node(Mapping(BEND, "/process/accum_w1", "pickup"), process__accum_w1=0.5)
    assert n.play(bend(-4000), bend(-10)) == []
    n.play(bend(30))  # -10 -> 30 passes the middle
    assert n.value("/process/accum_w1") == pytest.approx((30 + 8192) / 16383)


# -- toggles and triggers -------------------------------------------------------------------


def test_a_note_toggles_a_bool_and_note_offs_do_nothing() -> None:
    n = node(Mapping(NOTE36, "/capture/freeze", "toggle"), capture__freeze=False)
    n.play(note_on(36))
    assert n.value("/capture/freeze") is True
    assert n.play(note_off(36), note_on(36, velocity=0)) == []  # both are note-offs
    assert n.play(note_on(37), note_on(36, channel=0)) == []  # other notes
    n.play(note_on(36, velocity=1))
    assert n.value("/capture/freeze") is False
    n.values["/capture/freeze"] = True  # OSC turned it on: the next press turns it off
    n.play(note_on(36))
    assert n.value("/capture/freeze") is False


def test_a_cc_toggle_flips_on_rising_past_64() -> None:
    n = node(Mapping(CC7, "/capture/freeze", "toggle"), capture__freeze=False)
    n.play(cc(7, 127))
    assert n.value("/capture/freeze") is True
    assert n.play(cc(7, 127), cc(7, 100)) == []  # held: no new press
    assert n.play(cc(7, 0)) == []  # released
    n.play(cc(7, 64))
    assert n.value("/capture/freeze") is False


def test_a_toggle_on_a_number_flips_between_the_ends_of_its_range() -> None:
    n = node(Mapping(NOTE36, "/process/canny_t1", "toggle", min=10, max=200))
    n.play(note_on(36))
    assert n.value("/process/canny_t1") == 200
    n.play(note_on(36))
    assert n.value("/process/canny_t1") == 10


def test_a_trigger_fires_once_per_press() -> None:
    n = node(
        Mapping(NOTE36, "/node/preset/recall", "trigger", args=("next",)),
        Mapping(CC7, "/tempo/tap", "trigger"),
    )
    fired = n.play(note_on(36), note_off(36), note_on(36, velocity=0), note_on(36))
    assert fired == [Command("/node/preset/recall", ("next",), NOTE36)] * 2
    taps = n.play(cc(7, 127), cc(7, 127), cc(7, 90), cc(7, 0), cc(7, 30), cc(7, 64))
    assert taps == [Command("/tempo/tap", (), CC7)] * 2


def test_every_action_says_which_control_made_it() -> None:
    fine = Control("cc", 3, 2)
    n = node(Mapping(fine, "/process/accum_w1", fine=True), Mapping(BEND, "/process/accum_w2"))
    actions = n.play(cc(2, 10, channel=3), cc(34, 5, channel=3), bend(100))
    assert [a.source for a in actions] == [fine, fine, BEND]  # the LSB too: the pair's control


def test_mappings_that_cannot_work_are_refused() -> None:
    with pytest.raises(MappingError, match="14-bit"):
        Mapping(NOTE36, "/process/accum_w1", fine=True)
    with pytest.raises(MappingError, match="14-bit"):
        Mapping(Control("cc", 0, 40), "/process/accum_w1", fine=True)
    with pytest.raises(MappingError, match="relative"):
        Mapping(BEND, "/process/accum_w1", "relative")
    with pytest.raises(MappingError, match="toggle"):
        Mapping(BEND, "/process/invert", "toggle")
    with pytest.raises(MappingError, match="channel"):
        Control("cc", 16, 1)
    with pytest.raises(MappingError, match="number"):
        Control("note", 0, 128)
    with pytest.raises(MappingError, match="step"):
        Mapping(CC7, "/process/accum_w1", "relative", step=0.0)


# -- feedback -------------------------------------------------------------------------------


def test_feedback_messages_show_the_value_on_each_kind_of_control() -> None:
    engine = MappingEngine(
        [
            Mapping(CC7, "/process/accum_w1"),
            Mapping(Control("cc", 1, 4), "/process/accum_w1", fine=True),
            Mapping(BEND, "/process/accum_w1"),
            Mapping(NOTE36, "/process/accum_w1", "toggle"),
            Mapping(Control("note", 9, 37), "/node/reset", "trigger"),
        ]
    )
    shown = engine.feedback("/process/accum_w1", 0.75)
    wide = round(0.75 * 16383)
    assert shown == [
        cc(7, round(0.75 * 127)),
        cc(4, wide >> 7, channel=1),
        cc(36, wide & 127, channel=1),
        bend(wide - 8192),
        note_on(36, 127),
    ]
    assert engine.feedback("/process/accum_w1", 0.25)[-1] == note_on(36, 0)
    assert engine.feedback("/node/reset", 1) == []  # a trigger shows nothing
    assert engine.feedback("/process/accum_w2", 0.5) == []  # nothing mapped
    assert engine.feedback("/process/accum_w1", "text") == []


def test_feedback_skips_the_control_that_sent_the_value() -> None:
    engine = MappingEngine([Mapping(CC7, "/process/invert"), Mapping(NOTE36, "/process/invert")])
    actions = engine.feed(cc(7, 127), lambda _: False)
    (action,) = actions
    assert isinstance(action, SetValue)
    shown = engine.feedback(action.address, action.value, skip=action.source)
    assert shown == [note_on(36, 127)]
    assert engine.feedback("/process/invert", False) == [cc(7, 0), note_on(36, 0)]


@pytest.mark.parametrize(
    ("mapping", "values"),
    [
        (Mapping(CC7, "/process/accum_w1"), [0.0, 0.1, 0.5, 0.77, 1.0]),
        (Mapping(CC7, "/process/accum_w1", curve="exp"), [0.0, 0.1, 0.5, 0.77, 1.0]),
        (Mapping(CC7, "/process/accum_w1", curve="log", min=0.9, max=0.1), [0.2, 0.5, 0.8]),
        (Mapping(CC7, "/process/canny_t1"), [0, 37, 250, 500]),
        (Mapping(CC7, "/process/pre_blur", curve="exp"), [0, 3, 17, 50]),
        (Mapping(CC7, "/tempo/quant"), [0, 1, 2, 3, 4]),
        (Mapping(CC7, "/tempo/quant", curve="log", min=1, max=3), [1, 2, 3]),
        (Mapping(CC7, "/process/invert"), [False, True]),
        (Mapping(NOTE36, "/process/invert", "absolute"), [True]),
        (Mapping(Control("cc", 0, 0), "/process/canny_t1", fine=True), [0, 1, 250, 499, 500]),
        (Mapping(BEND, "/process/accum_w1", curve="exp"), [0.0, 0.001, 0.5, 1.0]),
        (Mapping(CC7, "/process/accum_w1", "pickup"), [0.3]),
    ],
)
def test_feeding_the_feedback_gives_the_value_back(mapping: Mapping, values: list[Any]) -> None:
    spec = SPECS[mapping.key]
    lo = spec.min if mapping.min is None else mapping.min
    hi = spec.max if mapping.max is None else mapping.max
    for value in values:
        engine = MappingEngine([mapping])
        shown = engine.feedback(mapping.address, value)
        got: list[Action] = []
        for message in shown:
            got += engine.feed(message, lambda _: None)
        back = only_value(got[-1:])
        assert type(back) is type(spec.coerce(value)[0])
        if spec.type == "bool" or spec.choices:
            assert back == value, shown
            continue
        assert lo is not None and hi is not None
        # half a step of the control, at most twice as steep through a curve, and rounding
        slack = abs(hi - lo) / (16383 if mapping.wide else 127) + (0.5 if spec.type == "int" else 0)
        assert back == pytest.approx(value, abs=slack), (value, shown)


# -- SysEx and other messages ---------------------------------------------------------------


def test_sysex_and_other_messages_are_ignored_without_reading_their_data() -> None:
    engine = MappingEngine([Mapping(CC7, "/process/accum_w1")])
    learner = Learner(engine, COMMANDS)
    learner.arm("/process/accum_w2")
    flood = mido.Message("sysex", data=bytes(range(100)) * 1000)  # 100 KB
    others = [
        flood,
        mido.Message("clock"),
        mido.Message("aftertouch", value=3),
        mido.Message("polytouch", note=36, value=3),
        mido.Message("program_change", program=3),
        mido.Message("songpos", pos=3),
        mido.Message("active_sensing"),
    ]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            assert engine.feed(flood, lambda _: 0.5) == []
            assert learner.feed(flood) is None
        grown = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes for 2,000 SysEx messages of 100 KB"
    for message in others:
        assert engine.feed(message, lambda _: 0.5) == []
        assert learner.feed(message) is None
    assert learner.armed == "/process/accum_w2"
    assert engine.feed(cc(7, 127), lambda _: 0.5) != []  # the engine still works


# -- learn ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message", "pickup", "expected"),
    [
        ("/process/canny_t1", cc(7, 12), False, Mapping(CC7, "/process/canny_t1")),
        ("/process/canny_t1", cc(7, 12), True, Mapping(CC7, "/process/canny_t1", "pickup")),
        ("/tempo/quant", cc(7, 0), True, Mapping(CC7, "/tempo/quant", "pickup")),
        ("/process/invert", cc(7, 127), True, Mapping(CC7, "/process/invert")),
        ("/process/invert", note_on(36), False, Mapping(NOTE36, "/process/invert", "toggle")),
        ("/process/canny_t1", note_on(36), False, Mapping(NOTE36, "/process/canny_t1", "toggle")),
        ("/process/accum_w1", bend(-3), False, Mapping(BEND, "/process/accum_w1")),
        ("/process/accum_w1", bend(-3), True, Mapping(BEND, "/process/accum_w1", "pickup")),
        ("/model/style", cc(7, 3), False, Mapping(CC7, "/model/style")),
        ("/tempo/tap", note_on(36), False, Mapping(NOTE36, "/tempo/tap", "trigger")),
        ("/node/reset", cc(7, 127), False, Mapping(CC7, "/node/reset", "trigger")),
    ],
)
def test_learn_defaults(address: str, message: Any, pickup: bool, expected: Mapping) -> None:
    engine = MappingEngine()
    learner = Learner(engine, COMMANDS)
    learner.arm(address, pickup=pickup)
    assert learner.armed == address
    assert learner.feed(message) == expected
    assert learner.armed is None
    assert engine.mappings == (expected,)
    assert learner.feed(cc(8, 1)) is None  # disarmed: nothing more is learned


def test_learn_a_command_with_its_arguments_and_it_fires() -> None:
    engine = MappingEngine()
    learner = Learner(engine, COMMANDS)
    learner.arm("/node/preset/recall", args=["next"])
    assert learner.feed(bend(100)) is None  # no press in a pitch bend: still waiting
    learned = learner.feed(note_on(40))
    assert learned is not None and learned.args == ("next",)
    assert engine.feed(note_on(40), lambda _: None) == [
        Command("/node/preset/recall", ("next",), Control("note", 9, 40))
    ]


def test_learn_passes_over_what_names_no_control_and_replaces_the_control() -> None:
    engine = MappingEngine([Mapping(CC7, "/process/invert"), Mapping(BEND, "/process/canny_t2")])
    learner = Learner(engine, COMMANDS)
    learner.arm("/process/accum_w1")
    for message in [
        note_off(36),
        note_on(36, velocity=0),
        mido.Message("clock"),
        mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("aftertouch", value=9),
        mido.Message("polytouch", note=1, value=9),
    ]:
        assert learner.feed(message) is None
    assert learner.feed(cc(7, 40)) == Mapping(CC7, "/process/accum_w1")
    assert [m.address for m in engine.mappings] == ["/process/canny_t2", "/process/accum_w1"]
    learner.arm("/process/accum_w2")
    learner.disarm()
    assert learner.feed(cc(9, 1)) is None and len(engine.mappings) == 2


def test_learn_refuses_what_no_control_can_drive() -> None:
    learner = Learner(MappingEngine(), COMMANDS)
    with pytest.raises(MappingError, match="no parameter"):
        learner.arm("/nowhere/at_all")
    with pytest.raises(MappingError, match="no parameter"):
        learner.arm("/model/../x")
    with pytest.raises(MappingError, match="text"):
        learner.arm("/mod1/target")
    with pytest.raises(MappingError, match="without arguments"):
        learner.arm("/process/invert", args=["x"])
    with pytest.raises(MappingError, match="argument"):
        learner.arm("/node/preset/recall", args=["x" * 101])
    assert learner.armed is None


def test_a_model_control_moves_while_its_model_runs() -> None:
    style = ParamSpec("model", "style", "float", 0.0, 0.0, 2.0, "a model's control")
    running: dict[str, ParamSpec] = {}
    engine = MappingEngine(spec_of=lambda key: running.get(key) or SPECS.get(key))
    learner = Learner(engine, COMMANDS)
    learner.arm("/model/style")
    learner.feed(cc(7, 0))
    assert engine.feed(cc(7, 127), lambda _: None) == []  # no model with it runs
    running["model.style"] = style
    assert only_value(engine.feed(cc(7, 127), lambda _: None)) == 2.0
    assert engine.feedback("/model/style", 1.0) == [cc(7, 64)]


# -- profiles -------------------------------------------------------------------------------

EVERY_MODE = [
    Mapping(CC7, "/process/canny_t1", "pickup", min=10, max=200),
    Mapping(Control("cc", 0, 16), "/process/canny_t2", "relative", "offset", step=0.01),
    Mapping(Control("cc", 0, 17), "/process/pre_blur", "relative", "sign"),
    Mapping(Control("cc", 0, 18), "/process/post_blur", "relative"),
    Mapping(Control("cc", 0, 1), "/predict/post_time_lerp", fine=True, curve="exp"),
    Mapping(NOTE36, "/capture/freeze", "toggle"),
    Mapping(Control("note", 9, 37), "/node/preset/recall", "trigger", args=("next", 2, 0.5)),
    Mapping(BEND, "/process/tone_mix", min=0.8, max=0.2, curve="log"),
    Mapping(Control("cc", 15, 127), "/model/style"),
]


def guarded(work: Callable[[], T], seconds: float = 30.0) -> T:
    """Run `work` in a thread so that a regression (a read that blocks) fails, not hangs."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(("ok", work()))
        except BaseException as exc:
            box.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"still running after {seconds} s"
    kind, value = box[0]
    if kind == "raised":
        raise value
    return value  # type: ignore[no-any-return]


def test_a_profile_round_trips_every_mode(tmp_path: Path) -> None:
    path = profile_path("nanoKONTROL2", tmp_path / "midi")
    save_profile(path, EVERY_MODE)
    assert load_profile(path, COMMANDS) == (EVERY_MODE, [])
    text = path.read_text()
    assert len(text.splitlines()) == len(EVERY_MODE) + 5  # one mapping a line
    assert json.loads(text)["mappings"][0] == {
        "kind": "cc",
        "channel": 0,
        "number": 7,
        "address": "/process/canny_t1",
        "mode": "pickup",
        "min": 10,
        "max": 200,
    }
    save_profile(path, EVERY_MODE[:2])  # replaced whole, nothing left beside it
    assert load_profile(path, COMMANDS)[0] == EVERY_MODE[:2]
    assert sorted(p.name for p in path.parent.iterdir()) == ["nanoKONTROL2.json"]
    assert profile_json([]) == '{\n  "version": 1,\n  "mappings": []\n}\n'


def test_profiles_are_listed_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "midi"
    assert list_profiles(folder) == []
    for name in ["launchpad", "APC40", "nanoKONTROL2"]:
        save_profile(folder / f"{name}.json", EVERY_MODE[:1])
    (folder / ".hidden.json").write_text("{}")
    (folder / "notes.txt").write_text("")
    (folder / "-bad.json").write_text("{}")
    assert list_profiles(folder) == ["APC40", "launchpad", "nanoKONTROL2"]
    with pytest.raises(ProfileError, match="plain name"):
        profile_path("../etc/passwd", folder)
    with pytest.raises(ProfileError, match="plain name"):
        save_profile(folder / "..json", EVERY_MODE)


def test_an_unknown_address_is_dropped_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    entries = [
        {"kind": "cc", "channel": 0, "number": 1, "address": "/process/gone"},
        {"kind": "cc", "channel": 0, "number": 2, "address": "/process/canny_t1"},
        {"kind": "note", "channel": 0, "number": 3, "address": "/node/explode", "mode": "trigger"},
        {"kind": "note", "channel": 0, "number": 4, "address": "/tempo/tap", "mode": "trigger"},
    ]
    path.write_text(json.dumps({"version": 1, "mappings": entries}))
    mappings, warnings = load_profile(path, COMMANDS)
    assert [m.address for m in mappings] == ["/process/canny_t1", "/tempo/tap"]
    assert len(warnings) == 1, warnings
    assert "2 mapping(s)" in warnings[0] and "/process/gone" in warnings[0]
    assert "mappings[2] /node/explode" in warnings[0]
    assert load_profile(path, ())[0] == mappings[:1]  # a node without /tempo/tap drops it too


def test_later_mappings_of_a_control_win_and_unknown_fields_are_said(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    entries = [
        {"kind": "cc", "channel": 0, "number": 33, "address": "/process/canny_t1"},
        {"kind": "cc", "channel": 0, "number": 1, "address": "/process/canny_t2", "fine": True},
        {"kind": "cc", "channel": 0, "number": 2, "address": "/process/pre_blur", "curv": "exp"},
    ]
    path.write_text(json.dumps({"mappings": entries, "colour": "red"}))
    mappings, warnings = load_profile(path, COMMANDS)
    assert [m.address for m in mappings] == ["/process/canny_t2", "/process/pre_blur"]
    assert len(warnings) == 2
    assert "mappings[1] replaces cc 33" in warnings[0]
    assert "colour" in warnings[1] and "mappings[2].curv" in warnings[1]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"mappings": [{"kind": "cc", "channel": 16, "number": 1, "address": "/process/invert"}]},
         "mappings[0].channel"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1}]}, "mappings[0].address"),
        ({"mappings": [{"kind": "knob", "channel": 0, "number": 1, "address": "/process/invert"}]},
         "mappings[0].kind"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1.0, "address": "/process/invert"}]},
         "mappings[0].number"),
        ({"mappings": [{"kind": "pitchbend", "channel": 0, "number": 1, "address": "/a/b"}]},
         "mappings[0].number"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert",
                        "mode": "sticky"}]}, "mappings[0].mode"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert",
                        "step": 0}]}, "mappings[0].step"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert",
                        "min": "low"}]}, "mappings[0].min"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert",
                        "args": [[1]]}]}, "mappings[0].args"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/node/reset"}]},
         "mappings[0].mode"),
        ({"mappings": [{"kind": "cc", "channel": 0, "number": 1, "address": "/mod1/target"}]},
         "mappings[0].address"),
        ({"mappings": [{"kind": "note", "channel": 0, "number": 1, "address": "/process/invert",
                        "fine": True}]}, "mappings[0]"),
        ({"mappings": [None]}, "mappings[0]"),
        ({"mappings": {}}, "mappings"),
        ({"version": 2, "mappings": []}, "version"),
        ({"version": 1}, "mappings"),
    ],
)  # fmt: skip
def test_a_broken_profile_names_its_file_and_field(
    tmp_path: Path, data: dict[str, Any], field: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError) as caught:
        load_profile(path, COMMANDS)
    message = str(caught.value)
    assert str(path) in message and field in message, message
    assert "\n" not in message and len(message) < 400, message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{"mappings": [', "not valid JSON"),
        (b"[]", "a JSON object"),
        (b'{"mappings": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"version": ' + b"9" * 5000 + b"}", "cannot read"),  # past int's 4,300 digits
        (b'{"mappings": []}\xff\xfe', "cannot read"),  # not UTF-8
    ],
)
def test_a_file_that_is_no_profile_is_one_line(tmp_path: Path, data: bytes, needle: str) -> None:
    path = tmp_path / "junk.json"
    path.write_bytes(data)
    with pytest.raises(ProfileError, match=needle) as caught:
        load_profile(path, COMMANDS)
    assert "\n" not in str(caught.value)


def test_too_many_mappings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    entry = {"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert"}
    path.write_text(json.dumps({"mappings": [entry] * (MAX_MAPPINGS + 1)}))
    with pytest.raises(ProfileError, match="at most 1024"):
        load_profile(path, COMMANDS)
    with pytest.raises(ProfileError, match="at most 1024"):
        save_profile(tmp_path / "many.json", [EVERY_MODE[0]] * (MAX_MAPPINGS + 1))


def test_a_fifo_dev_zero_and_10_mb_are_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ProfileError, match="not a regular file"):
        guarded(lambda: load_profile(fifo, COMMANDS))
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(ProfileError, match="not a regular file"):
        guarded(lambda: load_profile(zero, COMMANDS))
    huge = tmp_path / "huge.json"
    entry = json.dumps({"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert"})
    huge.write_text('{"mappings": [' + ", ".join([entry] * 150_000) + "]}")
    assert huge.stat().st_size > 10_000_000
    with pytest.raises(ProfileError, match="larger than 256 KiB"):
        load_profile(huge, COMMANDS)
    with pytest.raises(ProfileError, match="no such"):
        load_profile(tmp_path / "missing.json", COMMANDS)
