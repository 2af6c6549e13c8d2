"""`?size=WxH&fit=contain|cover|stretch` on any sink: the picture at the size the show needs.

The model's output (256x256, 512x288) is scaled on the sink's own thread, never the frame
path, so a slow scale never holds a frame back (it still takes CPU the model may need on two
cores: see docs/benchmarks.md, the NDI A/B). `contain` fits the whole picture inside
the size on black bars, `cover` fills it and crops what overflows (centred), `stretch` fills it
and changes the aspect. Upscaling is bicubic, which keeps edges sharper than bilinear without
nearest's blocks; downscaling averages (INTER_AREA), which does not alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import cv2
import numpy as np

from node.errors import SpecError
from node.support.logformat import short_repr
from node.support.spec import Spec

FITS = ("contain", "cover", "stretch")
MIN_SIDE, MAX_SIDE = 16, 8192
MAX_PIXELS = 7680 * 4320  # 8K UHD
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


@dataclass(frozen=True)
class OutputShape:
    width: int
    height: int
    fit: str = "contain"

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def split_shape(spec: Spec) -> tuple[Spec, OutputShape | None]:
    """The spec without `size` and `fit` (its text, the sink's name, still as the user wrote
    it), and the shape they ask for (None: the picture as it comes). A bad value is a SpecError
    that says what it takes."""
    options = dict(spec.options)
    size_text, fit = options.pop("size", None), options.pop("fit", None)
    if size_text is None:
        if fit is not None:
            raise SpecError(f"{spec.label}: fit needs a size (like size=1920x1080&fit={fit})")
        return spec, None
    match = _SIZE.fullmatch(size_text.strip().lower())
    if match is None:
        raise SpecError(f"{spec.label}: size must be WIDTHxHEIGHT, got {short_repr(size_text)}")
    width, height = int(match[1]), int(match[2])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise SpecError(
            f"{spec.label}: size {width}x{height}: each side must be {MIN_SIDE}..{MAX_SIDE}"
        )
    if width * height > MAX_PIXELS:
        raise SpecError(f"{spec.label}: size {width}x{height} is larger than 8K (7680x4320)")
    fit = (fit or "contain").strip().lower()
    if fit not in FITS:
        raise SpecError(
            f"{spec.label}: fit must be one of {', '.join(FITS)}, got {short_repr(fit)}"
        )
    return replace(spec, options=options), OutputShape(width, height, fit)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrinking = width * height < w * h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def shaped(image: np.ndarray, shape: OutputShape) -> np.ndarray:
    """`image` (H, W, C uint8) at `shape`'s size, fitted as it says."""
    h, w = image.shape[:2]
    width, height = shape.size
    if (w, h) == (width, height):
        return image
    if shape.fit == "stretch":
        return _resize(image, width, height)
    scale = min(width / w, height / h) if shape.fit == "contain" else max(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    if shape.fit == "cover":
        top, left = (new_h - height) // 2, (new_w - width) // 2
        if scale > 1:  # scale up only the part that is kept (a square to 16:9: 56% of it)
            return _cover_up(image, shape.size, scale, top, left)
        resized = _resize(image, new_w, new_h)
        return np.ascontiguousarray(resized[top : top + height, left : left + width])
    resized = _resize(image, new_w, new_h)
    out = np.zeros((height, width, *image.shape[2:]), image.dtype)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


CUBIC_REACH = 2  # source pixels a bicubic output pixel reads on each side


def _kept(start: int, size: int, scale: float, limit: int) -> tuple[int, int]:
    """The source rows (or columns) [first, end) that output rows [start, start + size) of
    the whole picture scaled by `scale` read, with the bicubic kernel's reach."""
    first = max(0, int(start / scale) - CUBIC_REACH)
    end = min(limit, int((start + size) / scale) + 1 + CUBIC_REACH)
    return first, end


def _cover_up(
    image: np.ndarray, size: tuple[int, int], scale: float, top: int, left: int
) -> np.ndarray:
    """`cover` scaling up: the source cut to what the output shows (and the kernel's reach),
    scaled by the same factor, then cut to `size` from (`top`, `left`) of the whole picture
    scaled - what scaling all and cutting gives, to within half an output pixel of placement."""
    h, w = image.shape[:2]
    width, height = size
    row0, row1 = _kept(top, height, scale, h)
    col0, col1 = _kept(left, width, scale, w)
    part = cv2.resize(
        image[row0:row1, col0:col1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC
    )
    y, x = round(top - row0 * scale), round(left - col0 * scale)
    y = min(max(0, y), part.shape[0] - height)
    x = min(max(0, x), part.shape[1] - width)
    return np.ascontiguousarray(part[y : y + height, x : x + width])
