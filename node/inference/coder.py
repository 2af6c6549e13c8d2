"""An image control's helper model at work: a picture in, its code out (a painting -> the
100 numbers of its style), run off the frame thread."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

import cv2
import numpy as np

from node.inference.controls import Helper, ModelControl
from node.inference.descriptor import ModelError
from node.inference.pictures import StylePictures


class PictureCoder:
    """Loads the helper once (ONNX Runtime, one thread: it runs beside the frames) and codes
    pictures: centre square, resized to its side, RGB in 0..1, NHWC."""

    def __init__(self, helper: Helper) -> None:
        self.helper = helper
        self._lock = threading.Lock()
        self._session: object | None = None

    def _load(self) -> object:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(
                str(self.helper.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(f"{self.helper.path}: cannot load the helper: {exc}") from None

    def code(self, bgr: np.ndarray) -> tuple[float, ...]:
        h, w = bgr.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = bgr[top : top + side, left : left + side]
        n = self.helper.side
        small = cv2.resize(square, (n, n), interpolation=cv2.INTER_AREA)
        batch = (cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[None]
        with self._lock:
            if self._session is None:
                self._session = self._load()
            session = self._session
            name = session.get_inputs()[0].name  # type: ignore[attr-defined]
            out = session.run(None, {name: batch})[0]  # type: ignore[attr-defined]
        return tuple(float(v) for v in np.asarray(out, np.float32).ravel())


def picture_codes(
    controls: Sequence[ModelControl], given: Collection[str], pictures: StylePictures
) -> dict[str, tuple[float, ...]]:
    """Each image control's code from its default picture, made now, on this thread (the ones
    whose value is `given` keep it): a render's frames are painted in the model's own style
    from the first, as a live swap paints them once its style coder is done."""
    codes: dict[str, tuple[float, ...]] = {}
    for control in controls:
        if control.kind != "image" or not control.picture or control.key in given:
            continue
        assert control.helper is not None  # (an image control has one: the descriptor says)
        codes[control.key] = PictureCoder(control.helper).code(pictures.load(control.picture))
    return codes
