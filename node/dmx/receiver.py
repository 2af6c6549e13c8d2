"""The socket edge of DMX in: one thread reads Art-Net and sACN datagrams and keeps the newest
frame of each configured universe; the frame loop `take()`s them (newest wins, nothing queued).

Every datagram is read with a bounded `recvfrom` (RECV_SIZE) and parsed by the bounded parsers
(_artnet.py, sacn.py); a bad one is counted and logged once per kind and interval, and nothing
a packet does raises out of the thread. ArtPolls are answered (at most POLL_REPLIES_PER_S a
second: a 14-byte poll makes a 239-byte reply, so a spoofed flood must not turn the node into
an amplifier).

Where it listens: Linux delivers broadcast and multicast only to a socket bound to 0.0.0.0 (or
to that group), never to one bound to a unicast address. So with `bind` left at 0.0.0.0, both
broadcast Art-Net and multicast sACN arrive; the sACN groups are joined on
`multicast_interface` (default: the interface of `bind`, or the system's default one). Bound
to one address, only unicast arrives: set the desk to unicast to the node.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass

from node.dmx import DmxPacketError, PacketIgnored
from node.dmx import artnet as _artnet
from node.dmx import sacn as _sacn
from node.errors import UserError
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)

RECV_SIZE = 2048  # over every valid packet (638 bytes at most); longer is cut and refused
DRAIN = 64  # datagrams read from one socket before looking at the others and at stop()
MAX_UNIVERSES = 64  # a video node follows a few universes, not a rig
POLL_REPLIES_PER_S = 20.0  # desks poll every 2.5-3 s; this is room for many desks
JOIN_TIMEOUT_S = 2.0
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)  # Linux: only the groups we join


class DmxInError(UserError, ValueError):
    """A receiver that cannot be built or started: a universe out of range, a port in use."""


@dataclass(frozen=True)
class DmxStats:
    """What the receiver has seen since it started (counts of datagrams)."""

    datagrams: int = 0  # read, whatever they held
    frames: int = 0  # stored for a configured universe
    artnet_packets: int = 0  # well-formed ArtDmx and ArtPoll
    sacn_packets: int = 0  # well-formed data packets
    polls: int = 0
    poll_replies: int = 0  # ArtPollReply datagrams sent
    polls_dropped: int = 0  # over POLL_REPLIES_PER_S
    bad: int = 0  # malformed (logged once per kind and interval)
    ignored: int = 0  # well-formed, not for us: other opcodes and universes, start codes, preview
    late: int = 0  # sACN out of order (E1.31 6.7.2)
    outranked: int = 0  # sACN from a lower priority source, or one over the source cap
    errors: int = 0  # a bug while handling a packet (logged with its traceback)


def check_universes(universes: Collection[int], artnet_on: bool, sacn_on: bool) -> frozenset[int]:
    """The universes, each in range for every protocol that is on (Art-Net 0..32767, sACN
    1..63999), or DmxInError of one line saying which and why."""
    if not artnet_on and not sacn_on:
        raise DmxInError("DMX in needs Art-Net or sACN (or both) on")
    lo = _sacn.MIN_UNIVERSE if sacn_on else 0
    hi = _artnet.MAX_UNIVERSE if artnet_on else _sacn.MAX_UNIVERSE
    which = " and ".join(n for n, on in (("Art-Net", artnet_on), ("sACN", sacn_on)) if on)
    if not universes:
        raise DmxInError("DMX in needs at least one universe")
    if len(universes) > MAX_UNIVERSES:
        raise DmxInError(f"DMX in takes at most {MAX_UNIVERSES} universes, got {len(universes)}")
    for universe in universes:
        if isinstance(universe, bool) or not isinstance(universe, int):
            raise DmxInError(f"a DMX universe is a whole number, got {clip(repr(universe), 40)}")
        if not lo <= universe <= hi:
            raise DmxInError(f"DMX universe {universe} is outside {lo}..{hi} ({which})")
    return frozenset(universes)


def _ipv4(text: str, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise DmxInError(f"DMX in: {what} must be an IPv4 address, got {clip(text, 60)}") from None


def _port(port: int, what: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise DmxInError(f"DMX in: {what} must be a port 0..65535, got {clip(repr(port), 40)}")
    return port


class DmxReceiver:
    """Art-Net and sACN in, for a set of universes: `start()`, then `take()` once a frame from
    the frame loop, `stop()` at the end (or use it as a context manager). Port 0 picks a free
    port; `artnet_port` / `sacn_port` say the bound ones once started (None: protocol off)."""

    def __init__(
        self,
        universes: Collection[int],
        artnet_port: int = _artnet.PORT,
        sacn_port: int = _sacn.PORT,
        bind: str = "0.0.0.0",
        node_name: str = "pix2pix-node",
        artnet: bool = True,
        sacn: bool = True,
        *,
        multicast_interface: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval: float = 10.0,
    ) -> None:
        self.universes = check_universes(universes, artnet, sacn)
        self._ports = {
            "artnet": _port(artnet_port, "the Art-Net port") if artnet else None,
            "sacn": _port(sacn_port, "the sACN port") if sacn else None,
        }
        self._bind = _ipv4(bind, "the bind address")
        iface = multicast_interface
        self._iface = _ipv4(iface, "the multicast interface") if iface else self._bind
        self.node_name = node_name
        self._clock = clock
        self._limited = LogLimiter(log, interval=log_interval)
        self._lock = threading.Lock()
        self._frames: dict[int, bytes] = {}
        self._seen: dict[int, float] = {}  # universe: when its last frame came
        self._counts: Counter[str] = Counter()
        self._sources = _sacn.Sources()
        self._poll_tokens = POLL_REPLIES_PER_S
        self._poll_time = clock()
        self._sockets: dict[str, socket.socket] = {}
        self._groups: list[str] = []
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the frame loop's side ------------------------------------------------------------

    def take(self) -> dict[int, bytes]:
        """The newest frame of each universe received since the last take (slots after the
        start code, 1..512 bytes: a short frame leaves the channels past it untouched)."""
        with self._lock:
            frames, self._frames = self._frames, {}
        return frames

    def stats(self) -> DmxStats:
        with self._lock:
            return DmxStats(**self._counts)

    @property
    def artnet_port(self) -> int | None:
        """The Art-Net port: the bound one once started (None: Art-Net off)."""
        return self._bound("artnet")

    @property
    def sacn_port(self) -> int | None:
        return self._bound("sacn")

    @property
    def multicast_groups(self) -> tuple[str, ...]:
        """The sACN groups joined (a join that failed is logged and missing here)."""
        return tuple(self._groups)

    def cpu_seconds(self) -> float | None:
        """CPU time the receive thread has used (None: not running, or no per-thread clock
        on this platform)."""
        thread = self._thread
        clock_id = getattr(time, "pthread_getcpuclockid", None)
        if thread is None or thread.ident is None or not thread.is_alive() or clock_id is None:
            return None
        try:
            return time.clock_gettime(clock_id(thread.ident))
        except OSError:  # it ended meanwhile
            return None

    def _bound(self, kind: str) -> int | None:
        sock = self._sockets.get(kind)
        return int(sock.getsockname()[1]) if sock is not None else self._ports[kind]

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind the sockets, join the sACN groups and start the thread; DmxInError (one line)
        if a port cannot be bound. Starting twice does nothing."""
        if self._thread is not None:
            return
        selector = selectors.DefaultSelector()
        try:
            for kind, port in self._ports.items():
                if port is not None:
                    self._sockets[kind] = self._open(kind, port)
                    selector.register(self._sockets[kind], selectors.EVENT_READ, kind)
            if "sacn" in self._sockets:
                self._join(self._sockets["sacn"])
            self._wake = socket.socketpair()
            self._wake[0].setblocking(False)
            selector.register(self._wake[0], selectors.EVENT_READ, "wake")
        except BaseException:
            selector.close()
            self._close_sockets()
            raise
        self._selector = selector
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dmx-in", daemon=True)
        self._thread.start()
        where = ", ".join(f"{k} {self._bind}:{self._bound(k)}" for k in self._sockets)
        groups = f" (groups {', '.join(self._groups)})" if self._groups else ""
        universes = ", ".join(map(str, sorted(self.universes)))
        log.info("DMX in: %s%s; universes %s", where, groups, universes)

    def stop(self) -> None:
        """Signal the thread, join it, then close the sockets (never while it may be inside
        one). Stopping twice, or before start, does nothing."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):  # its buffer is full: it is awake already
                self._wake[1].send(b"\x00")
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():  # (never seen: every call in the loop is non-blocking)
            log.error("DMX in: the receive thread did not stop; its sockets stay open")
            return
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._close_sockets()

    def __enter__(self) -> DmxReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open(self, kind: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if os.name != "nt":  # lighting software on the same host shares 6454 (broadcast)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._bind, port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            name = "Art-Net" if kind == "artnet" else "sACN"
            raise DmxInError(
                f"DMX in: cannot listen for {name} on {self._bind}:{port}: {exc.strerror or exc}"
            ) from None
        return sock

    def _join(self, sock: socket.socket) -> None:
        if sys.platform.startswith("linux"):
            # (an old kernel refuses: then it also hears other programs' groups on this port)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        iface = socket.inet_aton(self._iface)
        for universe in sorted(self.universes):
            group = _sacn.multicast_group(universe)
            try:
                mreq = socket.inet_aton(group) + iface
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            except OSError as exc:
                self._limited.warning(
                    "sacn:join",
                    "DMX in: cannot join sACN group %s on %s (%s); unicast sACN still works",
                    group,
                    self._iface,
                    exc.strerror or exc,
                )
                continue
            self._groups.append(group)

    def _close_sockets(self) -> None:
        for sock in [*self._sockets.values(), *(self._wake or ())]:
            sock.close()
        self._sockets.clear()
        self._groups.clear()
        self._wake = None

    # -- the receive thread -----------------------------------------------------------------

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "wake":
                    self._drain_wake(sock)
                else:
                    self._drain(key.data, sock)

    @staticmethod
    def _drain_wake(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # nothing left: the stop flag is what counts
            sock.recv(64)

    def _drain(self, kind: str, sock: socket.socket) -> None:
        for _ in range(DRAIN):
            try:
                data, sender = sock.recvfrom(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # Windows reports an earlier reply's ICMP error here
                self._limited.warning(f"{kind}:recv", "DMX in: %s read failed: %s", kind, exc)
                return
            self.handle(kind, data, sender, sock)

    def handle(
        self,
        kind: str,
        data: bytes,
        sender: tuple[str, int],
        sock: socket.socket | None = None,
    ) -> None:
        """One datagram of `kind` ("artnet" or "sacn") from `sender`; never raises (the
        receive thread's step, and the fuzz targets'). A poll is answered through `sock`."""
        self._count("datagrams")
        try:
            if kind == "artnet":
                self._on_artnet(_artnet.parse(data), sender, sock)
            else:
                self._on_sacn(_sacn.parse(data))
        except PacketIgnored:
            self._count("ignored")
        except DmxPacketError as exc:
            self._count("bad")
            self._limited.warning(
                f"{kind}:{exc.kind}",
                "DMX in: bad %s packet from %s: %s",
                "Art-Net" if kind == "artnet" else "sACN",
                clip(f"{sender[0]}:{sender[1]}", 60),
                clip(str(exc), 200),
            )
        except Exception as exc:  # a bug: say it with its traceback, keep the thread
            self._count("errors")
            self._limited.log(
                logging.ERROR,
                f"{kind}:bug",
                "DMX in: handling a %s packet failed",
                kind,
                exc_info=exc,
            )

    def _on_artnet(
        self,
        packet: _artnet.ArtDmx | _artnet.ArtPoll,
        sender: tuple[str, int],
        sock: socket.socket | None,
    ) -> None:
        self._count("artnet_packets")
        if isinstance(packet, _artnet.ArtPoll):
            self._poll(packet, sender, sock)
        elif packet.universe in self.universes:
            self._store(packet.universe, packet.data)
        else:
            self._count("ignored")

    def _on_sacn(self, packet: _sacn.SacnData) -> None:
        self._count("sacn_packets")
        if packet.universe not in self.universes or packet.start_code != 0 or packet.preview:
            self._count("ignored")
        elif self._sources.accept(packet, self._clock()):
            self._store(packet.universe, packet.data)
        else:
            why = self._sources.last_refusal
            self._count(
                {"late": "late", "priority": "outranked", "sources": "outranked"}.get(
                    why, "ignored"
                )
            )

    def _store(self, universe: int, data: bytes) -> None:
        now = self._clock()
        with self._lock:
            self._frames[universe] = data
            self._seen[universe] = now
            self._counts["frames"] += 1

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n

    def _poll(
        self, poll: _artnet.ArtPoll, sender: tuple[str, int], sock: socket.socket | None
    ) -> None:
        self._count("polls")
        if not poll.wants(self.universes):
            return
        now = self._clock()
        elapsed = max(0.0, now - self._poll_time)
        self._poll_time = now
        self._poll_tokens = min(
            POLL_REPLIES_PER_S, self._poll_tokens + elapsed * POLL_REPLIES_PER_S
        )
        if self._poll_tokens < 1.0:
            self._count("polls_dropped")
            return
        self._poll_tokens -= 1.0
        with self._lock:
            active = {u for u, t in self._seen.items() if now - t <= _sacn.SOURCE_TIMEOUT_S}
            sent = self._counts["poll_replies"]
        replies = _artnet.poll_replies(
            self._reply_ip(sender[0]),
            self.universes,
            self.node_name,
            f"{self.node_name} (pix2pix-node DMX in)",
            replies_sent=sent,
            active=active,
        )
        if sock is None:
            return
        for reply in replies:
            try:
                sock.sendto(reply, sender)
            except OSError as exc:
                self._limited.warning(
                    "artnet:reply", "DMX in: ArtPollReply to %s failed: %s", sender[0], exc
                )
                return
            self._count("poll_replies")

    def _reply_ip(self, peer: str) -> str:
        """Our address as `peer` reaches us: the bound one, or the route's source address
        (a connected UDP socket sends nothing)."""
        if self._bind != "0.0.0.0":
            return self._bind
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((peer, _artnet.PORT))
            return str(probe.getsockname()[0])
        except OSError:
            return "0.0.0.0"
        finally:
            probe.close()
