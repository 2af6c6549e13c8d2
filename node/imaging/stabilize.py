"""Motion-aware stabilisation: still parts of the picture stay still, moving parts stay sharp.

Sensor noise makes the sensitive default Canny redraw its edges every frame, and the model
repaints them: a still scene flickers. The 2017 lerps trade that flicker for trails. This stage
holds the model input instead, pixel by pixel, wherever the capture has not really changed:

1. the capture (grey, lightly blurred so that noise averages out) is compared with a
   reference - the capture as it was when that pixel of the model input was last refreshed;
2. where it differs by more than `process.stable_motion` (0..255), the pixel counts as moving;
   the mask grows by `process.stable_grow` pixels, so an outline drawn beside a moving edge
   follows it;
3. moving pixels take the new model input and refresh their reference; the others keep the
   input (and reference) they had.

A deterministic model fed the same input paints the same picture, so a still scene is as
still as the model; motion passes through the same frame, with no trail. Slow drift (light
changing) accumulates against the reference until it crosses the threshold, then updates.
A change of any processing parameter refreshes the whole input at once: a fader moves the
picture on the next frame, still scene or not. `process.stable_motion` 0 turns the stage off
(the default: the 2017 behaviour).
"""

from __future__ import annotations

import cv2
import numpy as np

from node.state.params import ParamSnapshot

BLUR_SIGMA = 1.0  # noise averaging before the comparison, in pixels of the model's size


def _settings(p: ParamSnapshot) -> tuple[object, ...]:
    """The parameters that shape the model input, but the stage's own."""
    return tuple(
        (key, p[key])
        for key in p
        if key.startswith(("process.", "capture.")) and not key.startswith("process.stable_")
    )


def _grey(source: np.ndarray) -> np.ndarray:
    """The capture (float 0..1, 1 or 3 channels) as blurred grey in 0..255."""
    grey = source if source.ndim == 2 or source.shape[2] == 1 else source.mean(axis=2)
    grey = grey.reshape(source.shape[:2]).astype(np.float32) * 255.0
    blurred: np.ndarray = cv2.GaussianBlur(grey, (0, 0), BLUR_SIGMA)
    return blurred


class Stabilizer:
    """Holds the last model input and, per pixel, the capture it was made from.

    Not thread-safe: the frame thread owns it (inside the Preprocessor). The state restarts
    when the size changes or the stage is turned off.
    """

    def __init__(self) -> None:
        self._held: np.ndarray | None = None  # the model input as last published per pixel
        self._reference: np.ndarray | None = None  # blurred grey capture behind `_held`
        self._settings: tuple[object, ...] = ()  # the processing `_held` was made with
        self.moving = 1.0  # the share of pixels that took the new input last frame

    def reset(self) -> None:
        self._held = self._reference = None
        self.moving = 1.0

    def __call__(
        self, source: np.ndarray, image: np.ndarray, p: ParamSnapshot, repeat: bool = False
    ) -> np.ndarray:
        """The model input to use: `image` where the capture moved, the held input elsewhere."""
        threshold = p.as_int("process.stable_motion")
        if threshold <= 0:
            self.reset()
            return image
        settings = _settings(p)
        held, reference = self._held, self._reference
        if held is None or reference is None or held.shape != image.shape:
            fresh = True
        else:
            fresh = settings != self._settings
        if fresh:  # first frame, a new size, or the processing changed: take it all
            self._held, self._reference, self._settings = image.copy(), _grey(source), settings
            self.moving = 1.0
            return image
        assert held is not None and reference is not None
        if repeat:  # the same capture again: nothing moved
            self.moving = 0.0
            return held.copy()
        grey = _grey(source)
        moving = (np.abs(grey - reference) > threshold).astype(np.uint8)
        grow = p.as_int("process.stable_grow")
        if grow > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
            moving = cv2.dilate(moving, kernel)
        self.moving = float(moving.mean())
        mask = moving.astype(bool)
        reference[mask] = grey[mask]
        held[mask] = image[mask]
        return held.copy()
