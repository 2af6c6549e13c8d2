"""Model-side steps: temporal lerps, mapping to and from the model's value range, output image.

The original mapped with `np.interp`, which clips to the range; so do these.
"""

from __future__ import annotations

import cv2
import numpy as np


def lerp(old: np.ndarray | None, new: np.ndarray, amount: float) -> np.ndarray:
    """old*amount + new*(1-amount); the new frame when there is no comparable old one.

    The original's helper took the new frame when the new frame's weight was 0, so amount = 1.0
    switched smoothing off; here 1.0 honestly holds the old frame.
    """
    if old is None or old.shape != new.shape or amount <= 0.0:
        return new
    a = np.float32(amount)
    out: np.ndarray = old * a + new * (np.float32(1.0) - a)
    return out.astype(np.float32, copy=False)


class TimeLerp:
    """A temporal low-pass filter (pre_time_lerp, post_time_lerp) with one frame of state."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None

    def __call__(self, new: np.ndarray, amount: float) -> np.ndarray:
        self._prev = lerp(self._prev, new, amount)
        return self._prev


def to_model_range(img01: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """(H, W, C) in 0..1 -> a batch of one (1, H, W, C) in the model's range, clipped."""
    lo, hi = value_range
    out: np.ndarray = np.clip(img01, 0.0, 1.0) * np.float32(hi - lo) + np.float32(lo)
    return out.astype(np.float32, copy=False)[None]


def replace_non_finite(
    batch: np.ndarray, value_range: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """A model output with NaN or inf (a model gone numerically wrong) made showable: NaN and
    -inf become the range's low end, +inf its high end. Returns the batch and how many values
    were replaced (0: the batch itself, untouched; the check is one pass, ~30 us at 256x256)."""
    if np.isfinite(batch).all():
        return batch, 0
    replaced = int(batch.size - np.count_nonzero(np.isfinite(batch)))
    lo, hi = value_range
    return np.nan_to_num(batch, nan=lo, posinf=hi, neginf=lo), replaced


def from_model_range(batch: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """A model output batch (1, H, W, C) in its range -> (H, W, C) float32 in 0..1, clipped."""
    lo, hi = value_range
    img = np.subtract(batch[0], np.float32(lo), dtype=np.float32)  # (a new array: the
    img /= np.float32(hi - lo)  # backend may reuse its output buffer) then in place: 0.38
    out: np.ndarray = np.clip(img, 0.0, 1.0, out=img)  # ms instead of 0.52 at 512x256
    return out


def to_bgr_u8(img01: np.ndarray) -> np.ndarray:
    """Float RGB or gray in 0..1 -> uint8 BGR (H, W, 3), rounded; what every sink receives."""
    scaled = np.clip(img01, 0.0, 1.0)
    scaled *= np.float32(255.0)  # in place: the same values, two passes fewer
    scaled += np.float32(0.5)
    u8 = scaled.astype(np.uint8)
    if u8.ndim == 3 and u8.shape[2] == 1:
        u8 = u8[..., 0]
    bgr: np.ndarray = cv2.cvtColor(u8, cv2.COLOR_GRAY2BGR if u8.ndim == 2 else cv2.COLOR_RGB2BGR)
    return bgr
