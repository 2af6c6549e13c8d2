"""What the same-machine texture-sharing sinks (Syphon, Spout) have in common: a name that
other programs list (default `pix2pix-node`), a view, RGBA frames, and a platform gate that
names the operating system they exist on and the extra that installs them."""

from __future__ import annotations

import importlib
import sys
from typing import ClassVar

import cv2
import numpy as np

from node.errors import SinkError
from node.frames import PREDICTION
from node.sinks.base import Sink, view_option
from node.support.spec import Spec, SpecOptions

DEFAULT_NAME = "pix2pix-node"


def to_rgba(image: np.ndarray) -> np.ndarray:
    """uint8 BGR -> contiguous RGBA, what Metal textures and Spout senders take."""
    rgba: np.ndarray = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    return np.ascontiguousarray(rgba)


class SharingSink(Sink):
    platform: ClassVar[str]  # sys.platform where the library exists
    system: ClassVar[str]  # its name for people
    module: ClassVar[str]  # the library's import name
    extra: ClassVar[str]  # the pip extra that installs it

    def __init__(self, spec: Spec, share_name: str, *, view: str = PREDICTION) -> None:
        super().__init__(spec, view=view)
        self.share_name = share_name

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> SharingSink:
        opts = SpecOptions(spec)
        view = view_option(spec, opts)
        opts.done()
        return cls(spec, spec.target.strip() or DEFAULT_NAME, view=view)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        label = cls.scheme.capitalize()
        if sys.platform != cls.platform:
            return f"{label} exists only on {cls.system} (here, use ndi or vcam)"
        try:
            importlib.import_module(cls.module)  # only on its own platform
        except ImportError:
            return f"{cls.module} is not installed: pip install 'pix2pix-node[{cls.extra}]'"
        return None

    def check_platform(self) -> None:
        missing = self.unavailable_reason()
        if missing:
            raise SinkError(f"{self.name}: {missing}")
