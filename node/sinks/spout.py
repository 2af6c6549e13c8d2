"""`spout[:NAME]?view=V`: the picture as a Spout sender (Windows only; SpoutGL, extra `[spout]`)
for Resolume, TouchDesigner, OBS (Spout2 plugin) or MadMapper on the same PC. The default NAME
is `pix2pix-node`.

Built on Python-SpoutGL's sender: each frame goes out with `sendImage` as RGBA. It cannot run on
the Linux machine this node is developed on: the tests drive this code through a stand-in with
the library's API, and docs/outputs.md says so.
"""

from __future__ import annotations

from typing import Any

from node.errors import SinkError
from node.frames import PREDICTION, Frame
from node.sinks.sharing import SharingSink, to_rgba
from node.support.spec import Spec


class SpoutSink(SharingSink):
    scheme = "spout"
    platform, system, module, extra = "win32", "Windows", "SpoutGL", "spout"

    def __init__(self, spec: Spec, share_name: str, *, view: str = PREDICTION) -> None:
        super().__init__(spec, share_name, view=view)
        self._sender: Any = None
        self._rgba_format = 0

    def open(self, fps: float) -> None:
        """Checks the platform now; the sender (and the OpenGL context it needs, current on
        one thread only) is made on the sink's own thread, at the first frame."""
        self.check_platform()

    def _start(self) -> Any:
        import SpoutGL
        from SpoutGL.enums import GL_RGBA

        sender = SpoutGL.SpoutSender()
        if hasattr(sender, "createOpenGL"):  # sendImage needs a GL context; Spout makes one
            sender.createOpenGL()
        sender.setSenderName(self.share_name)
        self._sender, self._rgba_format = sender, GL_RGBA
        return sender

    def write(self, frame: Frame) -> None:
        if self._sender is None:
            self._start()
        height, width = frame.image.shape[:2]
        rgba = to_rgba(frame.image)
        if not self._sender.sendImage(rgba, width, height, self._rgba_format, False, 0):
            raise SinkError(f"{self.name}: Spout refused the frame")
        self._sender.setFrameSync(self.share_name)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.releaseSender()
            if hasattr(self._sender, "closeOpenGL"):
                self._sender.closeOpenGL()
            self._sender = None
