"""Flicker and trails, measured: how much the published picture moves when the scene does not,
and how far the smoothing lags behind when it does.

Frames go through the node's own preprocessing and model stage (one of each, as the frame
thread runs them), so every parameter, preset and model counts. All figures are mean absolute
differences in 0..255 per pixel and channel of the published frames:

- flicker: between consecutive outputs of a *still* scene with sensor-like noise added
  (Gaussian, sigma 4 of 255 - a webcam in a dim room);
- change: between consecutive outputs of the scene *moving* without noise (what real motion
  moves);
- trail error: between the outputs under the settings and the unsmoothed outputs (lerps and
  stabilisation off) of the same moving frames - ghosting;
- for a clip: flicker over the pairs of frames whose capture barely changed.

The stabilisation stage's own cost is timed on the still scene (ms per frame).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from node.errors import UserError
from node.imaging.preprocess import Preprocessor, resize_area
from node.imaging.stabilize import Stabilizer
from node.inference.model import Model
from node.inference.stage import ModelStage
from node.sources.synthetic import SyntheticScene
from node.state.params import ParamStore
from node.support.boundedread import FileRefusedError, check_regular_file

NOISE_SIGMA = 4.0
WARM_UP = 5  # frames before measuring: the lerps and the stage settle
UNSMOOTHED = {
    "predict.pre_time_lerp": 0.0,
    "predict.post_time_lerp": 0.0,
    "process.stable_motion": 0,
}
STILL_CLIP_CHANGE = 1.0  # a clip's capture change (0..255) below which the scene is still
MAX_CLIP_FRAMES = 3000


@dataclass(frozen=True)
class Flicker:
    flicker_still: float
    change_moving: float
    trail_error: float
    stage_ms: float  # the stabilisation stage alone, per frame (0 when it is off)
    frames: int


def still_scene(frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """One frame of the synthetic scene with fresh sensor noise each time."""
    rng = np.random.default_rng(seed)
    base = SyntheticScene(640, 480, 30).draw(150).astype(np.float32)
    for _ in range(frames):
        yield np.clip(base + rng.normal(0, NOISE_SIGMA, base.shape), 0, 255).astype(np.uint8)


def moving_scene(frames: int) -> Iterator[np.ndarray]:
    scene = SyntheticScene(640, 480, 30)
    for k in range(frames):
        yield scene.draw(150 + k)


def outputs(
    model: Model | None, frames: Iterable[np.ndarray], values: Mapping[str, object]
) -> list[np.ndarray]:
    """The published frames (float32 BGR 0..255) of the frames under these parameter values."""
    stage = ModelStage(model)
    pre, store = Preprocessor(), ParamStore(dict(values))
    spec = stage.input_spec
    out = []
    for frame in frames:
        snapshot = store.snapshot()
        processed = pre(frame, snapshot, spec.size, spec.channels)
        out.append(stage(processed.image, snapshot).astype(np.float32))
    return out


def mean_change(images: list[np.ndarray]) -> float:
    pairs = list(itertools.pairwise(images[WARM_UP:]))
    return float(np.mean([np.abs(a - b).mean() for a, b in pairs])) if pairs else 0.0


def stage_ms(
    frames: list[np.ndarray], values: Mapping[str, object], size: tuple[int, int]
) -> float:
    """Median time of the stabilisation stage alone on these frames."""
    p = ParamStore(dict(values)).snapshot()
    if p.as_int("process.stable_motion") <= 0:
        return 0.0
    pre, stage, times = Preprocessor(), Stabilizer(), []
    plain = ParamStore({**dict(values), "process.stable_motion": 0}).snapshot()
    for frame in frames:
        processed = pre(frame, plain, size, 3)
        start = time.perf_counter()
        stage(processed.source, processed.image, p)
        times.append(time.perf_counter() - start)
    return float(np.median(times[WARM_UP:]) * 1000.0)


def measure(model: Model | None, values: Mapping[str, object], frames: int = 90) -> Flicker:
    """The figures of the module docstring on the synthetic scene."""
    still = list(still_scene(frames))
    moving = list(moving_scene(frames))
    smoothed = outputs(model, moving, values)
    plain = outputs(model, moving, {**dict(values), **UNSMOOTHED})
    trail = float(
        np.mean(
            [np.abs(a - b).mean() for a, b in zip(smoothed[WARM_UP:], plain[WARM_UP:], strict=True)]
        )
    )
    size = ModelStage(model).input_spec.size
    return Flicker(
        flicker_still=mean_change(outputs(model, still, values)),
        change_moving=mean_change(smoothed),
        trail_error=trail,
        stage_ms=stage_ms(still, values, size),
        frames=frames,
    )


def check_clip(path: Path) -> None:
    """A clear error, before any work, for a clip that is missing or not a regular file."""
    if not path.exists():
        raise UserError(f"{path}: no such clip")
    try:
        check_regular_file(path)  # a FIFO or a device is refused, unread
    except FileRefusedError as exc:
        raise UserError(str(exc)) from None


def read_clip(path: Path, limit: int = MAX_CLIP_FRAMES) -> Iterator[np.ndarray]:
    """Up to `limit` frames of a video file, one at a time (a long clip is never held in
    memory); a clear error when it cannot be read or has fewer than 2 frames."""
    check_clip(path)
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while count < limit:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            count += 1
            yield frame
    finally:
        capture.release()
    if count < 2:
        raise UserError(f"{path}: not a video the node can read (fewer than 2 frames)")


def clip_frames(path: Path, limit: int = MAX_CLIP_FRAMES) -> list[np.ndarray]:
    """Every frame `read_clip` gives, as a list (for short clips)."""
    return list(read_clip(path, limit))


def clip_flicker(
    model: Model | None, frames: Iterable[np.ndarray], values: Mapping[str, object]
) -> tuple[float, int]:
    """Output flicker over the frame pairs whose capture barely changed, and their count;
    streams: only the previous frame's small copy and output are kept."""
    stage = ModelStage(model)
    pre, store = Preprocessor(), ParamStore(dict(values))
    spec = stage.input_spec
    changes: list[float] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for k, frame in enumerate(frames):
        small = resize_area(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 64, 64).astype(np.float32)
        snapshot = store.snapshot()
        out = stage(pre(frame, snapshot, spec.size, spec.channels).image, snapshot)
        out = out.astype(np.float32)
        if previous is not None and k > WARM_UP:
            last_small, last_out = previous
            if np.abs(small - last_small).mean() < STILL_CLIP_CHANGE:
                changes.append(float(np.abs(out - last_out).mean()))
        previous = (small, out)
    if not changes:
        return float("nan"), 0
    return float(np.mean(changes)), len(changes)


