"""The virtual camera through pyvirtualcam's own API, with a registered test backend standing in
for the device (there is no /dev/video* here), and the readable error when none works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="install the [vcam] extra")

from conftest import NegateModel  # noqa: E402
from helpers import SCENE, wait_for  # noqa: E402

from node.errors import SinkError, SpecError  # noqa: E402
from node.frames import Frame  # noqa: E402
from node.pipeline import Pipeline  # noqa: E402
from node.sinks import create_sink  # noqa: E402
from node.sinks.vcam import VcamSink  # noqa: E402
from node.sources import create_source  # noqa: E402
from node.state.params import ParamStore  # noqa: E402


class RecordingCamera:
    """A pyvirtualcam backend that keeps what it is sent (the contract of pyvirtualcam.Backend)."""

    instances: ClassVar[list[RecordingCamera]] = []

    def __init__(
        self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any
    ) -> None:
        self.size, self.fps, self.fourcc = (width, height), fps, fourcc
        self.name = device or "test-cam"
        self.frames: list[np.ndarray] = []
        self.closed = 0
        RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self.name

    def native_fourcc(self) -> int | None:
        return None


@pytest.fixture(autouse=True)
def test_backend() -> Iterator[None]:
    pyvirtualcam.register_backend("test", RecordingCamera)
    RecordingCamera.instances.clear()
    yield
    pyvirtualcam.camera.BACKENDS.pop("test", None)  # not left for other tests


def test_frames_arrive_fitted_as_rgb_at_the_cameras_size() -> None:
    sink = create_sink("vcam:stage-cam?backend=test&width=320&height=180")
    assert isinstance(sink, VcamSink)
    source = create_source(SCENE)
    source.open()
    sink.open(source.fps)
    pipeline = Pipeline(source, [sink], ParamStore(), NegateModel())
    pipeline.start()
    try:
        camera = RecordingCamera.instances[-1]
        wait_for(lambda: len(camera.frames) >= 5)
    finally:
        pipeline.stop()
    assert camera.size == (320, 180) and camera.fps == source.fps and sink.device == "stage-cam"
    assert camera.fourcc == pyvirtualcam.camera.encode_fourcc("raw ")  # RGB
    frame = camera.frames[-1]
    assert frame.size == 320 * 180 * 3
    image = frame.reshape(180, 320, 3)
    assert image[:, :70].max() == 0 and image[:, -70:].max() == 0  # bars: a square, not stretched
    assert image[:, 80:240].max() > 0
    assert camera.closed == 1


def test_size_sets_the_cameras_size_and_cover_fills_it() -> None:
    sink = create_sink("vcam?backend=test&size=320x180&fit=cover")
    sink.open(30.0)
    try:
        square = np.full((64, 64, 3), 200, np.uint8)
        sink.send(Frame(square, 0, 0.0))
        camera = RecordingCamera.instances[-1]
        assert camera.size == (320, 180)
        image = camera.frames[-1].reshape(180, 320, 3)
        assert image.min() == 200  # no bars: the square is scaled to fill and cropped
    finally:
        sink.close()
    with pytest.raises(SpecError, match="size must be even"):
        create_sink("vcam?backend=test&size=321x180")


def test_no_device_is_a_readable_error_and_bad_specs_are_refused() -> None:
    real = [name for name in pyvirtualcam.camera.BACKENDS if name != "test"]
    if not real:
        pytest.skip("pyvirtualcam has no backend for this platform")
    sink = create_sink(f"vcam:no-such-camera-here?backend={real[0]}")
    with pytest.raises(SinkError, match=rf"no virtual camera: .*{real[0]}"):
        sink.open(30.0)
    for text, needle in [("vcam?width=321", "must be even"), ("vcam?view=side", "view must be")]:
        with pytest.raises(SpecError, match=needle):
            create_sink(text)


@pytest.mark.slow
def test_a_virtual_camera_that_cannot_open_does_not_stop_the_node() -> None:
    """`run --sink null --sink vcam` with no camera device: the node runs, vcam retries."""
    from helpers import free_port, node

    real = [name for name in pyvirtualcam.camera.BACKENDS if name != "test"]
    if not real:
        pytest.skip("pyvirtualcam has no backend for this platform")
    spec = f"vcam:no-such-camera-here?backend={real[0]}"
    result = node(
        "run",
        "--source",
        "synthetic",
        "--sink",
        "null",
        "--sink",
        spec,
        "--frames",
        "10",
        "--osc-port",
        str(free_port()),
        "--oscquery-port",
        "0",
        "--no-zeroconf",
    )
    assert result.returncode == 0, result.stderr
    assert "no virtual camera" in result.stderr and "the other outputs go on" in result.stderr
