"""`ndi[:NAME]?groups=G&view=V`: the picture as an NDI source on the network (OBS with the NDI
plugin, Resolume, TouchDesigner's NDI In TOP, vMix). It appears as `HOST (NAME)`; the default
NAME is `pix2pix-node`, and several NDI sinks with other names can publish other views.

Frames go out as BGRX at the pipeline's rate with no NDI-side clocking (the pipeline paces).
When nobody is connected the send is skipped. Connections and tally (program / preview) are
kept for the status line.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from node.errors import SinkError
from node.frames import PREDICTION, Frame
from node.network.origin import captured_here
from node.sinks.base import Sink, SinkSpec, view_option
from node.support import ndi
from node.support.spec import Spec, SpecOptions

log = logging.getLogger(__name__)

DEFAULT_NAME = "pix2pix-node"


def to_bgrx(image: np.ndarray) -> np.ndarray:
    """uint8 BGR (H, W, 3) -> contiguous BGRX (H, W', 4) with an even width (NDI wants one)."""
    if image.shape[1] % 2:
        image = cv2.copyMakeBorder(image, 0, 0, 0, 1, cv2.BORDER_REPLICATE)
    bgrx: np.ndarray = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    return bgrx


class NdiSink(Sink):
    scheme = "ndi"

    def __init__(self, spec: Spec, ndi_name: str, groups: str, *, view: str = PREDICTION) -> None:
        super().__init__(spec, view=view)
        self.ndi_name = ndi_name
        self.groups = groups
        self.connections = 0
        self.on_program = self.on_preview = False
        self.sent = 0
        self.port = 0  # the TCP port its receivers connect to, where it can be known
        self._lib: Any = None
        self._sender: Any = None
        self._frame: Any = None
        self._rate = (30000, 1000)

    @classmethod
    def from_spec(cls, spec: Spec, *, realtime: bool) -> NdiSink:
        opts = SpecOptions(spec)
        groups = opts.get_str("groups", "")
        view = view_option(spec, opts)
        opts.done()
        named = spec.node_name if isinstance(spec, SinkSpec) else ""
        return cls(spec, spec.target.strip() or named or DEFAULT_NAME, groups, view=view)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return ndi.unavailable_reason()

    def open(self, fps: float) -> None:
        try:
            lib = ndi.runtime()
        except RuntimeError as exc:
            raise SinkError(f"{self.name}: {exc}") from None
        settings = lib.SendCreate()
        settings.ndi_name = self.ndi_name
        settings.clock_video = False  # the pipeline paces; NDI must not block the sink
        if self.groups:
            settings.groups = self.groups
        before = ndi.listening_ports()
        sender = lib.send_create(settings)
        if sender is None:
            raise SinkError(f"{self.name}: the NDI runtime refused to create a sender")
        new = ndi.listening_ports() - before - {ndi.DISCOVERY_PORT}
        self.port = new.pop() if len(new) == 1 else 0  # (ambiguous: peers use discovery)
        rate = Fraction(fps).limit_denominator(1001)
        self._rate = (rate.numerator, rate.denominator)
        self._lib, self._sender = lib, sender
        self._frame = lib.VideoFrameV2()
        self._frame.FourCC = lib.FOURCC_VIDEO_TYPE_BGRX
        self._frame.frame_rate_N, self._frame.frame_rate_D = self._rate
        log.info("NDI: publishing %s as %s", self.view, lib.send_get_source_name(sender).ndi_name)

    def write(self, frame: Frame) -> None:
        if self._sender is None:
            raise SinkError(f"{self.name}: not open")
        lib = self._lib
        self.connections = int(lib.send_get_no_connections(self._sender, 0))
        if self.connections == 0:
            self.on_program = self.on_preview = False
            return  # nobody watching: no conversion, no send
        self._frame.data = to_bgrx(frame.image)
        origin = frame.origin.passed(self.ndi_name) if frame.origin else None
        self._frame.metadata = (
            origin or captured_here(self.ndi_name, frame.index, frame.t_capture)
        ).xml()  # where it was born: the next node in a chain carries it on
        lib.send_send_video_v2(self._sender, self._frame)
        self.sent += 1
        tally = lib.Tally()
        lib.send_get_tally(self._sender, tally, 0)
        self.on_program, self.on_preview = bool(tally.on_program), bool(tally.on_preview)

    def describe(self) -> str:
        tally = [t for t, on in (("program", self.on_program), ("preview", self.on_preview)) if on]
        on = f", on {' and '.join(tally)}" if tally else ""
        return f"{self.name} ({self.connections} connected{on})"

    def close(self) -> None:
        if self._sender is not None:
            self._lib.send_destroy(self._sender)
            self._sender = None
