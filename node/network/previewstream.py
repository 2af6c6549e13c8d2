"""Another node's picture through its page's MJPEG stream (`/stream.mjpg`): the way down a
chain where NDI is missing (no runtime on this machine, or a node that publishes no NDI).

The stream is another program's output, so reading it is bounded: a header line is at most
MAX_LINE bytes, a part has at most MAX_HEADERS lines and a Content-Length up to MAX_JPEG, and a
read that takes longer than the timeout is a lost source (the capture thread reopens it).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from urllib.parse import quote

import cv2
import numpy as np

from node.errors import SourceError
from node.sources.base import Source
from node.support.logformat import clip
from node.support.spec import Spec

MAX_LINE = 1024
MAX_HEADERS = 16
MAX_JPEG = 16 * 1024 * 1024


class BadStream(ValueError):
    """A multipart stream that is not one this reader takes (or ended)."""


def part_length(readline: Callable[[int], bytes]) -> int:
    """Skip to the next part's headers and return its Content-Length: at most MAX_HEADERS * 2
    lines of at most MAX_LINE bytes are read; BadStream when that finds no frame."""
    length = -1
    for _ in range(MAX_HEADERS * 2):
        line = readline(MAX_LINE + 1)
        if not line:
            raise BadStream("the stream ended")
        if len(line) > MAX_LINE:
            raise BadStream(f"a header line over {MAX_LINE} bytes")
        text = line.strip().decode("latin-1")
        if text.lower().startswith("content-length:"):
            try:
                length = int(text.split(":", 1)[1])
            except ValueError:
                length = -1
        elif not text and length >= 0:
            if length > MAX_JPEG:
                raise BadStream(f"a frame over {MAX_JPEG >> 20} MB")
            return length
    raise BadStream(f"no frame in {MAX_HEADERS * 2} header lines")


class PreviewStream(Source):
    """`read` returns the stream's next frame; `open` connects and waits for the first."""

    paced = False  # read() blocks until the sender delivers

    def __init__(
        self, spec: Spec, host: str, port: int, path: str, token: str, timeout: float
    ) -> None:
        super().__init__(spec)
        self.host, self.port, self.path, self.token = host, port, path, token
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._body: http.client.HTTPResponse | None = None
        self._first: np.ndarray | None = None

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> PreviewStream:  # (built by node:NAME)
        raise SourceError("a preview stream is reached through node:NAME")

    @property
    def where(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def open(self) -> None:
        self.close()
        path = self.path + (f"?token={quote(self.token)}" if self.token else "")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise SourceError(f"{self.name}: {self.where}: {clip(str(exc), 200)}") from None
        kind = response.getheader("Content-Type", "")
        if response.status != 200 or "multipart/x-mixed-replace" not in kind:
            connection.close()
            need = " (its page wants a token: add ?token=...)" if response.status == 401 else ""
            raise SourceError(
                f"{self.name}: {self.where} answered HTTP {response.status} "
                f"{clip(kind, 60)}{need}, not an MJPEG stream"
            )
        self._connection, self._body = connection, response
        self._first = self._next()

    def read(self) -> np.ndarray:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self._next()

    def _next(self) -> np.ndarray:
        body = self._body
        if body is None:
            raise SourceError(f"{self.name}: not open")
        try:
            length = part_length(body.readline)
            jpeg = body.read(length)
        except BadStream as exc:
            raise SourceError(f"{self.name}: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:  # (a timeout is an OSError)
            raise SourceError(f"{self.name}: the stream stopped ({clip(str(exc), 120)})") from None
        if len(jpeg) != length:
            raise SourceError(f"{self.name}: the stream ended")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{self.name}: a part of the stream is not a JPEG")
        return image

    def release(self) -> None:
        self.close()

    def close(self) -> None:
        self._first = None
        if self._connection is not None:
            self._connection.close()
        self._connection = self._body = None
