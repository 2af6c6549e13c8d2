"""`syphon[:NAME]?view=V`: the picture as a Syphon server (macOS only; syphon-python, extra
`[syphon]`) for Resolume, MadMapper, VDMX, TouchDesigner or OBS (Syphon Client source) on the
same Mac. The default NAME is `pix2pix-node`.

Built on syphon-python's Metal server: each frame is copied into a Metal texture of its size and
published. It cannot run on the Linux machine this node is developed on: the tests drive this
code through a stand-in with the library's API, and docs/outputs.md says so.
"""

from __future__ import annotations

import contextlib
from typing import Any

from node.errors import SinkError
from node.frames import PREDICTION, Frame
from node.sinks.sharing import SharingSink, to_rgba
from node.support.spec import Spec


def _autorelease_pool() -> contextlib.AbstractContextManager[object]:
    try:
        import objc  # PyObjC, which syphon-python is built on
    except ImportError:
        return contextlib.nullcontext()
    pool: contextlib.AbstractContextManager[object] = objc.autorelease_pool()
    return pool


class SyphonSink(SharingSink):
    scheme = "syphon"
    platform, system, module, extra = "darwin", "macOS", "syphon", "syphon"

    def __init__(self, spec: Spec, share_name: str, *, view: str = PREDICTION) -> None:
        super().__init__(spec, share_name, view=view)
        self._server: Any = None
        self._texture: Any = None
        self._size: tuple[int, int] | None = None

    def open(self, fps: float) -> None:
        self.check_platform()
        import syphon

        try:
            self._server = syphon.SyphonMetalServer(self.share_name)
        except Exception as exc:
            raise SinkError(f"{self.name}: cannot start a Syphon server: {exc}") from None
        self._texture, self._size = None, None

    def write(self, frame: Frame) -> None:
        if self._server is None:
            raise SinkError(f"{self.name}: not open")
        from syphon.utils.numpy import copy_image_to_mtl_texture
        from syphon.utils.raw import create_mtl_texture

        height, width = frame.image.shape[:2]
        # Objective-C objects made per frame are freed by an autorelease pool, which a
        # Python thread does not have unless it makes one.
        with _autorelease_pool():
            if self._size != (width, height):  # a texture per size, not per frame
                self._texture = create_mtl_texture(self._server.device, width, height)
                self._size = (width, height)
            copy_image_to_mtl_texture(to_rgba(frame.image), self._texture)
            self._server.publish_frame_texture(self._texture)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
