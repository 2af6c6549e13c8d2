"""`node:NAME?via=auto|ndi|preview&timeout=10&token=T`: another node's picture, by its node
name (`--name`), the way one node follows another in a chain.

The name is looked up on the show network (zeroconf, node/network/directory.py): the node's
record says where its picture goes out. Over NDI when it publishes NDI and this machine has the
runtime - asking the node's own address, so no `extra_ips` by hand and no mDNS needed for NDI -
else through its page's MJPEG stream. When the node goes away, reading fails and the capture
thread reopens this source with backoff; each open looks the name up again, so a node that
restarts, or moves to another machine or port, is followed, and the change is said once.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from node.errors import SourceError, SpecError
from node.network.directory import Peer, shared_directory
from node.network.origin import Origin
from node.network.previewstream import PreviewStream
from node.sources.base import Source
from node.sources.ndi import NdiSource
from node.support import ndi
from node.support.spec import Spec, SpecOptions

log = logging.getLogger(__name__)

VIAS = ("auto", "ndi", "preview")
READ_TIMEOUT_S = 2.0  # a peer silent this long is lost, and looked up again
Route = tuple[str, str, int, str]  # ("ndi", host, port, NDI name) / ("preview", host, port, path)


def is_peer_spec(text: str | None) -> bool:
    return bool(text) and str(text).strip().lower().startswith("node:")


class PeerSource(Source):
    scheme = "node"
    paced = False  # read() blocks until the node sends
    reopen_wait_s = 0.5  # open() waits (up to `timeout`) for the node to be listed again

    def __init__(self, spec: Spec, wanted: str, via: str, timeout: float, token: str) -> None:
        super().__init__(spec)
        self.wanted, self.via, self.timeout, self.token = wanted, via, timeout, token
        self._inner: Source | None = None
        self._route: Route | None = None
        self._stop = threading.Event()
        self._waiting: SourceError | None = None  # why the first open found nothing yet
        self._opened = False

    @classmethod
    def from_spec(cls, spec: Spec, *, loop: bool) -> PeerSource:
        wanted = spec.target.strip()
        if not wanted:
            raise SpecError(f"{spec.label}: name the node, e.g. node:stage-left (its --name)")
        opts = SpecOptions(spec)
        via = opts.get_str("via", "auto").lower()
        if via not in VIAS:
            raise SpecError(f"{spec.label}: via must be {', '.join(VIAS)}, got {via!r}")
        timeout = opts.get_float("timeout", 10.0) or 10.0
        token = opts.get_str("token", "")
        opts.done()
        return cls(spec, wanted, via, timeout, token)

    def open(self) -> None:
        """Find the node and connect to its picture. A chain may start in any order: when the
        first open finds nothing, the node starts anyway (publishing nothing yet) and the
        capture thread keeps looking; later failures are the capture thread's to retry."""
        first, self._opened = not self._opened, True
        try:
            self._connect()
        except SourceError as exc:
            if not first:
                raise
            log.warning("%s; starting without it and looking for it", exc)
            self._waiting = exc

    def _connect(self) -> None:
        self._waiting = None
        directory = shared_directory()
        try:
            peer = directory.wait_for(self.wanted, self.timeout, self._stop)
        except LookupError as exc:
            raise SourceError(f"{self.name}: {exc}") from None
        route = self._choose(peer)
        if route != self._route:
            self._switch(peer, route)
        assert self._inner is not None
        self._inner.open()
        self.fps = self._inner.fps

    def _choose(self, peer: Peer) -> Route:
        ndi_missing = ndi.unavailable_reason()
        if self.via != "preview" and peer.record.ndi and ndi_missing is None:
            return ("ndi", peer.host, peer.record.ndi_port, peer.record.ndi)
        if self.via == "ndi" or not peer.page_host or not peer.record.preview:
            why = ndi_missing or f"{peer.record.name} publishes no NDI (add an ndi output there)"
            if self.via != "ndi" and not peer.page_host:
                why += "; and its page is off or on its own machine only (--http-bind 0.0.0.0)"
            raise SourceError(f"{self.name}: cannot take {peer.record.name}'s picture: {why}")
        return ("preview", peer.page_host, peer.record.http_port, peer.record.preview)

    def _switch(self, peer: Peer, route: Route) -> None:
        """Build the way to the node's picture anew (first open, or the node moved)."""
        if self._inner is not None:
            self._inner.close()
        kind, host, port, what = route
        if kind == "ndi":  # straight to its sender's port where its node knows it
            url = f"{host}:{port}" if port else ""
            self._inner = NdiSource(self.spec, what, host, READ_TIMEOUT_S, url=url)
            how = f"its NDI output {what!r} at {url or host}"
        else:
            self._inner = PreviewStream(self.spec, host, port, what, self.token, READ_TIMEOUT_S)
            how = f"its page's stream http://{host}:{port}{what}"
        verb = "taking" if self._route is None else "found it again: taking"
        log.info("%s: %s %s's picture from %s", self.name, verb, peer.record.name, how)
        self._route = route

    def read(self) -> np.ndarray:
        if self._waiting is not None:
            raise self._waiting
        if self._inner is None:
            raise SourceError(f"{self.name}: not open")
        return self._inner.read()

    def origin(self) -> Origin | None:
        return self._inner.origin() if self._inner is not None else None

    def interrupt(self) -> None:
        self._stop.set()  # a look-up in progress gives up at once

    def release(self) -> None:
        if self._inner is not None:
            self._inner.release()

    def close(self) -> None:
        self._stop.set()
        if self._inner is not None:
            self._inner.close()
            self._inner = None
        self._route = None