@dataclass(frozen=True)
class PhotoMotion:
    """A real photo held still (with sensor noise) and panned (without)."""

    flicker_still: float  # as `Flicker.flicker_still`, on the photo
    trail_error: float  # as `Flicker.trail_error`, on the pan
    on_time: float  # share of panned frames closest to the unsmoothed output of the same frame
    frames: int


CAMERA = (640, 480)
PAN_STEP = 6  # pixels per frame of the 640x480 view: a slow camera pan


def camera_view(photo: np.ndarray, width: int) -> np.ndarray:
    """The photo scaled to `width` keeping its aspect, at least 480 high."""
    h, w = photo.shape[:2]
    scale = max(width / w, CAMERA[1] / h)
    size = (max(CAMERA[0], round(w * scale)), max(CAMERA[1], round(h * scale)))
    out: np.ndarray = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return out


def still_photo(photo: np.ndarray, frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """A 640x480 view of the photo, with fresh sensor noise each frame."""
    rng = np.random.default_rng(seed)
    base = camera_view(photo, CAMERA[0])[: CAMERA[1], : CAMERA[0]].astype(np.float32)
    for _ in range(frames):
        yield np.clip(base + rng.normal(0, NOISE_SIGMA, base.shape), 0, 255).astype(np.uint8)


def panning_photo(photo: np.ndarray, frames: int) -> Iterator[np.ndarray]:
    """A 640x480 window panning across the photo, PAN_STEP pixels a frame (back and forth)."""
    wide = camera_view(photo, CAMERA[0] + PAN_STEP * min(frames, 120))
    room = wide.shape[1] - CAMERA[0]
    for k in range(frames):
        x = k * PAN_STEP % (2 * room) if room else 0
        x = 2 * room - x if x > room else x
        yield wide[: CAMERA[1], x : x + CAMERA[0]]


def on_time(smoothed: list[np.ndarray], plain: list[np.ndarray], window: int = 3) -> float:
    """The share of frames whose output is closest to the unsmoothed output of the same frame
    rather than of one of the `window` frames before: a trail shows the past."""
    hits = []
    for k in range(max(WARM_UP, window), len(smoothed)):
        errors = [np.abs(smoothed[k] - plain[k - lag]).mean() for lag in range(window + 1)]
        hits.append(int(np.argmin(errors)) == 0)
    return float(np.mean(hits)) if hits else float("nan")


def measure_photo(
    model: Model | None, values: Mapping[str, object], photo: np.ndarray, frames: int = 60
) -> PhotoMotion:
    """The figures of `PhotoMotion` for one photo (BGR uint8, any size)."""
    pan = list(panning_photo(photo, frames))
    smoothed = outputs(model, pan, values)
    plain = outputs(model, pan, {**dict(values), **UNSMOOTHED})
    trail = float(
        np.mean(
            [np.abs(a - b).mean() for a, b in zip(smoothed[WARM_UP:], plain[WARM_UP:], strict=True)]
        )
    )
    return PhotoMotion(
        flicker_still=mean_change(outputs(model, still_photo(photo, frames), values)),
        trail_error=trail,
        on_time=on_time(smoothed, plain),
        frames=frames,
    )
