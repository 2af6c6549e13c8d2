"""Shared fixtures: fixed test images, a small real model, sources that misbehave on purpose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from node.frames import Frame
from node.inference.controls import ModelControl
from node.inference.model import TensorSpec
from node.sinks.base import Sink
from node.sources.synthetic import SyntheticScene


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test (and every node it starts) gets its own HOME: the last-state file and user
    presets under ~/.config never leak between tests or into the developer's own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def photo() -> np.ndarray:
    """A fixed 640x480 BGR frame with structure: the synthetic scene's frame 42 plus noise."""
    rng = np.random.default_rng(7)
    img = SyntheticScene(640, 480, 30).draw(42).astype(np.int16)
    img += rng.integers(-12, 13, img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def frames() -> list[np.ndarray]:
    scene = SyntheticScene(320, 240, 30)
    return [scene.draw(k) for k in range(0, 40, 4)]


class NegateModel:
    """A real image-to-image function behind the Model protocol: out = -in, channels reversed.

    Its effect is known exactly, so a test can tell a predicted frame from a passed-through one.
    """

    def __init__(self, size: int = 128, channels: int = 3) -> None:
        self.name = f"negate{size}"
        self.input_spec = TensorSpec((size, size, channels), (-1.0, 1.0))
        self.output_spec = TensorSpec((size, size, 3), (-1.0, 1.0))
        self.where = self.name
        self.variant = "numpy"
        self.cheap_first_run = True
        self.controls: tuple[ModelControl, ...] = ()
        self.calls = 0
        self.closed = False

    def predict(
        self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        assert batch.dtype == np.float32 and batch.ndim == 4
        assert batch.min() >= -1.0 and batch.max() <= 1.0
        self.calls += 1
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        return -batch[..., ::-1]

    def close(self) -> None:
        self.closed = True


class ListSink(Sink):
    """Keeps every frame it is given (in memory), for assertions."""

    scheme = "list"

    def __init__(self) -> None:
        from node.support.spec import Spec

        super().__init__(Spec("list", "", {}, "list"))
        self.frames: list[Frame] = []
        self.opened = 0
        self.closed = 0
        self.got_frame = threading.Event()

    @classmethod
    def from_spec(cls, spec: object, *, realtime: bool) -> ListSink:
        return cls()

    def open(self, fps: float) -> None:
        self.opened += 1

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.got_frame.set()

    def close(self) -> None:
        self.closed += 1


def write_video(path: str, count: int, size: tuple[int, int] = (160, 120), fps: float = 25) -> None:
    """A small real MJPEG/mp4v video whose frame k is filled with grey level 20*k % 256."""
    codec = "MJPG" if path.endswith(".avi") else "mp4v"
    writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*codec), fps, size)
    assert writer.isOpened()
    for k in range(count):
        img = np.full((size[1], size[0], 3), (20 * k) % 256, np.uint8)
        cv2.putText(img, str(k), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(img)
    writer.release()


def read_video(path: str) -> list[np.ndarray]:
    cap = cv2.VideoCapture(path)
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """make(**ControlSettings fields) -> a running control service on 127.0.0.1 with a
    receiving inbox as its feedback port (see osc_helpers.py)."""
    pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
    from osc_helpers import running_rigs

    with running_rigs(tmp_path) as make:
        yield make


@pytest.fixture
def rig(rig_factory: Callable[..., Any]) -> Any:
    return rig_factory()
