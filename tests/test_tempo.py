"""The beat clock, changes on the beat and the tempo rows, on an injected clock (no sleeps
where time is the subject): boundaries at several tempos and lookaheads, a tempo that moves
while a change waits, merged parameter floods, quantised recalls, morphs and swaps, and the
bad input of the issue (BPM 0 / NaN / 10,000, an unknown quantisation, a tap flood)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from node.control.commands import CommandError, NodeCommands
from node.state.params import ParamStore
from node.state.presets import PresetLibrary
from node.tempo.quantize import MAX_PENDING, QuantizeError, Quantizer, quant_beats
from node.tempo.timeline import Timeline

FPS = 30.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def frames(start: float, end: float, fps: float = FPS, offset: float = 0.0) -> list[float]:
    """Frame instants between `start` and `end` (the frame grid shifted by `offset`)."""
    first = math.ceil((start - offset) * fps)
    return [(n / fps) + offset for n in range(first, int((end - offset) * fps) + 1)]


# -- the quantiser alone ---------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [120.0, 174.0, 93.5])
@pytest.mark.parametrize("lookahead_ms", [0.0, 45.0, 120.0])
@pytest.mark.parametrize("quant", ["beat", "bar", "2bars"])
def test_a_change_is_made_at_the_frame_nearest_its_beat_less_the_lookahead(
    bpm: float, lookahead_ms: float, quant: str
) -> None:
    timeline = Timeline(bpm, 0.37, 10.0)  # (the beat grid is not aligned with the frames)
    lookahead = lookahead_ms / 1000.0
    every = quant_beats(quant)
    quantizer = Quantizer()
    for asked in (10.01, 11.234, 12.5):
        ran: list[float] = []
        frame = [asked]  # the instant of the frame being made
        beat = quantizer.schedule(
            every,
            "x",
            asked,
            timeline,
            lookahead,
            action=lambda: ran.append(frame[0]),  # noqa: B023
        )
        assert beat % every == 0 and beat >= timeline.beat_at(asked + lookahead)
        assert timeline.beat_at(asked + lookahead) > beat - every  # the first one in time
        for now in frames(asked, asked + 10.0, offset=0.0123):
            frame[0] = now
            quantizer.tick(now, timeline, lookahead, 0.5 / FPS)
            if ran:
                break
        due = timeline.time_at(beat) - lookahead
        assert len(ran) == 1
        assert abs(ran[0] - due) <= 0.5 / FPS + 1e-9  # within half a frame of its moment


def test_a_change_waits_for_its_beat_when_the_tempo_moves_meanwhile() -> None:
    quantizer = Quantizer()
    slow = Timeline(100.0, 0.0, 0.0)
    ran: list[float] = []
    beat = quantizer.schedule(4.0, "x", 0.1, slow, 0.0, action=lambda: ran.append(1))
    assert beat == 4.0
    fast = slow.with_bpm(160.0, 0.5)  # a tap at 0.5 s: from there 160 BPM
    quantizer.tick(1.5, fast, 0.0, 0.01)  # (at 100 BPM beat 4 fell at 2.4 s; now sooner)
    assert ran == [] and fast.beat_at(1.5) < 4.0
    quantizer.tick(fast.time_at(4.0), fast, 0.0, 0.01)
    assert ran == [1]


def test_a_fader_flood_waiting_for_the_bar_is_one_change_with_the_newest_values() -> None:
    quantizer = Quantizer()
    timeline = Timeline(120.0, 0.0, 0.0)
    got: list[dict[str, object]] = []
    for value in range(5000):
        quantizer.schedule(4.0, "osc a", 0.1, timeline, 0.0, values={"process.canny_t1": value},
                           setter=got.append)  # fmt: skip
    quantizer.schedule(4.0, "osc a", 0.1, timeline, 0.0, values={"process.invert": True},
                       setter=got.append)  # fmt: skip
    assert quantizer.waiting == 1
    quantizer.tick(2.0, timeline, 0.0, 0.01)
    assert got == [{"process.canny_t1": 4999, "process.invert": True}]


def test_waiting_changes_are_bounded_and_can_be_cleared() -> None:
    quantizer = Quantizer()
    timeline = Timeline(120.0, 0.0, 0.0)
    for n in range(MAX_PENDING):
        quantizer.schedule(4.0, f"preset {n}", 0.1, timeline, 0.0, action=lambda: None)
    with pytest.raises(QuantizeError, match="already wait"):
        quantizer.schedule(4.0, "one more", 0.1, timeline, 0.0, action=lambda: None)
    assert quantizer.clear() == MAX_PENDING and quantizer.waiting == 0


def test_an_unknown_quantisation_is_refused_with_the_names() -> None:
    assert [quant_beats(q) for q in ("now", "beat", "bar", "2bars", "4bars")] == [0, 1, 4, 8, 16]
    assert quant_beats(2) == 4  # (a menu's index, as a fader sends it)
    for bad in ("3bars", "", 7, None, 2.5):
        with pytest.raises(QuantizeError, match="now, beat, bar, 2bars, 4bars"):
            quant_beats(bad)


# -- the command layer -------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def commands(tmp_path: Path, clock: Clock) -> NodeCommands:
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "edges.json").write_text(
        json.dumps({"name": "edges", "params": {"process.canny_t1": 77, "process.invert": True}})
    )
    params = ParamStore({"tempo.lookahead": 0.0})
    library = PresetLibrary(presets, [])
    c = NodeCommands(params, presets=library, clock=clock)
    return c


def run_until(commands: NodeCommands, clock: Clock, until: float) -> None:
    """Tick the node at 30 fps until `until`."""
    while clock.t < until:
        clock.t += 1 / FPS
        commands.tick(clock.t)


def test_a_quantised_recall_lands_on_the_next_bar(commands: NodeCommands, clock: Clock) -> None:
    commands.set_values({"tempo.bpm": 120})
    timeline = commands.tempo.beats.timeline(clock.t)
    bar = timeline.next_boundary(clock.t, 4.0)
    assert commands.preset_recall_on_beat("edges", "bar") == "edges"
    run_until(commands, clock, timeline.time_at(bar) - 1 / FPS)
    assert commands.get("process.canny_t1") == 1  # not yet
    run_until(commands, clock, timeline.time_at(bar) + 1 / FPS)
    assert commands.get("process.canny_t1") == 77 and commands.get("process.invert") is True


def test_the_node_default_quantises_recalls_and_now_overrides_it(
    commands: NodeCommands, clock: Clock
) -> None:
    commands.set_values({"tempo.quant": "beat"})
    commands.preset_recall_on_beat("edges")  # (None: the node's default)
    assert commands.get("process.canny_t1") == 1 and commands.tempo.quantizer.waiting == 1
    commands.tempo.quantizer.clear()
    commands.preset_recall_on_beat("edges", "now")
    assert commands.get("process.canny_t1") == 77


def test_an_unknown_preset_on_the_beat_is_refused_at_once(commands: NodeCommands) -> None:
    with pytest.raises(CommandError, match="gone"):
        commands.preset_recall_on_beat("gone", "bar")
    with pytest.raises(CommandError, match="gone"):
        commands.preset_morph_on_beat("gone", beats=4, quant="bar")
    assert commands.tempo.quantizer.waiting == 0


def test_a_morph_of_n_beats_starts_on_the_beat_and_ends_n_beats_later(
    commands: NodeCommands, clock: Clock
) -> None:
    commands.set_values({"tempo.bpm": 150})
    timeline = commands.tempo.beats.timeline(clock.t)
    start = timeline.next_boundary(clock.t, 1.0)
    commands.preset_morph_on_beat("edges", beats=4, quant="beat")
    run_until(commands, clock, timeline.time_at(start + 2))  # halfway
    assert 30 < commands.params.number("process.canny_t1") < 48  # 1 -> 77 at about half
    run_until(commands, clock, timeline.time_at(start + 4) + 2 / FPS)
    assert commands.get("process.canny_t1") == 77 and not commands.morpher.running


def test_parameters_on_the_beat_from_the_command_layer(
    commands: NodeCommands, clock: Clock
) -> None:
    from node.state.params import Origin

    timeline = commands.tempo.beats.timeline(clock.t)
    beat = timeline.next_boundary(clock.t, 1.0)
    commands.set_values_on_beat({"process.canny_t2": 99}, Origin("osc a", "a"), 1.0)
    assert commands.get("process.canny_t2") == 10
    run_until(commands, clock, timeline.time_at(beat) + 1 / FPS)
    assert commands.get("process.canny_t2") == 99


@pytest.mark.parametrize("bad", [0, float("nan"), 10_000, -120, "fast", float("inf")])
def test_a_bpm_that_is_no_tempo_is_refused_and_the_tempo_kept(
    commands: NodeCommands, clock: Clock, bad: object
) -> None:
    commands.set_values({"tempo.bpm": 128})
    with pytest.raises(CommandError):
        commands.set_values({"tempo.bpm": bad, "process.canny_t1": 5})
    assert commands.get("tempo.bpm") == 128 and commands.get("process.canny_t1") == 1
    assert commands.tempo.beats.timeline(clock.t).bpm == 128


def test_setting_the_bpm_keeps_the_beat_and_does_not_stop_a_morph(
    commands: NodeCommands, clock: Clock
) -> None:
    before = commands.tempo.beat_now()
    commands.preset_morph("edges", 10.0)
    commands.set_values({"tempo.bpm": 90})
    assert commands.morpher.running  # (the tempo is the band's: no look's change)
    assert commands.tempo.beat_now() == pytest.approx(before)
    clock.t += 2.0
    assert commands.tempo.beat_now() == pytest.approx(before + 3.0)  # 90 BPM: 1.5 a second


def test_taps_set_the_tempo_and_the_bar_and_come_back_on_the_bpm_row(
    commands: NodeCommands, clock: Clock
) -> None:
    heard: list[object] = []
    commands.add_param_listener(lambda spec, value, origin: heard.append((spec.key, value)))
    for n in range(6):
        clock.t = 200.0 + n * 0.6  # 100 BPM
        commands.tempo.tap()
    assert commands.get("/tempo/source") == 1  # (the internal clock switched to tap)
    assert commands.get("tempo.bpm") == pytest.approx(100.0, abs=0.05)
    assert ("tempo.bpm", 100.0) in heard
    timeline = commands.tempo.beats.timeline(clock.t)
    assert timeline.beat_at(200.0) == pytest.approx(0.0, abs=1e-6)  # the first tap: the one
    assert timeline.phase_at(clock.t) == pytest.approx(1.0, abs=1e-6)  # tap 6: beat 5 = 2nd


def test_a_tap_flood_is_bounded_and_leaves_a_valid_tempo(
    commands: NodeCommands, clock: Clock
) -> None:
    for n in range(20_000):  # 20,000 taps in 2 seconds
        clock.t = 300.0 + n * 0.0001
        commands.tempo.tap()
    bpm = commands.params.number("tempo.bpm")
    assert 20 <= bpm <= 999 and math.isfinite(bpm)


def test_a_source_that_is_not_installed_or_unknown_is_refused_and_the_clock_stays(
    commands: NodeCommands,
) -> None:
    with pytest.raises(CommandError, match="one of internal, tap, midi, link"):
        commands.set_values({"tempo.source": "ableton"})
    assert commands.tempo.beats.source == "internal"


def test_the_tempo_rows_are_no_part_of_a_preset_or_a_reset(
    commands: NodeCommands, tmp_path: Path
) -> None:
    commands.set_values({"tempo.bpm": 140, "tempo.quant": "bar", "mod1.depth": 0.5})
    path = commands.preset_save("with tempo")
    saved = json.loads(path.read_text())["params"]
    assert "mod1.depth" in saved and not any(k.startswith("tempo.") for k in saved)
    commands.reset()
    assert commands.get("tempo.bpm") == 140 and commands.get("mod1.depth") == 0.25
