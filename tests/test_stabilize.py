"""Motion-aware stabilisation: a still input stays still, a moving one is followed at once."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from node.errors import UserError
from node.imaging.preprocess import Preprocessor
from node.imaging.stabilize import Stabilizer
from node.sources.synthetic import SyntheticScene
from node.state.params import DEFAULTS, ParamStore
from node.state.presets import PresetLibrary

SIZE = (128, 128)
STABLE: dict[str, object] = {
    "capture.flip_h": False,
    "process.stable_motion": 12,
    "process.stable_grow": 3,
}


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    out: np.ndarray = np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)
    return out


def inputs(frames: list[np.ndarray], values: dict[str, object]) -> list[np.ndarray]:
    """The model inputs the preprocessing (one Preprocessor, as the frame thread) makes."""
    pre, store = Preprocessor(), ParamStore(values)
    return [pre(f, store.snapshot(), SIZE, 3).image for f in frames]


def still_frames(n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frame = SyntheticScene(320, 240, 30).draw(40).astype(np.float32)
    return [noisy(frame, rng) for _ in range(n)]


def moving_frames(n: int = 12) -> list[np.ndarray]:
    """A bright square crossing a flat grey field, 6 px a frame, no noise: known motion."""
    frames = []
    for k in range(n):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[80:160, 20 + 6 * k : 100 + 6 * k] = (230, 200, 40)
        frames.append(frame)
    return frames


def test_off_by_default_and_the_2017_chain_is_untouched() -> None:
    assert DEFAULTS["process.stable_motion"] == 0
    frames = still_frames(4)
    plain = inputs(frames, {"capture.flip_h": False})
    again = inputs(frames, {"capture.flip_h": False, "process.stable_grow": 9})
    for a, b in zip(plain, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in itertools.pairwise(plain))


def test_a_still_noisy_scene_gives_the_model_a_still_input() -> None:
    frames = still_frames()
    plain = inputs(frames, {"capture.flip_h": False})
    held = inputs(frames, STABLE)
    plain_change = np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(plain)])
    assert plain_change > 0.01  # sensor noise redraws the sensitive default edges
    for image in held[1:]:
        np.testing.assert_array_equal(image, held[0])


def test_a_moving_object_is_followed_in_the_same_frame_without_a_trail() -> None:
    frames = moving_frames()
    plain = inputs(frames, {"capture.flip_h": False})
    held = inputs(frames, STABLE)
    for a, b in zip(plain, held, strict=True):
        np.testing.assert_array_equal(a, b)  # clean motion: exactly the unstabilised input


def test_motion_in_a_noisy_scene_updates_only_where_it_moves() -> None:
    rng = np.random.default_rng(1)
    frames = [noisy(f.astype(np.float32), rng) for f in moving_frames(8)]
    plain = inputs(frames, {"capture.flip_h": False})
    held = inputs(frames, STABLE)
    last, before = held[-1], held[-2]
    changed = np.abs(last - before).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    # the square, y 80..160 and x 56..142 over the last two frames, in the 240x240 centre crop
    # (x - 40) scaled to 128: y 43..85, x 9..54; nothing changes beyond it and the mask's grow
    assert ys.min() >= 43 - 8 and ys.max() <= 85 + 8 and xs.min() >= 9 - 8 and xs.max() <= 54 + 8
    assert 0 < changed.mean() < 0.2
    # where the square arrived (its leading edge, x 51..54) the input is the new one; its flat
    # interior, which the square covered in both frames, rightly holds still
    arrived = (slice(48, 80), slice(50, 56))
    np.testing.assert_array_equal(last[arrived], plain[-1][arrived])


def test_a_fader_moves_a_still_picture_on_the_next_frame() -> None:
    frames = still_frames(6)
    pre, store = Preprocessor(), ParamStore(STABLE)
    out = [pre(f, store.snapshot(), SIZE, 3).image for f in frames[:4]]
    np.testing.assert_array_equal(out[3], out[1])
    store.set("process.canny_t1", 80)
    store.set("process.canny_t2", 200)
    moved = pre(frames[4], store.snapshot(), SIZE, 3).image
    fresh = Preprocessor()(
        frames[4], ParamStore({**STABLE, **store.snapshot()}).snapshot(), SIZE, 3
    )
    np.testing.assert_array_equal(moved, fresh.image)
    assert moved.mean() < out[3].mean()  # fewer edges at the higher thresholds


def test_a_new_size_or_turning_it_off_starts_afresh() -> None:
    stage = Stabilizer()
    store = ParamStore(STABLE)
    source = np.zeros((32, 32, 3), np.float32)
    first = np.zeros((32, 32, 3), np.float32)
    assert stage(source, first, store.snapshot()) is first
    second = np.ones((32, 32, 3), np.float32)
    np.testing.assert_array_equal(stage(source, second, store.snapshot()), first)  # held
    bigger = np.ones((48, 48, 3), np.float32)
    np.testing.assert_array_equal(stage(np.zeros((48, 48, 3)), bigger, store.snapshot()), bigger)
    store.set("process.stable_motion", 0)
    assert stage(source, second, store.snapshot()) is second and stage.moving == 1.0
    store.set("process.stable_motion", 12)
    np.testing.assert_array_equal(stage(source, second, store.snapshot()), second)  # afresh


def test_a_repeated_capture_keeps_the_held_input() -> None:
    stage = Stabilizer()
    p = ParamStore(STABLE).snapshot()
    source = np.zeros((16, 16, 3), np.float32)
    stage(source, np.zeros((16, 16, 3), np.float32), p)
    moved = np.ones((16, 16, 3), np.float32)
    np.testing.assert_array_equal(stage(source + 1.0, moved, p, repeat=True), 0.0)
    assert stage.moving == 0.0


def test_the_stable_preset_turns_it_on_for_a_live_camera() -> None:
    preset = PresetLibrary(Path("/nonexistent")).find("stable")
    motion = preset.params["process.stable_motion"]
    assert isinstance(motion, int) and motion > 0
    assert preset.params["predict.post_time_lerp"] == pytest.approx(0.0)  # no trails needed
    assert not preset.complete


def test_the_flicker_measurement_tells_stable_from_the_defaults(tmp_path: Path) -> None:
    """Model none (the processed input is published): the figures of the edges themselves."""
    from node.bench.flicker import clip_flicker, clip_frames, measure

    stable = dict(PresetLibrary(Path("/nonexistent")).find("stable").params)
    plain, held = measure(None, {}, frames=16), measure(None, stable, frames=16)
    assert plain.flicker_still > 5 * max(held.flicker_still, 0.01)
    assert held.flicker_still == 0.0 and plain.trail_error > 0.0  # defaults lerp the output
    assert held.stage_ms > 0.0 and plain.stage_ms == 0.0
    path = tmp_path / "still.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, (160, 120))
    rng = np.random.default_rng(2)
    base = SyntheticScene(160, 120, 30).draw(10).astype(np.float32)
    for _ in range(12):
        writer.write(noisy(base, rng, sigma=2.0))
    writer.release()
    frames = clip_frames(path)
    assert len(frames) == 12
    noisy_flicker, pairs = clip_flicker(None, frames, {})
    still_flicker, _ = clip_flicker(None, frames, stable)
    assert pairs > 0 and still_flicker < noisy_flicker
    with pytest.raises(UserError, match="no such clip"):
        clip_frames(tmp_path / "missing.avi")
    (tmp_path / "text.avi").write_text("not a video")
    with pytest.raises(UserError, match="not a video"):
        clip_frames(tmp_path / "text.avi")
