"""Modulators: LFO shapes and phase, envelopes, several on one parameter, a fader that moves
the centre, what feedback hears, presets and morphs that carry them - on an injected clock."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from node.control.commands import CommandError, NodeCommands
from node.state.params import (
    MODULATOR,
    SHAPES,
    SPECS,
    Origin,
    ParamError,
    ParamSpec,
    ParamStore,
    Value,
)
from node.state.presets import PresetLibrary
from node.tempo.modulators import Adsr, Modulators, noise, wave
from node.tempo.timeline import Timeline


class Clock:
    def __init__(self, t: float = 50.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "points"),
    [
        ("sine", {0.0: 0.0, 0.25: 1.0, 0.5: 0.0, 0.75: -1.0}),
        ("triangle", {0.0: 0.0, 0.125: 0.5, 0.25: 1.0, 0.5: 0.0, 0.75: -1.0}),
        ("saw", {0.0: 0.0, 0.25: 0.5, 0.499: 0.998, 0.5: -1.0, 0.75: -0.5}),
        ("square", {0.0: 1.0, 0.49: 1.0, 0.5: -1.0, 0.99: -1.0}),
    ],
)
def test_lfo_shapes_at_known_phases(shape: str, points: dict[float, float]) -> None:
    for phase, expected in points.items():
        for cycle in (0, 3, -2):  # every cycle alike
            assert wave(shape, cycle + phase) == pytest.approx(expected, abs=1e-9), (shape, phase)


def test_random_shapes_hold_or_glide_per_cycle_and_repeat() -> None:
    draws = [wave("sample_hold", n + 0.3, slot=2) for n in range(200)]
    assert all(-1.0 <= d <= 1.0 for d in draws)
    assert len({round(d, 9) for d in draws}) > 190  # a new number each cycle
    assert wave("sample_hold", 7.1, 2) == wave("sample_hold", 7.9, 2) == noise(2, 7)
    assert wave("sample_hold", 7.1, 3) != wave("sample_hold", 7.1, 2)  # slots differ
    # smooth random: from one cycle's number to the next's, with no jump at the seam
    assert wave("smooth_random", 7.0, 2) == pytest.approx(noise(2, 7))
    assert wave("smooth_random", 7.9999, 2) == pytest.approx(noise(2, 8), abs=1e-6)
    assert abs(np_max_step("smooth_random")) < 0.01
    assert abs(np_max_step("sample_hold")) > 0.5


def np_max_step(shape: str) -> float:
    values = [wave(shape, n / 1000.0, 1) for n in range(5000)]
    return max(abs(b - a) for a, b in itertools.pairwise(values))


def test_adsr_levels() -> None:
    adsr = Adsr(attack=0.1, decay=0.2, sustain=0.5, release=0.4)
    assert adsr.level(0.0) == 0.0
    assert adsr.level(0.05) == pytest.approx(0.5)
    assert adsr.level(0.1) == pytest.approx(1.0)
    assert adsr.level(0.2) == pytest.approx(0.75)
    assert adsr.level(5.0) == pytest.approx(0.5)
    assert adsr.released(0.5, 0.2) == pytest.approx(0.25)
    assert adsr.released(0.5, 0.4) == 0.0
    assert adsr.level(0.05, start=0.6) == pytest.approx(0.8)  # a retrigger rises from where it was
    assert Adsr(0.0, 0.0, 0.3, 0.0).level(0.0) == pytest.approx(0.3)  # (zero times: no division)


# -- the bank on a store ---------------------------------------------------------------------


def slot(store: ParamStore, n: int, **values: object) -> None:
    store.update({f"mod{n}.{k}": v for k, v in values.items()})


def step(bank: Modulators, store: ParamStore, now: float, timeline: Timeline) -> None:
    store.modulate(bank.tick(now, timeline, store.bases(), store.find))


def test_a_synced_sine_swings_a_parameter_around_its_fader() -> None:
    store, bank = ParamStore(), Modulators()
    timeline = Timeline(120.0, 0.0, 0.0)  # a beat each half second
    store.set("process.canny_t1", 250)
    slot(store, 1, shape="sine", target="/process/canny_t1", rate=4.0, depth=0.2)
    step(bank, store, timeline.time_at(1.0), timeline)  # a quarter of its 4-beat cycle: the top
    assert store.get("process.canny_t1") == 350  # 250 + 0.2 x 500
    assert store.bases()["process.canny_t1"] == 250  # what the fader set stays the centre
    step(bank, store, timeline.time_at(3.0), timeline)
    assert store.get("process.canny_t1") == 150
    store.set("process.canny_t1", 400)  # a fader moved by hand: the new centre
    assert store.get("process.canny_t1") == 300  # (it swings down just now)
    step(bank, store, timeline.time_at(5.0), timeline)
    assert store.get("process.canny_t1") == 500  # 400 + 100, clamped to 500


def test_rate_in_hz_without_sync_and_phase() -> None:
    store, bank = ParamStore(), Modulators()
    timeline = Timeline(120.0, 0.0, 0.0)
    slot(store, 2, shape="square", target="predict.post_time_lerp", sync=False, rate=2.0,
         depth=0.5, phase=0.5)  # fmt: skip
    step(bank, store, 10.1, timeline)  # 2 Hz: 20.2 cycles + half a cycle: the low half
    assert store.get("predict.post_time_lerp") == pytest.approx(0.0)
    step(bank, store, 10.3, timeline)
    assert store.get("predict.post_time_lerp") == pytest.approx(1.0)


def test_several_modulators_on_one_parameter_add_up_and_are_clamped() -> None:
    store, bank = ParamStore(), Modulators()
    timeline = Timeline(120.0, 0.0, 0.0)
    store.set("predict.post_time_lerp", 0.5)
    slot(store, 1, shape="square", target="/predict/post_time_lerp", depth=0.2)
    slot(store, 2, shape="square", target="/predict/post_time_lerp", depth=0.1, offset=0.05)
    step(bank, store, timeline.time_at(0.5), timeline)
    assert store.get("predict.post_time_lerp") == pytest.approx(0.5 + 0.2 + 0.1 + 0.05)
    slot(store, 3, shape="square", target="/predict/post_time_lerp", depth=1.0)
    step(bank, store, timeline.time_at(0.5), timeline)
    assert store.get("predict.post_time_lerp") == 1.0  # clamped to the range
    slot(store, 1, shape="off")
    slot(store, 2, shape="off")
    slot(store, 3, target="")
    step(bank, store, timeline.time_at(0.5), timeline)
    assert store.get("predict.post_time_lerp") == 0.5 and not store.moved()  # let go


def test_an_int_target_is_rounded_and_listeners_hear_the_moved_value() -> None:
    store, bank = ParamStore(), Modulators()
    heard: list[tuple[str, Value, str]] = []
    store.add_listener(lambda spec, value, origin: heard.append((spec.key, value, origin.name)))
    timeline = Timeline(120.0, 0.0, 0.0)
    slot(store, 1, shape="triangle", target="/process/pre_median", rate=1.0, depth=0.1)
    heard.clear()
    step(bank, store, timeline.time_at(0.125), timeline)  # 0.5 x 0.1 x 50 = 2.5 -> 1 + 2.5
    assert store.get("process.pre_median") == 4 and isinstance(store.get("process.pre_median"), int)
    assert heard == [("process.pre_median", 4, MODULATOR)]
    assert store.snapshot()["process.pre_median"] == 4  # what the frame reads


def test_an_envelope_fired_by_osc_a_beat_and_a_note() -> None:
    store, bank = ParamStore(), Modulators()
    timeline = Timeline(120.0, 0.0, 0.0)
    slot(store, 4, shape="envelope", target="/process/tone_mix", depth=1.0, attack=0.1,
         decay=0.1, sustain=0.5, release=0.2, trigger="osc")  # fmt: skip
    store.set("process.tone_mix", 0.0)
    step(bank, store, 1.0, timeline)
    assert store.get("process.tone_mix") == 0.0  # not fired
    bank.fire(4, 1.0, gate=True)
    step(bank, store, 1.05, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.5)  # half way up
    step(bank, store, 2.0, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.5)  # sustained while held
    bank.fire(4, 2.0, gate=False)
    step(bank, store, 2.1, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.25)
    step(bank, store, 2.3, timeline)
    assert store.get("process.tone_mix") == 0.0
    bank.fire(4, 3.0)  # a hit (a bang): up, down to sustain, and released by itself
    step(bank, store, 3.2, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.5)
    step(bank, store, 3.5, timeline)
    assert store.get("process.tone_mix") == 0.0
    slot(store, 4, trigger="bar")  # each bar: beat 8 at 4.0 s
    step(bank, store, 3.99, timeline)
    step(bank, store, 4.05, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.5)  # fired at the bar itself
    slot(store, 4, trigger="note", note=62)
    step(bank, store, 10.0, timeline)
    bank.note(61, True, 10.0, store.bases())
    step(bank, store, 10.2, timeline)
    assert store.get("process.tone_mix") == 0.0  # another note
    bank.note(62, True, 10.2, store.bases())
    step(bank, store, 10.25, timeline)
    assert store.get("process.tone_mix") == pytest.approx(0.5)


def test_a_model_control_is_a_target_while_its_model_runs() -> None:
    store, bank = ParamStore(), Modulators()
    timeline = Timeline(120.0, 0.0, 0.0)
    slot(store, 1, shape="sine", target="/model/gain", depth=0.5)
    step(bank, store, timeline.time_at(1.0), timeline)  # no such control yet: it rests
    assert not store.moved()
    gain = ParamSpec("model", "gain", "float", 1.0, 0.0, 2.0, "a model's gain")
    store.set_controls([gain])
    step(bank, store, timeline.time_at(1.0), timeline)
    assert store.get("model.gain") == pytest.approx(2.0)
    store.set_controls([])  # swapped away: gone, and nothing is moved
    step(bank, store, timeline.time_at(1.0), timeline)
    assert not store.moved()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/process/invert", "a bool"),
        ("/process/nope", "is none"),
        ("/tempo/bpm", "is none"),  # the tempo is no look's, and no modulator's
        ("/mod2/depth", "is none"),
        ("/model/a b", "is none"),
        ("x" * 500, "at most 100 characters"),
    ],
)
def test_a_target_that_is_no_number_a_fader_moves_is_refused(target: str, why: str) -> None:
    store = ParamStore()
    with pytest.raises(ParamError, match=why):
        store.set("mod1.target", target)
    assert store.get("mod1.target") == ""
    assert SPECS["mod1.target"].coerce("process.canny_t1")[0] == "/process/canny_t1"
    assert SPECS["mod1.shape"].coerce("envelope")[0] == SHAPES.index("envelope")


# -- through the command layer: presets, morphs, fire ----------------------------------------


@pytest.fixture
def commands(tmp_path: Path) -> NodeCommands:
    (tmp_path / "presets").mkdir()
    return NodeCommands(
        ParamStore(), presets=PresetLibrary(tmp_path / "presets", []), clock=Clock()
    )


def test_a_preset_carries_its_motion_and_saves_the_centre_not_the_swing(
    commands: NodeCommands,
) -> None:
    commands.set_values({"process.canny_t1": 100, "mod3.shape": "saw",
                         "mod3.target": "/process/canny_t1", "mod3.depth": 0.1})  # fmt: skip
    commands.tick(51.3)
    assert commands.get("process.canny_t1") != 100  # it moves
    path = commands.preset_save("moving")
    saved = json.loads(path.read_text())["params"]
    assert saved["process.canny_t1"] == 100  # the centre
    assert (saved["mod3.shape"], saved["mod3.target"]) == (SHAPES.index("saw"), "/process/canny_t1")
    commands.reset()
    commands.tick(51.4)
    assert commands.get("process.canny_t1") == 1 and commands.params.moved() == frozenset()
    commands.preset_recall("moving")
    commands.tick(51.4)
    assert commands.get("mod3.target") == "/process/canny_t1"
    assert commands.params.moved() == {"process.canny_t1"}


def test_a_morph_glides_a_modulator_depth_and_switches_its_shape_at_the_end(
    commands: NodeCommands,
) -> None:
    commands.set_values(
        {"mod1.shape": "sine", "mod1.target": "/process/canny_t2", "mod1.depth": 0.0}
    )
    commands.preset_save("still")
    commands.set_values({"mod1.shape": "square", "mod1.depth": 0.4})
    commands.preset_save("wild")
    commands.preset_recall("still")
    commands.clock = Clock(10.0)
    commands.preset_morph("wild", 2.0)
    commands.tick(11.0)
    assert commands.params.bases()["mod1.depth"] == pytest.approx(0.2)
    assert commands.get("mod1.shape") == SHAPES.index("sine")  # a menu switches at the end
    commands.tick(12.0)
    assert commands.get("mod1.shape") == SHAPES.index("square")


def test_fire_checks_the_slot(commands: NodeCommands) -> None:
    commands.tempo.fire(16, True)
    with pytest.raises(CommandError, match=r"mod1\.\.mod16"):
        commands.tempo.fire(17, None)


def test_modulator_changes_are_no_new_last_state() -> None:
    """A saver hears every change; a modulator's swing is none (it would save 30 times a
    second for nothing)."""
    from node.state.laststate import LastStateSaver

    store = ParamStore()
    saver = LastStateSaver(Path("/nonexistent/state.json"), store, "none")
    saver._on_param(SPECS["process.canny_t1"], 3, Origin(MODULATOR))
    assert saver._first_change is None
    saver._on_param(SPECS["process.canny_t1"], 3, Origin("osc"))
    assert saver._first_change is not None
    assert math.isfinite(saver._last_change)
