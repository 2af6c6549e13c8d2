"""The model's canvas: the size a fully convolutional model runs at, instead of its trained one.

A descriptor's `stride` says the network takes any height and width that are multiples of it
(the 2017 U-Net: eight stride-2 levels, 256; the style networks: 4) and gives an output of the
same size. The canvas is chosen from the config's `canvas`:

- `model` (default): the trained area at the capture's aspect, each side rounded to the
  nearest multiple of the stride (the U-Net stays 256x256; the 26-style network is 384x216 at
  16:9 and 332x248 at 4:3), so a free-size model is never squashed to a square;
- `auto`: the largest canvas at the capture's aspect whose time per frame, estimated from the
  library's timing at the trained size (time grows with the area), fits the source's frame
  interval;
- `WxH`: that size, each side rounded up to the stride; the model runs on a padded tensor and
  its output is cropped back.

A model without a stride keeps its trained size, whatever the canvas says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from node.errors import UserError
from node.support.logformat import short_repr

MIN_CANVAS_SIDE = 8
MAX_CANVAS_SIDE = 4096
MAX_ASPECT = 16
# Measured with the bundled U-Net (ONNX Runtime fp32) its peak memory grows with the padded
# area; 2048x2048 (4.2 megapixels) is the most this kind of machine (24 GiB) runs without
# risk to the show, and well above a 1080p frame (2.1 megapixels).
MAX_CANVAS_PIXELS = 2048 * 2048
# `auto` keeps this share of the frame interval for the model: the rest is the frame's
# preprocessing, hand-over and publishing, which run beside it on the same cores.
AUTO_SHARE = 0.8

CanvasMode = Literal["model", "auto", "size"]
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


class CanvasError(UserError):
    """A canvas the node cannot use; the message says what it takes."""


@dataclass(frozen=True)
class Canvas:
    """What the user asked for: `model`, `auto`, or a size (`width` x `height`)."""

    mode: CanvasMode = "model"
    width: int = 0
    height: int = 0

    def __str__(self) -> str:
        return f"{self.width}x{self.height}" if self.mode == "size" else self.mode

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


MODEL_CANVAS = Canvas()

USAGE = "'model', 'auto' or WIDTHxHEIGHT (like 512x288)"


def parse_canvas(text: object) -> Canvas:
    """`model`, `auto` or `WxH` with sides 8..4096, at most 16:1, at most 4.2 megapixels."""
    if not isinstance(text, str):
        raise CanvasError(f"canvas must be {USAGE}, got {short_repr(text)}")
    value = text.strip().lower()
    if value in ("model", "auto"):
        return Canvas(value)  # type: ignore[arg-type]  # (one of the two, checked just now)
    match = _SIZE.fullmatch(value)
    if match is None:
        raise CanvasError(f"canvas must be {USAGE}, got {short_repr(text)}")
    width, height = int(match[1]), int(match[2])
    check_size(width, height)
    return Canvas("size", width, height)


def check_size(width: int, height: int, what: str = "canvas") -> None:
    """A size the node can run a model at (or scale an output to), else a CanvasError."""
    lo, hi = MIN_CANVAS_SIDE, MAX_CANVAS_SIDE
    if not (lo <= width <= hi and lo <= height <= hi):
        raise CanvasError(f"{what} {width}x{height}: each side must be {lo}..{hi} pixels")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise CanvasError(
            f"{what} {width}x{height}: one side may be at most {MAX_ASPECT}x the other"
        )
    if width * height > MAX_CANVAS_PIXELS:
        raise CanvasError(
            f"{what} {width}x{height} is {width * height / 1e6:.1f} megapixels, more than the "
            f"{MAX_CANVAS_PIXELS / 1e6:.1f} this node runs a model at"
        )


def round_up(side: int, stride: int) -> int:
    return max(stride, -(-side // stride) * stride)


def round_nearest(side: float, stride: int) -> int:
    return max(stride, round(side / stride) * stride)


def padded(width: int, height: int, stride: int | None) -> tuple[int, int]:
    """The tensor size the network runs: each side rounded up to its stride."""
    if not stride:
        return width, height
    return round_up(width, stride), round_up(height, stride)


def choose(
    canvas: Canvas,
    trained: tuple[int, int],
    stride: int | None,
    aspect: float | None,
    ms_trained: float | None = None,
    frame_ms: float | None = None,
) -> tuple[int, int]:
    """The (width, height) a model of `trained` size and `stride` runs at for `canvas`;
    `aspect` is the capture's (width / height; None: not known yet, the trained aspect);
    `ms_trained` the model's time at its trained size and `frame_ms` the source's frame
    interval (for `auto`; without them, `auto` is `model`)."""
    if not stride:
        return trained
    if canvas.mode == "size":
        return canvas.width, canvas.height
    tw, th = trained
    aspect = aspect if aspect and math.isfinite(aspect) else tw / th
    aspect = min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT)
    if canvas.mode == "auto" and ms_trained and frame_ms:
        return _auto(trained, stride, aspect, frame_ms * AUTO_SHARE, ms_trained)
    height = math.sqrt(tw * th / aspect)
    return _fit(round_nearest(height * aspect, stride), round_nearest(height, stride), stride)


def _auto(
    trained: tuple[int, int], stride: int, aspect: float, budget_ms: float, ms_trained: float
) -> tuple[int, int]:
    """The largest canvas near `aspect` whose estimated time fits `budget_ms`; the smallest
    one when none does."""
    area = trained[0] * trained[1]
    candidates = []
    for height in range(stride, MAX_CANVAS_SIDE + 1, stride):
        for width in {_down(height * aspect, stride), round_up(math.ceil(height * aspect), stride)}:
            if _usable(width, height):
                ms = ms_trained * width * height / area
                candidates.append(
                    (ms <= budget_ms, width * height, -abs(width / height - aspect), width, height)
                )
    fitting = [c for c in candidates if c[0]]
    best = max(fitting) if fitting else min(candidates, key=lambda c: c[1])
    return best[3], best[4]


def _down(side: float, stride: int) -> int:
    return max(stride, int(side // stride) * stride)


def _usable(width: int, height: int) -> bool:
    try:
        check_size(width, height)
    except CanvasError:
        return False
    return True


def _fit(width: int, height: int, stride: int) -> tuple[int, int]:
    """Shrink a canvas, keeping its stride, until the node can run it."""
    while not _usable(width, height) and (width > stride or height > stride):
        width, height = (
            (max(stride, width - stride), height)
            if width >= height
            else (width, max(stride, height - stride))
        )
    return width, height
