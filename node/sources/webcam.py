"""`webcam:N[?width=W&height=H&fps=F]`: a camera through OpenCV's VideoCapture."""

from __future__ import annotations

import cv2
import numpy as np

from node.errors import SourceError, SpecError
from node.sources.base import Source
from node.support.spec import Spec, SpecOptions, sane_fps

MAX_INDEX = 999  # OpenCV reads an index of 100 and more as a backend choice plus an index

# OpenCV prints its own warnings for every failed open; the node says it once, in its own words.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class WebcamSource(Source):
    """A camera by index. Width, height and fps are requests: the driver may pick others."""

    scheme = "webcam"
    paced = False

    def __init__(self, spec: Spec, index: int, width: int, height: int, fps: float) -> None:
        super().__init__(spec)
        self.index = index
        self.requested = (width, height, fps)
        self.fps = fps
        self._cap: cv2.VideoCapture | None = None

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> WebcamSource:
        target = spec.target or "0"
        # isascii: str.isdigit also takes digits int() refuses, such as a superscript two
        if not (
            target.isascii() and target.isdigit() and len(target) <= 4 and int(target) <= MAX_INDEX
        ):
            raise SpecError(
                f"{spec.label}: a webcam is chosen by index 0..{MAX_INDEX}, e.g. webcam:0"
            )
        opts = SpecOptions(spec)
        width = opts.get_int("width", 640)
        height = opts.get_int("height", 480)
        fps = opts.get_float("fps", 30.0) or 30.0
        opts.done()
        return cls(spec, int(target), width, height, fps)

    def open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: no camera at index {self.index}")
        width, height, fps = self.requested
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        ok, first = cap.read()
        if not ok:
            cap.release()
            raise SourceError(f"{self.name}: the camera opened but delivers no frames")
        self.frame_size = (first.shape[1], first.shape[0])
        self.fps = sane_fps(cap.get(cv2.CAP_PROP_FPS), fps)  # a driver may report 0 or NaN
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceError(f"{self.name}: not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name}: the camera stopped delivering frames")
        return np.asarray(frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
