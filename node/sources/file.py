"""`file:PATH`: a video file, a still image, or a folder of images.

Live (`run`) it loops, paced at the file's frame rate; offline (`render`) it plays once and ends.

What is on disk is outside input: images are read from regular files only (a FIFO or a device
named like an image is refused, not waited on), up to `MAX_IMAGE_BYTES`, and a folder is listed
up to `MAX_FOLDER_ENTRIES` entries. A folder opens only if one of its first `PROBE_IMAGES`
images decodes, so a folder of broken files is a clear error at start, not an endless reopen.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from node.errors import EndOfStream, SourceError, SpecError
from node.sources.base import Source
from node.support.boundedread import FileRefusedError, read_bounded
from node.support.files import HomeFolderError, expand_user
from node.support.logformat import error_line
from node.support.spec import Spec, SpecOptions, sane_fps

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
MAX_IMAGE_BYTES = 256 * 1024 * 1024
MAX_FOLDER_ENTRIES = 1_000_000  # looked at when listing a folder; the rest are ignored
PROBE_IMAGES = 8  # tried at open, until one decodes
MAX_FRAME_COUNT = 10**12  # a container's frame count beyond this (or NaN) is "unknown"


class UnreadableImage(Exception):
    """An image file that cannot be used; the message says why, in a few words."""


def read_image(path: Path, limit: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """Decode the image at `path` as BGR; raise UnreadableImage saying why not.

    Read through `read_bounded` (regular files only, never blocking, at most `limit` bytes),
    so a file swapped for a FIFO or a link to /dev/zero between listing and reading is
    refused all the same. OpenCV's own errors (an image declaring 100000x100000 pixels)
    become one line.
    """
    try:
        data = read_bounded(path, limit)
    except FileRefusedError as exc:
        raise UnreadableImage(exc.reason) from None
    except OSError as exc:
        raise UnreadableImage(f"cannot read it: {exc.strerror}") from None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise UnreadableImage(error_line(exc)) from None
    if image is None:
        raise UnreadableImage("not an image OpenCV can decode")
    return np.asarray(image)


def frame_count_from(value: float) -> int | None:
    """A container's frame count, or None when it is unknown or not believable (NaN, inf,
    negative or absurdly large: int() of NaN would raise)."""
    if not math.isfinite(value) or not 0 < value <= MAX_FRAME_COUNT:
        return None
    return int(value)


def list_images(folder: Path, limit: int = MAX_FOLDER_ENTRIES) -> list[Path]:
    """The regular image files in `folder`, sorted by name; looks at `limit` entries at most."""
    found: list[Path] = []
    with os.scandir(folder) as entries:
        for seen, entry in enumerate(entries):
            if seen >= limit:
                log.warning("%s: looked at %d entries only; the rest are ignored", folder, limit)
                break
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
                found.append(Path(entry.path))  # is_file: FIFOs and devices are left out
    return sorted(found)


class FileSource(Source):
    """Frames from disk. `fps` defaults to the video's own rate, or 30 for images."""

    scheme = "file"

    def __init__(self, spec: Spec, path: Path, loop: bool, fps: float | None) -> None:
        super().__init__(spec)
        self.path = path
        self.loop = loop
        self._fps_option = fps
        self.fps = fps or 30.0
        self._cap: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        self._still: np.ndarray | None = None
        self._pending: np.ndarray | None = None  # the folder's first image, decoded at open
        self._position = 0
        self._bad_images: set[Path] = set()

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> FileSource:
        if not spec.target:
            raise SpecError(f"{spec.label}: give a path, e.g. file:clip.mp4 or file:images/")
        opts = SpecOptions(spec)
        fps = opts.get_float("fps", None)
        opts.done()
        try:
            path = expand_user(spec.target)
        except HomeFolderError as exc:
            raise SpecError(f"{spec.label}: {exc}") from None
        return cls(spec, path, loop, fps)

    def open(self) -> None:
        self.close()
        self._position = 0
        try:
            self._open_path()
        except OSError as exc:  # a name too long, a folder we may not list
            raise SourceError(f"{self.name}: cannot read {self.path}: {exc.strerror}") from None

    def _open_path(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{self.name}: no such file or folder: {self.path}")
        if self.path.is_dir():
            self._open_folder()
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                self._still = read_image(self.path)
            except UnreadableImage as exc:
                raise SourceError(
                    f"{self.name}: cannot read the image {self.path} ({exc})"
                ) from None
            self.frame_count = 1
            self.frame_size = (self._still.shape[1], self._still.shape[0])
        else:
            self._open_video()

    def _open_folder(self) -> None:
        images = list_images(self.path)
        if not images:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"{self.name}: no images ({kinds}) in {self.path}")
        reasons: dict[Path, UnreadableImage] = {}
        for index, path in enumerate(images[:PROBE_IMAGES]):
            try:
                self._pending = read_image(path)
            except UnreadableImage as exc:
                reasons[path] = exc
                continue
            for bad, why in reasons.items():
                self._skip(bad, why)
            self._images, self._position = images, index + 1
            self.frame_count = len(images)
            # the first picture's size, known before the model is fitted to the capture
            self.frame_size = (self._pending.shape[1], self._pending.shape[0])
            return
        first, why = next(iter(reasons.items()))
        raise SourceError(
            f"{self.name}: none of the first {len(reasons)} images in {self.path} can be "
            f"decoded ({first.name}: {why})"
        )

    def _open_video(self) -> None:
        try:
            cap = cv2.VideoCapture(str(self.path))
        except cv2.error as exc:
            raise SourceError(f"{self.name}: cannot open {self.path}: {error_line(exc)}") from None
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot decode {self.path} as a video or an image")
        self._cap = cap
        self.fps = self._fps_option or sane_fps(cap.get(cv2.CAP_PROP_FPS))
        self.frame_count = frame_count_from(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if width >= 1 and height >= 1:  # (a container may not say: then the first frame does)
            self.frame_size = (int(width), int(height))

    def read(self) -> np.ndarray:
        if self._cap is not None:
            return self._read_video(self._cap)
        if self._still is not None:
            if not self.loop and self._position > 0:
                raise EndOfStream(self.name)
            self._position += 1
            return self._still
        if self._images:
            return self._read_folder()
        raise SourceError(f"{self.name}: not open")

    def _read_video(self, cap: cv2.VideoCapture) -> np.ndarray:
        ok, frame = cap.read()
        if ok and frame is not None:
            self._position += 1
            return np.asarray(frame)
        if self._position == 0:
            raise SourceError(f"{self.name}: {self.path} holds no decodable frame")
        if not self.loop:
            raise EndOfStream(self.name)
        # Rewinding is not reliable for every container; reopening always is.
        self.close()
        self._position = 0
        self._open_video()
        assert self._cap is not None
        return self._read_video(self._cap)

    def _read_folder(self) -> np.ndarray:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        for _ in range(len(self._images)):
            if self._position >= len(self._images):
                if not self.loop:
                    raise EndOfStream(self.name)
                self._position = 0
            path = self._images[self._position]
            self._position += 1
            try:
                return read_image(path)
            except UnreadableImage as exc:
                self._skip(path, exc)
        raise SourceError(f"{self.name}: none of the images in {self.path} can be read")

    def _skip(self, path: Path, why: UnreadableImage) -> None:
        """Say once per file that it is skipped, and why."""
        if path not in self._bad_images:
            self._bad_images.add(path)
            log.warning("%s: skipping unreadable image %s (%s)", self.name, path, why)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._still = None
        self._pending = None
        self._images = []
