"""`?size=WxH&fit=contain|cover|stretch` on every sink: the shapes are exact, the scaling runs
on the sink's thread, and a bad value is one clear line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import node

from node.errors import SpecError
from node.frames import Frame
from node.sinks import SINKS, create_sink
from node.sinks.null import NullSink
from node.sinks.shape import OutputShape, shaped


def square(side: int = 100) -> np.ndarray:
    """A red square with a white cross, to see where each part lands."""
    image = np.zeros((side, side, 3), np.uint8)
    image[..., 2] = 255
    image[side // 2 - 2 : side // 2 + 2, :] = 255
    image[:, side // 2 - 2 : side // 2 + 2] = 255
    return image


def test_contain_puts_the_whole_picture_on_black_bars() -> None:
    out = shaped(square(), OutputShape(200, 100, "contain"))
    assert out.shape == (100, 200, 3)
    assert out[:, :50].max() == 0 and out[:, 150:].max() == 0  # the bars
    assert out[10, 60, 2] == 255 and out[10, 60, 0] == 0  # red inside
    assert out[50, 100].min() > 200  # the cross's centre at the centre


def test_cover_fills_the_size_and_crops_what_overflows_centred() -> None:
    out = shaped(square(), OutputShape(200, 100, "cover"))
    assert out.shape == (100, 200, 3)
    assert out[..., 2].min() == 255  # red or white everywhere: no bars
    assert out[50, 100].min() > 200 and out[5, 100].min() > 200  # the vertical bar, centred
    assert out[5, 5, 0] == 0  # a corner is red: the square's top and bottom were cropped


@pytest.mark.parametrize(
    ("source", "size", "exact"),
    [((256, 256), (1920, 1080), True), ((512, 288), (1920, 1080), True),
     ((332, 248), (1920, 1080), False), ((37, 91), (200, 100), False)],
)  # fmt: skip
def test_cover_scales_up_only_what_it_keeps_and_gives_the_same_picture(
    source: tuple[int, int], size: tuple[int, int], exact: bool
) -> None:
    """Scaling the whole picture and cutting it is the reference; cutting first scales less
    (a square to 16:9: 56% of it) and places the picture within half an output pixel."""
    w, h = source
    noise = np.random.default_rng(0).random((h, w, 3)) * 255
    image = cv2.GaussianBlur(noise.astype(np.uint8), (5, 5), 0)
    scale = max(size[0] / w, size[1] / h)
    new_w, new_h = round(w * scale), round(h * scale)
    whole = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    top, left = (new_h - size[1]) // 2, (new_w - size[0]) // 2
    expected = whole[top : top + size[1], left : left + size[0]].astype(int)
    out = shaped(image, OutputShape(*size, "cover"))
    assert out.shape == (size[1], size[0], 3) and out.flags.c_contiguous
    error = np.abs(out.astype(int) - expected)
    assert error.max() == 0 if exact else error.mean() < 1.0


def test_stretch_fills_the_size_and_changes_the_aspect() -> None:
    out = shaped(square(), OutputShape(300, 100, "stretch"))
    assert out.shape == (100, 300, 3)
    rows = np.flatnonzero(out[:, 10, 0] > 128)
    cols = np.flatnonzero(out[10, :, 0] > 128)
    assert 2 <= len(rows) <= 6 and 9 <= len(cols) <= 15  # the cross's bars, 3x wider only


def test_upscaling_is_smooth_not_blocky_and_keeps_edges_sharp() -> None:
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))[..., None].repeat(3, 2)
    out = shaped(ramp, OutputShape(256, 256, "stretch"))
    nearest = cv2.resize(ramp, (256, 256), interpolation=cv2.INTER_NEAREST)
    assert len(np.unique(out[128, :, 0])) > 4 * len(np.unique(nearest[128, :, 0]))
    edge = np.zeros((16, 16, 3), np.uint8)
    edge[:, 8:] = 255
    row = shaped(edge, OutputShape(256, 256, "stretch"))[128, :, 0].astype(int)
    linear = cv2.resize(edge, (256, 256), interpolation=cv2.INTER_LINEAR)[128, :, 0].astype(int)

    def soft(r: np.ndarray) -> int:
        return int(np.count_nonzero((r > 25) & (r < 230)))

    assert soft(row) <= soft(linear)  # bicubic's ramp is no wider than bilinear's


def test_the_same_size_is_passed_as_it_is() -> None:
    image = square(64)
    assert shaped(image, OutputShape(64, 64, "cover")) is image


class Recording(NullSink):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sizes: list[tuple[int, int]] = []

    def write(self, frame: Frame) -> None:
        self.sizes.append(frame.size)


def test_every_sink_takes_a_size_and_is_named_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(SINKS._registered, "recording", Recording)
    sink = create_sink("recording?size=1920x1080&fit=cover")
    assert isinstance(sink, Recording) and sink.name == "recording?size=1920x1080&fit=cover"
    sink.send(Frame(square(256), 0, 0.0))
    assert sink.sizes == [(1920, 1080)]
    null = create_sink("null?size=64x32")
    assert null.shape == OutputShape(64, 32, "contain")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("null?size=0x0", "each side must be 16..8192"),
        ("null?size=abc", "size must be WIDTHxHEIGHT"),
        ("null?size=9000x9000", "each side must be 16..8192"),
        ("null?size=8000x8000", "larger than 8K"),
        ("null?size=640x360&fit=zoom", "fit must be one of contain, cover, stretch"),
        ("null?fit=cover", "fit needs a size"),
    ],
)
def test_bad_sizes_and_fits_are_refused(spec: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        create_sink(spec)


@pytest.mark.slow
def test_a_bad_size_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = node("run", "--sink", "ndi?size=0x0", "--frames", "1", "--no-restore-last")
    assert done.returncode == 2, done.stderr
    assert "size 0x0: each side must be 16..8192" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
