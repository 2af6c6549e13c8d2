"""`spout[:NAME]?view=V`: the picture as a Spout sender (Windows only; SpoutGL, extra `[spout]`)
for Resolume, TouchDesigner, OBS (Spout2 plugin) or MadMapper on the same PC. The default NAME
is `pix2pix-node`.

Built on Python-SpoutGL's sender: each frame goes out with `sendImage` as RGBA. It cannot run on
the Linux machine this node is developed on: the tests drive this code through a stand-in with
the library's API, and the README says so.
"""

from __future__ import annotations

import sys
from typing import Any

from node.errors import SinkError
from node.frames import Frame
from node.sinks.base import Sink, view_option
from node.sinks.syphon import to_rgba
from node.spec import Spec, SpecOptions

DEFAULT_NAME = "pix2pix-node"


class SpoutSink(Sink):
    scheme = "spout"

    def __init__(self, spec: Spec, sender_name: str) -> None:
        super().__init__(spec)
        self.sender_name = sender_name
        self._sender: Any = None
        self._rgba_format = 0

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> SpoutSink:
        opts = SpecOptions(spec)
        view = view_option(spec, opts)
        opts.done()
        sink = cls(spec, spec.target.strip() or DEFAULT_NAME)
        sink.view = view
        return sink

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if sys.platform != "win32":
            return "Spout exists only on Windows (here, use ndi or vcam)"
        try:
            import SpoutGL  # noqa: F401
        except ImportError:
            return "SpoutGL is not installed: pip install 'pix2pix-node[spout]'"
        return None

    def open(self, fps: float) -> None:
        """Checks the platform now; the sender (and the OpenGL context it needs, current on
        one thread only) is made on the sink's own thread, at the first frame."""
        missing = self.unavailable_reason()
        if missing:
            raise SinkError(f"{self.name}: {missing}")

    def _start(self) -> Any:
        import SpoutGL
        from SpoutGL.enums import GL_RGBA

        sender = SpoutGL.SpoutSender()
        if hasattr(sender, "createOpenGL"):  # sendImage needs a GL context; Spout makes one
            sender.createOpenGL()
        sender.setSenderName(self.sender_name)
        self._sender, self._rgba_format = sender, GL_RGBA
        return sender

    def write(self, frame: Frame) -> None:
        if self._sender is None:
            self._start()
        height, width = frame.image.shape[:2]
        rgba = to_rgba(frame.image)
        if not self._sender.sendImage(rgba, width, height, self._rgba_format, False, 0):
            raise SinkError(f"{self.name}: Spout refused the frame")
        self._sender.setFrameSync(self.sender_name)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.releaseSender()
            if hasattr(self._sender, "closeOpenGL"):
                self._sender.closeOpenGL()
            self._sender = None
