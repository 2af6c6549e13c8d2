"""The original app's OpenCV preprocessing chain, step by step, in its exact order.

read -> flip -> frame_diff -> RGB -> centre crop -> INTER_AREA resize -> grayscale -> pre_blur ->
pre_median -> pre_thresh -> adaptive_thresh -> invert -> canny -> post_blur -> accumulation ->
post_thresh, then (the node's additions, off by default) the motion-aware stabiliser and the
coarse tone beside the edges (`process.tone`).

Like the original, the steps after the resize work on float32 images in 0..1 and the gray-only
steps (median, adaptive threshold, Canny) go through uint8 gray (`uint8(img * 255)`, truncating).
Two speed-ups keep results equal: where the original expanded a gray result back to three equal
RGB channels, this chain keeps it single-channel until the end (RGB2GRAY of equal channels gives
the same value back, and the per-pixel steps act on each channel alike); and since uint8 ->
float -> uint8 gives every value back, gray steps in a row (the default median then Canny) pass
their uint8 result on without the float round trip, and the first takes the capture's own
uint8 (`_Chain`).
Flip, frame_diff, colour conversion, crop and resize run on the uint8 capture (exact for the
first four; the resize rounds to 1/255, below what the eye or an 8-bit model input can see).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from node.imaging.stabilize import Stabilizer
from node.state.params import ParamSnapshot


def kernel(n: int) -> int:
    """Parameters count kernel steps: n -> an odd kernel 2n+1, as in the original."""
    return 2 * n + 1


def flip(img: np.ndarray, horizontal: bool, vertical: bool) -> np.ndarray:
    if horizontal and vertical:
        return cv2.flip(img, -1)
    if horizontal:
        return cv2.flip(img, 1)
    if vertical:
        return cv2.flip(img, 0)
    return img


def centre_crop(img: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred region of `aspect` (width / height); a square for square models.

    The original cropped a landscape frame to a square only; this handles any aspect, portrait too.
    """
    h, w = img.shape[:2]
    if w / h > aspect:
        cw = max(1, round(h * aspect))
        x = (w - cw) // 2
        return img[:, x : x + cw]
    ch = max(1, round(w / aspect))
    y = (h - ch) // 2
    return img[y : y + ch, :]


def resize_area(img: np.ndarray, width: int, height: int) -> np.ndarray:
    if img.shape[1] == width and img.shape[0] == height:
        return img
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def gray_u8(img: np.ndarray) -> np.ndarray:
    """Float 0..1 (gray or RGB) -> uint8 gray, truncating as the original's np.uint8(img*255.)."""
    u8 = (img * 255.0).astype(np.uint8)
    return u8 if u8.ndim == 2 else cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)


def to_float(u8: np.ndarray) -> np.ndarray:
    return u8.astype(np.float32) / np.float32(255.0)


def grayscale(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def gaussian_blur(img: np.ndarray, n: int) -> np.ndarray:
    k = kernel(n)
    return cv2.GaussianBlur(img, (k, k), 0)


def median_u8(gray: np.ndarray, n: int) -> np.ndarray:
    """Median on gray uint8: on BGR a k31 median costs 3x more (measured here)."""
    return cv2.medianBlur(gray, kernel(n))


def median_blur(img: np.ndarray, n: int) -> np.ndarray:
    return to_float(median_u8(gray_u8(img), n))


def to_zero_threshold(img: np.ndarray, level: int) -> np.ndarray:
    return cv2.threshold(img, level / 255.0, 1.0, cv2.THRESH_TOZERO)[1]


def adaptive_u8(gray: np.ndarray, block: int, c: int) -> np.ndarray:
    return cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, kernel(block), c
    )


def invert(img: np.ndarray) -> np.ndarray:
    return np.float32(1.0) - img


def canny_u8(gray: np.ndarray, t1: int, t2: int) -> np.ndarray:
    return cv2.Canny(gray, t1, t2)


def binary_threshold(img: np.ndarray, level: int) -> np.ndarray:
    return cv2.threshold(img, level / 255.0, 1.0, cv2.THRESH_BINARY)[1]


