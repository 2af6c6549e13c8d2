"""A live Matroska stream of JPEG frames (`V_MJPEG`), each frame stamped with its time.

Why: a multipart MJPEG stream carries no timing, so a player that is not a browser (ffmpeg,
hence OBS's Media Source) guesses 25 fps and falls further behind every second the node sends
30. Matroska carries a timestamp per frame; ffmpeg plays them at the pace they were made.

The writer is the few EBML elements a live stream needs: a header, a Segment of unknown size
(it never ends), one video track, then one Cluster per frame holding one SimpleBlock - so a
frame leaves the moment it is written (a general muxer holds a cluster back until the next
frame). The JPEG bytes are the preview's own; nothing is encoded twice.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_TYPE = "video/x-matroska"
TIMESTAMP_SCALE_NS = 1_000_000  # timestamps in milliseconds
UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"  # an 8-byte size of all ones: "live, open"
MAX_SIZE = 2**56 - 2  # the largest size an 8-byte EBML length holds

# Element IDs (with their length markers, as they are written).
EBML, EBML_VERSION, EBML_READ_VERSION = 0x1A45DFA3, 0x4286, 0x42F7
EBML_MAX_ID_LENGTH, EBML_MAX_SIZE_LENGTH = 0x42F2, 0x42F3
DOC_TYPE, DOC_TYPE_VERSION, DOC_TYPE_READ_VERSION = 0x4282, 0x4287, 0x4285
SEGMENT, INFO, TIMESTAMP_SCALE, MUXING_APP, WRITING_APP = (
    0x18538067,
    0x1549A966,
    0x2AD7B1,
    0x4D80,
    0x5741,
)
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_UID, TRACK_TYPE = (
    0x1654AE6B,
    0xAE,
    0xD7,
    0x73C5,
    0x83,
)
FLAG_LACING, CODEC_ID, DEFAULT_DURATION = 0x9C, 0x86, 0x23E383
VIDEO, PIXEL_WIDTH, PIXEL_HEIGHT = 0xE0, 0xB0, 0xBA
CLUSTER, CLUSTER_TIMESTAMP, SIMPLE_BLOCK = 0x1F43B675, 0xE7, 0xA3

TRACK = 1
VIDEO_TRACK_TYPE = 1
KEYFRAME = 0x80


def element_id(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def size_field(size: int) -> bytes:
    """EBML's variable-length size: the fewest bytes, a length marker in the first."""
    if not 0 <= size <= MAX_SIZE:
        raise ValueError(f"an EBML element of {size} bytes")
    length = 1
    while size >= (1 << (7 * length)) - 1:  # all ones is reserved for "unknown"
        length += 1
    return (size | (1 << (7 * length))).to_bytes(length, "big")


def element(ident: int, payload: bytes) -> bytes:
    return element_id(ident) + size_field(len(payload)) + payload


def uint(ident: int, value: int) -> bytes:
    return element(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def text(ident: int, value: str) -> bytes:
    return element(ident, value.encode("ascii"))


@dataclass(frozen=True)
class StreamHeader:
    """What a player needs before the first frame."""

    width: int
    height: int
    fps: float
    app: str = "pix2pix-node"

    def encode(self) -> bytes:
        ebml = element(
            EBML,
            uint(EBML_VERSION, 1)
            + uint(EBML_READ_VERSION, 1)
            + uint(EBML_MAX_ID_LENGTH, 4)
            + uint(EBML_MAX_SIZE_LENGTH, 8)
            + text(DOC_TYPE, "matroska")
            + uint(DOC_TYPE_VERSION, 4)
            + uint(DOC_TYPE_READ_VERSION, 2),
        )
        info = element(
            INFO,
            uint(TIMESTAMP_SCALE, TIMESTAMP_SCALE_NS)
            + text(MUXING_APP, self.app)
            + text(WRITING_APP, self.app),
        )
        video = element(VIDEO, uint(PIXEL_WIDTH, self.width) + uint(PIXEL_HEIGHT, self.height))
        entry = (
            uint(TRACK_NUMBER, TRACK)
            + uint(TRACK_UID, TRACK)
            + uint(TRACK_TYPE, VIDEO_TRACK_TYPE)
            + uint(FLAG_LACING, 0)
            + text(CODEC_ID, "V_MJPEG")
        )
        if self.fps > 0:  # a hint for the player's probe; every frame carries its own time
            entry += uint(DEFAULT_DURATION, round(1e9 / self.fps))
        tracks = element(TRACKS, element(TRACK_ENTRY, entry + video))
        segment = element_id(SEGMENT) + UNKNOWN_SIZE
        return ebml + segment + info + tracks


def frame_cluster(jpeg: bytes, millis: int) -> bytes:
    """One frame as its own Cluster: its time (ms from the stream's start) and one keyframe."""
    block = size_field(TRACK) + (0).to_bytes(2, "big", signed=True) + bytes([KEYFRAME]) + jpeg
    return element(CLUSTER, uint(CLUSTER_TIMESTAMP, millis) + element(SIMPLE_BLOCK, block))


class MatroskaStream:
    """One viewer's stream: `encode` gives the bytes to send for each frame - the header
    before the first (its size from that frame), then the frame stamped in milliseconds since
    the viewer's first frame, never going back (a frame older than the last one sent gets the
    last one's time)."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._start: float | None = None
        self._last = 0

    def encode(self, jpeg: bytes, t_capture: float, size: tuple[int, int]) -> bytes:
        head = b""
        if self._start is None:
            self._start = t_capture
            head = StreamHeader(size[0], size[1], self.fps).encode()
        self._last = max(self._last, round((t_capture - self._start) * 1000))
        return head + frame_cluster(jpeg, self._last)
