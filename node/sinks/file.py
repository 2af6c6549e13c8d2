"""`file:PATH[?fps=F&codec=XXXX]`: record to a video file with OpenCV's VideoWriter.

Why OpenCV and not PyAV: OpenCV is already the node's core dependency and its pip wheel carries
FFmpeg with MPEG-4 Part 2 (`mp4v`) and MJPEG, so recording needs nothing more to install.
PyAV would add H.264 (smaller files) at the cost of another large dependency; a later sink can.

The file is written under a temporary name in the same folder and renamed on close, so the
final name only ever holds a finished file. Live (`run`), frames are placed on the timeline by
their capture time (repeated or skipped to keep the recording real-time at `fps`); offline
(`render`), every frame is written once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from node.errors import SinkError, SpecError
from node.frames import PREDICTION, Frame
from node.sinks.base import Sink, view_option
from node.sinks.shape import OutputShape, shaped
from node.support.files import HomeFolderError, expand_user
from node.support.spec import Spec, SpecOptions

log = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
MAX_REPEAT_S = 10.0  # after a longer stall the timeline restarts instead of padding it


class FileSink(Sink):
    scheme = "file"

    def __init__(
        self,
        spec: Spec,
        path: Path,
        codec: str,
        fps: float | None,
        realtime: bool,
        *,
        view: str = PREDICTION,
    ) -> None:
        super().__init__(spec, view=view)
        self.path = path
        self.codec = codec
        self.realtime = realtime
        self._fps_option = fps
        self.fps = fps or 30.0
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._temp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self._t0: float | None = None
        self._segments = 0  # finished files so far (a reopened sink starts a new one)

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> FileSink:
        if not spec.target:
            raise SpecError(f"{spec.label}: give a path, e.g. file:out.mp4")
        try:
            path = expand_user(spec.target)
        except HomeFolderError as exc:
            raise SpecError(f"{spec.label}: {exc}") from None
        suffix = path.suffix.lower()
        opts = SpecOptions(spec)
        fps = opts.get_float("fps", None)
        codec = opts.get_str("codec", CODECS.get(suffix, ""))
        view = view_option(spec, opts)
        opts.done()
        if suffix not in CODECS:
            raise SpecError(f"{spec.label}: the file must end in one of {', '.join(CODECS)}")
        if len(codec) != 4:
            raise SpecError(
                f"{spec.label}: codec must be a four-letter FourCC such as mp4v or MJPG"
            )
        return cls(spec, path, codec, fps, realtime, view=view)

    def open(self, fps: float) -> None:
        """Checks the folder now, so a typo fails at start-up; the writer opens on the first frame,
        when the frame size is known."""
        self.fps = self._fps_option or fps
        self.frames_written, self._t0, self._size = 0, None, None
        folder = self.path.parent
        if not folder.is_dir():
            raise SinkError(f"{self.name}: no such folder: {folder}")
        if not os.access(folder, os.W_OK):
            raise SinkError(f"{self.name}: cannot write in {folder}")

    def write(self, frame: Frame) -> None:
        writer = self._writer or self._open_writer(frame.size)
        image = frame.image
        if frame.size != self._size:  # a picture that changed size keeps its aspect
            assert self._size is not None
            image = shaped(image, OutputShape(*self._size, "contain"))
        for _ in range(self._copies(frame.t_capture)):
            writer.write(np.ascontiguousarray(image))
            self.frames_written += 1

    def _copies(self, t_capture: float) -> int:
        """How many times this frame goes on the timeline: 1 offline; live, enough to reach its
        capture time (0 when frames come faster than `fps`)."""
        if not self.realtime:
            return 1
        if self._t0 is None or t_capture - self._t0 > self.frames_written / self.fps + MAX_REPEAT_S:
            self._t0 = t_capture - self.frames_written / self.fps
        due = int((t_capture - self._t0) * self.fps + 1e-6) + 1  # slots up to and including now
        return max(0, due - self.frames_written)

    def _open_writer(self, size: tuple[int, int]) -> cv2.VideoWriter:
        fourcc = cv2.VideoWriter.fourcc(*self.codec)
        writer = cv2.VideoWriter(str(self._temp), fourcc, self.fps, size)
        if not writer.isOpened():
            writer.release()
            raise SinkError(f"{self.name}: OpenCV cannot write {self.codec} to {self.path.suffix}")
        self._writer, self._size = writer, size
        return writer

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.frames_written:
            target = self._segment_path()
            os.replace(self._temp, target)
            self._segments += 1
            log.info(
                "%s: wrote %d frames at %.3g fps to %s",
                self.name,
                self.frames_written,
                self.fps,
                target,
            )
        else:
            self._temp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._temp.unlink(missing_ok=True)

    def _segment_path(self) -> Path:
        """NAME.EXT, then NAME-2.EXT, NAME-3.EXT... when the sink was reopened after a failure,
        so a retry never overwrites what was already recorded."""
        if self._segments == 0:
            return self.path
        return self.path.with_name(f"{self.path.stem}-{self._segments + 1}{self.path.suffix}")