def match_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Gray (H, W) or RGB (H, W, 3) -> (H, W, channels)."""
    if channels == 1:
        return (img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))[..., None]
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img


def tone_cells(source: np.ndarray, factor: int) -> np.ndarray:
    """The picture's tone layout without its detail: grey, shrunk `factor` times with area
    averaging (sensor noise averages out), as Memo Akten's *Learning to See* feeds its models."""
    gray = grayscale(source)
    h, w = gray.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    cells: np.ndarray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return cells


def enlarge_tone(cells: np.ndarray, width: int, height: int) -> np.ndarray:
    """Tone cells back at the picture's size with a cubic filter, in 0..1."""
    out: np.ndarray = cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0, out=out)


def coarse_tone(source: np.ndarray, factor: int) -> np.ndarray:
    """The coarse tone (`tone_cells`, enlarged): float gray 0..1 at the source's size."""
    return enlarge_tone(tone_cells(source, factor), source.shape[1], source.shape[0])


def hold_cells(cells: np.ndarray, held: np.ndarray | None, threshold: float) -> np.ndarray:
    """Tone cells that changed less than `threshold` (0..1) keep their held value: what sensor
    noise leaves after the averaging stays still, a moving performer (tens of levels) passes
    at once, and slow drift crosses the threshold and updates."""
    if held is None or held.shape != cells.shape:
        return cells
    out: np.ndarray = np.where(np.abs(cells - held) < threshold, held, cells)
    return out


def with_tone(edges: np.ndarray, tone: np.ndarray, mix: float) -> np.ndarray:
    """The model input of a tone-fed model: the processed picture (edges) in the first channel,
    the coarse tone in the other two, faded in by `mix` (0: all three carry the edges - the
    2017 input exactly)."""
    gray = grayscale(edges)
    toned = gray + (tone - gray) * np.float32(mix) if mix < 1.0 else tone
    return np.dstack((gray, toned, toned)).astype(np.float32, copy=False)


def accumulate(prev: np.ndarray, img: np.ndarray, w1: float, w2: float) -> np.ndarray:
    """out = prev*w1 + img*w2. Not clipped, as the original: the model mapping clips later."""
    if prev.shape != img.shape:
        prev, img = match_channels(prev, 3), match_channels(img, 3)
    return (prev * np.float32(w1) + img * np.float32(w2)).astype(np.float32)


class _Chain:
    """The image between steps: float 0..1, or its uint8 form (the capture's, or what a gray-only
    step gave), each made from the other only when a step needs it. The uint8 form is what
    `(img * 255).astype(uint8)` of the float gives, as uint8 -> float -> uint8 is exact."""

    def __init__(self, image: np.ndarray | None, u8: np.ndarray | None) -> None:
        self._image = image
        self._u8 = u8

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            assert self._u8 is not None
            self._image = to_float(self._u8)
        return self._image

    def apply(self, step: Callable[[np.ndarray], np.ndarray]) -> None:
        """A step on the float image."""
        self._image, self._u8 = step(self.image), None

    def apply_gray(self, step: Callable[[np.ndarray], np.ndarray]) -> None:
        """A step on the uint8 gray, giving uint8 gray."""
        if self._u8 is None:
            gray = gray_u8(self.image)
        else:
            gray = self._u8 if self._u8.ndim == 2 else cv2.cvtColor(self._u8, cv2.COLOR_RGB2GRAY)
        self._u8, self._image = step(gray), None


@dataclass(frozen=True)
class Processed:
    """One frame through the chain; both images are float32 0..1, shaped (H, W, channels).

    `source` is the cropped and resized capture before processing (the original's `img0`);
    `image` is what the model sees.
    """

    source: np.ndarray
    image: np.ndarray


