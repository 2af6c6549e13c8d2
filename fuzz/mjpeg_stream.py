"""Fuzz target: another node's MJPEG stream as node:NAME?via=preview reads it
(node/network/previewstream.py part_length, then the JPEG decode), part after part.

Every outcome is a frame length within MAX_JPEG or a BadStream; at most MAX_HEADERS * 2 lines of
at most MAX_LINE bytes are read a part, so a hostile stream costs bounded work."""

from __future__ import annotations

import io

import cv2
import numpy as np

from fuzz.harness import guarded
from node.network.previewstream import MAX_HEADERS, MAX_JPEG, MAX_LINE, BadStream, part_length


class Unbounded(Exception):
    """A part that read more than its bounds allow."""


@guarded(expected=(BadStream,))
def TestOneInput(data: bytes) -> None:
    stream = io.BytesIO(data)
    for _ in range(8):  # a few parts
        before = stream.tell()
        length = part_length(stream.readline)
        if not 0 <= length <= MAX_JPEG:
            raise Unbounded(f"a frame length of {length}")
        if stream.tell() - before > MAX_HEADERS * 2 * (MAX_LINE + 1):
            raise Unbounded(f"{stream.tell() - before} bytes of headers read for one part")
        jpeg = stream.read(length)
        if len(jpeg) == length and jpeg:
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
