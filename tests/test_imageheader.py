"""A picture's size read from its header, before decoding: right for every format OpenCV
writes here, None for what is no picture or is cut short, and bounded on junk."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from node.support.imageheader import image_size


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp"])
@pytest.mark.parametrize(("width", "height"), [(37, 21), (640, 480), (17, 300)])
def test_the_header_gives_the_size_opencv_decodes(suffix: str, width: int, height: int) -> None:
    image = np.random.default_rng(1).integers(0, 255, (height, width, 3), np.uint8)
    ok, encoded = cv2.imencode(suffix, image)
    assert ok
    data = encoded.tobytes()
    assert image_size(data) == (width, height)
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[1::-1] == image_size(data)


def test_lossless_webp_and_a_progressive_jpeg_too() -> None:
    image = np.full((33, 65, 3), 120, np.uint8)
    _, lossless = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])
    _, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert image_size(lossless.tobytes()) == (65, 33)
    assert image_size(progressive.tobytes()) == (65, 33)


def test_a_claim_is_read_without_the_picture_behind_it() -> None:
    ihdr = struct.pack(">4sII5B", b"IHDR", 100_000, 90_000, 8, 2, 0, 0, 0)
    assert image_size(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr) == (100_000, 90_000)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a picture",
        b"\x89PNG\r\n\x1a\n",  # cut short
        b"\xff\xd8\xff\xe0\x00",  # a JPEG cut in its first segment
        b"\xff\xd8" + b"\xff\xe1\x00\x02" * 200_000,  # 200000 empty segments, no frame
        b"\xff\xd8\xff\xda\x00\x08",  # the scan starts before any frame header
        b"RIFF\x00\x00\x00\x00WEBPJUNK",
        b"BM\x00",
    ],
)
def test_no_picture_or_a_cut_one_is_none(data: bytes) -> None:
    assert image_size(data) is None