class Preprocessor:
    """The chain with its temporal state (previous raw frame, previous processed frame).

    Not thread-safe: one frame thread owns it. The state restarts when the size changes.
    """

    def __init__(self) -> None:
        self._last_raw: np.ndarray | None = None  # the newest raw frame seen
        self._diff_base: np.ndarray | None = None  # what frame_diff subtracts
        self._last_out: np.ndarray | None = None  # the newest processed frame
        self._accum_base: np.ndarray | None = None  # what accumulation adds to
        self._stabilizer = Stabilizer()  # holds still parts of the input (off by default)
        self._tone_cells: np.ndarray | None = None  # the held coarse tone (with the stabiliser)

    def __call__(
        self,
        bgr: np.ndarray,
        p: ParamSnapshot,
        size: tuple[int, int],
        channels: int,
        repeat: bool = False,
    ) -> Processed:
        """Process a uint8 BGR capture for a model input of `size` = (width, height).

        `repeat`: the same capture again (no new frame came): processing follows the current
        parameters, but the temporal steps neither advance nor compare the frame with itself.
        """
        width, height = size
        raw = flip(bgr, p.as_bool("capture.flip_h"), p.as_bool("capture.flip_v"))
        if raw.ndim == 2:
            raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
        if not repeat or self._diff_base is None:
            self._diff_base = self._last_raw if self._last_raw is not None else raw
            self._accum_base = self._last_out
            self._last_raw = raw
        img = raw
        base = self._diff_base
        if p.as_bool("capture.frame_diff") and base.shape == raw.shape:
            img = cv2.absdiff(raw, base)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB)
        img = resize_area(centre_crop(img, width / height), width, height)
        source = to_float(img)
        img = self._stabilizer(source, self._process(_Chain(source, img), p), p, repeat)
        if p.as_bool("process.tone"):
            img = with_tone(img, self._tone(source, p, repeat), p.as_float("process.tone_mix"))
        return Processed(match_channels(source, channels), match_channels(img, channels))

    def _tone(self, source: np.ndarray, p: ParamSnapshot, repeat: bool) -> np.ndarray:
        """The coarse tone, after the stabiliser and on its own terms: the stabiliser's mask is
        too narrow for a tone that spreads a change over `tone_factor` pixels (a held tone would
        lag behind motion), so with `process.stable_motion` on, each tone cell holds still until
        it changes by a quarter of that threshold."""
        cells = tone_cells(source, p.as_int("process.tone_factor"))
        motion = p.as_int("process.stable_motion")
        if motion > 0:
            held = self._tone_cells
            cells = held if repeat and held is not None and held.shape == cells.shape else cells
            cells = hold_cells(cells, held, motion / 4.0 / 255.0)
        self._tone_cells = cells if motion > 0 else None
        return enlarge_tone(cells, source.shape[1], source.shape[0])

    def _process(self, chain: _Chain, p: ParamSnapshot) -> np.ndarray:
        if p.as_bool("process.grayscale"):
            chain.apply(grayscale)
        if (n := p.as_int("process.pre_blur")) > 0:
            chain.apply(lambda img: gaussian_blur(img, n))
        if (median := p.as_int("process.pre_median")) > 0:
            chain.apply_gray(lambda gray: median_u8(gray, median))
        if (level := p.as_int("process.pre_thresh")) > 0:
            chain.apply(lambda img: to_zero_threshold(img, level))
        if p.as_bool("process.adaptive_thresh"):
            block, c = (
                p.as_int("process.adaptive_thresh_block"),
                p.as_int("process.adaptive_thresh_c"),
            )
            chain.apply_gray(lambda gray: adaptive_u8(gray, block, c))
        if p.as_bool("process.invert"):
            chain.apply(invert)
        if p.as_bool("process.canny"):
            t1, t2 = p.as_int("process.canny_t1"), p.as_int("process.canny_t2")
            chain.apply_gray(lambda gray: canny_u8(gray, t1, t2))
        if (post := p.as_int("process.post_blur")) > 0:
            chain.apply(lambda img: gaussian_blur(img, post))
        img = chain.image
        w1, w2 = p.as_float("process.accum_w1"), p.as_float("process.accum_w2")
        if w1 > 0 and w2 > 0:
            prev = self._accum_base if self._accum_base is not None else img
            if prev.shape[:2] == img.shape[:2]:
                img = accumulate(prev, img, w1, w2)
        if p.as_int("process.post_thresh") > 0:
            img = binary_threshold(img, p.as_int("process.post_thresh"))
        self._last_out = img
        return img
