"""`vcam[:DEVICE]?backend=B&width=1280&height=720&fps=F&view=V`: the picture as a webcam that
Zoom, Teams, OBS or a browser can pick (pyvirtualcam, extra `[vcam]`).

The camera's size and rate are fixed when it opens (`size=WxH` sets it too); each frame is
fitted into it (scaled, with black bars, never stretched; or `fit=cover|stretch`) and sent as
RGB. Backends: OBS Virtual Camera (Windows, macOS; OBS
30+ installed), Unity Capture (Windows), v4l2loopback (Linux: `modprobe v4l2loopback
exclusive_caps=1`). When none works the error lists each backend's own reason, and the other
sinks go on.
"""

from __future__ import annotations

import sys
from typing import Any

import cv2

from node.errors import SinkError, SpecError
from node.frames import PREDICTION, Frame
from node.sinks.base import Sink, SinkSpec, view_option
from node.sinks.shape import OutputShape, shaped
from node.support.spec import Spec, SpecOptions

HINTS = {
    "linux": "on Linux: sudo modprobe v4l2loopback exclusive_caps=1 card_label=pix2pix-node",
    "darwin": "on macOS: install OBS 30+ and start its virtual camera once",
    "win32": "on Windows: install OBS 30+ (its virtual camera) or Unity Capture",
}


class VcamSink(Sink):
    scheme = "vcam"

    def __init__(
        self,
        spec: Spec,
        device: str | None,
        backend: str | None,
        size: tuple[int, int],
        fps: float | None,
        *,
        view: str = PREDICTION,
    ) -> None:
        super().__init__(spec, view=view)
        self.device, self.backend = device, backend
        self.width, self.height = size
        self.fps_option = fps
        self._camera: Any = None

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> VcamSink:
        opts = SpecOptions(spec)
        backend = opts.get_str("backend", "") or None
        width = opts.get_int("width", 1280, minimum=16)
        height = opts.get_int("height", 720, minimum=16)
        fps = opts.get_float("fps", None)
        view = view_option(spec, opts)
        opts.done()
        if width % 2 or height % 2:
            raise SpecError(f"{spec.label}: width and height must be even (camera formats need it)")
        shape = spec.shape if isinstance(spec, SinkSpec) else None
        if shape is not None:  # `size` is the camera's size (it wins over width and height)
            if shape.width % 2 or shape.height % 2:
                raise SpecError(f"{spec.label}: size must be even (camera formats need it)")
            width, height = shape.size
        return cls(spec, spec.target.strip() or None, backend, (width, height), fps, view=view)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import pyvirtualcam  # noqa: F401
        except ImportError:
            return "pyvirtualcam is not installed: pip install 'pix2pix-node[vcam]'"
        return None

    def open(self, fps: float) -> None:
        missing = self.unavailable_reason()
        if missing:
            raise SinkError(f"{self.name}: {missing}")
        import pyvirtualcam

        try:
            self._camera = pyvirtualcam.Camera(
                self.width,
                self.height,
                self.fps_option or fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=self.device,
                backend=self.backend,
            )
        except Exception as exc:  # pyvirtualcam's message names every backend's own reason
            hint = HINTS.get(sys.platform, "")
            raise SinkError(
                f"{self.name}: no virtual camera: {exc}" + (f" ({hint})" if hint else "")
            ) from None
        self.device = self._camera.device

    def write(self, frame: Frame) -> None:
        if self._camera is None:
            raise SinkError(f"{self.name}: not open")
        # the camera's size is fixed when it opens: every frame is fitted into it (the
        # `fit` asked for, else contain: black bars, never stretched)
        shape = self.shape or OutputShape(self.width, self.height)
        rgb = cv2.cvtColor(shaped(frame.image, shape), cv2.COLOR_BGR2RGB)
        self._camera.send(rgb)

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
