"""`ndi:NAME?extra_ips=IP,IP&timeout=5`: another machine's (or program's) NDI output as the
node's camera. NAME is the source's full name (`HOST (NAME)`) or just the part in brackets.

On networks without mDNS, `extra_ips` (or the NDI_EXTRA_IPS environment variable) tells the
finder where to look. Frames arrive as BGRX and are handed on as BGR. When the sender goes
away, `read` raises SourceError and the capture thread reopens the source with backoff; the
finder and the receiver live as long as the source: the finder sees the sender come back and
the receiver is connected to it again.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from node.errors import SourceError, SpecError
from node.network.origin import Origin, read_origin
from node.sources.base import Source
from node.support import ndi
from node.support.spec import Spec, SpecOptions, sane_fps


def matches(full_name: str, wanted: str) -> bool:
    """'HOST (NAME)' matches 'HOST (NAME)' or 'NAME'."""
    if full_name == wanted:
        return True
    inner = full_name[full_name.find("(") + 1 : full_name.rfind(")")] if "(" in full_name else ""
    return inner == wanted


class NdiSource(Source):
    scheme = "ndi"
    paced = False  # read() blocks until the sender delivers

    def __init__(
        self, spec: Spec, wanted: str, extra_ips: str, timeout: float, url: str = ""
    ) -> None:
        """`url` ("HOST:PORT", the sender's own, from its node's zeroconf record): connect
        straight there, with no NDI discovery at all."""
        super().__init__(spec)
        self.wanted = wanted
        self.url = url
        self.extra_ips = extra_ips
        self.timeout = timeout
        self._lib: Any = None
        self._finder: Any = None
        self._receiver: Any = None
        self._first: np.ndarray | None = None  # the frame open() waited for
        self._origin: Origin | None = None  # the last frame's, from its metadata

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> NdiSource:
        if not spec.target.strip():
            raise SpecError(f"{spec.label}: name the NDI source, e.g. ndi:pix2pix-node")
        opts = SpecOptions(spec)
        extra = opts.get_str("extra_ips", "")
        timeout = opts.get_float("timeout", 5.0) or 5.0
        opts.done()
        return cls(spec, spec.target.strip(), extra, timeout)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return ndi.unavailable_reason()

    def open(self) -> None:
        try:
            lib = ndi.runtime()
        except RuntimeError as exc:
            raise SourceError(f"{self.name}: {exc}") from None
        self._lib = lib
        if self.url:
            source = lib.Source()
            source.ndi_name, source.url_address = self.wanted, self.url
        else:
            if self._finder is None:
                settings = lib.FindCreate()
                settings.show_local_sources = True
                ips = ndi.extra_ips(self.extra_ips)
                if ips:
                    settings.extra_ips = ips
                self._finder = lib.find_create_v2(settings)
            source = self._find(lib)
        if self._receiver is None:
            settings = lib.RecvCreateV3()
            settings.color_format = lib.RECV_COLOR_FORMAT_BGRX_BGRA  # the default is UYVY
            self._receiver = lib.recv_create_v3(settings)
            if self._receiver is None:
                raise SourceError(f"{self.name}: the NDI runtime refused to create a receiver")
        lib.recv_connect(self._receiver, source)  # a kept receiver: to the sender found anew
        first = self._capture(self.timeout)
        if first is None:
            raise SourceError(f"{self.name}: connected, but no video came in {self.timeout:g} s")
        self._first = first

    def _find(self, lib: Any) -> Any:
        deadline = time.monotonic() + self.timeout
        seen: list[str] = []
        while True:
            for source in lib.find_get_current_sources(self._finder):
                if matches(source.ndi_name, self.wanted):
                    return source
                seen.append(source.ndi_name)
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(sorted(set(seen))) or "none"
                raise SourceError(
                    f"{self.name}: no NDI source named {self.wanted!r} in {self.timeout:g} s "
                    f"(found: {names}); without mDNS, give ?extra_ips=THE_SENDERS_IP"
                )
            lib.find_wait_for_sources(self._finder, int(min(left, 1.0) * 1000))

    def _capture(self, timeout: float) -> np.ndarray | None:
        lib = self._lib
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            wait = int(min(left, 0.5) * 1000)
            kind, video, audio, metadata = lib.recv_capture_v2(self._receiver, wait)
            if kind == lib.FRAME_TYPE_AUDIO:  # every frame the runtime hands out is freed
                lib.recv_free_audio_v2(self._receiver, audio)
            elif kind == lib.FRAME_TYPE_METADATA:
                lib.recv_free_metadata(self._receiver, metadata)
            elif kind == lib.FRAME_TYPE_VIDEO:
                try:
                    if video.frame_rate_N > 0 and video.frame_rate_D > 0:  # the sender's rate
                        self.fps = sane_fps(video.frame_rate_N / video.frame_rate_D, self.fps)
                    if video.FourCC in (lib.FOURCC_VIDEO_TYPE_BGRX, lib.FOURCC_VIDEO_TYPE_BGRA):
                        self._origin = read_origin(video.metadata)  # (another node's frame)
                        return np.ascontiguousarray(video.data[:, :, :3])
                finally:
                    lib.recv_free_video_v2(self._receiver, video)
        return None

    def read(self) -> np.ndarray:
        if self._receiver is None:
            raise SourceError(f"{self.name}: not open")
        if self._first is not None:
            first, self._first = self._first, None
            return first
        image = self._capture(self.timeout)
        if image is None:
            raise SourceError(f"{self.name}: the sender stopped ({self.timeout:g} s without video)")
        return image

    def origin(self) -> Origin | None:
        return self._origin

    def release(self) -> None:
        """Keep the finder and the receiver for the reopen: a finder made anew after the sender
        went away can miss it coming back (with several NDI programs on one machine and no
        mDNS, a new finder's query may reach the node's own NDI output instead), the one that
        saw it before sees it return; and each receiver made and destroyed left ~3 MB behind
        in the NDI runtime (the soak's source losses), so the one receiver is reconnected."""
        self._first = None

    def close(self) -> None:
        self._first = None
        if self._receiver is not None:
            self._lib.recv_destroy(self._receiver)
            self._receiver = None
        if self._finder is not None:
            self._lib.find_destroy(self._finder)
            self._finder = None
