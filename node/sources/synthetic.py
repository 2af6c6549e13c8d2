"""`synthetic[?width=W&height=H&fps=F&frames=N&on_demand=1]`: a built-in animated test scene.

It is what the node runs on when there is no camera, so it has what edge detection and a
pix2pix model feed on: a sky gradient, a sun, layered hills, a house, a turning windmill,
a bouncing ball, a passing figure, text and a timecode. Frame k is a pure function of k, so
every test and benchmark sees the same pictures. `on_demand=1` draws a frame whenever the node is
ready for one instead of `fps` times a second (the benchmark's source: the node's own ceiling);
the scene's clock still advances by 1/fps per frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from node.errors import EndOfStream, SourceError
from node.sources.base import Source
from node.support.spec import Spec, SpecOptions


def _hills(
    width: int, height: int, base: float, amp: float, freq: float, phase: float
) -> np.ndarray:
    xs = np.linspace(0, width, 48)
    ys = height * base - height * amp * (
        np.sin(xs / width * freq * math.tau + phase) * 0.6
        + np.sin(xs / width * freq * 2.3 * math.tau + phase * 1.7) * 0.4
    )
    pts = [*zip(xs, ys, strict=True), (width, height), (0, height)]
    return np.array(pts, dtype=np.int32)


class SyntheticScene:
    """Draws frame k of the scene at a given size; the static backdrop is drawn once."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.width, self.height, self.fps = width, height, fps
        self._backdrop = self._draw_backdrop()

    def _draw_backdrop(self) -> np.ndarray:
        w, h = self.width, self.height
        t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        top, bottom = np.array([120, 40, 20], np.float32), np.array([80, 170, 250], np.float32)
        sky = (top * (1 - t) + bottom * t)[:, None, :].repeat(w, axis=1)
        img = sky.reshape(h, w, 3).astype(np.uint8)
        cv2.fillPoly(img, [_hills(w, h, 0.62, 0.12, 1.3, 0.4)], (70, 90, 110), cv2.LINE_AA)
        return img

    def draw(self, k: int) -> np.ndarray:
        w, h, s = self.width, self.height, min(self.width, self.height)
        t = k / self.fps
        img = self._backdrop.copy()
        sun = (int(w * (0.15 + 0.7 * ((t * 0.03) % 1.0))), int(h * 0.22))
        cv2.circle(img, sun, int(s * 0.07), (90, 220, 255), -1, cv2.LINE_AA)
        cv2.fillPoly(img, [_hills(w, h, 0.75, 0.06, 2.1, t * 0.4)], (50, 120, 60), cv2.LINE_AA)
        self._house(img, int(w * 0.62), int(h * 0.78), s)
        self._windmill(img, int(w * 0.25), int(h * 0.6), s, t)
        ground = int(h * 0.9)
        cv2.rectangle(img, (0, ground), (w, h), (40, 70, 40), -1)
        for i in range(12):  # fence posts scrolling past
            x = int((i * w / 10 - t * w * 0.08) % (w * 1.2)) - int(w * 0.1)
            cv2.line(img, (x, ground), (x, ground - int(s * 0.06)), (200, 220, 230), 2, cv2.LINE_AA)
        cv2.line(
            img, (0, ground - int(s * 0.045)), (w, ground - int(s * 0.045)), (200, 220, 230), 2
        )
        bounce = abs(math.sin(t * 2.2))
        ball = (
            int(w * (0.5 + 0.4 * math.sin(t * 0.7))),
            int(ground - s * 0.05 - bounce * h * 0.35),
        )
        cv2.circle(img, ball, int(s * 0.05), (40, 40, 220), -1, cv2.LINE_AA)
        cv2.circle(img, ball, int(s * 0.05), (255, 255, 255), 2, cv2.LINE_AA)
        self._figure(img, int((t * w * 0.12) % (w * 1.3) - w * 0.15), ground, s, t)
        scale = s / 480
        cv2.putText(
            img,
            "pix2pix-node",
            (int(w * 0.04), int(h * 0.1)),
            cv2.FONT_HERSHEY_DUPLEX,
            1.1 * scale,
            (255, 255, 255),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        stamp = f"{int(t // 60):02d}:{t % 60:05.2f}  #{k}"
        cv2.putText(
            img,
            stamp,
            (int(w * 0.04), int(h * 0.97)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
        return img

    @staticmethod
    def _house(img: np.ndarray, x: int, y: int, s: int) -> None:
        u = int(s * 0.09)
        cv2.rectangle(img, (x - u, y - u), (x + u, y + u // 2), (180, 200, 230), -1)
        roof = np.array(
            [(x - int(u * 1.3), y - u), (x, y - 2 * u), (x + int(u * 1.3), y - u)], np.int32
        )
        cv2.fillPoly(img, [roof], (40, 50, 150), cv2.LINE_AA)
        cv2.rectangle(img, (x - u // 4, y - u // 8), (x + u // 4, y + u // 2), (30, 60, 100), -1)
        for dx in (-u * 3 // 4, u // 2):
            cv2.rectangle(
                img,
                (x + dx, y - u * 3 // 4),
                (x + dx + u // 3, y - u * 3 // 8),
                (255, 240, 200),
                -1,
            )

    @staticmethod
    def _windmill(img: np.ndarray, x: int, y: int, s: int, t: float) -> None:
        tower = np.array([(x - s // 40, y + s // 5), (x, y), (x + s // 40, y + s // 5)], np.int32)
        cv2.fillPoly(img, [tower], (220, 220, 220), cv2.LINE_AA)
        for i in range(4):
            a = t * 1.5 + i * math.pi / 2
            tip = (int(x + math.cos(a) * s * 0.13), int(y + math.sin(a) * s * 0.13))
            cv2.line(img, (x, y), tip, (250, 250, 250), max(2, s // 120), cv2.LINE_AA)
        cv2.circle(img, (x, y), max(2, s // 80), (60, 60, 60), -1, cv2.LINE_AA)

    @staticmethod
    def _figure(img: np.ndarray, x: int, ground: int, s: int, t: float) -> None:
        leg, body = int(s * 0.07), int(s * 0.09)
        hip, neck = (x, ground - leg), (x, ground - leg - body)
        swing = math.sin(t * 6.0) * s * 0.035
        colour, width = (30, 30, 30), max(2, s // 100)
        for sign in (1, -1):
            cv2.line(img, hip, (int(x + sign * swing), ground), colour, width, cv2.LINE_AA)
            cv2.line(
                img, neck, (int(x - sign * swing), neck[1] + body // 2), colour, width, cv2.LINE_AA
            )
        cv2.line(img, hip, neck, colour, width, cv2.LINE_AA)
        cv2.circle(img, (x, neck[1] - s // 40), s // 40, colour, -1, cv2.LINE_AA)


class SyntheticSource(Source):
    """The scene as a source: live it runs forever at `fps`; `frames=N` makes it finite."""

    scheme = "synthetic"

    def __init__(self, spec: Spec, width: int, height: int, fps: float, frames: int | None) -> None:
        super().__init__(spec)
        self.width, self.height, self.fps, self.frames = width, height, fps, frames
        self.frame_count = frames
        self._scene: SyntheticScene | None = None
        self._k = 0
        self.loop = True  # with frames=N: start again after N (live) or end (render)

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> SyntheticSource:
        opts = SpecOptions(spec)
        width = opts.get_int("width", 640, minimum=16)
        height = opts.get_int("height", 480, minimum=16)
        fps = opts.get_float("fps", 30.0) or 30.0
        frames = opts.get_int("frames", 0, minimum=0) or None
        on_demand = opts.get_bool("on_demand", False)
        opts.done()
        source = cls(spec, width, height, fps, frames)
        source.loop = loop
        source.on_demand = on_demand
        return source

    def open(self) -> None:
        self._scene = SyntheticScene(self.width, self.height, self.fps)
        self._k = 0
        self.frame_size = (self.width, self.height)

    def read(self) -> np.ndarray:
        if self._scene is None:
            raise SourceError(f"{self.name}: not open")
        if self.frames is not None and self._k >= self.frames:
            if not self.loop:
                raise EndOfStream(self.name)
            self._k = 0
        frame = self._scene.draw(self._k)
        self._k += 1
        return frame

    def close(self) -> None:
        self._scene = None
