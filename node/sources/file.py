"""`file:PATH`: a video file, a still image, or a folder of images.

Live (`run`) it loops, paced at the file's frame rate; offline (`render`) it plays once and ends.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from node.errors import EndOfStream, SourceError, SpecError
from node.sources.base import Source
from node.spec import Spec, SpecOptions

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


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
        self._position = 0
        self._bad_images: set[Path] = set()

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> FileSource:
        if not spec.target:
            raise SpecError(f"{spec}: give a path, e.g. file:clip.mp4 or file:images/")
        opts = SpecOptions(spec)
        fps = opts.get_float("fps", None)
        opts.done()
        return cls(spec, Path(spec.target).expanduser(), loop, fps)

    def open(self) -> None:
        self.close()
        self._position = 0
        if not self.path.exists():
            raise SourceError(f"{self.name}: no such file or folder: {self.path}")
        if self.path.is_dir():
            self._images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._images:
                kinds = ", ".join(sorted(IMAGE_SUFFIXES))
                raise SourceError(f"{self.name}: no images ({kinds}) in {self.path}")
            self.frame_count = len(self._images)
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._still = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
            if self._still is None:
                raise SourceError(f"{self.name}: cannot read the image {self.path}")
            self.frame_count = 1
        else:
            self._open_video()

    def _open_video(self) -> None:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot decode {self.path} as a video or an image")
        self._cap = cap
        self.fps = self._fps_option or cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None

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
        for _ in range(len(self._images)):
            if self._position >= len(self._images):
                if not self.loop:
                    raise EndOfStream(self.name)
                self._position = 0
            path = self._images[self._position]
            self._position += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            if path not in self._bad_images:
                self._bad_images.add(path)
                log.warning("%s: skipping unreadable image %s", self.name, path)
        raise SourceError(f"{self.name}: none of the images in {self.path} can be read")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._still = None
        self._images = []
